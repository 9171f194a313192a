/**
 * Shared pieces of the security interop tests: sipwarden with its defaults as a child
 * process (management API on a free port, events in memory), its management API, the PBX
 * scenario behind it, and sipp's message counts read while sipp runs.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagementClient } from '../../../src/api/client.ts';
import type { BlockView, EventsAnswer } from '../../../src/api/views.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { freePort } from '../harness/ports.ts';
import type { SippRun } from '../harness/sipp.ts';
import { type Sipwarden, type SipwardenConfig, startSipwarden } from '../harness/sipwarden.ts';

/** The PBX behind sipwarden: calls to `legit-call`, 404 to anyone else, 401 to every REGISTER. */
export const PBX_SCENARIO = join(import.meta.dirname, 'scenarios', 'uas-pbx.xml');
/** Legitimate calls, each from another caller (a trunk's or an office's calls). */
export const CALLERS_SCENARIO = join(import.meta.dirname, 'scenarios', 'uac-call-callers.xml');
/** The user the legitimate UAC calls (`-s`); uas-pbx.xml answers only this one. */
export const LEGIT_USER = 'legit-call';

export interface Guarded {
  readonly sipwarden: Sipwarden;
  readonly port: number;
  readonly api: ManagementClient;
  readonly apiUrl: string;
}

/**
 * sipwarden with its default security settings (plus `config`), in front of
 * 127.0.0.1:`upstreamPort`. It logs at warn (every event); SW_GUARD_LOG=info shows more;
 * SW_PROF=DIR writes a CPU profile of sipwarden into DIR when it exits.
 */
export async function startGuard(upstreamPort: number, config: SipwardenConfig = {}): Promise<Guarded> {
  const port = await freePort();
  const apiPort = await freePort('127.0.0.1', ['tcp']);
  const sipwarden = await startSipwarden({
    ...(process.env.SW_PROF ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${process.env.SW_PROF}`] } : {}),
    port,
    upstream: { host: '127.0.0.1', port: upstreamPort },
    config: { management: { port: apiPort }, log: { level: process.env.SW_GUARD_LOG ?? 'warn' }, ...config },
  });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // Over the management socket, as an operator's command line on the machine.
  const api = sipwarden.client();
  // The API starts after the SIP listeners: wait for it.
  await until(async () => {
    try {
      await api.blocks();
      return true;
    } catch {
      return false;
    }
  }, 10_000);
  return { sipwarden, port, api, apiUrl };
}

/**
 * Why the API cannot be read: sipwarden is no longer running. Exit code 0 means it stopped
 * on SIGTERM or SIGINT; when the test did not stop it, something else on the machine did.
 */
export function whyGone(guard: Guarded): string | undefined {
  const child = guard.sipwarden.process;
  if (child.running) return undefined;
  return `sipwarden (pid ${child.pid}) is not running: ${JSON.stringify(child.exitStatus)}\n${child.tail(2000)}`;
}

async function api<T>(guard: Guarded, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new Error(`${(error as Error).message}${whyGone(guard) ? `; ${whyGone(guard)}` : ''}`);
  }
}

/** Every block in force (the API's list, up to 100000). */
export function allBlocks(guard: Guarded): Promise<BlockView[]> {
  return api(guard, async () => {
    const answer = await guard.api.request<{ blocks: BlockView[] }>('GET', '/api/blocks?limit=100000');
    return answer.blocks;
  });
}

/** Events of a type (and source), at most 1000. */
export function eventsOf(guard: Guarded, type: string, source?: string): Promise<SecurityEvent[]> {
  return api(guard, async () => {
    const answer: EventsAnswer = await guard.api.events({
      type,
      limit: 1000,
      ...(source === undefined ? {} : { source }),
    });
    return [...answer.events];
  });
}

/** Polls `check` every 100 ms until it is true; false after `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/**
 * sipp's message counts per scenario step (`1_REGISTER_Recv`...) as last written: sipp
 * rewrites its counts file every second (-fd 1), so a count read here is at most a second
 * old. Call twice around an attack, a second or two after it, for what reached sipp.
 */
export async function currentCounts(run: SippRun): Promise<Record<string, number>> {
  const files = await readdir(run.workDir);
  const name = files.find((f) => f.endsWith(`_${run.pid}_counts.csv`));
  if (name === undefined) return {};
  const lines = (await readFile(join(run.workDir, name), 'latin1'))
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const names = lines[0]!.split(';');
  for (let i = lines.length - 1; i >= 1; i--) {
    const values = lines[i]!.split(';');
    if (values.length < names.length) continue;
    const out: Record<string, number> = {};
    names.forEach((n, j) => {
      if (/^\d+_/.test(n)) out[n] = Number(values[j]) || 0;
    });
    return out;
  }
  return {};
}

/** The count of the steps named `<n>_<what>` (`REGISTER_Recv`, `404_Sent`), all of them together. */
export function stepCount(counts: Record<string, number>, what: string): number {
  let n = 0;
  for (const [step, count] of Object.entries(counts)) if (step.endsWith(`_${what}`)) n += count;
  return n;
}

/** How much the steps named `what` grew between two readings. */
export function delta(before: Record<string, number>, after: Record<string, number>, what: string): number {
  return stepCount(after, what) - stepCount(before, what);
}

/** Polls the events of `type` (from `source`) until one matches; the match, and the last list read. */
export async function waitForEvent(
  guard: Guarded,
  type: string,
  source: string | undefined,
  match: (e: SecurityEvent) => boolean,
  timeoutMs = 5000,
): Promise<{ event: SecurityEvent | undefined; events: SecurityEvent[] }> {
  let events: SecurityEvent[] = [];
  await until(async () => {
    events = await eventsOf(guard, type, source);
    return events.some(match);
  }, timeoutMs);
  return { event: events.find(match), events };
}
