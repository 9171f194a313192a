/**
 * Legitimate calls while blocked sources keep flooding, with kernel drop (nftables) on and
 * off, in the same run. Runs only inside a network namespace it creates (nftables changes
 * are never made to the machine's own ruleset): the script starts itself again with
 * `ip netns exec`, and everything (sipwarden, the sipp PBX and caller, the flood) runs there.
 *
 *   node --import tsx bench/load/kernel-drop.ts [--calls 600] [--rate 30] [--sources 1024] [--rounds 1]
 *
 * For each mode (off, on) a fresh sipwarden with its defaults (kernelDrop.enabled as the mode
 * says) in front of the security tests' sipp PBX; `sources` addresses of 127.1.0.0/16 are
 * blocked through the management API, then the sipp UAC places `calls` legitimate calls at
 * `rate` calls/s from 127.0.0.1 while sipwarden's own attack engine sends INVITEs from those
 * blocked sources as fast as it can (bounded: 5 million datagrams or the calls' duration).
 * Reported: legitimate success (%), p50/p99 response time, flood datagrams sent, datagrams
 * sipwarden received (its transport counter) and, with kernel drop on, the drop rule's count.
 * Root, iproute2 and nft needed. Every loop bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { runFlood } from '../../src/attack/kinds/flood.ts';
import { IP_BIN, NetworkNamespace } from '../../test/interop/harness/netns.ts';
import { freePort, waitForListening } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { CALLERS_SCENARIO, LEGIT_USER, PBX_SCENARIO } from '../../test/interop/security/helpers.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '600' },
    rate: { type: 'string', default: '30' },
    sources: { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '1' },
    inside: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const RATE = Number(values.rate);
const SOURCES = Number(values.sources);
const ROUNDS = Number(values.rounds);
const FLOOD_MS = Math.ceil((CALLS / RATE) * 1000);
const FLOOD_MAX = 5_000_000;
const HOST = '127.0.0.1';
const POOL = parseAddressRange('127.1.0.0/16');

type Mode = 'kernel drop off' | 'kernel drop on';

interface Row {
  readonly mode: Mode;
  readonly legit: SippResult;
  readonly floodSent: number;
  readonly floodRate: number;
  readonly received: number;
  readonly kernelDropped: number | undefined;
}

async function counter(api: string, name: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
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

async function runOne(mode: Mode): Promise<Row> {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: PBX_SCENARIO, localPort: uasPort, timeoutS: 300 });
  await uas.ready();
  const port = await freePort();
  const apiPort = await freePort(HOST, ['tcp']);
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: uasPort },
    config: { management: { port: apiPort }, kernelDrop: { enabled: mode === 'kernel drop on' } },
    extraArgs: ['--log-level', 'error'],
  });
  const api = `http://${HOST}:${apiPort}`;
  try {
    await waitForListening(apiPort, ['tcp'], 10_000, HOST);
    for (let i = 0; i < SOURCES; i++) {
      const response = await fetch(`${api}/api/blocks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ address: POOL.at(i), duration: '1h', reason: 'benchmark' }),
      });
      if (response.status !== 201) throw new Error(`block ${POOL.at(i)}: ${response.status}`);
    }
    // The kernel's set is filled in batches (every 100 ms): give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const receivedBefore = await counter(api, 'sipwarden_transport_udp_datagrams_total');
    const droppedBefore = kernelDropped() ?? 0;
    const legitRun = runSipp({
      scenario: CALLERS_SCENARIO,
      service: LEGIT_USER,
      localPort: await freePort(),
      remote: { host: HOST, port },
      calls: CALLS,
      rate: RATE,
      timeoutS: Math.ceil(FLOOD_MS / 1000) + 60,
      responseTimes: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = await runFlood({
      method: 'INVITE',
      target: { address: HOST, port },
      limits: { count: FLOOD_MAX, durationMs: FLOOD_MS, rate: 0 },
      sources: POOL,
      maxSources: SOURCES,
      sendBufferBytes: 4 * 1024 * 1024,
      answerWaitMs: 200,
    });
    const legit = await legitRun;
    const received = (await counter(api, 'sipwarden_transport_udp_datagrams_total')) - receivedBefore;
    const after = kernelDropped();
    return {
      mode,
      legit,
      floodSent: report.answers.sent,
      floodRate: report.rate.achieved,
      received,
      kernelDropped: after === undefined ? undefined : after - droppedBefore,
    };
  } finally {
    await sipwarden.stop();
    await uas.stop();
  }
}

function percent(run: SippResult): string {
  const total = run.successful + run.failed;
  return total === 0 ? 'n/a' : `${((100 * run.successful) / total).toFixed(2)} %`;
}

async function inside(): Promise<void> {
  const rows: Row[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['kernel drop off', 'kernel drop on'] as const) {
      process.stderr.write(`${mode} ... `);
      const row = await runOne(mode);
      rows.push(row);
      process.stderr.write(
        `${percent(row.legit)}, flood ${row.floodSent} at ${Math.round(row.floodRate)}/s\n`,
      );
    }
  }
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const why = NetworkNamespace.unavailable();
  if (why !== undefined) throw new Error(why);
  const ns = NetworkNamespace.create('swbench');
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
        '--calls',
        String(CALLS),
        '--rate',
        String(RATE),
        '--sources',
        String(SOURCES),
        '--rounds',
        String(ROUNDS),
      ],
      { encoding: 'utf8', cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 },
    );
    rows = JSON.parse(output.trim().split('\n').at(-1)!) as Row[];
  } finally {
    ns.remove();
  }
  const info = machineInfo(REPO_ROOT);
  const lines = [
    '# Legitimate calls while blocked sources flood: kernel drop (nftables) off and on',
    '',
    `Run ${new Date().toISOString()} on ${info.cpus} cores (${info.cpuModel}), load average ${loadAverageText()}, commit ${info.commit}.`,
    `${CALLS} legitimate calls at ${RATE} calls/s from 127.0.0.1 while ${SOURCES} blocked sources (127.1.0.0/16) send INVITEs as fast as sipwarden's attack engine can (at most ${FLOOD_MAX} datagrams or ${FLOOD_MS} ms), in a network namespace; everything shares the machine's cores.`,
    '',
    '| mode | legitimate success | p50 ms | p99 ms | flood sent | flood rate /s | datagrams sipwarden received | dropped by the kernel |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${percent(r.legit)} (${r.legit.successful}/${r.legit.successful + r.legit.failed}) | ${r.legit.responseTimeP50?.toFixed(2) ?? '-'} | ${r.legit.responseTimeP99?.toFixed(2) ?? '-'} | ${r.floodSent} | ${Math.round(r.floodRate)} | ${r.received} | ${r.kernelDropped ?? '-'} |`,
    ),
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
