/**
 * Legitimate calls from an allowlisted trunk during floods at the rates attackers use:
 * sipwarden (defaults, the trunk's address in `security.allowlist`) against Kamailio as a
 * security proxy (test/interop/kamailio/proxy-secure.cfg: sanity, pike, htable bans; pike
 * density raised so that the trunk's own 300 requests/s pass, `-x tlsf -m 2048`), on the
 * same floods in the same run.
 *
 *   node --import tsx bench/load/flood-rate.ts [--flood-rate 50000] [--seconds 10] [--calls-rate 100]
 *     [--floods none,invite-flood,register-flood,malformed,invite-flood-max,register-flood-max]
 *
 * The PBX behind each proxy is a sipp UAS that answers the legitimate callee, 404s other
 * users and never answers a REGISTER (uas-pbx-silent-register.xml: REGISTERs with a bad
 * digest that a registrar ignores). The trunk (127.0.0.1) places `calls-rate` calls/s, each
 * from its own caller number, for `seconds`; meanwhile one flood:
 *   - invite-flood: INVITEs from one source (127.0.3.1);
 *   - register-flood: REGISTERs from 1,000 sources (127.1.0.0/16), flood-rate / 1000 each;
 *   - malformed: broken datagrams from one source (127.0.4.1);
 *   - *-max: the same, unpaced: as fast as sipwarden's attack engine sends from one process.
 * Reported: the trunk's call success, the flood rate achieved, and what the PBX received.
 * Every loop is bounded in count and time; loopback only.
 */
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { runFlood } from '../../src/attack/kinds/flood.ts';
import { startKamailio } from '../../test/interop/harness/kamailio.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { CALLERS_SCENARIO, LEGIT_USER } from '../../test/interop/security/helpers.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    'flood-rate': { type: 'string', default: '50000' },
    seconds: { type: 'string', default: '10' },
    'calls-rate': { type: 'string', default: '100' },
    floods: {
      type: 'string',
      default: 'none,invite-flood,register-flood,malformed,invite-flood-max,register-flood-max',
    },
    targets: { type: 'string', default: 'sipwarden,kamailio-secure' },
    out: { type: 'string' },
  },
});
const FLOOD_RATE = Number(values['flood-rate']);
const SECONDS = Number(values.seconds);
const CALLS_RATE = Number(values['calls-rate']);
const CALLS = CALLS_RATE * SECONDS;
const HOST = '127.0.0.1';
const TRUNK = '127.0.0.1';
/** The engine unpaced: a rate no sender reaches; the count bounds the run. */
const MAX_RATE = 10_000_000;
const PBX_SCENARIO = join(
  REPO_ROOT,
  'test',
  'interop',
  'security',
  'scenarios',
  'uas-pbx-silent-register.xml',
);
/** pike requests per 2 s per source: above the trunk's 600 (3 requests a call at 100 calls/s). */
const KAMAILIO_PIKE_DENSITY = 1000;

type FloodName =
  | 'none'
  | 'invite-flood'
  | 'register-flood'
  | 'malformed'
  | 'invite-flood-max'
  | 'register-flood-max';
type TargetName = 'sipwarden' | 'kamailio-secure';

interface Row {
  readonly target: TargetName;
  readonly flood: FloodName;
  readonly legit: SippResult;
  readonly floodSent: number;
  readonly floodRate: number;
  readonly pbxInvites: number;
  readonly pbxRegisters: number;
  readonly note: string;
  /** Datagrams the kernel dropped for lack of room in each socket's receive queue (/proc/net/udp). */
  readonly drops: { proxy: number; pbx: number; trunk: number };
}

/** Receive-queue drops of the UDP sockets bound to `port` on loopback, from /proc/net/udp's last column. */
function udpDrops(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`)) drops += Number(fields.at(-1));
  }
  return drops;
}

async function malformedFlood(port: number, rate: number): Promise<{ sent: number; rate: number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.4.1', resolve));
  const count = Math.min(rate, 200_000) * SECONDS;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let sent = 0;
  const perTick = Math.max(1, Math.round(rate / 1000));
  while (sent < count && performance.now() < deadline) {
    for (let i = 0; i < perTick && sent < count; i++, sent++) {
      const text = `INVITE sip:${sent}@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.4.1;branch=z9hG4bK${sent}\r\nCSeq: x INVITE\r\n\r\n`;
      socket.send(Buffer.from(text), port, HOST);
    }
    // About a millisecond per tick; behind schedule, the next tick comes at once.
    const due = started + (sent / rate) * 1000;
    const wait = due - performance.now();
    await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
  }
  const elapsed = (performance.now() - started) / 1000;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return { sent, rate: sent / elapsed };
}

async function flood(name: FloodName, port: number): Promise<{ sent: number; rate: number }> {
  const max = name.endsWith('-max');
  const rate = max ? MAX_RATE : FLOOD_RATE;
  // Bounded: at most flood-rate (or 150,000/s unpaced) for the whole run.
  const count = (max ? 150_000 : FLOOD_RATE) * SECONDS;
  const limits = { count, durationMs: SECONDS * 1000, rate };
  const target = { address: HOST, port };
  switch (name) {
    case 'none':
      return { sent: 0, rate: 0 };
    case 'invite-flood':
    case 'invite-flood-max': {
      const report = await runFlood({
        method: 'INVITE',
        target,
        limits,
        sources: parseAddressRange('127.0.3.1'),
        sendBufferBytes: 4 << 20,
        answerWaitMs: 200,
      });
      return { sent: report.answers.sent, rate: report.rate.achieved };
    }
    case 'register-flood':
    case 'register-flood-max': {
      const report = await runFlood({
        method: 'REGISTER',
        target,
        limits,
        sources: parseAddressRange('127.1.0.0/16'),
        maxSources: 1000,
        sendBufferBytes: 1 << 20,
        answerWaitMs: 200,
      });
      return { sent: report.answers.sent, rate: report.rate.achieved };
    }
    case 'malformed':
      return malformedFlood(port, FLOOD_RATE);
  }
}

function countOf(result: SippResult, suffix: string): number {
  const key = Object.keys(result.messageCounts).find((k) => k.endsWith(suffix));
  return key === undefined ? 0 : result.messageCounts[key]!;
}

async function runOne(target: TargetName, floodName: FloodName): Promise<Row> {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: PBX_SCENARIO,
    localPort: uasPort,
    timeoutS: SECONDS + 120,
    maxConcurrent: 200_000,
  });
  await uas.ready();
  const proxyPort = await freePort();
  let stop: () => Promise<unknown>;
  let notes: () => string = () => '';
  if (target === 'sipwarden') {
    const sipwarden = await startSipwarden({
      port: proxyPort,
      upstream: { host: HOST, port: uasPort },
      config: { security: { allowlist: [`${TRUNK}/32`] } },
      extraArgs: ['--log-level', 'warn'],
      bin: join(REPO_ROOT, 'dist', 'cli', 'main.js'),
      outputLimit: 64 * 1024 * 1024,
    });
    const before = sipwarden.process.stdout().split('\n').length;
    notes = () => `${sipwarden.process.stdout().split('\n').length - before} log lines`;
    stop = () => sipwarden.stop();
  } else {
    const kamailio = await startKamailio({
      variant: 'proxy-secure',
      port: proxyPort,
      upstream: { host: HOST, port: uasPort, transport: 'udp' },
      sharedMemoryMb: 2048,
      memoryManager: 'tlsf',
      defines: { PIKE_DENSITY: KAMAILIO_PIKE_DENSITY },
    });
    notes = () => {
      const shm = kamailio.process
        .output()
        .split('\n')
        .filter((l) => /shm|no more/i.test(l) && /ERROR|CRITICAL/i.test(l)).length;
      return `${shm} shm errors in its log`;
    };
    stop = () => kamailio.stop();
  }
  try {
    const trunkPort = await freePort();
    const legitRun = runSipp({
      scenario: CALLERS_SCENARIO,
      service: LEGIT_USER,
      localHost: TRUNK,
      localPort: trunkPort,
      remote: { host: HOST, port: proxyPort },
      calls: CALLS,
      rate: CALLS_RATE,
      timeoutS: SECONDS + 60,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = await flood(floodName, proxyPort);
    // Sampled while the trunk's sipp still runs (its socket is gone once it exits).
    const trunkDrops = udpDrops(trunkPort);
    const legit = await legitRun;
    const drops = { proxy: udpDrops(proxyPort), pbx: udpDrops(uasPort), trunk: trunkDrops };
    const note = notes();
    const uasResult = await uas.stop();
    return {
      target,
      flood: floodName,
      legit,
      floodSent: sent.sent,
      floodRate: sent.rate,
      pbxInvites: Math.max(0, countOf(uasResult, '_INVITE_Recv') - legit.successful),
      pbxRegisters: countOf(uasResult, '_REGISTER_Recv'),
      note,
      drops,
    };
  } finally {
    await stop();
    await uas.stop();
  }
}

function percent(run: SippResult): string {
  const total = run.successful + run.failed;
  return total === 0 ? 'n/a' : `${((100 * run.successful) / total).toFixed(2)} %`;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const loadBefore = loadAverageText();
  const rows: Row[] = [];
  const wanted = values.floods.split(',') as FloodName[];
  const targets = values.targets.split(',') as TargetName[];
  for (const floodName of wanted) {
    for (const target of targets) {
      process.stdout.write(`${target} / ${floodName} ... `);
      const row = await runOne(target, floodName);
      rows.push(row);
      process.stdout.write(
        `${percent(row.legit)} drops ${JSON.stringify(row.drops)} (${row.floodSent} sent at ${row.floodRate.toFixed(0)}/s; ${row.note}) ${JSON.stringify(row.legit.failedBy)} ${JSON.stringify(unexpectedAnswers(row.legit))}\n`,
      );
    }
  }
  const info = machineInfo(REPO_ROOT);
  const lines = [
    "# Legitimate trunk calls during floods at attackers' rates: sipwarden (defaults) and Kamailio (security proxy)",
    '',
    `Run ${new Date().toISOString()} by \`node --import tsx bench/load/flood-rate.ts\` on ${info.cpus} cores (${info.cpuModel}), commit ${info.commit}; load average before ${loadBefore}, after ${loadAverageText()}.`,
    'Everything here (trunk UAC, PBX, proxy, flood sender) shares the 2 cores; the load average above says how busy the machine was otherwise.',
    `${CALLS} calls at ${CALLS_RATE} calls/s from the trunk at ${TRUNK} (in sipwarden's security.allowlist), each from its own caller number, while each flood runs for ${SECONDS} s at ${FLOOD_RATE} datagrams/s asked (-max: unpaced, as fast as the attack engine sends from one process; the achieved rate is shown).`,
    `The PBX never answers REGISTER (uas-pbx-silent-register.xml). sipwarden: its build, defaults (overload.upstreamRequestsPerSecond 5000, untrustedPercent 80). Kamailio: proxy-secure.cfg with pike density ${KAMAILIO_PIKE_DENSITY} per 2 s (so that pike lets the trunk through), -x tlsf -m 2048.`,
    '',
    '| flood | target | trunk calls succeeded | flood sent | flood rate achieved (/s) | flood INVITEs at the PBX | REGISTERs at the PBX | datagrams dropped by the kernel: proxy / PBX / trunk | notes |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.flood} | ${r.target} | ${percent(r.legit)} (${r.legit.successful}/${r.legit.successful + r.legit.failed}) | ${r.floodSent} | ${r.floodRate.toFixed(0)} | ${r.pbxInvites} | ${r.pbxRegisters} | ${r.drops.proxy} / ${r.drops.pbx} / ${r.drops.trunk} | ${r.note} |`,
    ),
    '',
    "Goal: at least 99.9 % of the trunk's calls in each flood.",
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'flood-rate.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}`);
}

try {
  await main();
} finally {
  await stopAll();
}

/** What the trunk's sipp received instead of what its scenario expected, counted by status line (from its -trace_err log). */
function unexpectedAnswers(result: SippResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of result.errors.matchAll(
    /received '(SIP\/2\.0 \d{3} [^\r\n']*|[A-Z]+ [^ ]+ SIP\/2\.0)/g,
  )) {
    const line = match[1]!;
    counts[line] = (counts[line] ?? 0) + 1;
  }
  return counts;
}
