/**
 * Legitimate calls during floods: sipwarden with its defaults against Kamailio with sanity,
 * pike and an htable ban list (test/interop/kamailio/proxy-secure.cfg), on the same floods
 * in the same run.
 *
 *   node --import tsx bench/load/flood-resilience.ts [--calls 1000] [--rate 30] [--flood-rate 3000]
 *     [--targets sipwarden,kamailio-secure,kamailio-secure-tuned] [--floods none,invite-flood,...]
 *
 * For each target and each flood, a fresh target with the security interop tests' sipp PBX
 * behind it (test/interop/security/scenarios/uas-pbx.xml: it answers calls to the legitimate
 * user, 404s any other, challenges every REGISTER with 401, as a registrar does); a sipp UAC
 * places `calls` legitimate calls at `rate` calls/s from 127.0.0.1 (not allowlisted), each
 * from its own caller number (uac-call-callers.xml, as a trunk or an office sends them),
 * while the flood runs from other loopback addresses:
 *   - invite-flood: INVITEs from one source (127.0.3.1), random users and Call-IDs;
 *   - register-flood: REGISTERs from 1,024 sources (127.1.0.0/16), a few each;
 *   - malformed: broken datagrams from one source (127.0.4.1).
 * Reported: legitimate calls' success (%) and response-time p50/p99 (INVITE sent to 200
 * received), and how many flood messages the UAS (the protected PBX) saw.
 * Every loop is bounded in count and time; loopback only.
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { runFlood } from '../../src/attack/kinds/flood.ts';
import { startKamailio } from '../../test/interop/harness/kamailio.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { CALLERS_SCENARIO, LEGIT_USER, PBX_SCENARIO } from '../../test/interop/security/helpers.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    // 1,000 calls or more, so that one failed call moves the figure by at most 0.1 %.
    calls: { type: 'string', default: '1000' },
    targets: { type: 'string', default: 'sipwarden,kamailio-secure,kamailio-secure-tuned' },
    floods: { type: 'string', default: 'none,invite-flood,register-flood,malformed' },
    rate: { type: 'string', default: '30' },
    'flood-rate': { type: 'string', default: '3000' },
    out: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const RATE = Number(values.rate);
const FLOOD_RATE = Number(values['flood-rate']);
const FLOOD_MS = Math.ceil((CALLS / RATE) * 1000);
const HOST = '127.0.0.1';

type FloodName = 'none' | 'invite-flood' | 'register-flood (1,024 sources)' | 'malformed';
type TargetName = 'sipwarden' | 'kamailio-secure' | 'kamailio-secure-tuned';

/**
 * Kamailio as configured in proxy-secure.cfg (pike: 30 requests per 2 s per source, the
 * module's documented example), and the same with pike raised tenfold, as an operator
 * would after pike blocked their own customers: both are what people run.
 */
const KAMAILIO_DEFINES: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  'kamailio-secure': {},
  'kamailio-secure-tuned': { PIKE_DENSITY: 300 },
};

interface Row {
  readonly target: TargetName;
  readonly flood: FloodName;
  readonly legit: SippResult;
  readonly floodSent: number;
  readonly uasSawFlood: number;
}

async function malformedFlood(port: number, count: number, ms: number): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.4.1', resolve));
  const deadline = Date.now() + ms;
  let sent = 0;
  while (sent < count && Date.now() < deadline) {
    for (let i = 0; i < 30 && sent < count; i++, sent++) {
      const text = `INVITE sip:${sent}@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.4.1;branch=z9hG4bK${sent}\r\nCSeq: x INVITE\r\n\r\n`;
      socket.send(Buffer.from(text), port, HOST);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  socket.close();
  return sent;
}

async function flood(name: FloodName, port: number): Promise<number> {
  const count = Math.round((FLOOD_RATE * FLOOD_MS) / 1000);
  const limits = { count, durationMs: FLOOD_MS, rate: FLOOD_RATE };
  const target = { address: HOST, port };
  switch (name) {
    case 'none':
      return 0;
    case 'invite-flood':
      await runFlood({
        method: 'INVITE',
        target,
        limits,
        sources: parseAddressRange('127.0.3.1'),
        answerWaitMs: 200,
      });
      return count;
    case 'register-flood (1,024 sources)':
      await runFlood({
        method: 'REGISTER',
        target,
        limits,
        sources: parseAddressRange('127.1.0.0/16'),
        maxSources: 1024,
        answerWaitMs: 200,
      });
      return count;
    case 'malformed':
      return malformedFlood(port, count, FLOOD_MS);
  }
}

/** Attack messages the UAS saw: every call the UAS answered beyond the legitimate ones. */
function floodSeenByUas(uas: SippResult, legitCalls: number): number {
  const key = Object.keys(uas.messageCounts).find((k) => k.endsWith('_INVITE_Recv'));
  const invites = key === undefined ? 0 : uas.messageCounts[key]!;
  return Math.max(0, invites - legitCalls);
}

async function runOne(target: TargetName, floodName: FloodName): Promise<Row> {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: PBX_SCENARIO, localPort: uasPort, timeoutS: 180 });
  await uas.ready();
  const proxyPort = await freePort();
  const stop: (() => Promise<unknown>)[] = [];
  if (target === 'sipwarden') {
    const sipwarden = await startSipwarden({
      port: proxyPort,
      upstream: { host: HOST, port: uasPort },
      extraArgs: ['--log-level', 'error'],
    });
    stop.push(() => sipwarden.stop());
  } else {
    const kamailio = await startKamailio({
      variant: 'proxy-secure',
      port: proxyPort,
      upstream: { host: HOST, port: uasPort, transport: 'udp' },
      sharedMemoryMb: 1024,
      memoryManager: 'tlsf',
      defines: KAMAILIO_DEFINES[target]!,
    });
    stop.push(() => kamailio.stop());
  }
  try {
    const legitRun = runSipp({
      scenario: CALLERS_SCENARIO,
      service: LEGIT_USER,
      localPort: await freePort(),
      remote: { host: HOST, port: proxyPort },
      calls: CALLS,
      rate: RATE,
      timeoutS: Math.ceil(FLOOD_MS / 1000) + 40,
      responseTimes: true,
    });
    // Start the flood a moment after the calls, so both run together.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const floodSent = await flood(floodName, proxyPort);
    const legit = await legitRun;
    const uasResult = await uas.stop();
    return {
      target,
      flood: floodName,
      legit,
      floodSent,
      uasSawFlood: floodSeenByUas(uasResult, legit.successful),
    };
  } finally {
    for (const s of stop) await s();
    await uas.stop();
  }
}

function percent(run: SippResult): string {
  const total = run.successful + run.failed;
  return total === 0 ? 'n/a' : `${((100 * run.successful) / total).toFixed(2)} %`;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const rows: Row[] = [];
  const allFloods: FloodName[] = ['none', 'invite-flood', 'register-flood (1,024 sources)', 'malformed'];
  const wantedFloods = values.floods.split(',');
  const floods = allFloods.filter((f) => wantedFloods.some((w) => f.startsWith(w)));
  const allTargets: TargetName[] = ['sipwarden', 'kamailio-secure', 'kamailio-secure-tuned'];
  const targets = allTargets.filter((t) => values.targets.split(',').includes(t));
  for (const floodName of floods) {
    // Interleaved: the targets meet each flood one after the other.
    for (const target of targets) {
      process.stdout.write(`${target} / ${floodName} ... `);
      const row = await runOne(target, floodName);
      rows.push(row);
      const failures = Object.entries(row.legit.failedBy)
        .map(([why, n]) => `${why} ${n}`)
        .join(', ');
      process.stdout.write(
        `${percent(row.legit)} p99 ${row.legit.responseTimeP99?.toFixed(2)} ms${failures ? ` (failed: ${failures})` : ''}\n`,
      );
      // What the legitimate caller got instead (sipp's error log), for the reader of the run.
      if (failures) process.stdout.write(`${row.legit.errors.split('\n').slice(0, 12).join('\n')}\n`);
    }
  }
  const info = machineInfo(REPO_ROOT);
  const lines = [
    '# Legitimate calls during floods: sipwarden (defaults) and Kamailio (sanity + pike + htable bans)',
    '',
    `Run ${new Date().toISOString()} on ${info.cpus} cores (${info.cpuModel}), load average ${loadAverageText()}, commit ${info.commit}.`,
    `${CALLS} legitimate calls at ${RATE} calls/s from 127.0.0.1 (not allowlisted) while each flood runs at ${FLOOD_RATE} messages/s for ${FLOOD_MS} ms.`,
    'Response time: INVITE sent to 200 received, at the legitimate UAC. Everything (UAC, UAS, proxy, flood) shares the 2 cores.',
    'kamailio-secure: proxy-secure.cfg as written (pike 30 requests per 2 s per source); kamailio-secure-tuned: pike density 300.',
    'A call is three requests from the caller (INVITE, ACK, BYE): at 30 calls/s that is 90 requests/s from one address; each call has its own caller number (From), as from a trunk.',
    'The PBX behind each proxy is a sipp UAS that answers the legitimate callee, 404s any other user and challenges every REGISTER with 401 (test/interop/security/scenarios/uas-pbx.xml).',
    '',
    '| flood | target | legitimate success | p50 ms | p99 ms | flood sent | flood INVITEs the PBX answered |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.flood} | ${r.target} | ${percent(r.legit)} (${r.legit.successful}/${r.legit.successful + r.legit.failed}) | ${r.legit.responseTimeP50?.toFixed(2) ?? '-'} | ${r.legit.responseTimeP99?.toFixed(2) ?? '-'} | ${r.floodSent} | ${r.uasSawFlood} |`,
    ),
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'flood-resilience.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}`);
}

try {
  await main();
} finally {
  await stopAll();
}
