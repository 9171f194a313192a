/**
 * MSRP throughput through sipwarden's relay (src/msrp): MB/s of content from one RFC 4975
 * peer to another, with every message scanned by clamd (started here, on loopback, with
 * the EICAR signature), against the same relay with scanning off as the baseline of the
 * same run (a scanner that answers clean without looking: what relaying alone costs).
 *
 *   node --import tsx bench/load/msrp-relay.ts [--messages 40] [--size 1048576]
 *     [--chunk 65536] [--seconds 60] [--out bench/results/msrp-relay.md] [--no-write]
 *
 * Each mode: one call set up through sipwarden (in this process, on loopback), the two
 * peers connected to the relay, then --messages messages of --size random bytes sent in
 * --chunk chunks, one after another (each waits for the 200 on its last chunk, which the
 * relay sends once the message is scanned and passed on). The rate is content bytes
 * received by the second peer over the time from the first chunk sent to the last
 * message received. Bounded by --messages and --seconds.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultConfig } from '../../src/config/load-config.ts';
import { ClamdScanner } from '../../src/content/clamd-scanner.ts';
import type { ContentScanner, ScanResult } from '../../src/content/scanner.ts';
import { startGateway } from '../../src/gateway.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startClamd } from '../../test/interop/harness/clamd.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { hangUp, placeMsrpCall } from '../../test/interop/msrp/msrp-call.ts';
import { MsrpPeer } from '../../test/interop/msrp/msrp-peer.ts';
import { coreConfig } from '../../test/support/core-gateway.ts';
import { UdpPeer } from '../../test/support/udp-peer.ts';
import { loadAverageText, machineInfo } from './machine.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '40' },
    size: { type: 'string', default: String(1024 * 1024) },
    chunk: { type: 'string', default: String(64 * 1024) },
    seconds: { type: 'string', default: '60' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results', 'msrp-relay.md') },
    'no-write': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(args.messages);
const SIZE = Number(args.size);
const CHUNK = Number(args.chunk);
const SECONDS = Number(args.seconds);

/** The baseline: relaying without scanning. */
const NO_SCAN: ContentScanner = {
  scan: async (): Promise<ScanResult> => ({ verdict: 'clean' }),
  close: async () => {},
};

interface ModeResult {
  readonly mode: string;
  readonly messages: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly mbPerSecond: number;
}

async function runMode(mode: string, scanner: ContentScanner): Promise<ModeResult> {
  const caller = await UdpPeer.bind();
  const upstream = await UdpPeer.bind();
  const base = defaultConfig();
  const gateway = await startGateway(
    {
      ...coreConfig(upstream.port),
      content: {
        ...base.content,
        msrp: { ...base.content.msrp, enabled: true, host: '127.0.0.1', port: 0, maxMessageBytes: SIZE * 2 },
      },
    },
    silentLogger,
    { contentScanner: scanner },
  );
  const peers = { caller, upstream, sipPort: gateway.listening().find((l) => l.transport === 'udp')!.port };
  const alicePath = MsrpPeer.newPath(7000);
  const bobPath = MsrpPeer.newPath(7001);
  const relayPort = gateway.msrpRelay!.port;
  const alice = await MsrpPeer.connect(relayPort, alicePath);
  const bob = await MsrpPeer.connect(relayPort, bobPath);
  try {
    const call = await placeMsrpCall(peers, alicePath, bobPath);
    await alice.response(alice.send(call.toCaller));
    await bob.response(bob.send(call.toCallee));
    const content = randomBytes(SIZE);
    let bytes = 0;
    let sent = 0;
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    while (sent < MESSAGES && performance.now() < deadline) {
      const tids = alice.sendChunked(call.toCaller, `m${String(sent).padStart(7, '0')}`, content, CHUNK);
      for (const tid of tids) {
        const response = await alice.response(tid, 30_000);
        if (response.status !== 200) throw new Error(`${mode}: chunk answered ${response.status}`);
      }
      const delivered = await bob.next((f) => f.method === 'SEND', 30_000);
      bytes += delivered.body?.length ?? 0;
      sent++;
    }
    const seconds = (performance.now() - started) / 1000;
    await hangUp(peers, call);
    return { mode, messages: sent, bytes, seconds, mbPerSecond: bytes / 1e6 / seconds };
  } finally {
    alice.close();
    bob.close();
    await gateway.close();
    caller.close();
    upstream.close();
  }
}

async function main(): Promise<void> {
  const clamd = await startClamd();
  const scanner = new ClamdScanner({ endpoint: { host: '127.0.0.1', port: clamd.port } });
  const load = loadAverageText();
  let results: ModeResult[];
  try {
    results = [await runMode('scanning off', NO_SCAN), await runMode('scanning on (clamd)', scanner)];
  } finally {
    await scanner.close();
    await clamd.stop();
  }
  const off = results[0]!.mbPerSecond;
  const machine = machineInfo(REPO_ROOT);
  const lines = [
    '# MSRP relay throughput',
    '',
    `${MESSAGES} messages of ${SIZE} bytes in ${CHUNK}-byte chunks, peer to peer through sipwarden's relay`,
    `on loopback (bench/load/msrp-relay.ts). Load average before: ${load}.`,
    '',
    '| mode | messages | MB | seconds | MB/s | vs off |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.mode} | ${r.messages} | ${(r.bytes / 1e6).toFixed(1)} | ${r.seconds.toFixed(2)} | ${r.mbPerSecond.toFixed(1)} | ${(r.mbPerSecond / off).toFixed(2)} |`,
    ),
    '',
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, commit ${machine.commit}${machine.sourcesChanged > 0 ? ` (+${machine.sourcesChanged} changed files)` : ''}.`,
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(text);
  if (!args['no-write']) {
    mkdirSync(join(args.out, '..'), { recursive: true });
    writeFileSync(args.out, text);
  }
}

await main();
