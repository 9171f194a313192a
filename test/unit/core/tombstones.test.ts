import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  MAX_KEY_BYTES,
  MAX_RESPONSE_BYTES,
  type Tombstone,
  TombstoneTable,
} from '../../../src/core/transaction/tombstones.ts';
import type { Flow, SendTarget } from '../../../src/transport/types.ts';

const caller: SendTarget = { transport: 'udp', address: '192.0.2.10', port: 5062 };
const upstream: SendTarget = { transport: 'tcp', address: '::1', port: 5080, connectionId: 7 };

function entry(n: number, overrides: Partial<Tombstone> = {}): Tombstone {
  return {
    serverKey: `z9hG4bK-${n}|192.0.2.10:5062|BYE`,
    clientKey: `z9hG4bKsw${n}|BYE`,
    isInvite: false,
    serverTarget: caller,
    clientTarget: upstream,
    response: Buffer.from(`SIP/2.0 200 OK\r\nCall-ID: ${n}\r\n\r\n`, 'latin1'),
    ...overrides,
  };
}

function flow(target: SendTarget, overrides: Partial<Flow> = {}): Flow {
  return {
    transport: target.transport,
    localAddress: '127.0.0.1',
    localPort: 5060,
    remoteAddress: target.address,
    remotePort: target.port,
    ...(target.connectionId === undefined ? {} : { connectionId: target.connectionId }),
    ...overrides,
  };
}

describe('tombstone table', () => {
  // The sweep timer does not hold the process open (sockets do, in the gateway).
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => {}, 1000);
  });
  after(() => clearInterval(keepAlive));

  test("keeps an INVITE's hidden Via fields for its 2xx retransmissions, and never repeats them as a response", () => {
    const table = new TombstoneTable({ maxSize: 10 });
    const vias = ['SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bK-a', 'SIP/2.0/UDP pbx.internal;branch=z9hG4bK-b'];
    const { response: _, ...invite } = entry(1, { isInvite: true });
    assert.ok(table.add({ ...invite, hiddenVias: vias.join('\n') }, 60_000));
    const slot = table.findServer(invite.serverKey);
    assert.ok(slot >= 0);
    assert.deepEqual(table.hiddenVias(slot), vias);
    assert.equal(table.response(slot), undefined);
    // A non-INVITE's response is never read as Via fields.
    assert.ok(table.add(entry(2), 60_000));
    assert.equal(table.hiddenVias(table.findServer(entry(2).serverKey)), undefined);
    table.clear();
  });

  test('finds an entry by either key and gives back what it holds', () => {
    const table = new TombstoneTable({ maxSize: 10 });
    const kept = entry(1);
    assert.ok(table.add(kept, 60_000));
    const slot = table.findServer(kept.serverKey);
    assert.ok(slot >= 0);
    assert.equal(table.findClient(kept.clientKey), slot);
    assert.equal(table.isInvite(slot), false);
    assert.deepEqual(table.serverTarget(slot), caller);
    assert.deepEqual(table.response(slot), kept.response);
    assert.equal(table.findServer(entry(2).serverKey), -1);
    assert.equal(table.findServer(`${kept.serverKey}x`), -1);
    assert.equal(table.findClient(kept.serverKey), -1);
    table.clear();
  });

  test('an INVITE kept without a response gives none back', () => {
    const table = new TombstoneTable({ maxSize: 10 });
    const { response: _, ...invite } = entry(1, { isInvite: true, clientKey: 'z9hG4bKsw1|INVITE' });
    assert.ok(table.add(invite, 60_000));
    const slot = table.findClient('z9hG4bKsw1|INVITE');
    assert.equal(table.isInvite(slot), true);
    assert.equal(table.response(slot), undefined);
    table.clear();
  });

  test('a response counts as from the target only over the same transport, address and port or connection', () => {
    const table = new TombstoneTable({ maxSize: 10 });
    table.add(entry(1, { clientTarget: { transport: 'udp', address: '127.0.0.1', port: 5080 } }), 60_000);
    const udp = table.findServer(entry(1).serverKey);
    const target: SendTarget = { transport: 'udp', address: '127.0.0.1', port: 5080 };
    assert.equal(table.isFromClientTarget(udp, flow(target)), true);
    assert.equal(table.isFromClientTarget(udp, flow(target, { remotePort: 5081 })), false);
    assert.equal(table.isFromClientTarget(udp, flow(target, { remoteAddress: '127.0.0.2' })), false);
    assert.equal(table.isFromClientTarget(udp, flow(target, { transport: 'tcp' })), false);
    table.add(entry(2), 60_000);
    const tcp = table.findServer(entry(2).serverKey);
    assert.equal(table.isFromClientTarget(tcp, flow(upstream, { remotePort: 40_000 })), true);
    assert.equal(table.isFromClientTarget(tcp, flow(upstream, { connectionId: 8 })), false);
    table.clear();
  });

  test('refuses what does not fit a slot, so the caller keeps it another way', () => {
    const table = new TombstoneTable({ maxSize: 10 });
    assert.equal(table.add(entry(1, { serverKey: 'z'.repeat(MAX_KEY_BYTES + 1) }), 60_000), false);
    assert.equal(table.add(entry(2, { clientKey: 'z9hG4bK\u0100' }), 60_000), false);
    assert.equal(table.add(entry(3, { response: Buffer.alloc(MAX_RESPONSE_BYTES + 1) }), 60_000), false);
    assert.equal(table.size, 0);
  });

  test('an entry ends once its time is over, not before', async () => {
    const table = new TombstoneTable({ maxSize: 10 });
    const addedAt = performance.now();
    table.add(entry(1), 30);
    table.add(entry(2), 60_000);
    assert.ok(table.findServer(entry(1).serverKey) >= 0);
    while (table.findServer(entry(1).serverKey) >= 0) await new Promise((r) => setTimeout(r, 5));
    assert.ok(performance.now() - addedAt >= 30);
    assert.ok(table.findServer(entry(2).serverKey) >= 0, 'the longer one stays');
    assert.equal(table.size, 1);
    table.clear();
  });

  test('past its cap the entry nearest its end goes first, whatever its linger time', () => {
    const table = new TombstoneTable({ maxSize: 2 });
    table.add(entry(1), 60_000);
    table.add(entry(2), 5_000);
    table.add(entry(3), 60_000);
    assert.equal(table.size, 2);
    assert.equal(table.findServer(entry(2).serverKey), -1);
    assert.ok(table.findServer(entry(1).serverKey) >= 0);
    assert.ok(table.findServer(entry(3).serverKey) >= 0);
    table.clear();
  });

  test('lookups agree with a plain map through any run of adds and evictions', () => {
    // A small cap forces constant eviction, which exercises the index's deletions.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.constantFrom(5_000, 32_000)), {
          maxLength: 200,
        }),
        (cap, adds) => {
          const table = new TombstoneTable({ maxSize: cap });
          // Model: live entries with their expiry order (same-duration ties keep insertion order).
          let live: { n: number; at: number; seq: number }[] = [];
          adds.forEach(([n, ms], seq) => {
            if (live.length >= cap) {
              live.sort((a, b) => a.at - b.at || a.seq - b.seq);
              live = live.slice(1);
            }
            // Distinct entries per add (the same n may be added again, as a retransmission would not).
            table.add(entry(n * 1000 + seq), ms);
            live.push({ n: n * 1000 + seq, at: ms + seq * 1e-9, seq });
          });
          assert.equal(table.size, live.length);
          for (const { n } of live) {
            const slot = table.findServer(entry(n).serverKey);
            assert.ok(slot >= 0, `entry ${n} is found`);
            assert.equal(table.findClient(entry(n).clientKey), slot);
          }
          const liveSet = new Set(live.map((l) => l.n));
          adds.forEach(([n], seq) => {
            if (!liveSet.has(n * 1000 + seq))
              assert.equal(table.findServer(entry(n * 1000 + seq).serverKey), -1);
          });
          table.clear();
        },
      ),
      { numRuns: 300 },
    );
  });
});
