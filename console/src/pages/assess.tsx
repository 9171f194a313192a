/**
 * The assessment scorecards (GET /api/assessments): the last `sipwarden assess` run against
 * this gateway row by row, and the earlier runs it keeps. `assess --api URL --api-token T`
 * stores its scorecard after each run.
 */
import { Failure, Notice, PageHeader, time, useResource } from '../util.tsx';

interface Row {
  readonly attack: string;
  readonly verdict: string;
  readonly detected?: boolean | null;
  readonly blocked?: { readonly messages: number | null; readonly seconds: number | null } | null;
  readonly legitCalls?: { readonly attempted: number; readonly succeeded: number };
  readonly alive: boolean;
  readonly outcome: string;
}

interface Scorecard {
  readonly target: string;
  readonly startedAt: string;
  readonly seconds: number;
  readonly rows: readonly Row[];
  readonly summary: {
    readonly attacks: number;
    readonly succeeded: number;
    readonly stopped: number;
    readonly notApplicable: number;
    readonly errors: number;
    readonly aliveAtEnd: boolean;
  };
}

interface Stored {
  readonly id: number;
  readonly at: number;
  readonly scorecard: Scorecard;
}

const COMMAND = 'sipwarden assess --target 127.0.0.1:5060 --api http://127.0.0.1:9060 --api-token TOKEN';

function blockedText(blocked: Row['blocked']): string {
  if (blocked === null || blocked === undefined) return 'no';
  const parts: string[] = [];
  if (blocked.messages !== null) parts.push(`${blocked.messages} msgs`);
  if (blocked.seconds !== null) parts.push(`${blocked.seconds.toFixed(1)} s`);
  return parts.length === 0 ? 'yes' : parts.join(', ');
}

export function Assess() {
  const loaded = useResource<{ assessments: Stored[] }>('/api/assessments?limit=10');
  const runs = loaded.data?.assessments ?? [];
  const last = runs[0];
  return (
    <section>
      <PageHeader title="Assessment scorecard" />
      <Failure loaded={loaded} />
      {loaded.data === undefined ? null : last === undefined ? (
        <>
          <Notice kind="info">No assessment stored yet. Run the battery against this gateway:</Notice>
          <pre class="command">{COMMAND}</pre>
        </>
      ) : (
        <>
          <p data-testid="assess-summary">
            Last run {time(last.scorecard.startedAt)} against{' '}
            <span class="mono">{last.scorecard.target}</span>: {last.scorecard.summary.stopped} of{' '}
            {last.scorecard.summary.attacks} attacks stopped, {last.scorecard.summary.succeeded} succeeded,{' '}
            {last.scorecard.summary.errors} errors; target{' '}
            {last.scorecard.summary.aliveAtEnd ? 'alive' : 'not answering'} at the end.
          </p>
          <table data-testid="assess">
            <thead>
              <tr>
                <th>attack</th>
                <th>verdict</th>
                <th>detected</th>
                <th>blocked</th>
                <th>legitimate calls</th>
                <th>alive</th>
                <th>outcome</th>
              </tr>
            </thead>
            <tbody>
              {last.scorecard.rows.map((row) => (
                <tr key={row.attack} class={`verdict-${row.verdict}`}>
                  <td>{row.attack}</td>
                  <td>{row.verdict}</td>
                  <td>
                    {row.detected === null || row.detected === undefined ? '—' : row.detected ? 'yes' : 'no'}
                  </td>
                  <td>{blockedText(row.blocked)}</td>
                  <td>
                    {row.legitCalls === undefined
                      ? '—'
                      : `${row.legitCalls.succeeded}/${row.legitCalls.attempted}`}
                  </td>
                  <td>{row.alive ? 'yes' : 'no'}</td>
                  <td>{row.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {runs.length > 1 ? (
            <>
              <h3>Earlier runs</h3>
              <ul>
                {runs.slice(1).map((run) => (
                  <li key={run.id}>
                    {time(run.scorecard.startedAt)} <span class="mono">{run.scorecard.target}</span>:{' '}
                    {run.scorecard.summary.stopped}/{run.scorecard.summary.attacks} stopped,{' '}
                    {run.scorecard.summary.succeeded} succeeded
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </>
      )}
    </section>
  );
}
