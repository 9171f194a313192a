import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyIssues } from '../../../src/policy/check.ts';
import { policyOf } from './helpers.ts';

const OK = { hasAuthenticator: true, stageRuns: true } as const;
const rule = (name: string, match: unknown, action = 'deny', more: object = {}) => ({
  name,
  match,
  action,
  ...more,
});
const issuesOf = (rules: unknown[], options = {}) => policyIssues(policyOf({ rules }), { ...OK, ...options });

test('a rule under an earlier final rule with the same or broader conditions can never match', () => {
  const unreachable = (name: string) =>
    `policy.rules[1]: can never match: rule ${name} (policy.rules[0]) decides every request it matches`;
  const pairs: [unknown, unknown][] = [
    [{}, { groups: 'sales' }],
    [{ groups: ['sales', 'support'] }, { groups: 'sales', methods: 'INVITE' }],
    [{ users: 'alice' }, { users: 'alice@example.com' }],
    [{ authenticated: true }, { roles: 'admin' }],
    [{ networks: '10.0.0.0/8' }, { networks: ['10.1.0.0/16', '10.2.3.4'] }],
    [{ networks: '2001:db8::/32' }, { networks: '2001:db8:5::/48' }],
    [{ to: { prefixes: '+' } }, { to: { prefixes: ['+44', '+33'] } }],
    [{ to: { prefixes: '+1900' } }, { to: { prefixes: '+19005' }, time: { hours: '08:00-18:00' } }],
    [{ to: { regex: '^\\+44' } }, { to: { regex: '^\\+44' }, transports: 'udp' }],
    [{ time: { days: 'sat,sun' } }, { time: { days: 'sat,sun' }, groups: 'x' }],
    [{ transports: ['udp', 'tcp'] }, { transports: 'udp' }],
  ];
  for (const [a, b] of pairs) {
    assert.deepEqual(
      issuesOf([rule('first', a), rule('second', b, 'allow')]),
      [unreachable('first')],
      JSON.stringify([a, b]),
    );
  }
});

test('a rule that catches requests the earlier one does not is reachable', () => {
  const pairs: [unknown, unknown][] = [
    [{ groups: 'sales' }, {}],
    [{ groups: 'sales' }, { groups: ['sales', 'support'] }],
    [{ users: 'alice@example.com' }, { users: 'alice' }],
    [{ authenticated: true }, { networks: '10.0.0.0/8' }],
    [{ authenticated: false }, { groups: 'sales' }],
    [{ networks: '10.1.0.0/16' }, { networks: '10.0.0.0/8' }],
    [{ networks: '10.0.0.0/8' }, { networks: ['10.1.0.0/16', '192.0.2.1'] }],
    [{ to: { prefixes: '+44' } }, { to: { prefixes: '+4' } }],
    [{ to: { prefixes: '+44' } }, { to: { regex: '^\\+44' } }],
    // Not judged: a different regex or window, even a narrower one.
    [{ to: { regex: '^\\+4' } }, { to: { regex: '^\\+44' } }],
    [{ time: { days: 'mon-sun' } }, { time: { days: 'sat' } }],
  ];
  for (const [a, b] of pairs) {
    assert.deepEqual(issuesOf([rule('first', a), rule('second', b, 'allow')]), [], JSON.stringify([a, b]));
  }
});

test('only an earlier rule that always decides when it matches makes a later one unreachable', () => {
  assert.deepEqual(
    issuesOf([rule('limit', {}, 'limit', { limit: { callsPerMinute: 5 } }), rule('after', {})]),
    [],
  );
  assert.deepEqual(issuesOf([rule('tls', {}, 'require-tls'), rule('after', {})]), []);
  assert.deepEqual(issuesOf([rule('auth', {}, 'require-authentication'), rule('after', {})]), []);
  // With these conditions they always decide.
  assert.equal(
    issuesOf([rule('tls', { transports: 'udp' }, 'require-tls'), rule('after', { transports: 'udp' })])
      .length,
    1,
  );
  assert.equal(
    issuesOf([
      rule('auth', { authenticated: false }, 'require-authentication'),
      rule('after', { authenticated: false }),
    ]).length,
    1,
  );
});

test('the first covering rule is named, and every unreachable rule is reported', () => {
  const issues = issuesOf([
    rule('premium', { to: { prefixes: '+1900' } }),
    rule('all', {}, 'allow'),
    rule('premium-sales', { to: { prefixes: '+19001' }, groups: 'sales' }),
    rule('sales', { groups: 'sales' }),
  ]);
  assert.deepEqual(issues, [
    'policy.rules[2]: can never match: rule premium (policy.rules[0]) decides every request it matches',
    'policy.rules[3]: can never match: rule all (policy.rules[1]) decides every request it matches',
  ]);
});

test('a rule contradicting itself is reported', () => {
  assert.deepEqual(issuesOf([rule('x', { authenticated: false, groups: 'sales' })]), [
    'policy.rules[0]: can never match: authenticated: false with a condition on the verified identity',
  ]);
});

test('groups and roles the user store does not know are reported when the store is read', () => {
  const rules = [rule('a', { groups: ['sales', 'sails'] }), rule('b', { roles: 'admin' }, 'allow')];
  assert.deepEqual(issuesOf(rules), []);
  assert.deepEqual(issuesOf(rules, { knownGroups: new Set(['Sales']), knownRoles: new Set(['user']) }), [
    'policy.rules[0].match.groups: no user has the group "sails"',
    'policy.rules[1].match.roles: no user has the role "admin"',
  ]);
});

test('require-authentication without an authenticator, and rules no stage enforces, are refused', () => {
  assert.deepEqual(issuesOf([rule('auth', {}, 'require-authentication')], { hasAuthenticator: false }), [
    'policy.rules[0].action: require-authentication needs sipwarden to authenticate by itself (the authenticate stage in local mode); none is configured',
  ]);
  assert.deepEqual(issuesOf([rule('x', {})], { stageRuns: false }), [
    'policy: the policy stage does not run (security disabled, or not in security.stages): nothing would enforce these rules',
  ]);
  // No rules: nothing to enforce.
  assert.deepEqual(issuesOf([], { stageRuns: false }), []);
});
