/** Security events from the store: filters by type, rule, source and time, counts by type and rule. */
import { useMemo, useState } from 'preact/hooks';
import { EVENT_TYPES, type SecurityEvent } from '../types.ts';
import { Failure, number, PageHeader, time, useResource } from '../util.tsx';

export function EventRows({ events, testId }: { events: readonly SecurityEvent[]; testId?: string }) {
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <table data-testid={testId}>
      <thead>
        <tr>
          <th>last seen</th>
          <th>type</th>
          <th>rule</th>
          <th>action</th>
          <th>source</th>
          <th class="num">count</th>
          <th>reason</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event, index) => (
          <tr key={event.aggregateId ?? event.id ?? index} class={`action-${event.action}`}>
            <td class="nowrap">{time(event.lastSeen)}</td>
            <td>{event.type}</td>
            <td>{event.rule ?? event.stage}</td>
            <td>{event.action}</td>
            <td class="mono">{event.source?.address ?? event.key ?? '—'}</td>
            <td class="num">{number(event.count)}</td>
            <td>{event.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function countsBy(events: readonly SecurityEvent[], field: (event: SecurityEvent) => string) {
  const counts = new Map<string, number>();
  for (const event of events) counts.set(field(event), (counts.get(field(event)) ?? 0) + event.count);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

export function Events() {
  const [type, setType] = useState('');
  const [source, setSource] = useState('');
  const [since, setSince] = useState('1h');
  const [rule, setRule] = useState('');
  const [query, setQuery] = useState('?since=1h&limit=1000');
  const loaded = useResource<{ events: SecurityEvent[] }>(`/api/events${query}`);
  const shown = useMemo(() => {
    const all = loaded.data?.events ?? [];
    const wanted = rule.trim().toLowerCase();
    return wanted === ''
      ? all
      : all.filter((event) => (event.rule ?? event.stage).toLowerCase().includes(wanted));
  }, [loaded.data, rule]);
  const apply = (event: Event) => {
    event.preventDefault();
    const params = new URLSearchParams({ limit: '1000' });
    if (since.trim() !== '') params.set('since', since.trim());
    if (type !== '') params.set('type', type);
    if (source.trim() !== '') params.set('source', source.trim());
    setQuery(`?${params}`);
    loaded.reload();
  };
  return (
    <section>
      <PageHeader title="Events">
        <button type="button" onClick={loaded.reload} aria-keyshortcuts="r">
          Refresh <kbd>r</kbd>
        </button>
      </PageHeader>
      <form class="filters" onSubmit={apply} aria-label="Filter events">
        <label>
          Type
          <select value={type} onChange={(e) => setType(e.currentTarget.value)} name="type">
            <option value="">any</option>
            {EVENT_TYPES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rule contains
          <input
            value={rule}
            onInput={(e) => setRule(e.currentTarget.value)}
            name="rule"
            data-filter
            placeholder="invite-flood"
          />
        </label>
        <label>
          Source address
          <input
            value={source}
            onInput={(e) => setSource(e.currentTarget.value)}
            name="source"
            placeholder="203.0.113.7"
          />
        </label>
        <label>
          Since
          <input
            value={since}
            onInput={(e) => setSince(e.currentTarget.value)}
            name="since"
            placeholder="1h"
          />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Failure loaded={loaded} />
      <div class="split">
        <div>
          <h2>By type</h2>
          <CountTable rows={countsBy(shown, (event) => event.type)} />
        </div>
        <div>
          <h2>By rule</h2>
          <CountTable rows={countsBy(shown, (event) => event.rule ?? event.stage)} />
        </div>
      </div>
      <h2>
        {shown.length} event{shown.length === 1 ? '' : 's'}
      </h2>
      <EventRows events={shown} testId="events" />
    </section>
  );
}

function CountTable({ rows }: { rows: [string, number][] }) {
  if (rows.length === 0) return <p class="muted">None.</p>;
  return (
    <table class="compact">
      <tbody>
        {rows.slice(0, 12).map(([name, count]) => (
          <tr key={name}>
            <td>{name}</td>
            <td class="num">{number(count)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
