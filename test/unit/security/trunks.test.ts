/**
 * Declared trunks with every default stage in the real pipeline runner: a trunk's address
 * counts as trusted for the flood rules and the gate's budget, so its busy hour is never
 * taken for a flood, while the same traffic from an undeclared address is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildStages, type SecuritySettings, withTrunks } from '../../../src/security/build-pipeline.ts';
import { TrunkTable } from '../../../src/security/trunks.ts';
import { flow, Harness, packet, request, T0 } from './stages/helpers.ts';

const TRUNK = '203.0.113.10';
const STRANGER = '203.0.113.99';

const security: SecuritySettings = {
  enabled: true,
  allowlist: [],
  settings: {},
  trunks: [{ name: 'carrier', addresses: [TRUNK], maxConcurrentCalls: 1000, maxCallsPerSecond: 500 }],
};

function pipeline(): Harness {
  return new Harness((deps) => buildStages(security, withTrunks(security, deps)));
}

/** `count` new calls over `seconds` from `address`, each from another caller; the actions taken. */
function calls(h: Harness, address: string, count: number, seconds: number): string[] {
  const actions: string[] = [];
  for (let i = 0; i < count; i++) {
    h.clock.now = T0 + Math.floor((i * seconds * 1000) / count);
    const invite = request({ method: 'INVITE', fromUser: `49305550${i}`, ruriUser: `2${i % 100}` });
    actions.push(h.send(invite, flow(address)));
  }
  return actions;
}

test('a declared trunk placing 150 calls/s (over the untrusted invite-flood threshold) is not taken for a flood', () => {
  const h = pipeline();
  const actions = calls(h, TRUNK, 300, 2);
  assert.deepEqual(
    actions.filter((a) => a !== 'pass'),
    [],
  );
  assert.deepEqual(h.actions(), []);
  assert.equal(h.blocked(TRUNK), false);
});

test('the same calls from an address that is not declared are blocked as an INVITE flood', () => {
  const h = pipeline();
  const actions = calls(h, STRANGER, 300, 2);
  assert.ok(actions.includes('blocked') || actions.includes('drop'), actions.join(','));
  assert.ok(h.blocked(STRANGER));
  assert.ok(h.actions().some((e) => e.rule === 'invite-flood'));
});

test("a declared trunk gets the gate's trusted packet budget", () => {
  const h = pipeline();
  const admit = (address: string) => {
    let dropped = 0;
    for (let i = 0; i < 2000; i++) {
      h.clock.now = T0 + Math.floor(i / 2);
      if (h.pipeline.admit(packet(flow(address))).action !== 'pass') dropped++;
    }
    return dropped;
  };
  assert.equal(admit(TRUNK), 0);
  assert.ok(admit(STRANGER) > 0);
});

test('a trunk table answers in one lookup for sources that are no trunk, and matches networks and IPv4-mapped IPv6', () => {
  const trunks = new TrunkTable([
    { name: 'a', addresses: ['198.51.100.0/28'], maxConcurrentCalls: 10, maxCallsPerSecond: 10 },
    {
      name: 'b',
      addresses: ['2001:db8::1'],
      identity: 'pbx@example.com',
      maxConcurrentCalls: 10,
      maxCallsPerSecond: 10,
    },
  ]);
  assert.ok(trunks.has('198.51.100.15'));
  assert.ok(trunks.has('::ffff:198.51.100.1'));
  assert.ok(!trunks.has('198.51.100.16'));
  assert.ok(trunks.has('2001:db8::1'));
  assert.equal(trunks.forCall('198.51.100.3', request({ fromUser: 'anyone' }))?.name, 'a');
  assert.equal(
    trunks.forCall('2001:db8::1', request({ fromUser: 'pbx', fromDomain: 'example.com' }))?.name,
    'b',
  );
  assert.equal(
    trunks.forCall('2001:db8::1', request({ fromUser: 'pbx', fromDomain: 'other.example' })),
    undefined,
  );
});

test('only the addresses of trunks that do not authenticate are exempt from sipwarden challenges', () => {
  const limits = { maxConcurrentCalls: 10, maxCallsPerSecond: 5 };
  const table = new TrunkTable([
    { ...limits, name: 'carrier', addresses: ['192.0.2.0/28'] },
    { ...limits, name: 'customer-pbx', addresses: ['198.51.100.7', '192.0.2.5'], authenticate: true },
  ]);
  assert.equal(table.exemptFromChallenge('192.0.2.1'), true);
  assert.equal(table.exemptFromChallenge('198.51.100.7'), false);
  // Covered by a carrier too: a carrier does not answer challenges.
  assert.equal(table.exemptFromChallenge('192.0.2.5'), true);
  assert.equal(table.exemptFromChallenge('203.0.113.1'), false);
  assert.equal(new TrunkTable([]).exemptFromChallenge('192.0.2.1'), false);
});
