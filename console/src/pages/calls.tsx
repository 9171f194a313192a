/** Calls open now (GET /api/calls), and what sipwarden knows of registrations. */
import { useEffect } from 'preact/hooks';
import { useLive } from '../live.ts';
import type { CallView } from '../types.ts';
import { Failure, Notice, PageHeader, time, useResource } from '../util.tsx';

export function Calls() {
  const loaded = useResource<{ calls: CallView[]; total: number }>('/api/calls?limit=500');
  const live = useLive();
  const last = live.history[live.history.length - 1];
  // Follows the live count: the list is read again when the number of calls changes.
  useEffect(() => {
    if (last !== undefined && loaded.data !== undefined && last.calls !== loaded.data.total) loaded.reload();
  }, [last?.calls]);
  const calls = loaded.data?.calls ?? [];
  return (
    <section>
      <PageHeader title="Active calls and registrations">
        <button type="button" onClick={loaded.reload} aria-keyshortcuts="r">
          Refresh <kbd>r</kbd>
        </button>
      </PageHeader>
      <Notice kind="info">
        Registrations are kept by the registrar behind sipwarden, not by sipwarden: it forwards REGISTER
        (capping its lifetime) and holds no binding of its own. Calls below are the dialogs the proxy holds.
      </Notice>
      <Failure loaded={loaded} />
      <h2>{loaded.data === undefined ? 'Calls' : `${loaded.data.total} open`}</h2>
      {calls.length === 0 ? (
        <p class="muted">No calls open.</p>
      ) : (
        <table data-testid="calls-table">
          <thead>
            <tr>
              <th>since</th>
              <th>caller identity</th>
              <th>from side</th>
              <th>caller</th>
              <th>callee</th>
              <th>Call-ID</th>
            </tr>
          </thead>
          <tbody>
            {calls.map((call) => (
              <tr key={call.callId + call.from}>
                <td class="nowrap">{time(call.since)}</td>
                <td>{call.identity}</td>
                <td>{call.from}</td>
                <td class="mono">{call.caller}</td>
                <td class="mono">{call.callee}</td>
                <td class="mono ellipsis" title={call.callId}>
                  {call.callId}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
