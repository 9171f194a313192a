/** The live overview: message rates by outcome, calls and blocked sources, charted every second. */
import { useMemo } from 'preact/hooks';
import { Chart } from '../chart.tsx';
import { useLive } from '../live.ts';
import { number, PageHeader, time } from '../util.tsx';
import { EventRows } from './events.tsx';

const RATES = [
  { key: 'received', label: 'received', colour: '#4b6cb7' },
  { key: 'forwarded', label: 'forwarded', colour: '#2e8b57' },
  { key: 'refused', label: 'refused', colour: '#d2691e' },
  { key: 'dropped', label: 'dropped', colour: '#c0392b' },
] as const;

const GAUGES = [
  { label: 'calls', colour: '#2e8b57' },
  { label: 'blocked sources', colour: '#c0392b' },
] as const;

export function Overview() {
  const live = useLive();
  const last = live.history[live.history.length - 1];
  const rates = useMemo(() => {
    const at = live.history.map((one) => one.at / 1000);
    return [at, ...RATES.map((rate) => live.history.map((one) => one.messagesPerSecond[rate.key] ?? 0))] as [
      number[],
      ...number[][],
    ];
  }, [live.history]);
  const gauges = useMemo(
    () =>
      [
        live.history.map((one) => one.at / 1000),
        live.history.map((one) => one.calls),
        live.history.map((one) => one.blockedSources),
      ] as [number[], number[], number[]],
    [live.history],
  );
  const totals = Object.entries(live.eventTotals).sort((a, b) => b[1] - a[1]);
  return (
    <section>
      <PageHeader title="Overview">
        <span class={`live-badge ${live.connected ? 'on' : 'off'}`} data-testid="live-state">
          {live.connected ? 'live' : 'reconnecting…'}
        </span>
        <span class="muted">{last === undefined ? '' : `updated ${time(last.at)}`}</span>
      </PageHeader>
      <div class="tiles">
        {RATES.map((rate) => (
          <div class="tile" key={rate.key}>
            <span class="tile-label">{rate.label} /s</span>
            <span class="tile-value" data-testid={`rate-${rate.key}`}>
              {number(last?.messagesPerSecond[rate.key])}
            </span>
          </div>
        ))}
        <div class="tile">
          <span class="tile-label">calls</span>
          <span class="tile-value" data-testid="calls">
            {number(last?.calls)}
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">registrations</span>
          <span class="tile-value" title="sipwarden keeps no registrations: the registrar behind it does">
            {last === undefined
              ? '—'
              : last.registrations === null
                ? 'at the registrar'
                : number(last.registrations)}
          </span>
        </div>
        <div class="tile">
          <span class="tile-label">blocked sources</span>
          <span class="tile-value" data-testid="blocked">
            {number(last?.blockedSources)}
          </span>
        </div>
      </div>
      <div class="charts">
        <Chart title="Messages per second by outcome" series={RATES} data={rates} />
        <Chart title="Calls and blocked sources" series={GAUGES} data={gauges} />
      </div>
      <div class="split">
        <div>
          <h2>Live events</h2>
          <EventRows events={live.events.slice(0, 25)} testId="live-events" />
        </div>
        <div>
          <h2>Events since this page opened</h2>
          {totals.length === 0 ? (
            <p class="muted">None yet.</p>
          ) : (
            <table class="compact">
              <tbody>
                {totals.map(([type, count]) => (
                  <tr key={type}>
                    <td>{type}</td>
                    <td class="num">{number(count)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  );
}
