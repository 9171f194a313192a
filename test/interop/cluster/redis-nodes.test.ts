/**
 * Two real sipwarden processes sharing one real Redis (Debian's redis-server on a free
 * loopback port), `state.backend: redis`:
 * - a source blocked through node 1's management API is refused by node 2; the time from the
 *   block to enforcement on node 2 is measured with a stream of OPTIONS probes and printed
 *   (a figure for the record, not asserted);
 * - an OPTIONS flood from one source split across both nodes, each half under the
 *   options-flood threshold, is blocked on both (and, the control, not with the memory backend);
 * - Redis killed: both nodes keep serving and refusing on local state and raise a `cluster`
 *   event; a block made on node 1 meanwhile reaches node 2 once Redis is back (empty).
 * sipwarden answers the OPTIONS itself (proxy.answerOptions), so no PBX is needed; the
 * upstream is a port nobody listens on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { header, UdpPeer } from '../../support/udp-peer.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { type RedisServer, redisAvailable, startRedis } from '../harness/redis.ts';
import { allBlocks, eventsOf, type Guarded, startGuard, until, whyGone } from '../security/helpers.ts';

const skip = redisAvailable() ? false : 'redis-server is not installed (scripts/install-test-deps.sh)';
let probeSequence = 0;

function optionsRequest(peer: UdpPeer, target: Guarded, callId: string): string {
  const branch = `z9hG4bK-${callId}`;
  return [
    `OPTIONS sip:127.0.0.1:${target.port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${peer.address}:${peer.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${peer.address}>;tag=${callId}`,
    `To: <sip:127.0.0.1:${target.port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Contact: <sip:probe@${peer.address}:${peer.port}>`,
    'User-Agent: cluster-probe',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Sends one OPTIONS and says whether a final answer came within `timeoutMs`. */
async function answered(peer: UdpPeer, target: Guarded, timeoutMs = 1000): Promise<boolean> {
  const callId = `probe-${process.pid}-${++probeSequence}`;
  peer.send(optionsRequest(peer, target, callId), target.port);
  try {
    await peer.next((text) => header(text, 'Call-ID') === callId, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

function clusterConfig(redis: RedisServer, prefix: string) {
  return {
    state: { backend: 'redis', redis: { url: redis.url, keyPrefix: prefix, maxReconnectDelayMs: 200 } },
  };
}

async function blockedOn(guard: Guarded, address: string): Promise<boolean> {
  return (await allBlocks(guard)).some((b) => b.key === address);
}

describe('two sipwarden nodes sharing one Redis', { skip }, () => {
  let redis: RedisServer;
  let nodes: [Guarded, Guarded];

  before(async () => {
    redis = await startRedis();
    const upstream = await freePort('127.0.0.1', ['udp']);
    const config = clusterConfig(redis, `sw-interop-${process.pid}:`);
    nodes = [await startGuard(upstream, config), await startGuard(upstream, config)];
  });

  after(async () => {
    for (const node of nodes ?? []) {
      const gone = whyGone(node);
      if (gone) console.log(gone);
      await node.sipwarden.stop();
    }
    await stopAll();
  });

  test('a source blocked on node 1 through the API is refused by node 2 (time to enforcement printed)', async () => {
    const [one, two] = nodes;
    const figures: number[] = [];
    /** From the API's answer on node 1 (negative: node 2 enforced it before node 1 answered). */
    const fromAnswer: number[] = [];
    for (let round = 0; round < 5; round++) {
      const source = `127.0.20.${round + 1}`;
      const peer = await UdpPeer.bind(source);
      try {
        assert.equal(await answered(peer, two), true, `${source} is served by node 2 before the block`);
        // Probes to node 2 every millisecond or so while node 1 blocks the source, until 20
        // probes in a row go unanswered (bounded: 900 probes, under options-flood's 1000).
        const sent: { at: number; callId: string }[] = [];
        const replied = new Set<string | undefined>();
        const lastAnswered = (): number => {
          for (const m of peer.received.splice(0)) replied.add(header(m.text, 'Call-ID'));
          for (let i = sent.length - 1; i >= 0; i--) if (replied.has(sent[i]!.callId)) return i;
          return -1;
        };
        let blockedAt = 0;
        let answeredAt = 0;
        const probing = (async () => {
          while (sent.length < 900 && (answeredAt === 0 || sent.length - 1 - lastAnswered() < 20)) {
            const callId = `probe-${process.pid}-${++probeSequence}`;
            sent.push({ at: performance.now(), callId });
            peer.send(optionsRequest(peer, two, callId), two.port);
            await sleep(1);
          }
        })();
        await sleep(30);
        blockedAt = performance.now();
        await one.api.block({ address: source, duration: '10m', reason: 'cluster test' });
        answeredAt = performance.now();
        await probing;
        await sleep(300);
        const last = lastAnswered();
        assert.ok(last < sent.length - 1, `node 2 answered every probe from ${source}`);
        const enforcedAt = sent[last + 1]!.at;
        // Every probe after the first refused one is refused too: a block, not a lost datagram.
        assert.ok(sent.slice(last + 1).every((p) => !replied.has(p.callId)));
        fromAnswer.push(enforcedAt - answeredAt);
        figures.push(Math.max(0, enforcedAt - blockedAt));
        assert.equal(await answered(peer, two, 300), false, `${source} refused by node 2`);
        assert.ok(await blockedOn(two, source), `node 2 lists the block on ${source}`);
        // Events reach the store in batches: wait for the refusals' aggregate.
        let events: Awaited<ReturnType<typeof eventsOf>> = [];
        assert.ok(
          await until(async () => {
            events = await eventsOf(two, 'blocked', source);
            return events.length > 0;
          }, 10_000),
          'node 2 recorded the refusals',
        );
        assert.equal(events[0]?.rule, 'admin');
      } finally {
        peer.close();
      }
    }
    const list = (values: number[]) =>
      [...values]
        .sort((a, b) => a - b)
        .map((f) => f.toFixed(1))
        .join(', ');
    console.log(
      `# block on node 1 to enforcement on node 2, from the API request sent: ${list(figures)} ms; from the API answer: ${list(fromAnswer)} ms (probes about 1 ms apart)`,
    );
    // The unblock on node 2 lifts it on node 1 as well.
    await two.api.unblock('127.0.20.1');
    assert.ok(await until(async () => !(await blockedOn(one, '127.0.20.1')), 5000), 'unblocked on node 1');
  });

  test('an OPTIONS flood split across both nodes, each half under the threshold, is blocked on both', async () => {
    const outcome = await splitFlood(nodes, '127.0.21.1');
    assert.ok(outcome.blocked.every(Boolean), `blocked on both nodes: ${JSON.stringify(outcome)}`);
  });

  test('Redis killed: both nodes go on with local state, say so, and a block made meanwhile reaches the other once it is back', async () => {
    const [one, two] = nodes;
    await redis.kill();
    for (const node of nodes) {
      assert.ok(
        await until(
          async () => (await eventsOf(node, 'cluster')).some((e) => e.rule === 'redis-down'),
          10_000,
        ),
        'a redis-down event on each node',
      );
    }
    const fresh = await UdpPeer.bind('127.0.22.1');
    const target = await UdpPeer.bind('127.0.22.2');
    try {
      // Served by both, on local state.
      assert.equal(await answered(fresh, one), true);
      assert.equal(await answered(fresh, two), true);
      // A block from before the outage still holds on node 2 (127.0.20.2 from the first test).
      const old = await UdpPeer.bind('127.0.20.2');
      try {
        assert.equal(await answered(old, two, 300), false, 'the old block holds during the outage');
      } finally {
        old.close();
      }
      await one.api.block({ address: '127.0.22.2', duration: '10m', reason: 'during the outage' });
      assert.equal(await answered(target, one, 300), false, 'node 1 refuses at once');
      assert.equal(await answered(target, two), true, 'node 2 cannot know yet');

      await redis.restart();
      assert.ok(await until(() => blockedOn(two, '127.0.22.2'), 10_000), 'the block reached node 2');
      assert.equal(await answered(target, two, 300), false, 'node 2 refuses it');
      for (const node of nodes) {
        assert.ok(
          await until(
            async () => (await eventsOf(node, 'cluster')).some((e) => e.rule === 'redis-up'),
            10_000,
          ),
          'a redis-up event on each node',
        );
      }
      // Redis came back empty: the nodes wrote back what they hold.
      const held = await redisBlocks(redis, `sw-interop-${process.pid}:`);
      for (const address of ['127.0.20.2', '127.0.22.2'])
        assert.ok(held.includes(address), `${address} in Redis`);
    } finally {
      fresh.close();
      target.close();
    }
  });
});

describe('the control: two nodes with the memory backend', { skip }, () => {
  test('the same split flood blocks neither node: each half stays under the threshold', async () => {
    const upstream = await freePort('127.0.0.1', ['udp']);
    const pair: [Guarded, Guarded] = [await startGuard(upstream), await startGuard(upstream)];
    try {
      const outcome = await splitFlood(pair, '127.0.23.1');
      assert.deepEqual(outcome.blocked, [false, false], JSON.stringify(outcome));
      assert.equal(outcome.answered, outcome.sent, 'every OPTIONS answered');
    } finally {
      for (const node of pair) await node.sipwarden.stop();
    }
  });
});

/**
 * 1400 OPTIONS from `source` in about two seconds, alternately to each node: 700 per node,
 * under options-flood's 1000 per 10 s on each, 1400 together (and under the gate's packet
 * budget of 1000/s per node).
 */
async function splitFlood(
  pair: readonly [Guarded, Guarded],
  source: string,
): Promise<{ sent: number; answered: number; blocked: boolean[] }> {
  const peer = await UdpPeer.bind(source);
  try {
    let sent = 0;
    for (let i = 0; i < 700; i++) {
      for (const node of pair) {
        const callId = `flood-${process.pid}-${++probeSequence}`;
        peer.send(optionsRequest(peer, node, callId), node.port);
        sent++;
      }
      if (i % 5 === 4) await sleep(12);
    }
    await sleep(1000);
    const blocked = await Promise.all(pair.map((node) => blockedOn(node, source)));
    return { sent, answered: peer.received.length, blocked };
  } finally {
    peer.close();
  }
}

/** The addresses of the blocks stored in Redis under `prefix`. */
async function redisBlocks(redis: RedisServer, prefix: string): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  try {
    return await client.hkeys(`${prefix}blocks`);
  } finally {
    client.disconnect();
  }
}
