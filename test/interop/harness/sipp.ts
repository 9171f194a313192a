/**
 * sipp (Debian's sip-tester 3.6.1, built without TLS) as a UAC or UAS, started with a pid we
 * keep (no -bg), bounded in calls (-m) and time (-timeout), and its statistics read back.
 *
 * Every run gets a work directory: the scenario file is copied there and sipp runs with it
 * as its current directory, because sipp names its trace files after the scenario file
 * (`<scenario>_<pid>_counts.csv`, `_logs.log`, `_errors.log`) and would otherwise write them
 * next to the scenario in the source tree.
 *
 * Files read back:
 * - `-trace_stat -stf stats.csv -fd 1`: the cumulative counters (successful, failed, ...),
 *   the last row written at exit.
 * - `-trace_counts`: message counts per scenario step (`3_ACK_Recv`...).
 * - `-trace_logs`: the `rt` lines our UAC scenarios log on the 200 to the INVITE.
 * - `-trace_err`: unexpected messages, bounded by -max_log_size, quoted when a run fails.
 *
 * Response time, as reported here: per call, the wall-clock time from just after the UAC
 * wrote the INVITE to its socket to the moment it processed the 200 OK, measured with
 * gettimeofday (microseconds) inside sipp; see scenarios/uac-call.xml. It includes the UAS's
 * time to answer and every proxy hop both ways. sipp's own rtd timer has a 1 ms tick and is
 * not used. A UAS that sends a 180 before the 200 adds about 1 ms: sipp sends the second of
 * two consecutive messages of a call one scheduler tick later; the benchmark's UAS
 * (scenarios/uas-answer.xml) therefore answers 200 at once.
 */
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { IP_BIN, waitForListeningIn } from './netns.ts';
import { percentile, sortedCopy } from './percentile.ts';
import { waitForListening } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const SCENARIOS_DIR = join(import.meta.dirname, '..', 'scenarios');
export const SIPP_BIN = process.env.SIPP_BIN ?? 'sipp';

/** u1: one UDP socket; un: one UDP socket per call; t1: one TCP connection; tn: one per call. */
export type SippTransport = 'u1' | 'un' | 't1' | 'tn';

export interface SippOptions {
  /**
   * A file name in test/interop/scenarios ("uac-call.xml"), an absolute path, or
   * "builtin:uas" / "builtin:uac" for sipp's embedded scenarios (-sn).
   */
  readonly scenario: string;
  /** Local port (-p). Pick it with freePort(). */
  readonly localPort: number;
  /** Local address for Via/Contact (-i) and bind (-bind_local); default 127.0.0.1. */
  readonly localHost?: string;
  /** UAC only: where every request goes (the proxy under test, or the UAS when direct). */
  readonly remote?: { readonly host: string; readonly port: number };
  readonly transport?: SippTransport;
  /** -m: end after this many calls (UAC: placed; UAS: received). Omit for a UAS stopped by stop(). */
  readonly calls?: number;
  /** -r: new calls per second (UAC). */
  readonly rate?: number;
  /** -l: most calls open at once. */
  readonly maxConcurrent?: number;
  /** -timeout: the run ends after this many seconds whatever happens (required: runs always end). */
  readonly timeoutS: number;
  /** -timeout_error: reaching the timeout counts as an error exit (default true for a UAC with calls). */
  readonly timeoutIsError?: boolean;
  /** -d: length of <pause/> without its own duration (ms). */
  readonly pauseMs?: number;
  /** -s: the user part of the Request-URI ([service]); default "sipwarden". */
  readonly service?: string;
  /** -key name value, for [name] in scenarios. */
  readonly keys?: Readonly<Record<string, string>>;
  /** -au / -ap: credentials for [authentication]. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Collect the per-call response times (the scenario must <log> "rt" lines). */
  readonly responseTimes?: boolean;
  /** -max_socket for -t un/tn; default 1024 for those. */
  readonly maxSocket?: number;
  /** Anything else, appended as is. */
  readonly extraArgs?: readonly string[];
  /** Where sipp writes its files; a fresh directory from tempDir() by default. */
  readonly workDir?: string;
  /** Name in messages; default "sipp-<scenario>". */
  readonly name?: string;
  /** A network namespace the test made: sipp runs in it (`ip netns exec`, which keeps the pid). */
  readonly netns?: string;
}

export interface SippResult {
  readonly exit: ExitStatus;
  /** Cumulative counters from the last statistics row; zeros if sipp wrote none. */
  readonly successful: number;
  readonly failed: number;
  /** Calls created (outgoing for a UAC, incoming for a UAS). */
  readonly created: number;
  /** Calls still open at the end. */
  readonly current: number;
  /** sipp's cumulative call rate (calls created per second of run time). */
  readonly callRate: number;
  readonly elapsedS: number;
  readonly retransmissions: number;
  readonly outOfCallMessages: number;
  readonly deadCallMessages: number;
  /** Non-zero Failed*(C) counters, by name ("FailedMaxUDPRetrans": 3). */
  readonly failedBy: Readonly<Record<string, number>>;
  /** Message counts per scenario step from -trace_counts ("3_ACK_Recv": 50). */
  readonly messageCounts: Readonly<Record<string, number>>;
  /** Response times in ms, ascending (only with responseTimes). */
  readonly responseTimesMs: readonly number[];
  readonly responseTimeP50?: number;
  readonly responseTimeP90?: number;
  readonly responseTimeP99?: number;
  readonly responseTimeMax?: number;
  /** The start of sipp's error log (unexpected messages), for failure messages. */
  readonly errors: string;
  readonly workDir: string;
  readonly command: string;
  /** The tail of sipp's screen output. */
  readonly output: string;
}

/** Meaning of sipp's exit codes (sipp(1)). */
export const SIPP_EXIT_CODES: Readonly<Record<number, string>> = {
  0: 'all calls successful',
  1: 'at least one call failed',
  97: 'exit on internal command',
  99: 'normal exit without calls processed',
  255: 'fatal error',
  254: 'fatal error binding a socket',
};

export class SippRun {
  private result: Promise<SippResult> | undefined;

  constructor(
    readonly process: ManagedProcess,
    readonly workDir: string,
    private readonly scenarioBase: string,
    private readonly options: SippOptions,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  /** Resolves when sipp has bound its port (UDP, or TCP listening for t1/tn). */
  async ready(timeoutMs = 5000): Promise<void> {
    const transport = this.options.transport ?? 'u1';
    const kind = transport.startsWith('t') ? 'tcp' : 'udp';
    const netns = this.options.netns;
    await Promise.race([
      netns === undefined
        ? waitForListening(this.options.localPort, [kind], timeoutMs, this.options.localHost ?? '127.0.0.1')
        : waitForListeningIn(netns, this.options.localPort, kind, timeoutMs),
      this.process.exited.then((status) => {
        throw new Error(`${this.process.name} exited (${JSON.stringify(status)})\n${this.process.tail()}`);
      }),
    ]);
  }

  /**
   * The counters sipp has written so far (its statistics file is rewritten every second):
   * calls created, open now, successful and failed. Zeros before the first write.
   */
  async snapshot(): Promise<{ created: number; current: number; successful: number; failed: number }> {
    const stats = lastRow(await readFile(join(this.workDir, 'stats.csv'), 'latin1').catch(() => ''));
    const num = (key: string) => Number(stats.get(key) ?? 0) || 0;
    return {
      created: num('OutgoingCall(C)') + num('IncomingCall(C)'),
      current: num('CurrentCall'),
      successful: num('SuccessfulCall(C)'),
      failed: num('FailedCall(C)'),
    };
  }

  /** Waits for sipp to end on its own (-m or -timeout), then reads its files. */
  done(): Promise<SippResult> {
    this.result ??= this.process.exited.then((exit) => this.collect(exit));
    return this.result;
  }

  /** Ends sipp now (SIGTERM: sipp writes its final statistics) and reads its files. */
  async stop(): Promise<SippResult> {
    await this.process.stop();
    return this.done();
  }

  private async collect(exit: ExitStatus): Promise<SippResult> {
    const files = await readdir(this.workDir);
    const prefix = `${this.scenarioBase}_${this.process.pid}_`;
    const read = async (suffix: string): Promise<string> => {
      const name = files.find((f) => f === `${prefix}${suffix}`);
      return name ? readFile(join(this.workDir, name), 'latin1') : '';
    };
    const stats = lastRow(await readFile(join(this.workDir, 'stats.csv'), 'latin1').catch(() => ''));
    const counts = lastRow(await read('counts.csv'));
    const times = this.options.responseTimes ? parseResponseTimes(await read('logs.log')) : [];
    const num = (key: string) => Number(stats.get(key) ?? 0) || 0;
    const failedBy: Record<string, number> = {};
    for (const [key, value] of stats) {
      const m = /^(Failed\w+)\(C\)$/.exec(key);
      if (m && Number(value) > 0) failedBy[m[1]!] = Number(value);
    }
    const messageCounts: Record<string, number> = {};
    for (const [key, value] of counts) {
      if (/^\d+_/.test(key)) messageCounts[key] = Number(value) || 0;
    }
    const errors = (await read('errors.log')).slice(0, 4000);
    return {
      exit,
      successful: num('SuccessfulCall(C)'),
      failed: num('FailedCall(C)'),
      created: num('OutgoingCall(C)') + num('IncomingCall(C)'),
      current: num('CurrentCall'),
      callRate: num('CallRate(C)'),
      elapsedS: parseElapsed(stats.get('ElapsedTime(C)')),
      retransmissions: num('Retransmissions(C)'),
      outOfCallMessages: num('OutOfCallMsgs(C)'),
      deadCallMessages: num('DeadCallMsgs(C)'),
      failedBy,
      messageCounts,
      responseTimesMs: times,
      responseTimeP50: percentile(times, 50),
      responseTimeP90: percentile(times, 90),
      responseTimeP99: percentile(times, 99),
      responseTimeMax: times.at(-1),
      errors,
      workDir: this.workDir,
      command: this.process.command,
      output: this.process.tail(),
    };
  }
}

/**
 * The last complete data row of a sipp CSV (`;` separated, header first) keyed by column
 * name. A row still being written (fewer fields than the header) is skipped.
 */
function lastRow(csv: string): Map<string, string> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const row = new Map<string, string>();
  if (lines.length < 2) return row;
  const names = lines[0]!.split(';');
  for (let i = lines.length - 1; i >= 1; i--) {
    const values = lines[i]!.split(';');
    if (values.length < names.length) continue;
    names.forEach((name, j) => {
      if (name) row.set(name, values[j] ?? '');
    });
    break;
  }
  return row;
}

/** "hh:mm:ss" or "hh:mm:ss:uuuuuu" to seconds. */
function parseElapsed(text: string | undefined): number {
  if (!text) return 0;
  const [h = 0, m = 0, s = 0, us = 0] = text.split(':').map(Number);
  return h * 3600 + m * 60 + s + us / 1e6;
}

/**
 * The "rt <sent s> <sent us> <recv s> <recv us>" lines of uac-*.xml scenarios to ms, ascending.
 * sipp prints its variables as doubles ("1795298603.000000").
 */
export function parseResponseTimes(log: string): number[] {
  const times: number[] = [];
  for (const line of log.split('\n')) {
    const m = /^rt (\d+)(?:\.\d+)? (\d+)(?:\.\d+)? (\d+)(?:\.\d+)? (\d+)(?:\.\d+)?/.exec(line);
    if (!m) continue;
    const sent = Number(m[1]) * 1e6 + Number(m[2]);
    const recv = Number(m[3]) * 1e6 + Number(m[4]);
    times.push((recv - sent) / 1000);
  }
  return sortedCopy(times);
}

function resolveScenario(scenario: string): { builtin?: string; path?: string } {
  if (scenario.startsWith('builtin:')) return { builtin: scenario.slice('builtin:'.length) };
  return { path: isAbsolute(scenario) ? scenario : join(SCENARIOS_DIR, scenario) };
}

/** Starts sipp; `await run.ready()` before sending to a UAS, `await run.done()` for the result. */
export async function startSipp(options: SippOptions): Promise<SippRun> {
  const host = options.localHost ?? '127.0.0.1';
  const workDir = options.workDir ?? tempDir('sipp');
  const scenario = resolveScenario(options.scenario);
  let scenarioArgs: string[];
  let scenarioBase: string;
  if (scenario.builtin) {
    scenarioArgs = ['-sn', scenario.builtin];
    scenarioBase = scenario.builtin;
  } else {
    const file = basename(scenario.path!);
    await copyFile(scenario.path!, join(workDir, file));
    scenarioArgs = ['-sf', file];
    scenarioBase = file.replace(/\.xml$/, '');
  }
  const args: string[] = [];
  if (options.remote) args.push(`${options.remote.host}:${options.remote.port}`);
  args.push(...scenarioArgs);
  args.push('-i', host, '-bind_local', '-p', String(options.localPort));
  args.push('-t', options.transport ?? 'u1');
  args.push('-s', options.service ?? 'sipwarden');
  args.push('-nostdin');
  args.push('-timeout', `${options.timeoutS}s`);
  const timeoutIsError =
    options.timeoutIsError ?? (options.remote !== undefined && options.calls !== undefined);
  if (timeoutIsError) args.push('-timeout_error');
  if (options.calls !== undefined) args.push('-m', String(options.calls));
  if (options.rate !== undefined) args.push('-r', String(options.rate));
  if (options.maxConcurrent !== undefined) args.push('-l', String(options.maxConcurrent));
  if (options.pauseMs !== undefined) args.push('-d', String(options.pauseMs));
  // sipp's default (50000) exceeds the usual open-file limit, and sipp refuses to start then.
  const perCall = options.transport === 'tn' || options.transport === 'un';
  const maxSocket = options.maxSocket ?? (perCall ? 1024 : undefined);
  if (maxSocket !== undefined) args.push('-max_socket', String(maxSocket));
  if (options.auth) args.push('-au', options.auth.username, '-ap', options.auth.password);
  for (const [key, value] of Object.entries(options.keys ?? {})) args.push('-key', key, value);
  args.push('-trace_stat', '-stf', 'stats.csv', '-fd', '1');
  args.push('-trace_counts', '-trace_err', '-max_log_size', '1048576');
  if (options.responseTimes) args.push('-trace_logs');
  args.push(...(options.extraArgs ?? []));
  const name = options.name ?? `sipp-${scenarioBase}`;
  const child =
    options.netns === undefined
      ? startProcess(SIPP_BIN, args, { name, cwd: workDir })
      : startProcess(IP_BIN, ['netns', 'exec', options.netns, SIPP_BIN, ...args], { name, cwd: workDir });
  return new SippRun(child, workDir, scenarioBase, options);
}

/** Runs sipp to its end (-m calls or -timeout) and returns its statistics. */
export async function runSipp(options: SippOptions): Promise<SippResult> {
  const run = await startSipp(options);
  return run.done();
}

/** A one-line account of a run, for assertion messages. */
export function describeSipp(result: SippResult): string {
  const code = result.exit.code;
  const meaning = code === null ? `signal ${result.exit.signal}` : (SIPP_EXIT_CODES[code] ?? `exit ${code}`);
  const failures = Object.entries(result.failedBy)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return (
    `sipp: ${meaning}; successful=${result.successful} failed=${result.failed} created=${result.created}` +
    `${failures ? ` (${failures})` : ''}; work dir ${result.workDir}\n${result.command}\n` +
    `${result.errors ? `errors:\n${result.errors}\n` : ''}${result.output}`
  );
}
