/**
 * Legitimate calls while blocked sources flood at the highest rate sipwarden's attack engine
 * reaches, offered in the same run to sipwarden with kernel drop (nftables) off, sipwarden
 * with kernel drop on, and Kamailio with sanity, pike and an htable ban list holding the same
 * sources (test/interop/kamailio/proxy-secure.cfg). Runs only inside a network namespace it
 * creates (nftables changes are never made to the machine's own ruleset): the script starts
 * itself again with `ip netns exec`, and everything (targets, the sipp PBX and caller, the
 * flood) runs there.
 *
 *   node --import tsx bench/load/kernel-drop.ts [--calls 1000] [--rate 30] [--sources 1024]
 *     [--workers 2] [--flood-rate 0] [--rounds 1] [--targets off,on,kamailio] [--out FILE]
 *
 * For each target, one after the other in each round (interleaved, so the machine's load
 * falls on all of them alike): a fresh target in front of the security tests' sipp PBX;
 * `sources` addresses of 127.1.0.0/16 are blocked (sipwarden: its management API; Kamailio:
 * `kamcmd htable.seti ipban` through the ctl module, its userspace ban list), then the sipp
 * UAC places `calls` legitimate calls at `rate` calls/s from 127.0.0.1 while the attack
 * engine (`runFloodWorkers`, `workers` threads, prebuilt INVITEs, unpaced unless
 * --flood-rate) floods from those sources for the calls' duration, at most 10 million
 * datagrams. Reported: legitimate success (% of the calls placed), p50/p99 response time,
 * flood datagrams offered and their rate, what the kernel's drop rule dropped, what the
 * target's socket dropped because its receive buffer was full (/proc/net/udp, the
 * namespace's own), and what sipwarden read (its transport counter). Kamailio runs with
 * `-x tlsf -m 2048`; its log is checked for allocation failures in every run.
 * Root, iproute2, nft, kamailio and sipp needed. Every loop bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { runFloodWorkers } from '../../src/attack/kinds/flood-workers.ts';
import { startKamailio } from '../../test/interop/harness/kamailio.ts';
import { IP_BIN, NetworkNamespace } from '../../test/interop/harness/netns.ts';
import { freePort, waitForListening } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { tempDir } from '../../test/interop/harness/workdir.ts';
import { CALLERS_SCENARIO, LEGIT_USER, PBX_SCENARIO } from '../../test/interop/security/helpers.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    // 1,000 calls or more, so that one failed call moves the figure by at most 0.1 %.
    calls: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '30' },
    sources: { type: 'string', default: '1024' },
    workers: { type: 'string', default: '2' },
    'flood-rate': { type: 'string', default: '0' },
    rounds: { type: 'string', default: '1' },
    targets: { type: 'string', default: 'off,on,kamailio' },
    inside: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const RATE = Number(values.rate);
const SOURCES = Math.min(65_536, Number(values.sources));
const WORKERS = Number(values.workers);
const FLOOD_RATE = Number(values['flood-rate']);
const ROUNDS = Math.min(10, Number(values.rounds));
const FLOOD_MS = Math.ceil((CALLS / RATE) * 1000);
const FLOOD_MAX = 10_000_000;
const HOST = '127.0.0.1';
const POOL = parseAddressRange('127.1.0.0/16');

const TARGETS = {
  off: 'sipwarden, kernel drop off',
  on: 'sipwarden, kernel drop on',
  kamailio: 'Kamailio, sanity + pike + htable bans',
} as const;
type TargetKey = keyof typeof TARGETS;

interface Row {
  readonly target: TargetKey;
  readonly round: number;
  readonly legit: SippResult;
  readonly floodSent: number;
  readonly floodRate: number;
  readonly sendErrors: number;
  /** sipwarden's transport counter (datagrams it read); undefined for Kamailio. */
  readonly read: number | undefined;
  readonly kernelDropped: number | undefined;
  readonly socketDropped: number;
  readonly allocationErrors: number | undefined;
  readonly loadAverage: string;
}

async function counter(api: string, token: string, name: string): Promise<number> {
  const text = await (
    await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}

function kernelDropped(): number | undefined {
  try {
    const chain = execFileSync('nft', ['list', 'chain', 'inet', 'sipwarden', 'input'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const line = chain.split('\n').find((l) => l.includes('@blocked4'));
    return Number(/counter packets (\d+)/.exec(line ?? '')?.[1] ?? Number.NaN);
  } catch {
    return undefined;
  }
}

/** Datagrams the kernel dropped at 127.0.0.1:port's sockets because their receive buffer was full. */
function socketDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) drops += Number(fields.at(-1) ?? 0);
  }
  return drops;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Target {
  readonly port: number;
  /** sipwarden's read counter, when it has one. */
  read(): Promise<number | undefined>;
  allocationErrors(): number | undefined;
  stop(): Promise<unknown>;
}

async function startSipwardenTarget(kernelDrop: boolean, uasPort: number): Promise<Target> {
  const port = await freePort();
  const apiPort = await freePort(HOST, ['tcp']);
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: uasPort },
    config: { management: { port: apiPort }, kernelDrop: { enabled: kernelDrop } },
    extraArgs: ['--log-level', 'error'],
  });
  const api = `http://${HOST}:${apiPort}`;
  let token = '';
  const target: Target = {
    port,
    read: () => counter(api, token, 'sipwarden_transport_udp_datagrams_total'),
    allocationErrors: () => undefined,
    stop: () => sipwarden.stop(),
  };
  try {
    await waitForListening(apiPort, ['tcp'], 10_000, HOST);
    token = await sipwarden.apiToken('admin');
    for (let i = 0; i < SOURCES; i++) {
      const response = await fetch(`${api}/api/blocks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ address: POOL.at(i), duration: '1h', reason: 'benchmark' }),
      });
      if (response.status !== 201) throw new Error(`block ${POOL.at(i)}: ${response.status}`);
    }
    // The kernel's set is filled in batches (every 100 ms): give it a moment.
    if (kernelDrop) await sleep(1000);
    return target;
  } catch (error) {
    await target.stop();
    throw error;
  }
}

async function startKamailioTarget(uasPort: number): Promise<Target> {
  const port = await freePort();
  const dir = tempDir('kamailio-ctl');
  const ctl = `unix:${join(dir, 'ctl.sock')}`;
  const kamailio = await startKamailio({
    variant: 'proxy-secure',
    port,
    upstream: { host: HOST, port: uasPort, transport: 'udp' },
    sharedMemoryMb: 2048,
    memoryManager: 'tlsf',
    // pike as an operator sets it for a trunk's 90 requests/s; bans kept for the whole run.
    defines: { PIKE_DENSITY: 300, BAN_SECONDS: 3600, CTL_SOCKET: ctl },
  });
  const target: Target = {
    port,
    read: async () => undefined,
    allocationErrors: () => kamailio.countLog(/could not allocate/),
    stop: () => kamailio.stop(),
  };
  try {
    // The same sources in its ban list: one kamcmd session reading the commands from stdin.
    const commands = Array.from({ length: SOURCES }, (_, i) => `htable.seti ipban ${POOL.at(i)} 1`);
    for (let attempt = 0; ; attempt++) {
      try {
        execFileSync('kamcmd', ['-s', ctl], {
          input: `${commands.join('\n')}\n`,
          stdio: ['pipe', 'ignore', 'pipe'],
          timeout: 60_000,
        });
        break;
      } catch (error) {
        // The ctl socket appears a moment after the SIP sockets.
        if (attempt >= 20) throw error;
        await sleep(100);
      }
    }
    const listed = execFileSync('kamcmd', ['-s', ctl, 'htable.dump', 'ipban'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const banned = (listed.match(/name: 127\.1\./g) ?? []).length;
    if (banned !== SOURCES) throw new Error(`Kamailio's ban list holds ${banned} of ${SOURCES} sources`);
    return target;
  } catch (error) {
    await target.stop();
    throw error;
  }
}

async function runOne(key: TargetKey, round: number): Promise<Row> {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: PBX_SCENARIO, localPort: uasPort, timeoutS: 300 });
  await uas.ready();
  let target: Target | undefined;
  try {
    target =
      key === 'kamailio'
        ? await startKamailioTarget(uasPort)
        : await startSipwardenTarget(key === 'on', uasPort);
    const readBefore = await target.read();
    const droppedBefore = kernelDropped() ?? 0;
    const loadAverage = loadAverageText();
    const legitRun = runSipp({
      scenario: CALLERS_SCENARIO,
      service: LEGIT_USER,
      localPort: await freePort(),
      remote: { host: HOST, port: target.port },
      calls: CALLS,
      rate: RATE,
      timeoutS: Math.ceil(FLOOD_MS / 1000) + 60,
      responseTimes: true,
    });
    await sleep(300);
    const report = await runFloodWorkers({
      method: 'INVITE',
      target: { address: HOST, port: target.port },
      limits: { count: FLOOD_MAX, durationMs: FLOOD_MS, rate: FLOOD_RATE },
      sources: POOL,
      maxSources: SOURCES,
      sendBufferBytes: 4 * 1024 * 1024,
      answerWaitMs: 200,
      workers: WORKERS,
    });
    const legit = await legitRun;
    const readAfter = await target.read();
    const after = key === 'on' ? kernelDropped() : undefined;
    return {
      target: key,
      round,
      legit,
      floodSent: report.answers.sent,
      floodRate: report.rate.achieved,
      sendErrors: report.sendErrors,
      read: readAfter === undefined || readBefore === undefined ? undefined : readAfter - readBefore,
      kernelDropped: after === undefined ? undefined : after - droppedBefore,
      socketDropped: socketDrops(target.port),
      allocationErrors: target.allocationErrors(),
      loadAverage,
    };
  } finally {
    await target?.stop();
    await uas.stop();
  }
}

function success(run: SippResult): { text: string; ratio: number } {
  // Of the calls placed: a call sipp never finished counts as lost.
  const total = Math.max(CALLS, run.successful + run.failed);
  const ratio = run.successful / total;
  return { text: `${(100 * ratio).toFixed(2)} % (${run.successful}/${total})`, ratio };
}

async function inside(): Promise<void> {
  const rows: Row[] = [];
  const keys = values.targets.split(',').filter((k): k is TargetKey => k in TARGETS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of keys) {
      process.stderr.write(`round ${round + 1}, ${TARGETS[key]} ... `);
      const row = await runOne(key, round + 1);
      rows.push(row);
      const failures = Object.entries(row.legit.failedBy)
        .map(([why, n]) => `${why} ${n}`)
        .join(', ');
      process.stderr.write(
        `${success(row.legit).text}${failures ? ` (failed: ${failures})` : ''}, flood ${row.floodSent} at ${Math.round(row.floodRate)}/s, kernel ${row.kernelDropped ?? '-'}, socket drops ${row.socketDropped}, read ${row.read ?? '-'}, alloc errors ${row.allocationErrors ?? '-'}\n`,
      );
    }
  }
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

function figure(value: number | undefined): string {
  return value === undefined ? '-' : String(value);
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const why = NetworkNamespace.unavailable();
  if (why !== undefined) throw new Error(why);
  const loadBefore = loadAverageText();
  const ns = NetworkNamespace.create('cluster-flood');
  let rows: Row[];
  try {
    const output = execFileSync(
      IP_BIN,
      [
        'netns',
        'exec',
        ns.name,
        process.execPath,
        '--import',
        'tsx',
        import.meta.filename,
        '--inside',
        ...['--calls', String(CALLS), '--rate', String(RATE), '--sources', String(SOURCES)],
        ...['--workers', String(WORKERS), '--flood-rate', String(FLOOD_RATE), '--rounds', String(ROUNDS)],
        ...['--targets', values.targets],
      ],
      { encoding: 'utf8', cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
    );
    rows = JSON.parse(output.trim().split('\n').at(-1)!) as Row[];
  } finally {
    ns.remove();
  }
  const info = machineInfo(REPO_ROOT);
  const flood = FLOOD_RATE > 0 ? `at ${FLOOD_RATE} datagrams/s` : 'unpaced (as fast as it can)';
  const lines = [
    '# Legitimate calls while blocked sources flood: sipwarden with kernel drop off and on, and Kamailio with a userspace ban list',
    '',
    `Run ${new Date().toISOString()} on ${info.cpus} cores (${info.cpuModel}), commit ${info.commit}; load average before: ${loadBefore}, after: ${loadAverageText()} (other work shares the machine; each row shows the load average at its start).`,
    `\`node --import tsx bench/load/kernel-drop.ts --calls ${CALLS} --rate ${RATE} --sources ${SOURCES} --workers ${WORKERS} --flood-rate ${FLOOD_RATE} --rounds ${ROUNDS} --targets ${values.targets}\`, in a network namespace the benchmark creates (its own loopback and its own nftables; the machine's ruleset is not touched).`,
    '',
    `${CALLS} legitimate calls at ${RATE} calls/s from 127.0.0.1 (sipp, each call INVITE/ACK/BYE through the target to a sipp PBX) while ${SOURCES} blocked sources (127.1.0.0/16) send INVITEs ${flood}: sipwarden's attack engine with ${WORKERS} worker threads, prebuilt datagrams, for the calls' duration (${FLOOD_MS} ms, at most ${FLOOD_MAX} datagrams). The targets meet the same flood one after the other in each round.`,
    'sipwarden: defaults, the sources blocked through its API before the calls. Kamailio 5.6: proxy-secure.cfg (ban table lookup first, then pike at 300 requests per 2 s per source, then sanity), `-x tlsf -m 2048`, the same sources written into its ban table (`kamcmd htable.seti`) before the calls; its log is checked for `could not allocate`.',
    'Everything (caller, PBX, target, the flood threads) shares the 2 cores: a faster flood also takes CPU from the legitimate caller and PBX.',
    '',
    '| round | target | load average at start | legitimate success | p50 ms | p99 ms | flood offered | flood rate /s | dropped by nftables | dropped at the target socket (buffer full) | datagrams the target read | Kamailio allocation errors |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.round} | ${TARGETS[r.target]} | ${r.loadAverage} | ${success(r.legit).text} | ${r.legit.responseTimeP50?.toFixed(2) ?? '-'} | ${r.legit.responseTimeP99?.toFixed(2) ?? '-'} | ${r.floodSent} | ${Math.round(r.floodRate)} | ${figure(r.kernelDropped)} | ${r.socketDropped} | ${figure(r.read)} | ${figure(r.allocationErrors)} |`,
    ),
    '',
    '"Datagrams the target read" is sipwarden\'s own counter (flood and legitimate); Kamailio has none here, so for it the flood it read is the offered flood less the socket drops.',
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'kernel-drop.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}`);
}

try {
  if (values.inside) await inside();
  else await main();
} finally {
  await stopAll();
}
