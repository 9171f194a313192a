/**
 * The edge benchmark (topology hiding on): CPU time per call and the highest call rate with
 * under 0.1 % failed calls, for sipwarden and Kamailio, in one run at the same call rates.
 *
 *   node --import tsx bench/load/edge.ts
 *     [--targets direct,kamailio-secure,kamailio-topoh,sipwarden,sipwarden-hiding]
 *     [--rates 400,800,...] [--step-seconds 5] [--cpu-rate 150] [--cpu-rounds 3] [--warm-up-seconds 30]
 *     [--max-minutes 25] [--out FILE] [--no-write]
 *
 * Targets (bench/load/targets.ts): kamailio-topoh is Kamailio with sanity, pike, an htable
 * ban list and topoh (Via, Record-Route and Contact masked towards both sides);
 * sipwarden-hiding is sipwarden with every default security stage and topology hiding on
 * towards both sides. Their baselines, in the same run: kamailio-secure and sipwarden (the
 * same without hiding) and direct (sipp alone). Kamailio gets `-x tlsf -m 2048` and its log
 * is read for `could not allocate` after every run; a run with such a line does not pass.
 *
 * Method. Every target, when started, is warmed up (`warm-up-seconds` of calls at `cpu-rate`,
 * not recorded): a JavaScript proxy spends its first minute compiling its hot paths, which
 * a long-running one no longer does. First, CPU rounds: every target in turn takes
 * `cpu-rate x 10` calls, `cpu-rounds` rounds, the order rotated; the ratio of two targets is
 * read within each round and the median kept. Then the rate rises in steps; at each step every target still in the race takes one
 * sipp UAC batch of `rate x step-seconds` calls (INVITE, 200, ACK, BYE, 200 over UDP), the
 * targets one after the other, the order rotated at every step. Around each batch the CPU
 * time of the target's whole process tree (every process under the proxy's pid, all
 * threads, user + system, from /proc) is read: its CPU per call is the difference over the
 * calls attempted. A step passes with fewer than 0.1 % failed calls and at least 95 % of the
 * rate achieved; a failed step runs once more on a fresh target, and a target leaves the race
 * when the repeat fails too. Ratios are read at the rates both targets passed (the median
 * over those rates), so that both are compared at the same load. Bounded in count and time;
 * loopback only.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { median } from '../stats.ts';
import { treeCpuTimes } from './cpu.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';
import {
  deadProcess,
  HOST,
  KAMAILIO_ALLOCATION_ERROR,
  KAMAILIO_SHARED_MEMORY_MB,
  startTarget,
  TARGET_NAMES,
  type Target,
  type TargetName,
  type TargetOptions,
  targetAvailable,
} from './targets.ts';

const FAILED_LIMIT = 0.001;
const ACHIEVED_MIN = 0.95;
const DEFAULT_TARGETS: readonly TargetName[] = [
  'direct',
  'kamailio-secure',
  'kamailio-topoh',
  'sipwarden',
  'sipwarden-hiding',
];
const DEFAULT_RATES = [200, 400, 600, 800, 1000, 1200, 1600, 2000, 2400, 2800, 3200, 4000, 4800, 5600, 6400];
const CPU_ROUND_SECONDS = 10;

interface Step {
  readonly target: TargetName;
  readonly rate: number;
  readonly attempt: number;
  readonly attempted: number;
  readonly failed: number;
  readonly achieved: number;
  /** CPU of the target's process tree per attempted call, ms (undefined for direct). */
  readonly cpuMsPerCall?: number;
  readonly cpuUserMsPerCall?: number;
  readonly p99?: number;
  /** Kamailio: lines matching `could not allocate` its log gained during the run. */
  readonly allocationErrors: number;
  readonly loadAverage: string;
  readonly passed: boolean;
  readonly note: string;
}

/** Allocation error lines seen so far per Kamailio process (its log tail is bounded: counted as it grows). */
const allocationSeen = new Map<number, number>();

function newAllocationErrors(target: Target): number {
  if (target.kamailio === undefined) return 0;
  const count = target.kamailio.countLog(KAMAILIO_ALLOCATION_ERROR);
  const before = allocationSeen.get(target.kamailio.pid) ?? 0;
  allocationSeen.set(target.kamailio.pid, count);
  // A tail that dropped old lines can count fewer than before: any count then is new.
  return count >= before ? count - before : count;
}

async function runStep(target: Target, rate: number, seconds: number, attempt: number): Promise<Step> {
  const attempted = Math.max(1, Math.round(rate * seconds));
  const before = target.pid === undefined ? undefined : treeCpuTimes(target.pid);
  const result = await runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: HOST, port: target.port },
    transport: 'u1',
    calls: attempted,
    rate,
    maxConcurrent: Math.max(200, rate * 2),
    timeoutS: Math.ceil(seconds * 2) + 10,
    responseTimes: true,
    name: `uac-${target.name}-${rate}`,
  });
  const after = target.pid === undefined ? undefined : treeCpuTimes(target.pid);
  const allocationErrors = newAllocationErrors(target);
  const failed = attempted - Math.min(result.successful, attempted);
  const reasons: string[] = [];
  if (failed / attempted >= FAILED_LIMIT) reasons.push(`failed ${((100 * failed) / attempted).toFixed(2)} %`);
  if (result.callRate < ACHIEVED_MIN * rate) reasons.push(`achieved ${result.callRate.toFixed(0)}/s`);
  if (allocationErrors > 0) reasons.push(`Kamailio log: ${allocationErrors} allocation errors`);
  const dead = deadProcess(target);
  if (dead) reasons.push(`not counted: ${dead}`);
  const perCall = (a?: number, b?: number) =>
    a === undefined || b === undefined ? undefined : ((b - a) * 1000) / attempted;
  return {
    target: target.name,
    rate,
    attempt,
    attempted,
    failed,
    achieved: result.callRate,
    cpuMsPerCall: perCall(before && before.user + before.system, after && after.user + after.system),
    cpuUserMsPerCall: perCall(before?.user, after?.user),
    p99: result.responseTimeP99,
    allocationErrors,
    loadAverage: loadAverageText(),
    passed: reasons.length === 0,
    note: reasons.join('; '),
  };
}

const fixed = (v: number | undefined, digits = 3) => (v === undefined ? '-' : v.toFixed(digits));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
      rates: { type: 'string', default: DEFAULT_RATES.join(',') },
      'step-seconds': { type: 'string', default: '5' },
      'cpu-rate': { type: 'string', default: '150' },
      'cpu-rounds': { type: 'string', default: '3' },
      'warm-up-seconds': { type: 'string', default: '30' },
      'max-minutes': { type: 'string', default: '25' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  buildSipwarden(REPO_ROOT);
  const rates = values.rates
    .split(',')
    .map(Number)
    .filter((r) => Number.isFinite(r) && r > 0)
    .slice(0, 40);
  const seconds = Math.min(60, Math.max(1, Number(values['step-seconds'])));
  const cpuRate = Math.min(5000, Math.max(10, Number(values['cpu-rate'])));
  const cpuRounds = Math.min(10, Math.max(1, Number(values['cpu-rounds'])));
  const warmUpS = Math.min(300, Math.max(2, Number(values['warm-up-seconds'])));
  const deadline = Date.now() + Math.min(120, Math.max(1, Number(values['max-minutes']))) * 60000;
  const names = values.targets
    .split(',')
    .filter((t): t is TargetName => TARGET_NAMES.includes(t as TargetName))
    .filter((t) => targetAvailable(t));
  const machine = machineInfo(REPO_ROOT);
  console.log(`# ${machine.cpus} CPUs, load average ${machine.loadAverage}; targets ${names.join(', ')}`);

  const options: TargetOptions = {
    uasScenario: 'uas-answer.xml',
    uasTimeoutS: Math.ceil((deadline - Date.now()) / 1000) + 120,
    kamailioMemoryManager: 'tlsf',
    kamailioSharedMemoryMb: KAMAILIO_SHARED_MEMORY_MB,
  };
  const targets = new Map<TargetName, Target>();
  // Fresh, and warmed up (not recorded): a just-started JavaScript proxy is not measured while
  // it compiles, and an overloaded one's aftermath does not decide a repeat.
  const fresh = async (name: TargetName) => {
    await targets.get(name)?.stop();
    const target = await startTarget(name, options);
    targets.set(name, target);
    await runStep(target, cpuRate, warmUpS, 0);
    await sleep(1000);
  };
  const cpuSteps: Step[] = [];
  const steps: Step[] = [];
  const inRace = new Set(names);
  let stoppedEarly = '';
  try {
    for (const name of names) await fresh(name);
    for (let round = 1; round <= cpuRounds; round++) {
      const order = [...names];
      for (let r = 0; r < (round - 1) % order.length; r++) order.push(order.shift()!);
      for (const name of order) {
        if (deadProcess(targets.get(name)!)) await fresh(name);
        const step = await runStep(targets.get(name)!, cpuRate, CPU_ROUND_SECONDS, round);
        cpuSteps.push(step);
        console.log(
          `CPU round ${round} ${name.padEnd(16)} ${cpuRate}/s: CPU ${fixed(step.cpuMsPerCall)} ms/call, failed ` +
            `${step.failed}/${step.attempted}, load ${step.loadAverage}${step.passed ? '' : ` (${step.note})`}`,
        );
        await sleep(1000);
      }
    }
    for (let i = 0; i < rates.length && inRace.size > 0 && !stoppedEarly; i++) {
      const rate = rates[i]!;
      const order = [...inRace];
      for (let r = 0; r < i % order.length; r++) order.push(order.shift()!);
      for (const name of order) {
        if (Date.now() > deadline) {
          stoppedEarly = `time budget reached at ${rate} calls/s`;
          break;
        }
        for (let attempt = 1; attempt <= 2; attempt++) {
          if (deadProcess(targets.get(name)!)) await fresh(name);
          const step = await runStep(targets.get(name)!, rate, seconds, attempt);
          steps.push(step);
          console.log(
            `${name.padEnd(16)} ${String(rate).padStart(5)}/s: achieved ${step.achieved.toFixed(0)}/s, failed ` +
              `${step.failed}/${step.attempted}, CPU ${fixed(step.cpuMsPerCall)} ms/call, p99 ${fixed(step.p99, 1)} ms, load ${step.loadAverage}` +
              `${step.passed ? '' : ` (${step.note})`}`,
          );
          if (step.passed) break;
          if (attempt === 2) inRace.delete(name);
          else await fresh(name);
        }
        await sleep(1000);
      }
    }
    const report = render({
      machine,
      seconds,
      rates,
      names,
      steps,
      cpuSteps,
      cpuRate,
      warmUpS,
      stoppedEarly,
    });
    console.log(`\n${report}`);
    if (!values['no-write']) {
      const out = values.out ?? defaultOutput();
      mkdirSync(join(out, '..'), { recursive: true });
      writeFileSync(out, report);
      console.log(`\nwritten to ${out}`);
    }
  } finally {
    for (const target of targets.values()) await target.stop();
    await stopAll();
  }
}

function defaultOutput(): string {
  const date = new Date().toISOString().slice(0, 10);
  const dir = join(REPO_ROOT, 'bench', 'results');
  for (let n = 1; n < 100; n++) {
    const path = join(dir, `edge-${date}${n === 1 ? '' : `-${n}`}.md`);
    if (!existsSync(path)) return path;
  }
  return join(dir, `edge-${date}-last.md`);
}

/** The passing step of `name` at `rate`, if any. */
function passedAt(steps: readonly Step[], name: TargetName, rate: number): Step | undefined {
  return steps.find((s) => s.target === name && s.rate === rate && s.passed);
}

/** Median over the rates both passed of a's CPU per call over b's, with those rates. */
function cpuRatio(steps: readonly Step[], rates: readonly number[], a: TargetName, b: TargetName) {
  const ratios: number[] = [];
  const common: number[] = [];
  for (const rate of rates) {
    const sa = passedAt(steps, a, rate);
    const sb = passedAt(steps, b, rate);
    if (sa?.cpuMsPerCall === undefined || sb?.cpuMsPerCall === undefined || sb.cpuMsPerCall <= 0) continue;
    ratios.push(sa.cpuMsPerCall / sb.cpuMsPerCall);
    common.push(rate);
  }
  return { ratio: ratios.length > 0 ? median(ratios) : undefined, common };
}

function render(r: {
  machine: ReturnType<typeof machineInfo>;
  seconds: number;
  rates: readonly number[];
  names: readonly TargetName[];
  steps: readonly Step[];
  cpuSteps: readonly Step[];
  cpuRate: number;
  warmUpS: number;
  stoppedEarly: string;
}): string {
  const sustained = new Map<TargetName, number>();
  const cpu = new Map<TargetName, number | undefined>();
  for (const name of r.names) {
    const passed = r.steps.filter((s) => s.target === name && s.passed);
    sustained.set(name, passed.at(-1)?.rate ?? 0);
    const values = passed.map((s) => s.cpuMsPerCall).filter((v): v is number => v !== undefined);
    cpu.set(name, values.length > 0 ? median(values) : undefined);
  }
  const loads = [...r.cpuSteps, ...r.steps].map((s) => Number(s.loadAverage.split(' ')[0]));
  const roundCpu = new Map<TargetName, number | undefined>();
  for (const name of r.names) {
    const values = r.cpuSteps
      .filter((s) => s.target === name && s.cpuMsPerCall !== undefined)
      .map((s) => s.cpuMsPerCall!);
    roundCpu.set(name, values.length > 0 ? median(values) : undefined);
  }
  /** a / b within each CPU round (both measured minutes apart at most), the median over rounds. */
  const roundRatio = (a: TargetName, b: TargetName): number | undefined => {
    const ratios: number[] = [];
    for (const sa of r.cpuSteps.filter((s) => s.target === a)) {
      const sb = r.cpuSteps.find((s) => s.target === b && s.attempt === sa.attempt);
      if (sa.cpuMsPerCall !== undefined && sb?.cpuMsPerCall) ratios.push(sa.cpuMsPerCall / sb.cpuMsPerCall);
    }
    return ratios.length > 0 ? median(ratios) : undefined;
  };
  const lines: string[] = [];
  lines.push(
    `# Edge benchmark: topology hiding on, CPU per call and call rate (${new Date().toISOString()})`,
    '',
  );
  lines.push('Produced by `bench/load/edge.ts`.', '');
  lines.push('## Machine', '');
  lines.push(
    `- CPUs: ${r.machine.cpus} (${r.machine.cpuModel}), Linux ${r.machine.kernel}; Node ${r.machine.node}`,
  );
  lines.push(`- ${r.machine.sipp}; Kamailio ${r.machine.kamailio}`);
  lines.push(
    `- sipwarden commit ${r.machine.commit}${r.machine.sourcesChanged ? ` (+${r.machine.sourcesChanged} changed files under src/)` : ''}; ` +
      `load average at start ${r.machine.loadAverage}; 1-minute load average during the steps ` +
      `${Math.min(...loads).toFixed(1)}..${Math.max(...loads).toFixed(1)} (median ${median(loads).toFixed(1)})`,
  );
  lines.push(
    '- Shared machine: sipp UAC, sipp UAS and the proxy share these cores with other programs; absolute ' +
      'figures move with the load, the ratios (targets interleaved at every step) much less.',
  );
  lines.push('', '## Summary', '');
  lines.push(
    `| target | CPU per call at ${r.cpuRate} calls/s, median of the rounds (ms) | sustained (calls/s) | CPU per call, median over its passed steps (ms) |`,
  );
  lines.push('|---|---:|---:|---:|');
  for (const name of r.names)
    lines.push(
      `| ${name} | ${fixed(roundCpu.get(name))} | ${sustained.get(name)} | ${fixed(cpu.get(name))} |`,
    );
  lines.push('');
  const pairs: [TargetName, TargetName, string][] = [
    ['sipwarden-hiding', 'kamailio-topoh', 'goal: at most 0.80'],
    ['sipwarden', 'kamailio-secure', 'without hiding'],
    ['sipwarden-hiding', 'sipwarden', 'what hiding costs sipwarden'],
    ['kamailio-topoh', 'kamailio-secure', 'what topoh costs Kamailio'],
  ];
  for (const [a, b, what] of pairs) {
    if (!r.names.includes(a) || !r.names.includes(b)) continue;
    lines.push(
      `- CPU per call at ${r.cpuRate} calls/s, ${a} / ${b} (${what}): ${fixed(roundRatio(a, b), 2)}, the median of the per-round ratios`,
    );
  }
  for (const [a, b, what] of pairs) {
    if (!r.names.includes(a) || !r.names.includes(b)) continue;
    const { ratio, common } = cpuRatio(r.steps, r.rates, a, b);
    lines.push(
      `- CPU per call ${a} / ${b} (${what}): ${fixed(ratio, 2)}, the median over the ${common.length} rates both passed` +
        `${common.length > 0 ? ` (${common.join(', ')} calls/s)` : ''}`,
    );
  }
  const sh = sustained.get('sipwarden-hiding');
  const kt = sustained.get('kamailio-topoh');
  if (sh !== undefined && kt !== undefined && kt > 0)
    lines.push(
      `- Sustained rate sipwarden-hiding / kamailio-topoh: ${(sh / kt).toFixed(2)} (goal: at least 1.00)`,
    );
  if (r.stoppedEarly) lines.push(`- Stopped early: ${r.stoppedEarly}.`);
  const allocation = r.steps.reduce((n, s) => n + s.allocationErrors, 0);
  lines.push(`- Kamailio allocation errors (\`could not allocate\`) in its logs over the run: ${allocation}`);
  lines.push('', '## Method', '');
  lines.push(
    `Every target warmed up for ${r.warmUpS} s at ${r.cpuRate} calls/s when started (not recorded). CPU rounds: ` +
      `${CPU_ROUND_SECONDS} s at ${r.cpuRate} calls/s per target, the targets in turn, the order rotated per round. ` +
      `Steps of ${r.seconds} s at ${r.rates.join(', ')} calls/s, the targets interleaved within a step and the ` +
      'order rotated at each step. Each call: INVITE, 200, ACK, BYE, 200 over UDP (scenarios/uac-call.xml, ' +
      'uas-answer.xml), ACK and BYE along the Record-Route. A step passes with fewer than 0.1 % failed calls, ' +
      'at least 95 % of the rate achieved and no allocation error in the Kamailio log; a failed step runs once ' +
      'more on a fresh target, and a target leaves when the repeat fails too. CPU: user + system time of the ' +
      "proxy's whole process tree (Kamailio's main process, its UDP worker, timers and TCP processes; " +
      "sipwarden's process with its threads), read from /proc before and after the batch, over the calls " +
      'attempted. Kamailio 5.6: test/interop/kamailio/proxy-secure.cfg, one UDP worker, ' +
      `\`-x tlsf -m ${KAMAILIO_SHARED_MEMORY_MB}\`, pike counting but never banning the one load source; ` +
      'kamailio-topoh adds `-A WITH_TOPOH` (topoh: Via, Record-Route, Contact masked towards both sides; ' +
      'Call-ID not masked, as sipwarden does not replace it). sipwarden: its build, one process, every default ' +
      'security stage on with 127.0.0.0/8 allowlisted (every stage runs and reports, none refuses the load), ' +
      'the media relay off (Kamailio relays no media here); sipwarden-hiding adds ' +
      '`topologyHiding.trusted.enabled: true` (the untrusted side is hidden by default).',
  );
  lines.push('', '## CPU rounds (run = round)', '');
  lines.push(
    '| target | rate | run | achieved | failed | CPU ms/call | of which user | p99 (ms) | load avg | result |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const s of r.cpuSteps) lines.push(stepRow(s));
  lines.push('', '## Every step', '');
  lines.push(
    '| target | rate | run | achieved | failed | CPU ms/call | of which user | p99 (ms) | load avg | result |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const s of r.steps) lines.push(stepRow(s));
  lines.push('');
  return lines.join('\n');
}

function stepRow(s: Step): string {
  return (
    `| ${s.target} | ${s.rate} | ${s.attempt} | ${s.achieved.toFixed(0)} | ${s.failed}/${s.attempted} | ` +
    `${fixed(s.cpuMsPerCall)} | ${fixed(s.cpuUserMsPerCall)} | ${fixed(s.p99, 2)} | ${s.loadAverage} | ` +
    `${s.passed ? 'pass' : `FAIL: ${s.note}`} |`
  );
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exitCode = 1;
});
