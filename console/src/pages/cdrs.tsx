/** Call detail records (GET /api/cdrs), newest first. */
import { useState } from 'preact/hooks';
import type { CdrView } from '../types.ts';
import { Failure, PageHeader, time, useResource } from '../util.tsx';

export function Cdrs() {
  const [since, setSince] = useState('24h');
  const [user, setUser] = useState('');
  const [query, setQuery] = useState('?since=24h&limit=500');
  const loaded = useResource<{ cdrs: CdrView[] }>(`/api/cdrs${query}`);
  const apply = (event: Event) => {
    event.preventDefault();
    const params = new URLSearchParams({ limit: '500' });
    if (since.trim() !== '') params.set('since', since.trim());
    if (user.trim() !== '') params.set('user', user.trim());
    setQuery(`?${params}`);
    loaded.reload();
  };
  const cdrs = loaded.data?.cdrs ?? [];
  return (
    <section>
      <PageHeader title="Call detail records" />
      <form class="filters" onSubmit={apply} aria-label="Filter call records">
        <label>
          <span>
            User <kbd>/</kbd>
          </span>
          <input
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
            data-filter
            placeholder="alice"
          />
        </label>
        <label>
          Since
          <input value={since} onInput={(e) => setSince(e.currentTarget.value)} placeholder="24h" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Failure loaded={loaded} absent="Call detail records are off in this configuration (cdrs.enabled)." />
      {loaded.data === undefined ? null : cdrs.length === 0 ? (
        <p class="muted">No calls recorded in that time.</p>
      ) : (
        <table data-testid="cdrs">
          <thead>
            <tr>
              <th>start</th>
              <th>from</th>
              <th>to</th>
              <th>authenticated</th>
              <th>source</th>
              <th>disposition</th>
              <th class="num">status</th>
              <th class="num">seconds</th>
            </tr>
          </thead>
          <tbody>
            {cdrs.map((cdr) => (
              <tr key={cdr.callId + cdr.startTime}>
                <td class="nowrap">{time(cdr.startTime)}</td>
                <td>{`${cdr.fromUser ?? ''}@${cdr.fromDomain ?? ''}`}</td>
                <td>{`${cdr.toUser ?? ''}@${cdr.toDomain ?? ''}`}</td>
                <td>{cdr.authUser ?? '—'}</td>
                <td class="mono">{cdr.sourceAddress}</td>
                <td>{cdr.disposition}</td>
                <td class="num">{cdr.status ?? '—'}</td>
                <td class="num">{cdr.durationMs === null ? '—' : (cdr.durationMs / 1000).toFixed(1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
