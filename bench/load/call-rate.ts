/**
 * Call-rate benchmark: the highest call rate each target sustains, and its response times.
 *
 *   node --import tsx bench/load/call-rate.ts [--targets direct,kamailio,sipwarden]
 *     [--rates 100,200,...] [--step-seconds 5] [--max-minutes 20] [--kamailio-mm tlsf|qm|fm]
 *     [--out FILE] [--no-write]
 *
 * Targets (bench/load/targets.ts): straight from sipp UAC to sipp UAS; through Kamailio from
 * Debian as a plain stateful record-routing proxy with one worker, and as the same with sanity
 * checks, pike and an htable ban list (kamailio-secure); through sipwarden in one
 * process, with its security pipeline on (the load source allowlisted) and off. Kamailio
 * gets its fast allocator (-x tlsf; its default, qm, keeps debug records and searches free
 * lists, and falls behind first) and 2 GB of shared memory (-m 2048, what production gives
 * it): every transaction lingers a few seconds after it ends, and 256 MB ran out at 2,400
 * calls/s, 1 GB at 8,000. Only the pages it touches count. Its log is read after every run:
 * a run with `could not allocate` in it fails. Each call: INVITE, 200, ACK, BYE, 200 over UDP (scenarios/uac-call.xml
 * and uas-answer.xml), ACK and BYE along the Record-Route.
 *
 * Method. The rate rises in steps. At each step every target still in the race runs one
 * sipp UAC for `rate x step-seconds` calls at `rate` calls/s (a fresh UAC port per run),
 * one target after the other, the order rotated at every step so that the machine's
 * background noise falls on each in turn. A step passes when fewer than 0.1 % of the calls
 * failed (any call that did not end successfully counts: rejected, timed out, unfinished)
 * and sipp achieved at least 95 % of the asked rate. A failed step is run once more, on a
 * fresh target (the machine is shared; one burst of other work should not decide, and the
 * aftermath of an overload should not decide the repeat); a target leaves the race when the
 * repeat fails too. Its sustained rate is the last step it passed. Then every target, fresh
 * again and warmed up for 10 s at that rate, runs three interleaved rounds at half of Kamailio's sustained rate (the median
 * round by p99 kept), each recorded right after 5 s of the same load on the same target, so
 * that it reads the steady state, not a target just back from idling while the others ran;
 * that rate is the reference the goal is stated against
 * ("p99 response time added by the proxy under 5 ms at half that rate"); the time a proxy
 * adds is its p99 minus the direct p99, both at that rate.
 *
 * Response time: per call, from just after the UAC wrote the INVITE to the moment it
 * processed the 200 (microsecond clock inside sipp; see test/interop/harness/sipp.ts).
 *
 * Caveat, stated in the results: on a 2-core machine the UAC, the UAS and the proxy share
 * the two cores, so every figure is a figure of the whole set; "direct" shows what sipp alone
 * reaches, and a proxy's sustained rate can never exceed it. Every loop is bounded in count
 * and time; all traffic is on loopback.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';
import {
  deadProcess,
  HOST,
  KAMAILIO_ALLOCATION_ERROR,
  KAMAILIO_SHARED_MEMORY_MB,
  PIKE_ALLOWING_DENSITY,
  startTarget,
  TARGET_NAMES,
  type Target,
  type TargetName,
  type TargetOptions,
  targetAvailable,
} from './targets.ts';

const FAILED_LIMIT = 0.001;
const ACHIEVED_MIN = 0.95;
// Coarse where every target passes, 400 calls/s apart where they part (a ratio is only as
// fine as the steps it is read from).
const DEFAULT_RATES = [
  200, 800, 1600, 2400, 2800, 3200, 3600, 4000, 4400, 4800, 5200, 5600, 6000, 6400, 7200, 8000, 9600, 12800,
];
const HALF_ROUNDS = 3;
const CALL_RATE_TARGETS: readonly TargetName[] = [
  'direct',
  'kamailio',
  'kamailio-secure',
  'sipwarden',
  'sipwarden-plain',
];
const HALF_WARM_UP_S = 10;
/** Seconds of unrecorded load right before each measured half-rate round. */
const HALF_LEAD_IN_S = 5;

export interface StepResult {
  readonly target: TargetName;
  readonly rate: number;
  readonly attempted: number;
  readonly successful: number;
  readonly failed: number;
  readonly failedRatio: number;
  readonly achievedRate: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly retransmissions: number;
  readonly passed: boolean;
  readonly loadAverage: string;
  readonly note: string;
  /** 1, or 2 for the repeat of a failed step. */
  readonly attempt?: number;
  /** Set when a process of the target died during the run: the step measured nothing. */
  readonly invalid?: string;
}

function stepOf(target: TargetName, rate: number, attempted: number, result: SippResult): StepResult {
  const successful = Math.min(result.successful, attempted);
  const failed = attempted - successful;
  const failedRatio = failed / attempted;
  const achievedRate = result.callRate;
  const passed = failedRatio < FAILED_LIMIT && achievedRate >= ACHIEVED_MIN * rate;
  const reasons: string[] = [];
  if (failedRatio >= FAILED_LIMIT) {
    const by = Object.entries(result.failedBy)
      .filter(([k]) => k !== 'FailedCall')
      .map(([k, v]) => `${k.replace(/^Failed/, '')} ${v}`)
      .join(', ');
    reasons.push(`failed ${(failedRatio * 100).toFixed(2)} %${by ? ` (${by})` : ''}`);
  }
  if (achievedRate < ACHIEVED_MIN * rate) reasons.push(`achieved ${achievedRate.toFixed(0)}/s`);
  return {
    target,
    rate,
    attempted,
    successful,
    failed,
    failedRatio,
    achievedRate,
    p50: result.responseTimeP50,
    p99: result.responseTimeP99,
    retransmissions: result.retransmissions,
    passed,
    loadAverage: loadAverageText(),
    note: reasons.join('; '),
  };
}

/** `could not allocate` lines seen so far in each Kamailio's log. */
const allocationSeen = new Map<number, number>();

async function runStep(target: Target, rate: number, seconds: number): Promise<StepResult> {
  const attempted = Math.max(1, Math.round(rate * seconds));
  const result = await runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: HOST, port: target.port },
    transport: 'u1',
    calls: attempted,
    rate,
    // Two seconds of calls may be open at once; a target that falls further behind fails the step.
    maxConcurrent: Math.max(200, rate * 2),
    timeoutS: Math.ceil(seconds * 2) + 10,
    responseTimes: true,
    name: `uac-${target.name}-${rate}`,
  });
  let step = stepOf(target.name, rate, attempted, result);
  // Kamailio short of shared memory fails calls for want of memory, not of speed: such a run
  // measured its setting. The log tail is bounded; the count is taken as it grows.
  if (target.kamailio !== undefined) {
    const seen = target.kamailio.countLog(KAMAILIO_ALLOCATION_ERROR);
    const before = allocationSeen.get(target.kamailio.pid) ?? 0;
    allocationSeen.set(target.kamailio.pid, seen);
    const fresh = seen >= before ? seen - before : seen;
    if (fresh > 0) {
      const note = `Kamailio log: ${fresh} allocation errors`;
      step = { ...step, passed: false, note: step.note ? `${step.note}; ${note}` : note };
    }
  }
  const dead = deadProcess(target);
  return dead ? { ...step, passed: false, invalid: dead, note: `not counted: ${dead}` } : step;
}

const ms = (value: number | undefined) => (value === undefined ? '-' : value.toFixed(2));

function table(steps: readonly StepResult[]): string {
  const lines = [
    '| target | rate (calls/s) | run | achieved | failed | p50 (ms) | p99 (ms) | retrans | load avg | result |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const s of steps) {
    lines.push(
      `| ${s.target} | ${s.rate} | ${s.attempt ?? 1} | ${s.achievedRate.toFixed(0)} | ${s.failed}/${s.attempted} | ${ms(s.p50)} | ` +
        `${ms(s.p99)} | ${s.retransmissions} | ${s.loadAverage} | ${s.passed ? 'pass' : s.invalid ? s.note : `FAIL: ${s.note}`} |`,
    );
  }
  return lines.join('\n');
}

interface Summary {
  readonly sustained: Map<TargetName, number>;
  readonly best: Map<TargetName, StepResult>;
}

function summarize(targets: readonly TargetName[], steps: readonly StepResult[]): Summary {
  const sustained = new Map<TargetName, number>();
  const best = new Map<TargetName, StepResult>();
  for (const name of targets) {
    const passed = steps.filter((s) => s.target === name && s.passed);
    const top = passed.at(-1);
    sustained.set(name, top?.rate ?? 0);
    if (top) best.set(name, top);
  }
  return { sustained, best };
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (!a || !b) return 'n/a';
  return `${((a / b) * 100).toFixed(0)} %`;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const { values } = parseArgs({
    options: {
      // The topology-hiding pair (kamailio-topoh, sipwarden-hiding) has its own run: edge.ts.
      targets: { type: 'string', default: CALL_RATE_TARGETS.join(',') },
      rates: { type: 'string', default: DEFAULT_RATES.join(',') },
      'step-seconds': { type: 'string', default: '5' },
      'max-minutes': { type: 'string', default: '20' },
      'kamailio-mm': { type: 'string', default: 'tlsf' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const rates = values.rates
    .split(',')
    .map(Number)
    .filter((r) => Number.isFinite(r) && r > 0)
    .slice(0, 40);
  const seconds = Math.min(60, Math.max(1, Number(values['step-seconds'])));
  const deadline = Date.now() + Math.min(120, Math.max(1, Number(values['max-minutes']))) * 60000;
  const wanted = values.targets
    .split(',')
    .filter((t): t is TargetName => TARGET_NAMES.includes(t as TargetName));
  const skipped = wanted.filter((t) => !targetAvailable(t));
  const names = wanted.filter((t) => targetAvailable(t));
  for (const name of skipped)
    console.log(`# ${name}: not available in this checkout (bin/sipwarden.js missing); skipped`);

  const mm = values['kamailio-mm'];
  const kamailioMm = mm === 'fm' || mm === 'qm' ? mm : 'tlsf';
  const machine = machineInfo(REPO_ROOT);
  console.log(`# ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.sipp}, Kamailio ${machine.kamailio}`);
  console.log(`# steps of ${seconds} s at ${rates.join(', ')} calls/s; targets ${names.join(', ')}`);

  const uasTimeoutS = Math.ceil((deadline - Date.now()) / 1000) + 120;
  const targets = new Map<TargetName, Target>();
  for (const name of names) {
    targets.set(
      name,
      await startTarget(name, {
        uasScenario: 'uas-answer.xml',
        uasTimeoutS,
        kamailioMemoryManager: kamailioMm,
      }),
    );
  }

  // A fresh target (new UAS, new proxy): after an overloaded run the old ones still carry its
  // aftermath (the UAS retransmits unacknowledged 200s for up to 32 s, through the proxy).
  // It is warmed up (2 s at half the rate, not recorded) so that a just-compiled JavaScript
  // proxy is not measured cold.
  const targetOptions: TargetOptions = {
    uasScenario: 'uas-answer.xml',
    uasTimeoutS,
    kamailioMemoryManager: kamailioMm,
  };
  const restart = async (name: TargetName, rate: number, warmUp = { share: 0.5, seconds: 2 }) => {
    await targets.get(name)?.stop();
    const fresh = await startTarget(name, targetOptions);
    targets.set(name, fresh);
    await runStep(fresh, Math.max(50, Math.round(rate * warmUp.share)), warmUp.seconds);
    await sleep(1000);
  };
  // Before the half-rate rounds every target runs HALF_WARM_UP_S at that very rate: response
  // times are read in the steady state, after V8 has compiled the hot paths and sized its heap
  // (a JavaScript proxy measured in its first seconds shows its compiler, not its latency).
  const HALF_WARM_UP = { share: 1, seconds: HALF_WARM_UP_S };

  const steps: StepResult[] = [];
  const inRace = new Set(names);
  let stoppedEarly = '';
  try {
    for (let i = 0; i < rates.length && inRace.size > 0; i++) {
      const rate = rates[i]!;
      const order = [...inRace];
      // Rotate who goes first, so that no target always runs right after another one's load.
      for (let r = 0; r < i % order.length; r++) order.push(order.shift()!);
      for (const name of order) {
        if (Date.now() > deadline) {
          stoppedEarly = `time budget reached at ${rate} calls/s`;
          break;
        }
        // A failed step runs once more before the target leaves: the machine is shared, and
        // one burst of someone else's work should not decide a target's figure.
        let invalidRuns = 0;
        for (let attempt = 1; attempt <= 2; attempt++) {
          const before = deadProcess(targets.get(name)!);
          if (before) {
            console.log(`# ${name}: ${before}; starting it again`);
            await restart(name, rate);
          }
          const step = { ...(await runStep(targets.get(name)!, rate, seconds)), attempt };
          steps.push(step);
          if (step.invalid) {
            console.log(`${name.padEnd(15)} ${String(rate).padStart(5)}/s: ${step.note}; run again`);
            // Bounded: a target whose processes keep dying stops the whole benchmark.
            if (++invalidRuns > 5) throw new Error(`${name}: processes keep exiting (${step.invalid})`);
            await restart(name, rate);
            attempt--;
            continue;
          }
          const last = step.passed || attempt === 2;
          console.log(
            `${name.padEnd(15)} ${String(rate).padStart(5)}/s: achieved ${step.achievedRate.toFixed(0)}/s, ` +
              `failed ${step.failed}/${step.attempted}, p50 ${ms(step.p50)} ms, p99 ${ms(step.p99)} ms` +
              `${step.passed ? '' : last ? `  -> out (${step.note})` : `  -> again (${step.note})`}`,
          );
          if (step.passed) {
            // Let retransmissions and transaction timers of this run settle before the next one.
            await sleep(1000);
            break;
          }
          if (last) inRace.delete(name);
          else await restart(name, rate);
        }
      }
      if (stoppedEarly) break;
    }

    const { sustained } = summarize(names, steps);
    const reference = sustained.get('kamailio') || sustained.get('sipwarden') || sustained.get('direct') || 0;
    const halfRate = Math.max(50, Math.round(reference / 2 / 50) * 50);
    const halfSteps: StepResult[] = [];
    if (reference > 0 && Date.now() < deadline) {
      // Fresh targets, then HALF_ROUNDS rounds interleaved; the figure kept per target is the
      // median round by p99, so that one burst of other work on the machine does not decide it.
      for (const name of names) await restart(name, halfRate, HALF_WARM_UP);
      for (let round = 1; round <= HALF_ROUNDS; round++) {
        for (const name of names) {
          const dead = deadProcess(targets.get(name)!);
          if (dead) {
            console.log(`# ${name}: ${dead}; starting it again`);
            await restart(name, halfRate, HALF_WARM_UP);
          }
          // The measured round follows the same load on the same target without a pause, so it
          // reads the steady state and not the first seconds after the other targets' rounds
          // left this one idle (an idle JavaScript heap enters the next load with its
          // collections due at once).
          await runStep(targets.get(name)!, halfRate, HALF_LEAD_IN_S);
          const step = { ...(await runStep(targets.get(name)!, halfRate, seconds)), attempt: round };
          halfSteps.push(step);
          console.log(
            `half rate ${name.padEnd(15)} ${halfRate}/s round ${round}: p50 ${ms(step.p50)} ms, p99 ${ms(step.p99)} ms`,
          );
          await sleep(1000);
        }
      }
    }

    const report = render({
      machine,
      seconds,
      rates,
      names,
      skipped,
      steps,
      halfRate,
      halfSteps,
      stoppedEarly,
      sustained,
      kamailioMm,
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

/** bench/results/load-<date>.md, or load-<date>-2.md... when that day already has one. */
function defaultOutput(): string {
  const date = new Date().toISOString().slice(0, 10);
  const dir = join(REPO_ROOT, 'bench', 'results');
  for (let n = 1; n < 100; n++) {
    const path = join(dir, `load-${date}${n === 1 ? '' : `-${n}`}.md`);
    if (!existsSync(path)) return path;
  }
  return join(dir, `load-${date}-last.md`);
}

function render(r: {
  machine: ReturnType<typeof machineInfo>;
  seconds: number;
  rates: readonly number[];
  names: readonly TargetName[];
  skipped: readonly TargetName[];
  steps: readonly StepResult[];
  halfRate: number;
  halfSteps: readonly StepResult[];
  stoppedEarly: string;
  sustained: Map<TargetName, number>;
  kamailioMm: string;
}): string {
  const { machine } = r;
  const best = summarize(r.names, r.steps).best;
  const half = new Map<TargetName, StepResult>();
  for (const name of r.names) {
    const rounds = r.halfSteps.filter((s) => s.target === name && !s.invalid);
    const byP99 = [...rounds].sort(
      (a, b) => (a.p99 ?? Number.POSITIVE_INFINITY) - (b.p99 ?? Number.POSITIVE_INFINITY),
    );
    const median = byP99[Math.floor((byP99.length - 1) / 2)];
    if (median) half.set(name, median);
  }
  const directHalf = half.get('direct');
  const added = (name: TargetName): string => {
    const s = half.get(name);
    if (!s || s.p99 === undefined || directHalf?.p99 === undefined) return 'n/a';
    return `${(s.p99 - directHalf.p99).toFixed(2)} ms`;
  };
  const lines: string[] = [];
  lines.push(`# Load benchmark: call rate (${new Date().toISOString()})`, '');
  lines.push('Produced by `bench/load/call-rate.ts` (`bash bench/run.sh`).', '');
  lines.push('## Machine', '');
  lines.push(
    `- CPUs: ${machine.cpus} (${machine.cpuModel}), memory ${machine.memoryGiB} GiB, Linux ${machine.kernel}`,
  );
  lines.push(`- Node ${machine.node}; ${machine.sipp}; Kamailio ${machine.kamailio}`);
  lines.push(
    `- sipwarden commit ${machine.commit}${machine.sourcesChanged ? ` with ${machine.sourcesChanged} changed files under src/ (a shared working tree: each sipwarden runs the sources as they are when it starts)` : ''}; load average at start ${machine.loadAverage}`,
  );
  lines.push(
    `- The sipp UAC, the sipp UAS and the proxy share these ${machine.cpus} cores: every figure is that of the ` +
      'whole set, and "direct" (sipp alone) is the ceiling a proxy cannot exceed. Other programs running ' +
      'on the machine show in the load averages.',
  );
  lines.push('');
  lines.push('## Summary', '');
  lines.push(
    '| target | sustained (calls/s) | p50 (ms) | p99 (ms) | p99 at half rate (ms) | p99 added at half rate |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|');
  for (const name of r.names) {
    const b = best.get(name);
    const h = half.get(name);
    lines.push(
      `| ${name} | ${r.sustained.get(name) ?? 0} | ${ms(b?.p50)} | ${ms(b?.p99)} | ${ms(h?.p99)} | ` +
        `${name === 'direct' ? '-' : added(name)} |`,
    );
  }
  for (const name of r.skipped) lines.push(`| ${name} | not run (not available) | | | | |`);
  lines.push('');
  const sw = r.sustained.get('sipwarden');
  const swPlain = r.sustained.get('sipwarden-plain');
  const ka = r.sustained.get('kamailio');
  const kaSecure = r.sustained.get('kamailio-secure');
  const di = r.sustained.get('direct');
  lines.push(
    `- The proxy: sipwarden-plain (security off) / Kamailio (plain stateful proxy): ${ratio(swPlain, ka)} (goal: at least 75 %)`,
  );
  lines.push(`- With every default stage: sipwarden / Kamailio (plain): ${ratio(sw, ka)}`);
  lines.push(
    `- With every default stage: sipwarden / Kamailio with sanity + pike + htable (kamailio-secure): ${ratio(sw, kaSecure)}`,
  );
  lines.push(
    `- What the pipeline leaves: sipwarden / sipwarden-plain: ${ratio(sw, swPlain)} (goal: at least 80 %)`,
  );
  lines.push(`- Kamailio's checks leave: kamailio-secure / kamailio: ${ratio(kaSecure, ka)}`);
  lines.push(`- sipwarden / direct: ${ratio(sw, di)}; Kamailio / direct: ${ratio(ka, di)}`);
  lines.push(
    `- Half rate: ${r.halfRate} calls/s (half of Kamailio's sustained rate, rounded to 50), fresh ` +
      `targets warmed up for ${HALF_WARM_UP_S} s at that rate, ${HALF_ROUNDS} interleaved rounds of ${r.seconds} s, each right after ${HALF_LEAD_IN_S} s ` +
      'of the same load on the same target (steady state); per target the median round by p99 is ' +
      'kept; "added" is its p99 minus the direct p99 (goal for sipwarden: under 5 ms).',
  );
  if (r.stoppedEarly) lines.push(`- Stopped early: ${r.stoppedEarly}.`);
  lines.push('');
  lines.push('## Method', '');
  lines.push(
    `Steps of ${r.seconds} s at ${r.rates.join(', ')} calls/s, targets interleaved within a step, the ` +
      'order rotated at each step. Each call: INVITE, 200, ACK, BYE, 200 over UDP; ACK and BYE follow ' +
      'the Record-Route. A step passes with fewer than 0.1 % failed calls (any call not ended ' +
      'successfully) and at least 95 % of the asked rate achieved; a failed step is run once more on ' +
      'a fresh target (new UAS and proxy), and a target leaves when the repeat fails too. Response time: from just after the UAC wrote ' +
      'the INVITE to its processing of the 200, measured inside sipp with a microsecond clock. ' +
      'Kamailio: test/interop/kamailio/proxy.cfg, children=1 (one UDP worker), ' +
      'and for kamailio-secure proxy-secure.cfg (sanity_check, pike_check_req, an htable ban list; pike ' +
      `density ${PIKE_ALLOWING_DENSITY} per 2 s, so that it counts but never bans the one load source), ` +
      `${r.kamailioMm} allocator, ${KAMAILIO_SHARED_MEMORY_MB} MB shared memory (so that memory never limits its rate: ` +
      'transactions stay in memory a few seconds after they end; its log is read after every run, and a run ' +
      'with `could not allocate` in it fails). sipwarden: `sipwarden start ' +
      '-c CONFIG --listen --upstream --log-level warn`, one process, running its build (dist/, made at ' +
      'the start of the run, as `npm ci` makes it); "sipwarden" runs its security ' +
      'pipeline with 127.0.0.0/8 allowlisted (every stage runs and reports, none refuses the one ' +
      'source and caller identity of the load), "sipwarden-plain" has it off; the media relay is off in both ' +
      '(Kamailio relays no media here; the relay has its own benchmark).',
  );
  lines.push('', '## Every step', '', table(r.steps), '');
  if (r.halfSteps.length > 0) lines.push('## Half rate (run = round)', '', table(r.halfSteps), '');
  return lines.join('\n');
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exitCode = 1;
});
