/** A process's CPU time, and sipwarden's CPU per call under a bounded sipp call batch. */
import { readdirSync, readFileSync } from 'node:fs';
import { freePort } from '../../test/interop/harness/ports.ts';
import { runSipp, type SippResult } from '../../test/interop/harness/sipp.ts';

/** Linux reports /proc/PID/stat times in clock ticks of 1/100 s. */
const CLOCK_TICKS = 100;

/** User and system CPU seconds the process has used so far, all its threads together. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

/** The process and every process below it (Kamailio forks its workers and timers). Bounded. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 256) {
    const next = queue.shift()!;
    out.push(next);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${next}/task/${tid}/children`, 'latin1').trim();
        if (children !== '') queue.push(...children.split(' ').map(Number));
      } catch {
        // the thread or process ended meanwhile
      }
    }
  }
  return out;
}

/**
 * User and system CPU seconds of the whole tree under `pid`, each process with all its
 * threads. A process that ends between two readings takes its time with it: the targets
 * measured keep theirs running.
 */
export function treeCpuTimes(pid: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const member of processTree(pid)) {
    try {
      const t = cpuTimes(member);
      user += t.user;
      system += t.system;
    } catch {
      // ended meanwhile
    }
  }
  return { user, system };
}

/** User plus system CPU seconds so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** One batch of calls (scenarios/uac-call.xml) from a fresh UAC port to HOST:port. */
export async function callBatch(
  host: string,
  port: number,
  calls: number,
  rate: number,
): Promise<SippResult> {
  return runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host, port },
    calls,
    rate,
    timeoutS: Math.ceil(calls / rate) + 30,
  });
}

export interface CpuPerCall {
  readonly userMsPerCall: number;
  readonly systemMsPerCall: number;
  readonly run: SippResult;
}

/**
 * The CPU the process tree under `pid` spends per call while `calls` calls at `rate` go
 * through HOST:port, after a warm-up batch (JIT and heap in their steady state, not recorded).
 */
export async function cpuPerCall(
  pid: number,
  host: string,
  port: number,
  calls: number,
  rate: number,
): Promise<CpuPerCall> {
  await callBatch(host, port, Math.min(2000, calls), 400);
  const before = treeCpuTimes(pid);
  const run = await callBatch(host, port, calls, rate);
  const after = treeCpuTimes(pid);
  return {
    userMsPerCall: ((after.user - before.user) * 1000) / calls,
    systemMsPerCall: ((after.system - before.system) * 1000) / calls,
    run,
  };
}
