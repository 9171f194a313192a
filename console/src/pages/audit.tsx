/** The audit log (GET /api/audit): who did what, from where, and how it went. Admins only. */
import { useState } from 'preact/hooks';
import type { AuditEntry } from '../types.ts';
import { Failure, PageHeader, time, useResource } from '../util.tsx';

export function Audit() {
  const [since, setSince] = useState('7d');
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [query, setQuery] = useState('?since=7d&limit=500');
  const loaded = useResource<{ audit: AuditEntry[] }>(`/api/audit${query}`);
  const apply = (event: Event) => {
    event.preventDefault();
    const params = new URLSearchParams({ limit: '500' });
    if (since.trim() !== '') params.set('since', since.trim());
    if (actor.trim() !== '') params.set('actor', actor.trim());
    if (action.trim() !== '') params.set('action', action.trim());
    setQuery(`?${params}`);
    loaded.reload();
  };
  const data = loaded.data;
  const entries = data?.audit ?? [];
  return (
    <section>
      <PageHeader title="Audit log" />
      <form class="filters" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          <span>
            Actor <kbd>/</kbd>
          </span>
          <input
            value={actor}
            onInput={(e) => setActor(e.currentTarget.value)}
            data-filter
            placeholder="alice"
          />
        </label>
        <label>
          Action
          <input value={action} onInput={(e) => setAction(e.currentTarget.value)} placeholder="block.add" />
        </label>
        <label>
          Since
          <input value={since} onInput={(e) => setSince(e.currentTarget.value)} placeholder="7d" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Failure loaded={loaded} absent="This gateway keeps no audit log yet (GET /api/audit is not there)." />
      {data === undefined ? null : entries.length === 0 ? (
        <p class="muted">Nothing audited in that time.</p>
      ) : (
        <table data-testid="audit">
          <thead>
            <tr>
              <th>when</th>
              <th>actor</th>
              <th>address</th>
              <th>action</th>
              <th>target</th>
              <th>outcome</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry, index) => (
              <tr key={`${entry.at}-${index}`} class={`outcome-${entry.outcome}`}>
                <td class="nowrap">{time(entry.at)}</td>
                <td>{entry.actor}</td>
                <td class="mono">{entry.address}</td>
                <td>{entry.action}</td>
                <td class="mono">{entry.target ?? '—'}</td>
                <td>{entry.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
