import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainPolicy } from '../../../src/policy/explain.ts';
import { identity, policyOf, req } from './helpers.ts';

const policy = policyOf({
  rules: [
    {
      name: 'no-premium',
      match: { to: { prefixes: ['+1900', '0900'] } },
      action: 'deny',
      reason: 'Premium Barred',
    },
    { name: 'admins-tls', match: { groups: 'admins' }, action: 'require-tls' },
    {
      name: 'authenticate',
      match: { authenticated: false, methods: ['INVITE', 'REGISTER'] },
      action: 'require-authentication',
    },
    { name: 'staff-limit', match: { groups: 'staff' }, action: 'limit', limit: { concurrentCalls: 3 } },
    { name: 'staff', match: { groups: ['staff', 'admins'] }, action: 'allow' },
  ],
  default: 'deny',
});

test('explain lists each earlier rule with the first condition that did not hold, then the decision', () => {
  const alice = identity('alice', 'example.com', { groups: ['staff'] });
  const e = explainPolicy(policy, req({ identity: alice, destination: '+442079460000' }));
  assert.equal(e.rule, 'staff');
  assert.equal(e.decision, 'allow');
  assert.deepEqual(e.lines, [
    'request: alice@example.com (groups: staff; roles: none) from 192.0.2.10 over udp: INVITE to +442079460000 at 2026-03-02T10:00:00.000Z',
    '  rule 1 no-premium (deny): no match: to.prefixes: the dialled number +442079460000 starts with none of +1900, 0900',
    '  rule 2 admins-tls (require-tls): no match: groups: alice@example.com has the groups staff, not one of admins',
    '  rule 3 authenticate (require-authentication): no match: authenticated: the request is authenticated as alice@example.com',
    '  rule 4 staff-limit (limit): matches; a call over 3 concurrent calls would be answered 403 (counted on live traffic only); goes on',
    '  rule 5 staff (allow): matches',
    'decision: allow by rule staff: allowed',
  ]);
});

test('explain names the deny, the unmet requirement and the challenge', () => {
  const premium = explainPolicy(
    policy,
    req({ identity: identity('bob', 'example.com', { groups: ['staff'] }), destination: '+19005550100' }),
  );
  assert.equal(premium.rule, 'no-premium');
  assert.equal(premium.lines.at(-1), 'decision: deny by rule no-premium: answered 403 Premium Barred');
  assert.equal(premium.lines.length, 3);

  const admin = identity('root', 'example.com', { groups: ['admins'] });
  const udp = explainPolicy(policy, req({ identity: admin }));
  assert.equal(
    udp.lines.at(-1),
    'decision: deny by rule admins-tls: not over TLS: answered 403 TLS Required',
  );
  const tls = explainPolicy(policy, req({ identity: admin, transport: 'tls' }));
  assert.equal(tls.lines[2], '  rule 2 admins-tls (require-tls): matches; came over tls, goes on');
  assert.equal(tls.rule, 'staff');

  const anonymous = explainPolicy(policy, req({ address: '203.0.113.9' }));
  assert.match(
    anonymous.lines[0]!,
    /^request: an unauthenticated request from 203\.0\.113\.9 over udp: INVITE to 2001/,
  );
  assert.equal(
    anonymous.lines[2],
    '  rule 2 admins-tls (require-tls): no match: groups: the request has no verified identity',
  );
  assert.equal(anonymous.decision, 'challenge');
  assert.equal(
    anonymous.lines.at(-1),
    'decision: challenge by rule authenticate: no verified identity: challenged for credentials',
  );
});

test('when no rule decides, policy.default does', () => {
  const e = explainPolicy(policy, req({ method: 'OPTIONS' }));
  assert.equal(e.rule, 'default');
  assert.equal(e.lines.at(-1), 'decision: deny by policy.default: no rule decided: answered 403 Forbidden');
  const open = explainPolicy(policyOf({}), req());
  assert.deepEqual(open.lines.slice(1), ['decision: allow by policy.default: no rule decided']);
});

test('explain says what require-encrypted-media would refuse, and goes on', () => {
  const srtp = policyOf({
    rules: [
      { name: 'sales-srtp', match: { groups: 'sales' }, action: 'require-encrypted-media' },
      { name: 'sales', match: { groups: 'sales' }, action: 'allow' },
    ],
  });
  const bob = identity('bob', 'example.com', { groups: ['sales'] });
  const e = explainPolicy(srtp, req({ identity: bob }));
  assert.equal(e.rule, 'sales');
  assert.equal(
    e.lines[1],
    '  rule 1 sales-srtp (require-encrypted-media): matches; a call whose offer has no SRTP keys (a=crypto) sipwarden can use would be answered 488 Not Acceptable Here (the offer is read on live traffic only); goes on',
  );
});
