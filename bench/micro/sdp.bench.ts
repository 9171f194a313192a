/**
 * SDP micro-benchmark: session descriptions parsed per second by sipwarden's strict parser
 * for a typical offer (an Asterisk audio offer) and a WebRTC offer, against the lenient
 * npm `sdp-transform` parser (a dependency of jssip, when installed) in interleaved rounds
 * in one process; and the whole validate stage on an INVITE carrying the typical offer.
 * Writes bench/results/sdp.md.
 *
 *   node --import tsx bench/micro/sdp.bench.ts [--rounds 11] [--ms 150] [--no-write]
 *
 * sdp-transform gets a ready string (its API); sipwarden gets the Buffer a SIP body is.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { RequestContext } from '../../src/core/inspector.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { parseSdp } from '../../src/sdp/parse.ts';
import { serializeSdp } from '../../src/sdp/serialize.ts';
import type { StageDependencies } from '../../src/security/stage.ts';
import { createValidateStage } from '../../src/security/stages/validate.ts';
import type { SipRequest } from '../../src/sip/message.ts';
import { parseMessage } from '../../src/sip/parse.ts';
import { createMemoryActivityStore } from '../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../src/state/memory-trust-table.ts';
import { median } from '../stats.ts';
import { numberArg, publish } from './cli.ts';

const rounds = numberArg('rounds', 11);
const msPerRun = numberArg('ms', 150);

const fixtures = join(import.meta.dirname, '..', '..', 'test', 'unit', 'sdp', 'fixtures');
const typical = readFileSync(join(fixtures, 'asterisk-offer.sdp'));
const webrtc = readFileSync(join(fixtures, 'webrtc-offer.sdp'));
const typicalText = typical.toString('latin1');
const webrtcText = webrtc.toString('latin1');

const require = createRequire(import.meta.url);
let sdpTransform: { parse(text: string): { media?: unknown[] } } | undefined;
let sdpTransformVersion = '';
try {
  sdpTransform = require('sdp-transform') as typeof sdpTransform;
  sdpTransformVersion = (require('sdp-transform/package.json') as { version: string }).version;
} catch {
  // Not installed (jssip brings it): the sipwarden rows stand alone.
}

const invite = Buffer.from(
  'INVITE sip:200@pbx.example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9;rport\r\n' +
    'Max-Forwards: 70\r\n' +
    'From: "Alice" <sip:100@pbx.example.com>;tag=9fxced76sl\r\n' +
    'To: <sip:200@pbx.example.com>\r\n' +
    'Call-ID: 3848276298220188511@198.51.100.7\r\n' +
    'CSeq: 1 INVITE\r\n' +
    'Contact: <sip:100@198.51.100.7:5060>\r\n' +
    'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY\r\n' +
    'Supported: replaces, timer\r\n' +
    'User-Agent: Phone/1.0\r\n' +
    'Content-Type: application/sdp\r\n' +
    `Content-Length: ${typical.length}\r\n` +
    '\r\n' +
    typicalText,
  'latin1',
);
const parsedInvite = parseMessage(invite);
if (!parsedInvite.ok) throw new Error(`the benchmark INVITE does not parse: ${parsedInvite.error.code}`);
const deps: StageDependencies = {
  store: createMemoryActivityStore({ maxKeys: 1024, hashSeed: 1 }),
  blocks: createMemoryBlockTable({ maxEntries: 16 }),
  trust: createMemoryTrustTable(),
  log: silentLogger,
};
const stage = createValidateStage({}, deps);
const context: RequestContext = {
  flow: {
    transport: 'udp',
    localAddress: '127.0.0.1',
    localPort: 5060,
    remoteAddress: '127.0.0.2',
    remotePort: 5060,
  },
  direction: 'client',
  request: parsedInvite.message as SipRequest,
  inDialog: false,
};

let sink = 0;
interface Candidate {
  readonly name: string;
  /** The group it is compared within; the baseline of a group is its sdp-transform row. */
  readonly group: string;
  readonly baseline: boolean;
  /** Does one unit of work; returns 1 when it succeeded. */
  readonly run: () => number;
}

const candidates: Candidate[] = [
  {
    name: 'sipwarden parseSdp, typical offer',
    group: 'typical',
    baseline: false,
    run: () => (parseSdp(typical).ok ? 1 : 0),
  },
  {
    name: 'sipwarden parseSdp + serializeSdp, typical offer',
    group: 'typical',
    baseline: false,
    run: () => {
      const r = parseSdp(typical);
      if (!r.ok) return 0;
      sink += serializeSdp(r.sdp).length;
      return 1;
    },
  },
  {
    name: 'sipwarden parseSdp, WebRTC offer',
    group: 'webrtc',
    baseline: false,
    run: () => (parseSdp(webrtc).ok ? 1 : 0),
  },
  {
    name: 'validate stage, INVITE with the typical offer',
    group: 'stage',
    baseline: false,
    run: () => (stage.request!(context, 0) === undefined ? 0 : 1),
  },
];
if (sdpTransform !== undefined) {
  const t = sdpTransform;
  candidates.push(
    {
      name: 'sdp-transform parse, typical offer',
      group: 'typical',
      baseline: true,
      run: () => (t.parse(typicalText).media ? 1 : 0),
    },
    {
      name: 'sdp-transform parse, WebRTC offer',
      group: 'webrtc',
      baseline: true,
      run: () => (t.parse(webrtcText).media ? 1 : 0),
    },
  );
}

// Every candidate must succeed on its input, or the comparison means nothing.
for (const c of candidates) if (c.run() !== 1) throw new Error(`${c.name} failed on its input`);

/** Runs `c` for about msPerRun milliseconds; returns operations per second. */
function measure(c: Candidate): number {
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(msPerRun * 1e6);
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 200; k++) sink += c.run();
    iterations += 200;
    now = process.hrtime.bigint();
  }
  return iterations / (Number(now - start) / 1e9);
}

// Warm up, then interleave in a rotating order so none always runs first or last.
for (const c of candidates) measure(c);
const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < candidates.length; k++) {
    const c = candidates[(k + r) % candidates.length]!;
    samples.get(c.name)!.push(measure(c));
  }
}

/** Per round, the candidate against its group's baseline in that same round; the median of those. */
function pairedRatio(c: Candidate): number | undefined {
  const base = candidates.find((b) => b.baseline && b.group === c.group);
  if (base === undefined || base === c) return undefined;
  const ours = samples.get(c.name)!;
  const theirs = samples.get(base.name)!;
  return median(ours.map((v, r) => v / theirs[r]!));
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const rows = candidates.map((c) => {
  const xs = samples.get(c.name)!;
  const ratio = pairedRatio(c);
  const perOp = 1e6 / median(xs);
  return `| ${c.name} | ${fmt(median(xs))} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} | ${perOp.toFixed(2)} µs | ${ratio === undefined ? '' : `${ratio.toFixed(2)}x`} |`;
});
const report = [
  '# SDP micro-benchmark',
  '',
  `Run: ${new Date().toISOString()}, node ${process.version}, nproc ${availableParallelism()}, ${cpus()[0]?.model ?? 'unknown CPU'}, load average at the end`,
  `${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (other work shares the machine: absolute figures are noisy, the interleaved ratios less so).`,
  `Inputs: test/unit/sdp/fixtures/asterisk-offer.sdp (${typical.length} bytes, one audio stream, 5 payload types) and`,
  `webrtc-offer.sdp (${webrtc.length} bytes, bundled audio and video, ICE, DTLS). ${rounds} interleaved rounds of about`,
  `${msPerRun} ms per row; figures are operations per second, median and range over the rounds. The ratio is the`,
  'median over rounds of the row against the sdp-transform row of the same input in that round.',
  sdpTransform === undefined
    ? 'Baseline: sdp-transform is not installed, no ratio.'
    : `Baseline: \`sdp-transform\` ${sdpTransformVersion} (lenient: it checks no grammar), given a ready string.`,
  'The stage row is the whole validate stage on a parsed INVITE: header checks plus SDP.',
  '',
  '| row | ops/s (median) | range | per op | vs sdp-transform |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  'Reproduce: `node --import tsx bench/micro/sdp.bench.ts`.',
  '',
].join('\n');

publish(report, 'sdp.md', sink);
