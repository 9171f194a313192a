import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstMatch, identity, MONDAY_10H, policyOf, req, schemaIssues } from './helpers.ts';

const rule = (name: string, match: unknown, action = 'allow') => ({ name, match, action });

test('user, domain, organisation, group and role conditions match the verified identity, case-insensitively', () => {
  const alice = identity('alice', 'example.com', {
    groups: ['Sales'],
    roles: ['manager'],
    organisation: 'acme',
  });
  const cases: [unknown, boolean][] = [
    [{ users: 'alice' }, true],
    [{ users: 'alice@example.com' }, true],
    [{ users: 'alice@other.example' }, false],
    [{ users: ['bob', 'ALICE'] }, true],
    [{ domains: 'example.com' }, true],
    [{ domains: 'other.example' }, false],
    [{ organisations: 'Acme' }, true],
    [{ organisations: 'globex' }, false],
    [{ groups: ['support', 'sales'] }, true],
    [{ groups: 'support' }, false],
    [{ roles: 'manager' }, true],
    [{ roles: 'admin' }, false],
  ];
  for (const [match, expected] of cases) {
    const policy = policyOf({ rules: [rule('r', match)] });
    assert.equal(firstMatch(policy, req({ identity: alice })) === 'r', expected, JSON.stringify(match));
  }
});

test('identity conditions never match a request without a verified identity', () => {
  for (const match of [
    { users: 'alice' },
    { groups: 'sales' },
    { roles: 'manager' },
    { organisations: 'acme' },
    { domains: 'example.com' },
  ]) {
    const policy = policyOf({ rules: [rule('r', match)] });
    assert.equal(firstMatch(policy, req()), undefined, JSON.stringify(match));
  }
});

test('authenticated: true and false tell verified requests from the others', () => {
  const policy = policyOf({
    rules: [rule('anonymous', { authenticated: false }), rule('known', { authenticated: true })],
  });
  assert.equal(firstMatch(policy, req()), 'anonymous');
  assert.equal(firstMatch(policy, req({ identity: identity('alice') })), 'known');
});

test('networks, transports and methods match the source address, the flow and the request', () => {
  const policy = policyOf({
    rules: [
      rule('office', { networks: ['198.51.100.0/24', '2001:db8::/32'] }),
      rule('tls', { transports: 'tls' }),
      rule('options', { methods: ['OPTIONS', 'MESSAGE'] }),
    ],
  });
  assert.equal(firstMatch(policy, req({ address: '198.51.100.77' })), 'office');
  assert.equal(firstMatch(policy, req({ address: '2001:db8:1::5' })), 'office');
  assert.equal(firstMatch(policy, req({ address: '::ffff:198.51.100.77' })), 'office');
  assert.equal(firstMatch(policy, req({ transport: 'tls' })), 'tls');
  assert.equal(firstMatch(policy, req({ method: 'MESSAGE' })), 'options');
  // Methods are case-sensitive (RFC 3261 7.1).
  assert.equal(firstMatch(policy, req({ method: 'message' })), undefined);
  assert.equal(firstMatch(policy, req()), undefined);
});

test('destination prefixes match the normalised dialled number; + prefixes match international numbers only', () => {
  const policy = policyOf({
    rules: [
      rule('premium', { to: { prefixes: ['+1900', '0900'] } }),
      rule('international', { to: { prefixes: '+' } }),
    ],
  });
  assert.equal(firstMatch(policy, req({ destination: '+19005550100' })), 'premium');
  assert.equal(firstMatch(policy, req({ destination: '0900123456' })), 'premium');
  assert.equal(firstMatch(policy, req({ destination: '+442079460000' })), 'international');
  assert.equal(firstMatch(policy, req({ destination: '2001' })), undefined);
});

test('a destination regex is matched on the normalised number', () => {
  const policy = policyOf({ rules: [rule('uk-mobile', { to: { regex: '^\\+447\\d{9}$' } })] });
  assert.equal(firstMatch(policy, req({ destination: '+447700900123' })), 'uk-mobile');
  assert.equal(firstMatch(policy, req({ destination: '+4477009001234' })), undefined);
  assert.equal(firstMatch(policy, req({ destination: '07700900123' })), undefined);
});

test('a time window matches by day and hour in its time zone', () => {
  const policy = policyOf({
    rules: [
      rule('office-hours', { time: { days: 'mon-fri', hours: '08:00-18:00', timezone: 'America/New_York' } }),
    ],
  });
  // Monday 10:00 UTC is 05:00 in New York.
  assert.equal(firstMatch(policy, req({ now: MONDAY_10H })), undefined);
  assert.equal(firstMatch(policy, req({ now: MONDAY_10H + 5 * 3_600_000 })), 'office-hours');
  // Saturday.
  assert.equal(firstMatch(policy, req({ now: MONDAY_10H + 5 * 86_400_000 + 5 * 3_600_000 })), undefined);
});

test('every condition of a rule must hold; the first matching rule in order is found', () => {
  const policy = policyOf({
    rules: [
      rule('sales-intl', { groups: 'sales', to: { prefixes: '+' } }, 'deny'),
      rule('sales', { groups: 'sales' }),
      rule('everyone', {}),
    ],
  });
  const sales = identity('alice', 'example.com', { groups: ['sales'] });
  assert.equal(firstMatch(policy, req({ identity: sales, destination: '+33123' })), 'sales-intl');
  assert.equal(firstMatch(policy, req({ identity: sales })), 'sales');
  assert.equal(firstMatch(policy, req({ destination: '+33123' })), 'everyone');
});

test('the schema refuses unknown actions, bad networks, windows and regexes, with their paths', () => {
  const issues = schemaIssues({
    rules: [
      { name: 'a', match: { networks: '10.0.0.0/33' }, action: 'allow' },
      { name: 'b', match: {}, action: 'permit' },
      { name: 'c', match: { time: { days: 'mon-fry' } }, action: 'deny' },
      { name: 'd', match: { to: { regex: '(\\d+)+' } }, action: 'deny' },
      { name: 'e', match: { colour: 'red' }, action: 'allow', status: 404 },
      { name: 'f', match: {}, action: 'limit' },
      { name: 'default', match: {}, action: 'allow' },
      { name: 'g', match: { methods: [] }, action: 'allow' },
    ],
  });
  assert.deepEqual(issues, [
    'rules[0].match.networks[0]: must be an IP address or CIDR network',
    'rules[1].action: must be one of allow, deny, require-authentication, require-tls, require-encrypted-media, limit',
    'rules[2].match.time: unknown day "fry" (use sun, mon, tue, wed, thu, fri, sat)',
    'rules[3].match.to.regex: must not repeat a group that holds a variable repetition or an alternation (catastrophic backtracking)',
    'rules[4].match.colour: unknown key',
    'rules[4].status: only applies when action is deny, require-tls, require-encrypted-media or limit',
    'rules[5].limit: is required when action is limit: set concurrentCalls, callsPerMinute or both',
    'rules[6].name: "default" names policy.default',
    'rules[7].match.methods: must not be empty',
  ]);
});

test('the schema refuses a name used twice and a prefix written with the international prefix', () => {
  assert.deepEqual(
    schemaIssues({
      rules: [
        { name: 'a', match: { to: { prefixes: '0044' } }, action: 'deny' },
        { name: 'a', match: {}, action: 'allow' },
      ],
    }),
    [
      'rules[0].match.to.prefixes[0]: starts with the international prefix 00: write +44 (numbers dialled with 00 are matched as +)',
      'rules[1].name: repeats "a"',
    ],
  );
});

test('authenticatedBy tells a password from a client certificate, and never matches without a verified identity', () => {
  const policy = policyOf({
    rules: [
      rule('ops-certificate', { groups: 'ops', authenticatedBy: 'tls-certificate' }),
      rule('ops-password', { groups: 'ops' }, 'deny'),
    ],
  });
  const byCertificate = identity('root', 'example.com', { groups: ['ops'], method: 'tls-certificate' });
  const byPassword = identity('root', 'example.com', { groups: ['ops'], method: 'digest' });
  assert.equal(firstMatch(policy, req({ identity: byCertificate })), 'ops-certificate');
  assert.equal(firstMatch(policy, req({ identity: byPassword })), 'ops-password');
  const missed = policy.firstMiss(policy.rules[0]!, req({ identity: byPassword }));
  assert.equal(missed?.key, 'authenticatedBy');
  assert.match(missed.miss(req({ identity: byPassword })), /verified by digest, not tls-certificate/);
  const anonymous = policy.firstMiss(policy.rules[0]!, req());
  assert.match(anonymous?.miss(req()) ?? '', /no verified identity/);
  assert.deepEqual(schemaIssues({ rules: [rule('r', { authenticatedBy: 'kerberos' })] }), [
    'rules[0].match.authenticatedBy[0]: must be one of digest, tls-certificate',
  ]);
});
