/**
 * The block table contract, written against the interface only: every backend (memory now,
 * Redis later) runs it from its own test file with its own factory.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cidrContains, parseCidr } from '../../../src/state/cidr.ts';
import { StateError } from '../../../src/state/errors.ts';
import type { BlockEntry, BlockScope, BlockTable } from '../../../src/state/types.ts';

export type BlockTableFactory = (options: {
  maxEntries: number;
  networkPrefixV4?: number;
  networkPrefixV6?: number;
}) => BlockTable;

const runs = (n: number): number => (process.env.CI ? n * 5 : n);

const t0 = 1_700_000_000_000;
const minute = 60_000;

function entry(
  key: string,
  scope: BlockScope,
  expiresAt = t0 + minute,
  more: Partial<Omit<BlockEntry, 'hits'>> = {},
): Omit<BlockEntry, 'hits'> {
  return { key, scope, reason: 'INVITE flood', rule: 'invite-flood', createdAt: t0, expiresAt, ...more };
}

export function runBlockTableContract(name: string, factory: BlockTableFactory): void {
  describe(`${name}: block table contract`, () => {
    test('matches a blocked address until its expiry and not from then on', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.7', 'address'));
      assert.equal(table.match('198.51.100.7', t0)?.key, '198.51.100.7');
      assert.equal(table.match('198.51.100.7', t0 + minute - 1)?.rule, 'invite-flood');
      assert.equal(table.match('198.51.100.7', t0 + minute), undefined);
      assert.equal(table.match('198.51.100.8', t0), undefined);
    });

    test('a network block covers every address of the network and no other', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('203.0.113.0/24', 'network'));
      for (const a of ['203.0.113.0', '203.0.113.1', '203.0.113.255']) {
        assert.equal(table.match(a, t0)?.key, '203.0.113.0/24', a);
      }
      for (const a of ['203.0.112.255', '203.0.114.0', '103.0.113.1'])
        assert.equal(table.match(a, t0), undefined, a);
    });

    test('a network block on an address covers its /24', () => {
      const table = factory({ maxEntries: 10 });
      const b = table.block(entry('203.0.113.77', 'network'));
      assert.equal(b.key, '203.0.113.0/24');
      assert.equal(b.scope, 'network');
      assert.equal(table.match('203.0.113.1', t0)?.key, '203.0.113.0/24');
    });

    test('a network block on an IPv6 address covers its /64', () => {
      const table = factory({ maxEntries: 10 });
      assert.equal(table.block(entry('2001:db8:1:2:3:4:5:6', 'network')).key, '2001:db8:1:2::/64');
      assert.equal(table.match('2001:db8:1:2::99', t0)?.key, '2001:db8:1:2::/64');
      assert.equal(table.match('2001:db8:1:3::1', t0), undefined);
    });

    test('the network prefixes are settings', () => {
      const table = factory({ maxEntries: 10, networkPrefixV4: 16, networkPrefixV6: 48 });
      assert.equal(table.block(entry('203.0.113.77', 'network')).key, '203.0.0.0/16');
      assert.equal(table.block(entry('2001:db8:1:2::1', 'network')).key, '2001:db8:1::/48');
      assert.ok(table.match('203.0.200.1', t0));
      assert.ok(table.match('2001:db8:1:ffff::1', t0));
    });

    test('networks of several prefix lengths match, the longest first', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('10.0.0.0/8', 'network', t0 + minute, { rule: 'wide' }));
      table.block(entry('10.1.2.0/24', 'network', t0 + minute, { rule: 'narrow' }));
      assert.equal(table.match('10.1.2.3', t0)?.rule, 'narrow');
      assert.equal(table.match('10.9.9.9', t0)?.rule, 'wide');
    });

    test('an IPv6 address matches in any of its text forms', () => {
      const table = factory({ maxEntries: 10 });
      assert.equal(table.block(entry('2001:DB8:0:0:0:0:0:1', 'address')).key, '2001:db8::1');
      for (const a of ['2001:db8::1', '2001:0db8::0001', '2001:db8:0:0::1', '2001:DB8::1']) {
        assert.equal(table.match(a, t0)?.key, '2001:db8::1', a);
      }
    });

    test('an IPv4-mapped IPv6 address is its IPv4 address', () => {
      const table = factory({ maxEntries: 10 });
      assert.equal(table.block(entry('::ffff:198.51.100.7', 'address')).key, '198.51.100.7');
      assert.ok(table.match('198.51.100.7', t0));
      assert.ok(table.match('::ffff:198.51.100.7', t0));
      table.block(entry('203.0.113.0/24', 'network'));
      assert.equal(table.match('::ffff:203.0.113.9', t0)?.key, '203.0.113.0/24');
      assert.equal(table.match('::ffff:cb00:7109', t0)?.key, '203.0.113.0/24');
    });

    test('a full-length network is an address block', () => {
      const table = factory({ maxEntries: 10 });
      const b = table.block(entry('198.51.100.7/32', 'network'));
      assert.equal(b.key, '198.51.100.7');
      assert.equal(b.scope, 'address');
      assert.equal(table.block(entry('2001:db8::1/128', 'address')).key, '2001:db8::1');
      assert.equal(table.block(entry('2001:db8::2/128', 'network')).scope, 'address');
      assert.equal(table.match('198.51.100.7', t0)?.scope, 'address');
      assert.equal(table.match('2001:db8:0::1', t0)?.key, '2001:db8::1');
      assert.equal(table.match('2001:db8::2', t0)?.key, '2001:db8::2');
      assert.equal(table.unblock('2001:db8::2/128'), true);
      assert.equal(table.unblock('2001:db8::1'), true);
      assert.equal(table.match('2001:db8::1', t0), undefined);
    });

    test('blocking again keeps the later expiry and takes the new reason and rule', () => {
      const table = factory({ maxEntries: 10 });
      const first = table.block(entry('198.51.100.7', 'address', t0 + 10 * minute));
      const shorter = table.block(
        entry('198.51.100.7', 'address', t0 + minute, { reason: 'scanner', rule: 'scanner-ua' }),
      );
      assert.equal(shorter.expiresAt, t0 + 10 * minute);
      assert.equal(shorter.reason, 'scanner');
      assert.equal(shorter.rule, 'scanner-ua');
      assert.equal(shorter.createdAt, first.createdAt);
      const longer = table.block(entry('198.51.100.7', 'address', t0 + 20 * minute));
      assert.equal(longer.expiresAt, t0 + 20 * minute);
      assert.equal(table.list(t0).length, 1);
      assert.ok(table.match('198.51.100.7', t0 + 15 * minute));
      assert.equal(table.stats().active, 1);
    });

    test('a block set after the old one expired starts afresh', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.7', 'address', t0 + minute));
      table.match('198.51.100.7', t0);
      const again = table.block(
        entry('198.51.100.7', 'address', t0 + 3 * minute, { createdAt: t0 + 2 * minute }),
      );
      assert.equal(again.createdAt, t0 + 2 * minute);
      assert.equal(again.hits, 0);
    });

    test('counts the messages each block refused', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.7', 'address'));
      table.block(entry('user:alice@example.com', 'key'));
      for (let i = 0; i < 3; i++) table.match('198.51.100.7', t0);
      table.matchKey('user:alice@example.com', t0);
      table.match('198.51.100.8', t0);
      const hits = Object.fromEntries(table.list(t0).map((b) => [b.key, b.hits]));
      assert.deepEqual(hits, { '198.51.100.7': 3, 'user:alice@example.com': 1 });
    });

    test('a rule key is matched by matchKey only', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('user:alice@example.com', 'key'));
      table.block(entry('198.51.100.7', 'key'));
      assert.equal(table.matchKey('user:alice@example.com', t0)?.scope, 'key');
      assert.equal(table.matchKey('user:bob@example.com', t0), undefined);
      assert.equal(table.match('198.51.100.7', t0), undefined);
      assert.equal(table.matchKey('user:alice@example.com', t0 + minute), undefined);
    });

    test('unblock removes a block by its key and says whether there was one', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.7', 'address'));
      table.block(entry('203.0.113.0/24', 'network'));
      table.block(entry('2001:db8::/64', 'network'));
      table.block(entry('user:alice@example.com', 'key'));
      assert.equal(table.unblock('198.51.100.7'), true);
      assert.equal(table.unblock('203.0.113.0/24'), true);
      assert.equal(table.unblock('2001:DB8:0::/64'), true);
      assert.equal(table.unblock('user:alice@example.com'), true);
      assert.equal(table.unblock('198.51.100.7'), false);
      assert.equal(table.unblock('nothing'), false);
      assert.equal(table.match('198.51.100.7', t0), undefined);
      assert.equal(table.match('203.0.113.1', t0), undefined);
      assert.equal(table.match('2001:db8::1', t0), undefined);
      assert.equal(table.matchKey('user:alice@example.com', t0), undefined);
      assert.equal(table.stats().active, 0);
    });

    test('unblocking an address leaves the block on its network', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('203.0.113.7', 'address'));
      table.block(entry('203.0.113.0/24', 'network'));
      table.unblock('203.0.113.7');
      assert.equal(table.match('203.0.113.7', t0)?.key, '203.0.113.0/24');
    });

    test('list gives the blocks in force only, as copies', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.1', 'address', t0 + minute));
      table.block(entry('198.51.100.2', 'address', t0 + 2 * minute));
      table.block(entry('203.0.113.0/24', 'network', Number.POSITIVE_INFINITY));
      table.block(entry('user:a', 'key', t0 + 3 * minute));
      const keys = (now: number): string[] =>
        table
          .list(now)
          .map((b) => b.key)
          .sort();
      assert.deepEqual(keys(t0), ['198.51.100.1', '198.51.100.2', '203.0.113.0/24', 'user:a']);
      assert.deepEqual(keys(t0 + 90_000), ['198.51.100.2', '203.0.113.0/24', 'user:a']);
      assert.deepEqual(keys(t0 + 1e12), ['203.0.113.0/24']);
      const [listed] = table.list(t0);
      listed!.hits = 99;
      assert.equal(table.list(t0)[0]!.hits, 0);
    });

    test('a block until removed never expires', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('198.51.100.7', 'address', Number.POSITIVE_INFINITY, { rule: 'admin' }));
      assert.ok(table.match('198.51.100.7', Number.MAX_SAFE_INTEGER));
    });

    test('when full, the entry expiring soonest gives way', () => {
      const table = factory({ maxEntries: 3 });
      table.block(entry('198.51.100.1', 'address', t0 + 3 * minute));
      table.block(entry('198.51.100.2', 'address', t0 + 1 * minute));
      table.block(entry('198.51.100.3', 'address', t0 + 2 * minute));
      table.block(entry('198.51.100.4', 'address', t0 + 4 * minute));
      assert.equal(table.stats().active, 3);
      assert.equal(table.match('198.51.100.2', t0), undefined);
      for (const a of ['198.51.100.1', '198.51.100.3', '198.51.100.4']) assert.ok(table.match(a, t0), a);
    });

    test('when full, a new block expiring sooner than all held is the one that gives way', () => {
      const table = factory({ maxEntries: 2 });
      table.block(entry('198.51.100.1', 'address', Number.POSITIVE_INFINITY));
      table.block(entry('198.51.100.2', 'address', t0 + 10 * minute));
      table.block(entry('198.51.100.3', 'address', t0 + minute));
      assert.equal(table.match('198.51.100.3', t0), undefined);
      assert.ok(table.match('198.51.100.1', t0));
      assert.ok(table.match('198.51.100.2', t0));
      assert.equal(table.stats().active, 2);
    });

    test('never holds more entries than its bound under a flood of blocks', () => {
      const table = factory({ maxEntries: 100 });
      for (let i = 0; i < 10_000; i++) {
        const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        table.block(entry(a, i % 3 === 0 ? 'network' : 'address', t0 + minute + i));
        table.block(entry(`user:${i}`, 'key', t0 + minute + i));
      }
      const stats = table.stats();
      assert.equal(stats.active, 100);
      assert.equal(stats.maxEntries, 100);
      assert.equal(table.list(t0).length, 100);
      // The latest blocks expire last and so are the ones held.
      assert.ok(table.matchKey('user:9999', t0));
    });

    test('refuses an address block on something that is not an address, with a coded error', () => {
      const table = factory({ maxEntries: 10 });
      for (const [key, scope] of [
        ['user:alice', 'address'],
        ['203.0.113.0/33', 'network'],
        ['203.0.113', 'network'],
        ['2001:db8:::1', 'address'],
        ['', 'key'],
      ] as const) {
        assert.throws(
          () => table.block(entry(key, scope)),
          (e: unknown) => e instanceof StateError && e.code === 'SW_ERR_STATE_BLOCK_KEY',
          `${scope} ${key}`,
        );
      }
      assert.equal(table.stats().active, 0);
    });

    test('a lookup of something that is not an address matches nothing', () => {
      const table = factory({ maxEntries: 10 });
      table.block(entry('0.0.0.0/1', 'network'));
      table.block(entry('::/1', 'network'));
      for (const a of ['', 'x', '1.2.3', '1.2.3.4.5', '01.2.3.4', '::g', 'a'.repeat(10_000), '1.2.3.4/24']) {
        assert.equal(table.match(a, t0), undefined, a.slice(0, 20));
      }
    });

    test('property: match agrees with checking every block in force by CIDR', () => {
      const v4 = fc
        .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }))
        .map(([a, b]) => `10.0.${a}.${b}`);
      const v6 = fc
        .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }))
        .map(([a, b]) => `2001:db8:0:${a}::${b}`);
      const address = fc.oneof(
        v4,
        v6,
        v4.map((a) => `::ffff:${a}`),
        v6.map((a) => a.toUpperCase()),
      );
      const key = fc.oneof(
        address,
        fc.constantFrom('10.0.0.0/23', '10.0.2.0/24', '2001:db8::/62', '2001:db8:0:1::/64', '10.0.1.1/32'),
      );
      const op = fc.oneof(
        fc.record({
          op: fc.constant('block' as const),
          key,
          scope: fc.constantFrom<BlockScope>('address', 'network'),
          ttl: fc.integer({ min: 1, max: 100 }),
        }),
        fc.record({ op: fc.constant('unblock' as const), key }),
        fc.record({ op: fc.constant('match' as const), address, dt: fc.integer({ min: 0, max: 20 }) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const table = factory({ maxEntries: 1000 });
          /** The model: canonical key to network and expiry. */
          const model = new Map<
            string,
            { cidr: NonNullable<ReturnType<typeof parseCidr>>; expiresAt: number }
          >();
          let now = t0;
          for (const o of ops) {
            if (o.op === 'block') {
              const b = table.block(entry(o.key, o.scope, now + o.ttl, { createdAt: now }));
              const cidr = parseCidr(b.key)!;
              const held = model.get(b.key);
              const expiresAt =
                held && held.expiresAt > now ? Math.max(held.expiresAt, now + o.ttl) : now + o.ttl;
              model.set(b.key, { cidr, expiresAt });
              assert.equal(b.expiresAt, expiresAt);
            } else if (o.op === 'unblock') {
              const canonical = [...model.keys()].find((k) => {
                const c = parseCidr(o.key);
                return c !== undefined && parseCidr(k)!.text === c.text;
              });
              const removed = table.unblock(o.key);
              // An expired entry may or may not have been cleared already.
              const live = canonical !== undefined && model.get(canonical)!.expiresAt > now;
              if (live || canonical === undefined) assert.equal(removed, live, `unblock ${o.key}`);
              if (canonical !== undefined) model.delete(canonical);
            } else {
              now += o.dt;
              const covering = [...model.values()].filter(
                (m) => m.expiresAt > now && cidrContains(m.cidr, o.address),
              );
              const got = table.match(o.address, now);
              assert.equal(got !== undefined, covering.length > 0, `match ${o.address}`);
              if (got !== undefined) {
                const longest = Math.max(...covering.map((m) => m.cidr.prefix));
                assert.equal(parseCidr(got.key)!.prefix, longest, `${o.address} matched ${got.key}`);
              }
            }
          }
        }),
        { numRuns: runs(300) },
      );
    });

    test('property: a key is never blocked after it is unblocked', () => {
      const octet = fc.integer({ min: 0, max: 3 });
      const address = fc.tuple(octet, octet).map(([a, b]) => `10.0.${a}.${b}`);
      const op = fc.oneof(
        fc.record({
          op: fc.constant('block' as const),
          key: fc.oneof(address, fc.constantFrom('10.0.1.0/24', 'user:a', 'user:b', '::ffff:10.0.0.1')),
          scope: fc.constantFrom<BlockScope>('address', 'network', 'key'),
          ttl: fc.oneof(fc.integer({ min: 1, max: 10 * minute }), fc.constant(Number.POSITIVE_INFINITY)),
        }),
        fc.record({
          op: fc.constant('unblock' as const),
          key: fc.oneof(address, fc.constantFrom('10.0.1.0/24', '10.0.0.0/24', 'user:a', 'user:b')),
        }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const table = factory({ maxEntries: 8 });
          for (const o of ops) {
            if (o.op === 'block') {
              if (o.scope !== 'key' && o.key.startsWith('user:')) continue;
              table.block(entry(o.key, o.scope, t0 + o.ttl));
              continue;
            }
            table.unblock(o.key);
            const listed = table.list(t0).map((b) => b.key);
            assert.ok(!listed.includes(o.key), `${o.key} listed after unblock`);
            if (o.key.startsWith('user:')) assert.equal(table.matchKey(o.key, t0), undefined);
            else if (!o.key.includes('/')) {
              const b = table.match(o.key, t0);
              assert.ok(b === undefined || b.scope === 'network', `${o.key} still blocked by ${b?.key}`);
            }
            assert.ok(table.stats().active <= 8);
          }
        }),
        { numRuns: runs(300) },
      );
    });
  });
}
