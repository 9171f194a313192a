/** The scorecard of the last `sipwarden assess` run, when the gateway keeps one. */
import type { Scorecard } from '../types.ts';
import { Failure, PageHeader, time, useResource } from '../util.tsx';

export function Assess() {
  const loaded = useResource<{ scorecard: Scorecard }>('/api/assess/last');
  const card = loaded.data?.scorecard;
  return (
    <section>
      <PageHeader title="Assessment scorecard" />
      <Failure
        loaded={loaded}
        absent="This gateway does not keep assessment runs: run `sipwarden assess --target HOST:PORT --json` and read its scorecard there."
      />
      {card === undefined ? null : (
        <>
          <p>
            Target <span class="mono">{card.target}</span>, started {time(card.startedAt)}, {card.seconds} s:{' '}
            {card.summary.stopped} of {card.summary.attacks} attacks stopped, {card.summary.succeeded}{' '}
            succeeded.
          </p>
          <table data-testid="scorecard">
            <thead>
              <tr>
                <th>attack</th>
                <th>verdict</th>
                <th>detected</th>
                <th>alive</th>
                <th>outcome</th>
              </tr>
            </thead>
            <tbody>
              {card.rows.map((row) => (
                <tr key={row.attack} class={`verdict-${row.verdict}`}>
                  <td>{row.attack}</td>
                  <td>{row.verdict}</td>
                  <td>{row.detected === null ? '—' : row.detected ? 'yes' : 'no'}</td>
                  <td>{row.alive ? 'yes' : 'no'}</td>
                  <td>{row.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
