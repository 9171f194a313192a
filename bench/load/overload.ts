/**
 * Overload: calls completed when twice the highest sustained rate is offered, sipwarden
 * (security off: the load source is one untrusted address, so that admission by the age of
 * work applies to it; with the pipeline on a single source at thousands of calls/s is a
 * flood) against Kamailio (plain stateful proxy, `-x tlsf -m 2048`), in the same run.
 *
 *   node --import tsx bench/load/overload.ts [--rates 800,1200,...] [--step-seconds 5] [--overload-seconds 15]
 *
 * 1. Each target's highest sustained rate: steps of `step-seconds` at each rate (fresh
 *    target per target, steps in order), passing with < 0.1 % failed calls and 95 % of the
 *    rate achieved; the last passing step is the target's sustained rate.
 * 2. The overload: twice the higher of the two sustained rates, offered to a fresh instance
 *    of each target for `overload-seconds`; completed calls per second (calls whose BYE got
 *    its 200) against the target's own sustained rate. Goal: at least 90 %.
 * Every loop bounded in calls and time; loopback only. Kamailio's log is checked for shm errors.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';
import { HOST, startTarget, type Target, type TargetName } from './targets.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '800,1200,1600,2000,2400,2800,3200,3600' },
    'step-seconds': { type: 'string', default: '5' },
    'overload-seconds': { type: 'string', default: '15' },
    targets: { type: 'string', default: 'sipwarden-plain,kamailio' },
    out: { type: 'string' },
  },
});
const RATES = values.rates.split(',').map(Number);
const STEP_S = Number(values['step-seconds']);
const OVERLOAD_S = Number(values['overload-seconds']);
const TARGETS = values.targets.split(',') as TargetName[];

async function fresh(name: TargetName): Promise<Target> {
  return startTarget(name, {
    uasScenario: 'uas-answer.xml',
    uasTimeoutS: 600,
    kamailioSharedMemoryMb: 2048,
    kamailioMemoryManager: 'tlsf',
  });
}

async function offer(target: Target, rate: number, seconds: number): Promise<SippResult> {
  return runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: HOST, port: target.port },
    transport: 'u1',
    calls: Math.round(rate * seconds),
    rate,
    maxConcurrent: Math.max(200, rate * 2),
    timeoutS: Math.ceil(seconds * 2) + 40,
    name: `uac-${target.name}-${rate}`,
  });
}

interface Row {
  readonly target: TargetName;
  readonly sustained: number;
  readonly offered: number;
  readonly result: SippResult;
  readonly completedPerSecond: number;
  readonly shmErrors?: number;
}

async function sustainedRate(name: TargetName, log: string[]): Promise<number> {
  const target = await fresh(name);
  let best = 0;
  try {
    for (const rate of RATES) {
      const result = await offer(target, rate, STEP_S);
      const attempted = Math.round(rate * STEP_S);
      const failedRatio = result.failed / attempted;
      const achieved = result.callRate;
      const passed =
        failedRatio < 0.001 && result.successful + result.failed >= attempted && achieved >= 0.95 * rate;
      log.push(
        `| ${name} | ${rate} | ${achieved.toFixed(0)} | ${result.failed}/${attempted} | ${loadAverageText()} | ${passed ? 'pass' : 'fail'} |`,
      );
      process.stdout.write(
        `${name} ${rate}: ${passed ? 'pass' : 'fail'} (${result.failed} failed: ${JSON.stringify(result.failedBy)})\n`,
      );
      if (!passed) process.stdout.write(`${result.errors.split('\n').slice(0, 6).join('\n')}\n`);
      if (!passed) break;
      best = rate;
    }
  } finally {
    await target.stop();
  }
  return best;
}

function shmErrors(target: Target): number | undefined {
  const output = target.kamailio?.process.output();
  if (output === undefined) return undefined;
  return output
    .split('\n')
    .filter((line) => /shm|out of memory|no more (pkg|shm)/i.test(line) && /ERROR|CRITICAL/i.test(line))
    .length;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const info = machineInfo(REPO_ROOT);
  const loadBefore = loadAverageText();
  const steps: string[] = [];
  const sustained = new Map<TargetName, number>();
  for (const name of TARGETS) sustained.set(name, await sustainedRate(name, steps));
  const highest = Math.max(...sustained.values());
  const offered = 2 * highest;
  const rows: Row[] = [];
  for (const name of TARGETS) {
    const target = await fresh(name);
    try {
      process.stdout.write(`${name}: offering ${offered} calls/s for ${OVERLOAD_S} s ... `);
      const result = await offer(target, offered, OVERLOAD_S);
      const completedPerSecond = result.successful / Math.max(OVERLOAD_S, result.elapsedS);
      const errors = shmErrors(target);
      rows.push({
        target: name,
        sustained: sustained.get(name)!,
        offered,
        result,
        completedPerSecond,
        ...(errors === undefined ? {} : { shmErrors: errors }),
      });
      process.stdout.write(`${completedPerSecond.toFixed(0)} completed/s\n`);
    } finally {
      await target.stop();
    }
  }
  const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(0)} %`);
  const lines = [
    '# Overload: calls completed at twice the highest sustained rate',
    '',
    `Run ${new Date().toISOString()} by \`node --import tsx bench/load/overload.ts\` on ${info.cpus} cores (${info.cpuModel}), commit ${info.commit}; load average before ${loadBefore}, after ${loadAverageText()}.`,
    'Absolute rates move with the machine (the load average above); the ratios compare targets measured in the same run.',
    `The sipp UAC, the sipp UAS (uas-answer.xml) and the proxy share the cores. sipwarden-plain: its build, security off (the one load address is untrusted, so admission by the age of work sheds its new INVITEs; with the pipeline on a single source at thousands of calls/s is a flood), overload settings at their defaults. Kamailio: test/interop/kamailio/proxy.cfg, one UDP worker, \`-x tlsf -m 2048\`.`,
    `Sustained rate: steps of ${STEP_S} s (< 0.1 % failed calls, 95 % of the rate achieved). Overload: ${OVERLOAD_S} s at twice the higher sustained rate, the same offered rate for both; completed = calls whose BYE got its 200, per second of the run.`,
    '',
    '| target | sustained (calls/s) | offered (calls/s) | sipp achieved (calls/s) | completed (calls/s) | completed / own sustained | failed calls | Kamailio shm errors in its log |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.sustained} | ${r.offered} | ${r.result.callRate.toFixed(0)} | ${r.completedPerSecond.toFixed(0)} | ${pct(r.completedPerSecond, r.sustained)} | ${r.result.failed} | ${r.shmErrors ?? '-'} |`,
    ),
    '',
    `Goal: completed / own sustained at least 90 %.${rows.length === 2 ? ` ${rows[0]!.target} / ${rows[1]!.target} completed under the same overload: ${pct(rows[0]!.completedPerSecond, rows[1]!.completedPerSecond)}.` : ''}`,
    '',
    '## Steps to the sustained rate',
    '',
    '| target | rate | achieved | failed | load avg | result |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...steps,
    '',
  ];
  const out =
    values.out ?? join(REPO_ROOT, 'bench', 'results', `overload-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}`);
}

try {
  await main();
} finally {
  await stopAll();
}
