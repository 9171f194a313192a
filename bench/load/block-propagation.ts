/**
 * The time from a block made on one sipwarden node to its enforcement on another: two real
 * sipwarden processes sharing one real Redis on loopback (`state.backend: redis`).
 *
 *   node --import tsx bench/load/block-propagation.ts [--blocks 200] [--out FILE]
 *
 * Each round uses a fresh source address. It sends OPTIONS probes from it, one to each node
 * about every millisecond (sipwarden answers OPTIONS itself: no PBX), blocks the source
 * through node 1's management API (its local socket, as `sipwarden block` does), and goes
 * on until both nodes have refused every probe for 200 ms (at least 10 in a row). A node's enforcement time is the send
 * time of its first refused probe minus the time the API call started: node 1's is the
 * baseline of the same round (the API call and the local table), node 2's adds Redis and
 * pub/sub. The resolution is the probe interval (about 1 ms, setTimeout's). Bounded: at most
 * 800 probes per node per round, under the options-flood threshold.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, sortedCopy } from '../../test/interop/harness/percentile.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { redisAvailable, startRedis } from '../../test/interop/harness/redis.ts';
import { REPO_ROOT, type Sipwarden, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { header, UdpPeer } from '../../test/support/udp-peer.ts';
import { median } from '../stats.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '200' },
    out: { type: 'string' },
  },
});
const BLOCKS = Number(values.blocks);
const MAX_PROBES = 800;
const REFUSED_RUN = 10;
const SETTLE_MS = 200;
let sequence = 0;

function options(peer: UdpPeer, port: number, callId: string): string {
  return [
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bK-${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${peer.address}>;tag=${callId}`,
    `To: <sip:127.0.0.1:${port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

interface Probe {
  readonly at: number;
  readonly callId: string;
}

/** The send time of the first probe of the final refused run, or undefined when the run never came. */
function enforcedAt(probes: readonly Probe[], answered: ReadonlySet<string>): number | undefined {
  let last = -1;
  for (let i = probes.length - 1; i >= 0; i--) {
    if (answered.has(probes[i]!.callId)) {
      last = i;
      break;
    }
  }
  if (probes.length - 1 - last < REFUSED_RUN) return undefined;
  return probes[last + 1]!.at;
}

async function round(
  index: number,
  nodes: readonly [Sipwarden, Sipwarden],
): Promise<[number, number] | undefined> {
  const source = `127.0.${40 + Math.floor(index / 250)}.${(index % 250) + 1}`;
  const peer = await UdpPeer.bind(source);
  try {
    const sent: [Probe[], Probe[]] = [[], []];
    const answered = new Set<string>();
    const collect = (): void => {
      for (const m of peer.received.splice(0)) {
        const id = header(m.text, 'Call-ID');
        if (id !== undefined) answered.add(id);
      }
    };
    const refusedRuns = (): boolean =>
      sent.every((probes) => {
        collect();
        let run = 0;
        for (let i = probes.length - 1; i >= 0 && !answered.has(probes[i]!.callId); i--) run++;
        return run >= REFUSED_RUN;
      });
    let blockedAt = 0;
    // Refused runs held this long (answers can be slow on a loaded machine): done.
    let refusedSince: number | undefined;
    const settled = (): boolean => {
      if (!refusedRuns()) {
        refusedSince = undefined;
        return false;
      }
      refusedSince ??= performance.now();
      return performance.now() - refusedSince >= SETTLE_MS;
    };
    const probing = (async () => {
      while (sent[0].length < MAX_PROBES && (blockedAt === 0 || !settled())) {
        for (const n of [0, 1] as const) {
          const callId = `bp-${process.pid}-${++sequence}`;
          sent[n].push({ at: performance.now(), callId });
          peer.send(options(peer, nodes[n].port, callId), nodes[n].port);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    // A few answered probes first: the source is served before the block.
    while (sent[0].length < 10) await new Promise((resolve) => setTimeout(resolve, 2));
    blockedAt = performance.now();
    await nodes[0].client().block({ address: source, duration: '10m', reason: 'block-propagation bench' });
    await probing;
    // Late answers to probes sent before the block.
    await new Promise((resolve) => setTimeout(resolve, 300));
    collect();
    const local = enforcedAt(sent[0], answered);
    const remote = enforcedAt(sent[1], answered);
    if (local === undefined || remote === undefined) return undefined;
    return [local - blockedAt, remote - blockedAt];
  } finally {
    peer.close();
  }
}

async function main(): Promise<void> {
  if (!redisAvailable()) throw new Error('redis-server is not installed');
  buildSipwarden(REPO_ROOT);
  const redis = await startRedis();
  const config = {
    log: { level: 'warn' },
    state: { backend: 'redis', redis: { url: redis.url, keyPrefix: `bp-${process.pid}:` } },
  };
  const upstream = await freePort('127.0.0.1', ['udp']);
  const nodes = [
    await startSipwarden({ port: await freePort(), upstream: { host: '127.0.0.1', port: upstream }, config }),
    await startSipwarden({ port: await freePort(), upstream: { host: '127.0.0.1', port: upstream }, config }),
  ] as const;
  const local: number[] = [];
  const remote: number[] = [];
  let incomplete = 0;
  try {
    // The API answers once it is up.
    for (const node of nodes) await node.apiToken();
    for (let i = 0; i < BLOCKS; i++) {
      const result = await round(i, nodes);
      if (result === undefined) incomplete++;
      else {
        local.push(result[0]);
        remote.push(result[1]);
      }
    }
  } finally {
    for (const node of nodes) await node.stop();
    await stopAll();
  }
  const l = sortedCopy(local);
  const r = sortedCopy(remote);
  const difference = sortedCopy(remote.map((value, i) => value - local[i]!));
  const ms = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(1));
  const info = machineInfo(REPO_ROOT);
  const lines = [
    '# Block propagation between two nodes through Redis',
    '',
    `Run ${new Date().toISOString()} on ${info.cpus} cores (${info.cpuModel}), load average ${loadAverageText()}, commit ${info.commit}.`,
    `Two sipwarden processes, one redis-server, all on loopback. ${BLOCKS} blocks, each of a fresh source, made through node 1's management socket; OPTIONS probes to both nodes about every millisecond (the resolution).`,
    '',
    '| node | from the API call to the first refused probe: median (ms) | p99 (ms) | max (ms) |',
    '| --- | ---: | ---: | ---: |',
    `| node 1 (blocked there: the baseline) | ${ms(median(l))} | ${ms(percentile(l, 99))} | ${ms(l.at(-1))} |`,
    `| node 2 (through Redis pub/sub) | ${ms(median(r))} | ${ms(percentile(r, 99))} | ${ms(r.at(-1))} |`,
    '',
    `Node 2 later than node 1 in the same round: median ${ms(median(difference))} ms, p99 ${ms(percentile(difference, 99))} ms.`,
    `Rounds measured: ${local.length} of ${BLOCKS}${incomplete > 0 ? ` (${incomplete} without 10 refused probes in a row within ${MAX_PROBES} probes)` : ''}.`,
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'block-propagation.md');
  writeFileSync(out, lines.join('\n'));
  console.log(lines.join('\n'));
}

await main();
