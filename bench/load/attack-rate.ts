/**
 * How fast the attack engine sends: invite-flood datagrams per second from one process, to
 * a UDP sink on loopback (another process) that only counts. Also options-flood, and
 * invite-flood from a pool of 1024 source addresses, for comparison.
 *
 *   node --import tsx bench/load/attack-rate.ts [--count 200000] [--seconds 10] [--runs 3]
 *     [--out bench/results/attack-rate.md] [--no-write]
 *
 * Each run is unpaced (--rate 0) and bounded by --count and --seconds. The sender's rate is
 * datagrams handed to the kernel per second of sending; the sink's is datagrams received
 * between its first and last one (loopback drops when the sink falls behind show as the
 * difference). The machine has 2 cores: sender and sink each take one. All on loopback.
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { type FloodMethod, runFlood } from '../../src/attack/kinds/flood.ts';
import { runFloodWorkers } from '../../src/attack/kinds/flood-workers.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { loadAverageText, machineInfo } from './machine.ts';

interface SinkCounts {
  readonly received: number;
  readonly bytes: number;
  readonly spanMs: number;
}

/** The sink process: binds, reports its port, counts until asked, reports counts. */
async function sink(): Promise<void> {
  // --sink-drops: a receive buffer so small that the kernel drops nearly every datagram, so
  // the sink takes almost no CPU from the senders (what they can send, not what one reader reads).
  const drops = process.argv.includes('--sink-drops');
  const socket = createSocket({ type: 'udp4', recvBufferSize: drops ? 4096 : 16 * 1024 * 1024 });
  let received = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  socket.on('message', (data) => {
    const now = performance.now();
    if (received === 0) first = now;
    last = now;
    received++;
    bytes += data.length;
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  process.send?.({ port: socket.address().port });
  process.on('message', (message: { command?: string }) => {
    if (message.command === 'report') {
      process.send?.({ received, bytes, spanMs: last - first } satisfies SinkCounts);
      received = 0;
      bytes = 0;
    } else if (message.command === 'exit') {
      socket.close();
      process.exit(0);
    }
  });
}

interface RunResult {
  readonly label: string;
  readonly sent: number;
  readonly sendSeconds: number;
  readonly sentPerSecond: number;
  readonly received: number;
  readonly receivedPerSecond: number;
  readonly meanBytes: number;
  readonly sendErrors: number;
}

/** True when this process runs in another network namespace than init (ip netns exec). */
function inNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/net') !== readlinkSync('/proc/1/ns/net');
  } catch {
    return false;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200000' },
      seconds: { type: 'string', default: '10' },
      runs: { type: 'string', default: '3' },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results', 'attack-rate.md') },
      'no-write': { type: 'boolean', default: false },
      'sink-drops': { type: 'boolean', default: false },
    },
  });
  const count = Math.min(3_000_000, Number(values.count));
  const durationMs = Math.min(60, Number(values.seconds)) * 1000;
  const runs = Math.min(10, Number(values.runs));
  const loadBefore = loadAverageText();

  const sinkDrops = values['sink-drops'];
  const child = fork(import.meta.filename, ['--sink', ...(sinkDrops ? ['--sink-drops'] : [])], {
    execArgv: ['--import', 'tsx'],
  });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  const report = async (): Promise<SinkCounts> => {
    child.send({ command: 'report' });
    const [counts] = (await once(child, 'message')) as [SinkCounts];
    return counts;
  };

  const cases: { label: string; method: FloodMethod; sources?: string; workers?: number }[] = [
    { label: 'invite-flood, one source', method: 'INVITE' },
    { label: 'invite-flood, 1024 sources (127.9.0.0/16)', method: 'INVITE', sources: '127.9.0.0/16' },
    { label: 'options-flood, one source', method: 'OPTIONS' },
    ...[1, 2, 3].map((workers) => ({
      label: `invite-flood, 1024 sources, --workers ${workers} (prebuilt datagrams)`,
      method: 'INVITE' as const,
      sources: '127.9.0.0/16',
      workers,
    })),
  ];
  const results: RunResult[] = [];
  try {
    for (const entry of cases) {
      const perRun: RunResult[] = [];
      for (let i = 0; i < runs; i++) {
        await report(); // reset the sink's counters
        const options = {
          method: entry.method,
          target: { address: '127.0.0.1', port },
          limits: { count, durationMs, rate: 0 },
          ...(entry.sources ? { sources: parseAddressRange(entry.sources) } : {}),
          answerWaitMs: 1,
          sendBufferBytes: 4 * 1024 * 1024,
          seed: 1000 + i,
        };
        const flood =
          entry.workers === undefined
            ? await runFlood(options)
            : await runFloodWorkers({ ...options, workers: entry.workers });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const counts = await report();
        const sendSeconds = Number(flood.details.sendSeconds);
        perRun.push({
          label: entry.label,
          sent: flood.answers.sent,
          sendSeconds,
          sentPerSecond: Math.round(flood.answers.sent / sendSeconds),
          received: counts.received,
          receivedPerSecond: counts.spanMs > 0 ? Math.round((counts.received * 1000) / counts.spanMs) : 0,
          meanBytes: counts.received > 0 ? Math.round(counts.bytes / counts.received) : 0,
          sendErrors: flood.sendErrors,
        });
        process.stderr.write(`${entry.label} run ${i + 1}: ${JSON.stringify(perRun.at(-1))}\n`);
      }
      const pick = perRun.find((r) => r.sentPerSecond === median(perRun.map((p) => p.sentPerSecond)))!;
      results.push(pick);
    }
  } finally {
    child.send({ command: 'exit' });
  }

  const machine = machineInfo(REPO_ROOT);
  const table = [
    '| case | sent | send time | sent/s (median of runs) | received by the sink | received/s | mean datagram |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${r.label} | ${r.sent} | ${r.sendSeconds} s | **${r.sentPerSecond}** | ${r.received} (${((100 * r.received) / r.sent).toFixed(1)} %) | ${r.receivedPerSecond} | ${r.meanBytes} B |`,
    ),
  ];
  const text = [
    '# Attack engine send rate',
    '',
    `Recorded ${new Date().toISOString()} by \`node --import tsx bench/load/attack-rate.ts --count ${count} --seconds ${durationMs / 1000} --runs ${runs}${sinkDrops ? ' --sink-drops' : ''}\`.`,
    '',
    `Machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}; commit ${machine.commit}; load average before: ${loadBefore}, after: ${loadAverageText()}.`,
    '',
    'Each case: one sender process (`runFlood`, unpaced, one connected UDP socket per source, every',
    'datagram a complete request with random user, tags, Call-ID, User-Agent and, for INVITE, an SDP',
    'offer, built per message; with --workers, `runFloodWorkers`: that many threads, each with its own',
    'sockets over its share of the sources, sending prebuilt datagrams with the request number stamped',
    'in branch, Call-ID and tag) to one sink process on 127.0.0.1 that only counts. sent/s is datagrams',
    'handed to the kernel per second of sending; received/s is what the sink read between its first',
    'and last datagram (it reads in one thread, so it falls behind the faster senders). Median run of',
    `the runs shown.${inNamespace() ? ' Run inside a network namespace of its own (`ip netns exec`): its loopback only.' : ''}`,
    '',
    ...table,
    '',
    sinkDrops
      ? 'Notes: --sink-drops: the sink has a 4 KiB receive buffer, so the kernel drops nearly every datagram and the sink takes almost no CPU; "received" is then meaningless, sent/s is what the senders reach. Sender and sink share the 2 cores with whatever else runs (see the load average).'
      : 'Notes: sender and sink share the 2 cores with whatever else runs (see the load average); the sink reading less than was sent means loopback dropped datagrams when the sink fell behind (its 16 MiB receive buffer full), not that the sender did not send them.',
    '',
  ].join('\n');
  process.stdout.write(text);
  if (!values['no-write']) {
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(values.out, text);
    process.stderr.write(`written to ${values.out}\n`);
  }
}

if (process.argv.includes('--sink')) await sink();
else await main();
