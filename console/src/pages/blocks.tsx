/** The block table: block a source (reason, duration) and unblock one, by mouse or keyboard. */
import { useRef, useState } from 'preact/hooks';
import { api, failureText } from '../api.ts';
import type { BlockView } from '../types.ts';
import { Failure, Notice, number, PageHeader, time, useResource } from '../util.tsx';

export function Blocks({ canChange }: { canChange: boolean }) {
  const loaded = useResource<{ blocks: BlockView[]; total: number }>('/api/blocks?limit=1000');
  const [address, setAddress] = useState('');
  const [duration, setDuration] = useState('1h');
  const [reason, setReason] = useState('');
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>(undefined);
  const first = useRef<HTMLInputElement>(null);

  const block = async (event: Event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/blocks', {
        address: address.trim(),
        duration: duration.trim() === '' ? undefined : duration.trim(),
        ...(reason.trim() === '' ? {} : { reason: reason.trim() }),
      });
      setMessage({ kind: 'ok', text: `Blocked ${address.trim()}.` });
      setAddress('');
      setReason('');
      loaded.reload();
    } catch (failure) {
      setMessage({ kind: 'error', text: failureText(failure) });
    }
  };
  const unblock = async (key: string) => {
    try {
      await api('DELETE', `/api/blocks/${encodeURIComponent(key)}`);
      setMessage({ kind: 'ok', text: `Unblocked ${key}.` });
      loaded.reload();
      first.current?.focus();
    } catch (failure) {
      setMessage({ kind: 'error', text: failureText(failure) });
    }
  };
  const blocks = loaded.data?.blocks ?? [];
  return (
    <section>
      <PageHeader title="Blocks">
        <button type="button" onClick={loaded.reload} aria-keyshortcuts="r">
          Refresh <kbd>r</kbd>
        </button>
      </PageHeader>
      {canChange ? (
        <form class="filters" onSubmit={block} aria-label="Block a source">
          <label>
            <span>
              Address, network or key <kbd>n</kbd>
            </span>
            <input
              ref={first}
              required
              name="address"
              data-new
              value={address}
              onInput={(e) => setAddress(e.currentTarget.value)}
              placeholder="203.0.113.7 or 203.0.113.0/24"
            />
          </label>
          <label>
            Duration
            <input
              name="duration"
              value={duration}
              onInput={(e) => setDuration(e.currentTarget.value)}
              placeholder="1h, 30m, permanent"
            />
          </label>
          <label class="grow">
            Reason
            <input
              name="reason"
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
              placeholder="blocked by an operator"
              maxLength={256}
            />
          </label>
          <button type="submit">Block</button>
        </form>
      ) : (
        <Notice kind="info">Your role can see blocks; an operator or admin can block and unblock.</Notice>
      )}
      {message === undefined ? null : <Notice kind={message.kind}>{message.text}</Notice>}
      <Failure loaded={loaded} />
      <h2>{loaded.data === undefined ? 'Blocks in force' : `${loaded.data.total} in force`}</h2>
      {blocks.length === 0 ? (
        <p class="muted">No blocks.</p>
      ) : (
        <table data-testid="blocks">
          <thead>
            <tr>
              <th>blocked</th>
              <th>scope</th>
              <th>rule</th>
              <th>reason</th>
              <th>since</th>
              <th>until</th>
              <th class="num">hits</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {blocks.map((entry) => (
              <tr key={entry.key}>
                <td class="mono">{entry.key}</td>
                <td>{entry.scope}</td>
                <td>{entry.rule}</td>
                <td>{entry.reason}</td>
                <td class="nowrap">{time(entry.createdAt)}</td>
                <td class="nowrap">{entry.expiresAt === null ? 'until removed' : time(entry.expiresAt)}</td>
                <td class="num">{number(entry.hits)}</td>
                <td>
                  {canChange ? (
                    <button
                      type="button"
                      onClick={() => unblock(entry.key)}
                      aria-label={`Unblock ${entry.key}`}
                    >
                      Unblock
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
