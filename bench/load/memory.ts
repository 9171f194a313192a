/**
 * Memory benchmark: the proxy's resident memory with N INVITE transactions in flight
 * (default 10,000).
 *
 *   node --import tsx bench/load/memory.ts [--targets kamailio,sipwarden] [--in-flight 10000]
 *     [--rate 1000] [--hold-seconds 45] [--out FILE] [--no-write]
 *
 * How: the UAS (scenarios/uas-hold.xml) answers every INVITE with 100 Trying at once, so no
 * hop retransmits it, and sends its final answer only after --hold-seconds. A sipp UAC places
 * --in-flight calls at --rate calls/s through the proxy; once the UAS holds them all, every
 * one of them is an open INVITE transaction in the proxy (a server and a client transaction
 * each, plus the forwarded request). Memory is read then, three times a second apart, and
 * the highest reading kept; the idle reading before any call is the baseline.
 *
 * What "memory" is: sipwarden is one process: VmRSS from /proc/PID/status. Kamailio is a
 * group of processes sharing one shared-memory segment where its transactions live: the sum
 * of their proportional set sizes (Pss, /proc/PID/smaps_rollup), which counts shared pages
 * once. Kamailio runs with 4 GB of shared memory here (-m 4096, -x tlsf, as in the call-rate
 * benchmark) so that 10,000 transactions fit; only the pages it touches count.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { processGroupMembers, stopAll } from '../../test/interop/harness/process.ts';
import { type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { buildSipwarden, machineInfo, proportionalKiB, residentKiB } from './machine.ts';
import { deadProcess, HOST, startTarget, type Target, type TargetName, targetAvailable } from './targets.ts';

interface MemoryResult {
  readonly target: TargetName;
  readonly inFlightWanted: number;
  /** Calls the UAS held open when memory was read. */
  readonly held: number;
  readonly idleKiB?: number;
  readonly loadedKiB?: number;
  readonly uacFailed: number;
  readonly note: string;
}

/** The target's memory now, in KiB (see the file comment for what is counted). */
function memoryOf(target: Target): number | undefined {
  if (target.pid === undefined) return undefined;
  if (target.name === 'kamailio') {
    let total = 0;
    for (const pid of processGroupMembers(target.pid)) total += proportionalKiB(pid) ?? 0;
    return total;
  }
  return residentKiB(target.pid);
}

async function measure(
  name: TargetName,
  inFlight: number,
  rate: number,
  holdSeconds: number,
): Promise<MemoryResult> {
  const rampSeconds = Math.ceil(inFlight / rate);
  const target = await startTarget(name, {
    uasScenario: 'uas-hold.xml',
    uasPauseMs: holdSeconds * 1000,
    uasTimeoutS: rampSeconds + holdSeconds + 60,
    kamailioSharedMemoryMb: 4096,
    kamailioMemoryManager: 'tlsf',
  });
  let uacResult: SippResult | undefined;
  try {
    await sleep(1000);
    const idleKiB = memoryOf(target);
    const uac = await startSipp({
      scenario: 'uac-call.xml',
      localPort: await freePort(),
      remote: { host: HOST, port: target.port },
      calls: inFlight,
      rate,
      maxConcurrent: inFlight,
      timeoutS: rampSeconds + holdSeconds + 30,
      timeoutIsError: false,
      name: `uac-memory-${name}`,
    });
    // Wait (bounded) until the UAS holds every call, or the hold is about to end.
    const deadline = Date.now() + (rampSeconds + Math.max(5, holdSeconds / 2)) * 1000;
    let held = 0;
    while (Date.now() < deadline) {
      held = (await target.uas.snapshot()).current;
      if (held >= inFlight) break;
      await sleep(500);
    }
    await sleep(1500);
    let loadedKiB: number | undefined;
    for (let i = 0; i < 3; i++) {
      const now = memoryOf(target);
      if (now !== undefined) loadedKiB = Math.max(loadedKiB ?? 0, now);
      await sleep(1000);
    }
    held = Math.max(held, (await target.uas.snapshot()).current);
    uacResult = await uac.stop();
    const dead = deadProcess(target);
    const note = [held < inFlight ? `only ${held} of ${inFlight} calls reached the UAS` : '', dead ?? '']
      .filter(Boolean)
      .join('; ');
    return {
      target: name,
      inFlightWanted: inFlight,
      held,
      idleKiB,
      loadedKiB,
      uacFailed: uacResult.failed,
      note,
    };
  } finally {
    await target.stop();
  }
}

const mib = (kib: number | undefined) => (kib === undefined ? '-' : (kib / 1024).toFixed(1));

function render(
  results: readonly MemoryResult[],
  inFlight: number,
  rate: number,
  holdSeconds: number,
): string {
  const machine = machineInfo(REPO_ROOT);
  const lines = [
    `# Load benchmark: memory with ${inFlight} INVITE transactions in flight (${new Date().toISOString()})`,
    '',
    'Produced by `bench/load/memory.ts` (`bash bench/run.sh`).',
    '',
    `- CPUs: ${machine.cpus} (${machine.cpuModel}), memory ${machine.memoryGiB} GiB; Node ${machine.node}; ` +
      `Kamailio ${machine.kamailio}; sipwarden commit ${machine.commit}`,
    `- ${inFlight} calls placed at ${rate} calls/s over UDP; the UAS answers 100 at once and its final ` +
      `response after ${holdSeconds} s, so every call is an open INVITE transaction in the proxy when memory is read.`,
    '- sipwarden: VmRSS of its one process (security pipeline on with 127.0.0.0/8 allowlisted; ' +
      'sipwarden-plain: off). Kamailio: sum of Pss over its processes (shared memory counted ' +
      'once; -m 4096 -x tlsf, one worker).',
    '',
    '| target | calls held | idle (MiB) | loaded (MiB) | per transaction (KiB) | note |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const per =
      r.idleKiB !== undefined && r.loadedKiB !== undefined && r.held > 0
        ? ((r.loadedKiB - r.idleKiB) / r.held).toFixed(2)
        : '-';
    lines.push(
      `| ${r.target} | ${r.held} | ${mib(r.idleKiB)} | ${mib(r.loadedKiB)} | ${per} | ${r.note || ''} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const { values } = parseArgs({
    options: {
      targets: { type: 'string', default: 'kamailio,sipwarden,sipwarden-plain' },
      'in-flight': { type: 'string', default: '10000' },
      rate: { type: 'string', default: '1000' },
      'hold-seconds': { type: 'string', default: '45' },
      out: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const inFlight = Math.min(50000, Math.max(1, Number(values['in-flight'])));
  const rate = Math.min(5000, Math.max(1, Number(values.rate)));
  const holdSeconds = Math.min(300, Math.max(5, Number(values['hold-seconds'])));
  const names = values.targets
    .split(',')
    .filter((t): t is TargetName => t === 'kamailio' || t === 'sipwarden' || t === 'sipwarden-plain')
    .filter((t) => {
      if (targetAvailable(t)) return true;
      console.log(`# ${t}: not available in this checkout; skipped`);
      return false;
    });
  const results: MemoryResult[] = [];
  try {
    for (const name of names) {
      const result = await measure(name, inFlight, rate, holdSeconds);
      results.push(result);
      console.log(
        `${name}: held ${result.held}, idle ${mib(result.idleKiB)} MiB, loaded ${mib(result.loadedKiB)} MiB` +
          `${result.note ? ` (${result.note})` : ''}`,
      );
    }
  } finally {
    await stopAll();
  }
  const report = render(results, inFlight, rate, holdSeconds);
  console.log(`\n${report}`);
  if (!values['no-write']) {
    const out =
      values.out ??
      join(REPO_ROOT, 'bench', 'results', `load-memory-${new Date().toISOString().slice(0, 10)}.md`);
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, report);
    console.log(`written to ${out}`);
  }
}

main().catch(async (error) => {
  console.error(error);
  await stopAll();
  process.exitCode = 1;
});
