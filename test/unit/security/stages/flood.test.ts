import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import { createFloodStage, DEFAULT_FLOOD_RULES } from '../../../../src/security/stages/flood.ts';
import {
  actionOf,
  eventOf,
  flow,
  makeDeps,
  outcomeContext,
  request,
  requestContext,
  T0,
  type TestDeps,
} from './helpers.ts';

const attacker = flow('203.0.113.7');

function stage(settings: unknown = {}, deps: TestDeps = makeDeps()) {
  return { deps, flood: createFloodStage(settings, deps) };
}

/** Sends `n` copies of a request from `from`, `stepMs` apart from `start`; returns the verdicts. */
function burst(
  flood: ReturnType<typeof createFloodStage>,
  req: ReturnType<typeof request>,
  from: ReturnType<typeof flow>,
  n: number,
  stepMs: number,
  start = T0,
  inDialog = false,
): StageVerdict[] {
  const out: StageVerdict[] = [];
  for (let i = 0; i < n; i++) {
    const v = flood.request!(requestContext(req, from, { inDialog }), start + i * stepMs);
    assert.ok(!(v instanceof Promise));
    out.push(v);
  }
  return out;
}

function firstNonPass(verdicts: StageVerdict[]): number {
  return verdicts.findIndex((v) => v.action !== 'pass');
}

function firstBlock(verdicts: StageVerdict[]): number {
  return verdicts.findIndex((v) => v.action === 'block');
}

/**
 * Distinct counts past 32 values are HyperLogLog estimates (2.7% standard error at the
 * store's precision): a distinct threshold fires within a few values of its figure.
 */
function assertNear(index: number, threshold: number): void {
  assert.ok(
    index >= threshold * 0.92 && index <= threshold * 1.08,
    `fired at ${index}, threshold ${threshold}`,
  );
}

function errors(settings: unknown): string[] {
  try {
    createFloodStage(settings, makeDeps());
  } catch (error) {
    assert.ok(error instanceof StageConfigError);
    return [...error.issues];
  }
  assert.fail('expected a StageConfigError');
}

test('invite-flood lets 200 new INVITEs in 2 s through and blocks the source at the 201st for 10 minutes', () => {
  const { flood } = stage();
  const verdicts = burst(flood, request({ method: 'INVITE' }), attacker, 201, 5);
  assert.equal(firstNonPass(verdicts), 200);
  const v = verdicts[200]!;
  assert.equal(v.action, 'block');
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '203.0.113.7');
  assert.equal(v.durationMs, 600_000);
  assert.equal(v.status, undefined);
  assert.equal(v.event.type, 'flood');
  assert.equal(v.event.rule, 'invite-flood');
  assert.equal(v.event.key, 'flood:invite-flood|source=203.0.113.7');
  assert.equal(v.event.details?.count, 201);
  assert.equal(v.event.details?.threshold, 200);
  assert.equal(v.event.details?.windowMs, 2000);
  assert.deepEqual(v.event.source, { address: '203.0.113.7', port: 5060, transport: 'udp' });
});

test('invite-flood does not fire without the rule', () => {
  const { flood } = stage({ disabled: ['invite-flood'] });
  const verdicts = burst(flood, request({ method: 'INVITE' }), attacker, 300, 5);
  assert.equal(firstNonPass(verdicts), -1);
});

test('invite-flood does not count re-INVITEs inside a dialog', () => {
  const { flood } = stage();
  const reinvite = request({ method: 'INVITE', toTag: 'x1' });
  const verdicts = burst(flood, reinvite, attacker, 300, 5, T0, true);
  assert.equal(firstNonPass(verdicts), -1);
});

test('invite-flood counts each source on its own', () => {
  const { flood } = stage();
  const req = request({ method: 'INVITE' });
  burst(flood, req, flow('203.0.113.8'), 150, 5);
  const verdicts = burst(flood, req, attacker, 150, 5);
  assert.equal(firstNonPass(verdicts), -1);
});

test('a trusted source gets ten times the per-source threshold', () => {
  const { deps, flood } = stage();
  deps.trust.succeed('203.0.113.7', '100', T0 - 1000);
  const verdicts = burst(flood, request({ method: 'INVITE' }), attacker, 2001, 0.5);
  assert.equal(firstBlock(verdicts), 2000);
  const event = eventOf(verdicts[2000]!);
  assert.equal(event.details?.threshold, 2000);
  assert.equal(event.details?.trustedMultiplier, 10);
});

test('register-flood blocks a source past 2000 REGISTERs in 10 s', () => {
  const { flood } = stage();
  const verdicts = burst(flood, request({ method: 'REGISTER' }), attacker, 2001, 4);
  assert.equal(firstNonPass(verdicts), 2000);
  assert.equal(eventOf(verdicts[2000]!).rule, 'register-flood');
  assert.equal(actionOf(verdicts[2000]!), 'block');
});

test('options-flood blocks a source past 1000 OPTIONS in 10 s', () => {
  const { flood } = stage();
  const verdicts = burst(flood, request({ method: 'OPTIONS', ruriUser: '' }), attacker, 1001, 9);
  assert.equal(firstNonPass(verdicts), 1000);
  assert.equal(eventOf(verdicts[1000]!).rule, 'options-flood');
});

test('request-flood blocks a source past 10000 requests of any method in 10 s', () => {
  const { flood } = stage();
  const verdicts = burst(flood, request({ method: 'MESSAGE' }), attacker, 10_001, 0.9);
  assert.equal(firstNonPass(verdicts), 10_000);
  assert.equal(eventOf(verdicts[10_000]!).rule, 'request-flood');
});

test('the same counts spread over twice the window do not fire', () => {
  const { flood } = stage();
  // 400 INVITEs over 8 s: 100 per 2 s, half the threshold.
  const verdicts = burst(flood, request({ method: 'INVITE' }), attacker, 400, 20);
  assert.equal(firstNonPass(verdicts), -1);
});

test('requests from the upstream side are not counted by default', () => {
  const { flood } = stage();
  const req = request({ method: 'INVITE' });
  for (let i = 0; i < 500; i++) {
    const v = flood.request!(requestContext(req, attacker, { direction: 'upstream' }), T0 + i);
    assert.equal(actionOf(v), 'pass');
  }
});

test('invite-target-distributed blocks untrusted sources calling one user from more than 50 addresses in 10 s', () => {
  const { flood } = stage();
  const req = request({ method: 'INVITE', toUser: '100', ruriUser: '100' });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 60; i++) {
    verdicts.push(flood.request!(requestContext(req, flow(`198.51.100.${i}`)), T0 + i * 10) as StageVerdict);
  }
  const first = firstNonPass(verdicts);
  assertNear(first, 50);
  assert.ok(verdicts.slice(first).every((v) => v.action === 'block'));
  const v = verdicts[first]!;
  assert.ok(v.action === 'block');
  assert.equal(v.key, `198.51.100.${first}`);
  assert.equal(v.event.rule, 'invite-target-distributed');
  assert.equal(v.event.key, 'flood:invite-target-distributed|toUser=100');
  assert.equal(v.event.details?.distinct, 'source');
  // An early source calling again while the user is under attack is blocked too.
  assert.equal(actionOf(flood.request!(requestContext(req, flow('198.51.100.1')), T0 + 1000)), 'block');
  // Another user is not affected.
  const other = request({ method: 'INVITE', toUser: '101', ruriUser: '101' });
  assert.equal(actionOf(flood.request!(requestContext(other, flow('198.51.100.1')), T0 + 1000)), 'pass');
  // Under the threshold nothing fires.
  assert.ok(verdicts.slice(0, first).every((x) => x.action === 'pass'));
});

test('invite-target-distributed neither counts nor blocks trusted sources', () => {
  const { deps, flood } = stage();
  const req = request({ method: 'INVITE', toUser: '800', ruriUser: '800' });
  // 80 remote workers, all authenticated, join the same conference.
  for (let i = 1; i <= 80; i++) deps.trust.succeed(`198.51.100.${i}`, `u${i}`, T0 - 1000);
  for (let i = 1; i <= 80; i++) {
    assert.equal(actionOf(flood.request!(requestContext(req, flow(`198.51.100.${i}`)), T0 + i * 10)), 'pass');
  }
  // An outside caller (one more source) is far from the threshold.
  assert.equal(actionOf(flood.request!(requestContext(req, flow('192.0.2.200')), T0 + 900)), 'pass');
});

test('user-agent-distributed alerts when one User-Agent comes from more than 200 untrusted sources in 60 s', () => {
  const { flood } = stage();
  const req = request({ method: 'REGISTER', userAgent: 'Bot/1.0' });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 230; i++) {
    verdicts.push(
      flood.request!(requestContext(req, flow(`10.0.${i >> 8}.${i & 255}`)), T0 + i * 100) as StageVerdict,
    );
  }
  const first = firstNonPass(verdicts);
  assertNear(first, 200);
  const v = verdicts[first]!;
  assert.equal(v.action, 'alert');
  assert.equal(eventOf(v).key, 'flood:user-agent-distributed|userAgent=Bot/1.0');
});

test("spit-fanout refuses a caller identity's new calls with 403 once it rang more than 20 distinct users in 60 s; its source is not blocked", () => {
  const { deps, flood } = stage();
  const spit = (i: number, fromUser = 'spammer') =>
    request({ method: 'INVITE', fromUser, ruriUser: `${3000 + i}`, toUser: `${3000 + i}` });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 30; i++) {
    verdicts.push(flood.request!(requestContext(spit(i), flow('10.2.0.1')), T0 + i * 100) as StageVerdict);
  }
  const first = firstNonPass(verdicts);
  assertNear(first, 20);
  assert.ok(verdicts.slice(0, first).every((v) => v.action === 'pass'));
  assert.ok(verdicts.slice(first).every((v) => v.action === 'reject'));
  const v = verdicts[first]!;
  assert.ok(v.action === 'reject');
  assert.equal(v.status, 403);
  assert.equal(v.event.rule, 'spit-fanout');
  assert.equal(v.event.key, 'flood:spit-fanout|fromUser=spammer');
  assert.equal(deps.blocks.list(T0 + 3000).length, 0);
  // The same identity from another untrusted address is refused too; another caller from the first is not.
  assert.equal(actionOf(flood.request!(requestContext(spit(40), flow('10.2.0.9')), T0 + 3100)), 'reject');
  assert.equal(
    actionOf(flood.request!(requestContext(spit(41, 'alice'), flow('10.2.0.1')), T0 + 3200)),
    'pass',
  );
  // A trusted (authenticated) source calling with that identity is spared.
  deps.trust.succeed('10.2.0.7', 'spammer', T0);
  assert.equal(actionOf(flood.request!(requestContext(spit(42), flow('10.2.0.7')), T0 + 3300)), 'pass');
  // A minute later the identity has rung no one lately: its calls go through again.
  assert.equal(actionOf(flood.request!(requestContext(spit(43), flow('10.2.0.1')), T0 + 130_000)), 'pass');
});

test('spit-fanout stays quiet for callers who each ring a few users', () => {
  const { flood } = stage();
  for (let i = 0; i < 60; i++) {
    const req = request({
      method: 'INVITE',
      fromUser: `caller${i % 30}`,
      ruriUser: `${4000 + i}`,
      toUser: `${4000 + i}`,
    });
    const v = flood.request!(requestContext(req, flow('10.2.0.2')), T0 + i * 500) as StageVerdict;
    assert.equal(v.action, 'pass');
  }
});

test('from-domain-distributed alerts when INVITEs from one From domain come from more than 100 sources in 10 s', () => {
  // invite-distributed would refuse these 100 unknown sources' calls at the same point.
  const { flood } = stage({ disabled: ['invite-distributed'] });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 115; i++) {
    // Each call to another user: only the From domain is shared.
    const req = request({
      method: 'INVITE',
      fromDomain: 'spam.example',
      fromUser: `caller${i}`,
      ruriUser: `${1000 + i}`,
    });
    verdicts.push(flood.request!(requestContext(req, flow(`10.1.0.${i}`)), T0 + i * 10) as StageVerdict);
  }
  const first = firstNonPass(verdicts);
  assertNear(first, 100);
  assert.equal(eventOf(verdicts[first]!).rule, 'from-domain-distributed');
  assert.equal(eventOf(verdicts[first]!).key, 'flood:from-domain-distributed|fromDomain=spam.example');
  assert.ok(verdicts.slice(first).every((v) => v.action === 'alert'));
});

test('a rule keyed on an attribute the message lacks does not count it', () => {
  const { flood } = stage({
    defaults: false,
    rules: [
      { name: 'per-target', key: ['ruriUser'], threshold: { count: 2, windowMs: 10_000 }, action: 'drop' },
    ],
  });
  // OPTIONS keep-alives to the bare server URI have no Request-URI user.
  const keepAlive = request({ method: 'OPTIONS', ruriUser: '' });
  assert.equal(firstNonPass(burst(flood, keepAlive, attacker, 10, 10)), -1);
  const toUser = request({ method: 'OPTIONS', ruriUser: '100' });
  assert.equal(firstNonPass(burst(flood, toUser, attacker, 3, 10)), 2);
});

test('a configured rule on User-Agent and method rejects with its status past its threshold', () => {
  const { flood } = stage({
    defaults: false,
    rules: [
      {
        name: 'ua-method',
        match: { method: ['INVITE', 'MESSAGE'] },
        key: ['userAgent', 'method'],
        threshold: { count: 3, windowMs: 1000 },
        action: 'reject',
        status: 486,
      },
    ],
  });
  const req = request({ method: 'MESSAGE', userAgent: 'Spammer 2.0' });
  const verdicts = burst(flood, req, attacker, 4, 10);
  assert.equal(firstNonPass(verdicts), 3);
  const v = verdicts[3]!;
  assert.ok(v.action === 'reject');
  assert.equal(v.status, 486);
  assert.equal(v.reason, 'Busy Here');
  assert.equal(v.event.key, 'flood:ua-method|userAgent=Spammer 2.0|method=MESSAGE');
  // REGISTER is not matched.
  assert.equal(
    firstNonPass(burst(flood, request({ method: 'REGISTER', userAgent: 'Spammer 2.0' }), attacker, 10, 1)),
    -1,
  );
});

test('a global rule (empty key) with reject spares trusted sources', () => {
  const { deps, flood } = stage({
    defaults: false,
    rules: [
      {
        name: 'global-invite',
        match: { method: 'INVITE' },
        key: [],
        threshold: { count: 2, windowMs: 1000 },
        action: 'reject',
      },
    ],
  });
  deps.trust.succeed('198.51.100.9', 'alice', T0);
  const req = request({ method: 'INVITE' });
  burst(flood, req, attacker, 2, 1);
  const untrusted = flood.request!(requestContext(req, attacker), T0 + 10) as StageVerdict;
  assert.ok(untrusted.action === 'reject');
  assert.equal(untrusted.status, 503);
  assert.equal(untrusted.event.key, 'flood:global-invite|*');
  assert.equal(actionOf(flood.request!(requestContext(req, flow('198.51.100.9')), T0 + 11)), 'pass');
});

test('a rule with the name of a built-in one replaces it', () => {
  const { flood } = stage({
    rules: [
      {
        name: 'invite-flood',
        match: { method: 'INVITE', inDialog: false },
        key: ['source'],
        threshold: { count: 5, windowMs: 2000 },
        action: 'drop',
      },
    ],
  });
  const verdicts = burst(flood, request({ method: 'INVITE' }), attacker, 6, 10);
  assert.equal(firstNonPass(verdicts), 5);
  assert.equal(verdicts[5]!.action, 'drop');
});

test('an outcome rule counts final statuses per source', () => {
  const { flood } = stage({
    defaults: false,
    rules: [
      {
        name: 'not-found',
        match: { method: 'INVITE', status: [404, 484] },
        key: ['source'],
        threshold: { distinct: 'ruriUser', count: 3, windowMs: 60_000 },
        action: 'block',
        block: { scope: 'network', durationMs: 60_000 },
      },
    ],
  });
  const results: StageVerdict[] = [];
  for (let i = 0; i < 4; i++) {
    const req = request({ method: 'INVITE', ruriUser: `90${i}` });
    // A 200 is not counted.
    assert.equal(actionOf(flood.outcome!(outcomeContext(req, attacker, 200), T0 + i)), 'pass');
    results.push(flood.outcome!(outcomeContext(req, attacker, 404), T0 + i));
  }
  assert.equal(firstNonPass(results), 3);
  const v = results[3]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'network');
  assert.equal(v.key, '203.0.113.0/24');
  assert.equal(v.durationMs, 60_000);
});

test('a key-scope block drops the key while the block table holds it', () => {
  const { deps, flood } = stage({
    defaults: false,
    rules: [
      {
        name: 'target-flood',
        match: { method: 'INVITE' },
        key: ['ruriUser'],
        threshold: { count: 3, windowMs: 1000 },
        action: 'block',
        block: { scope: 'key', durationMs: 30_000 },
      },
    ],
  });
  const req = request({ method: 'INVITE', ruriUser: '555' });
  const verdicts = burst(flood, req, attacker, 4, 1);
  const v = verdicts[3]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'key');
  assert.equal(v.key, 'flood:target-flood|ruriUser=555');
  // What the runner does with the verdict.
  deps.blocks.block({
    key: v.key,
    scope: 'key',
    reason: 'test',
    rule: 'target-flood',
    createdAt: T0,
    expiresAt: T0 + 30_000,
  });
  const later = flood.request!(requestContext(req, flow('198.51.100.77')), T0 + 5000) as StageVerdict;
  assert.equal(later.action, 'drop');
  assert.equal(eventOf(later).key, 'flood:target-flood|ruriUser=555');
  // Another target is not dropped; the block ends when it expires.
  const other = request({ method: 'INVITE', ruriUser: '556' });
  assert.equal(actionOf(flood.request!(requestContext(other, attacker), T0 + 5000)), 'pass');
  assert.equal(actionOf(flood.request!(requestContext(req, flow('198.51.100.77')), T0 + 40_000)), 'pass');
});

test('the INVITE baseline alerts when a window passes 5 x the learnt rate and the floor, with the figures', () => {
  const { flood } = stage({
    defaults: false,
    baselines: [
      {
        name: 'invite-baseline',
        match: { method: 'INVITE' },
        windowMs: 10_000,
        factor: 5,
        floor: 100,
        smoothing: 0.5,
      },
    ],
  });
  const req = request({ method: 'INVITE' });
  // Six quiet windows of 40 INVITEs from many sources: the baseline learns 40.
  for (let w = 0; w < 6; w++) {
    for (let i = 0; i < 40; i++) {
      const v = flood.request!(requestContext(req, flow(`10.2.${w}.${i}`)), T0 + w * 10_000 + i * 100);
      assert.equal(actionOf(v), 'pass');
    }
  }
  // Then a distributed flood: 201 INVITEs in the next window, one per source.
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 201; i++) {
    verdicts.push(
      flood.request!(
        requestContext(req, flow(`10.3.${i >> 8}.${i & 255}`)),
        T0 + 60_000 + i * 10,
      ) as StageVerdict,
    );
  }
  assert.equal(firstNonPass(verdicts), 200);
  const v = verdicts[200]!;
  assert.equal(v.action, 'alert');
  const e = eventOf(v);
  assert.equal(e.rule, 'invite-baseline');
  assert.equal(e.key, 'flood:invite-baseline|*');
  assert.deepEqual(e.details, {
    count: 201,
    baseline: 40,
    factor: 5,
    floor: 100,
    threshold: 200,
    windowMs: 10_000,
  });
});

test('a baseline never fires under its floor, however quiet it was before', () => {
  const { flood } = stage({
    defaults: false,
    baselines: [{ name: 'invite-baseline', match: { method: 'INVITE' }, floor: 500 }],
  });
  const req = request({ method: 'INVITE' });
  for (let w = 0; w < 10; w++) flood.request!(requestContext(req, attacker), T0 + w * 10_000);
  const verdicts = burst(flood, req, attacker, 500, 10, T0 + 100_000);
  assert.equal(firstNonPass(verdicts), -1);
});

test('a flood raises the baseline only slowly: the window is fed at its threshold', () => {
  const { flood } = stage({
    defaults: false,
    baselines: [
      { name: 'b', match: { method: 'OPTIONS' }, windowMs: 1000, factor: 2, floor: 10, smoothing: 0.5 },
    ],
  });
  const req = request({ method: 'OPTIONS', ruriUser: '' });
  // Window 0: 1000 messages; the baseline learns min(1000, threshold 10) = 10.
  burst(flood, req, attacker, 1000, 0.5);
  // Window 1: 21 messages are over 2 x 10.
  const verdicts = burst(flood, req, attacker, 21, 10, T0 + 1000);
  assert.equal(firstNonPass(verdicts), 20);
  assert.equal(eventOf(verdicts[20]!).details?.baseline, 10);
});

test('a baseline with reject sheds untrusted sources only', () => {
  const { deps, flood } = stage({
    defaults: false,
    baselines: [{ name: 'shed', match: { method: 'INVITE' }, floor: 5, action: 'reject', status: 503 }],
  });
  deps.trust.succeed('198.51.100.9', undefined, T0);
  const req = request({ method: 'INVITE' });
  burst(flood, req, attacker, 5, 1);
  assert.equal(actionOf(flood.request!(requestContext(req, attacker), T0 + 10)), 'reject');
  assert.equal(actionOf(flood.request!(requestContext(req, flow('198.51.100.9')), T0 + 11)), 'pass');
});

test('every built-in rule is valid and documented by name', () => {
  const names = DEFAULT_FLOOD_RULES.map((r) => r.name);
  assert.deepEqual(names, [
    'invite-flood',
    'register-flood',
    'options-flood',
    'request-flood',
    'invite-target-distributed',
    'user-agent-distributed',
    'spit-fanout',
    'from-domain-distributed',
  ]);
  assert.doesNotThrow(() => createFloodStage(undefined, makeDeps()));
});

test('settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ trustedMultiplier: 0 }), ['trustedMultiplier: must be a number from 1 to 1000']);
  assert.deepEqual(errors({ disabled: ['invite-flod'] }), [
    'disabled[0]: invite-flod is not a built-in rule',
  ]);
  assert.deepEqual(
    errors({ rules: [{ name: 'r', key: ['source'], treshold: { count: 1, windowMs: 1000 } }] }),
    ['rules[0].threshold: is required', 'rules[0].treshold: unknown key (did you mean threshold?)'],
  );
  assert.deepEqual(errors({ rules: [{ name: 'r', key: ['src'], threshold: { count: 0, windowMs: 50 } }] }), [
    'rules[0].key[0]: must be one of source, network, sourcePort, transport, method, fromUser, fromDomain, toUser, ruriUser, userAgent, status',
    'rules[0].threshold.count: must be an integer from 1 to 10000000',
    'rules[0].threshold.windowMs: must be a window in milliseconds from 100 to 86400000 (1 day)',
  ]);
  assert.deepEqual(
    errors({ rules: [{ name: 'r', key: ['status'], threshold: { count: 1, windowMs: 1000 } }] }),
    ['rules[0].key: status is only known to outcome rules: set match.status'],
  );
  assert.deepEqual(
    errors({
      rules: [
        {
          name: 'r',
          key: [],
          threshold: { count: 1, windowMs: 1000 },
          action: 'block',
          block: { scope: 'key' },
        },
      ],
    }),
    [
      'rules[0].block.scope: a rule with an empty key counts everything: blocking its key would refuse all matching traffic',
    ],
  );
  assert.deepEqual(
    errors({
      rules: [
        {
          name: 'r',
          key: ['source'],
          threshold: { count: 1, windowMs: 1000, distinct: 'source' },
          action: 'alert',
          status: 503,
        },
      ],
    }),
    [
      'rules[0].threshold.distinct: must not be one of the key attributes (source is always 1 per key)',
      'rules[0].status: only applies when action is reject, block or tarpit',
    ],
  );
  assert.deepEqual(
    errors({
      rules: [
        { name: 'Bad Name', key: [], threshold: { count: 1, windowMs: 1000 } },
        { name: 'x', key: [], threshold: { count: 1, windowMs: 1000 }, action: 'explode' },
      ],
    }),
    [
      'rules[0].name: must be 1 to 64 lower-case letters, digits and dashes',
      'rules[1].action: must be one of alert, reject, drop, block, tarpit',
    ],
  );
  assert.deepEqual(errors({ baselines: [{ name: 'b', floor: 1, action: 'block' }] }), [
    'baselines[0].action: must be one of alert, reject, drop, tarpit',
  ]);
  assert.deepEqual(
    errors({
      rules: [{ name: 'x', key: [], threshold: { count: 1, windowMs: 1000 } }],
      baselines: [{ name: 'x', floor: 1 }],
    }),
    ['baselines[0].name: repeats the rule name x'],
  );
  assert.deepEqual(
    errors({
      rules: [{ name: 'x', match: { method: 'IN VITE' }, key: [], threshold: { count: 1, windowMs: 1000 } }],
    }),
    ['rules[0].match.method: must be a value or a list of values'],
  );
});

/*
 * register-distributed: during a surge of credential-less REGISTERs from untrusted sources,
 * a source that ignores its digest challenges is blocked.
 */

const registerFrom = (user: string, withCredentials = false) =>
  request({ method: 'REGISTER', fromUser: user, ...(withCredentials ? { authUser: user } : {}) });

interface FloodRun {
  /** Per source, the actions of its REGISTERs in order. */
  readonly actions: Map<string, string[]>;
  readonly verdicts: StageVerdict[];
  readonly end: number;
}

/**
 * A REGISTER flood at 1000 per second, round robin over `sources` addresses 10.9.x.y, each
 * REGISTER answered 401 by the registrar at once (the flood never answers the challenge),
 * until every source has sent `perSource`. A source blocked stops being counted (the gate
 * drops what it sends next).
 */
function registerFlood(
  flood: ReturnType<typeof createFloodStage>,
  sources: number,
  perSource: number,
  start = T0,
  during?: (now: number) => void,
): FloodRun {
  const actions = new Map<string, string[]>();
  const verdicts: StageVerdict[] = [];
  const blocked = new Set<string>();
  let now = start;
  for (let k = 0; k < sources * perSource; k++) {
    now = start + k;
    during?.(now);
    const address = `10.9.${(k % sources) >> 8}.${(k % sources) & 255}`;
    if (blocked.has(address)) continue;
    const req = registerFrom(String(1000 + (k % 5000)));
    const v = flood.request!(requestContext(req, flow(address)), now) as StageVerdict;
    verdicts.push(v);
    const list = actions.get(address) ?? [];
    list.push(v.action);
    actions.set(address, list);
    if (v.action === 'block') {
      blocked.add(address);
      continue;
    }
    flood.outcome!(outcomeContext(req, flow(address), 401), now);
  }
  return { actions, verdicts, end: now };
}

test('register-distributed blocks, during a surge, each untrusted source that left 3 challenges unanswered for 2 s', () => {
  const { flood } = stage();
  // 1200 sources at 1000 REGISTERs per second: each source sends one every 1.2 s.
  const run = registerFlood(flood, 1200, 6);
  assert.equal(run.actions.size, 1200);
  for (const [address, actions] of run.actions) {
    // Challenges at 0, 1.2 and 2.4 s are unanswered by 4.4 s: the REGISTER at 4.8 s is blocked.
    assert.deepEqual(actions, ['pass', 'pass', 'pass', 'pass', 'block'], address);
  }
  const v = run.verdicts.find((x) => x.action === 'block')!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '10.9.0.0');
  assert.equal(v.durationMs, 600_000);
  assert.equal(v.event.type, 'flood');
  assert.equal(v.event.rule, 'register-distributed');
  assert.equal(v.event.key, 'flood:register-distributed|source=10.9.0.0');
  assert.equal(v.event.details?.challenged, 3);
  assert.equal(v.event.details?.answered, 0);
  assert.equal(v.event.details?.threshold, 3);
  assert.equal(v.event.details?.surgeThreshold, 1000);
  assert.match(
    v.event.reason,
    /ignored 3 of 3 digest challenges in 60000 ms while credential-less REGISTERs surge/,
  );
  // No per-source rule fired: each source sent 5 REGISTERs.
  assert.ok(run.verdicts.every((x) => x.action === 'pass' || x.event?.rule === 'register-distributed'));
});

test('register-distributed spares phones that answer their challenges, even during the surge and untrusted', () => {
  const { flood } = stage();
  const phones = Array.from({ length: 50 }, (_, i) => flow(`198.51.100.${i + 1}`));
  const phoneActions: string[] = [];
  // Every 100 ms one of 50 phones registers: credential-less, challenged, then with credentials.
  const run = registerFlood(flood, 1200, 6, T0, (now) => {
    if ((now - T0) % 100 !== 0) return;
    const phone = phones[((now - T0) / 100) % 50]!;
    const user = `p${phone.remoteAddress}`;
    const first = registerFrom(user);
    phoneActions.push(actionOf(flood.request!(requestContext(first, phone), now)));
    flood.outcome!(outcomeContext(first, phone, 401), now);
    // The answer: wrong or right, it is an answer (the registrar's verdict is another stage's business).
    const second = registerFrom(user, true);
    phoneActions.push(actionOf(flood.request!(requestContext(second, phone), now)));
    flood.outcome!(outcomeContext(second, phone, 200), now);
  });
  assert.ok(run.verdicts.some((v) => v.action === 'block'));
  assert.equal(phoneActions.length, 2 * 72);
  // Alerts are the global REGISTER baseline's; nothing acts on a phone.
  assert.deepEqual(
    phoneActions.filter((a) => a !== 'pass' && a !== 'alert'),
    [],
  );
});

test('register-distributed never blocks a NAT office whose slow registrar challenges every phone at once during a surge', () => {
  const { flood } = stage();
  const office = flow('198.51.100.77', 5060);
  const officeActions: string[] = [];
  const pendingFirst: { req: ReturnType<typeof registerFrom>; user: string }[] = [];
  registerFlood(flood, 1200, 8, T0, (now) => {
    const t = now - T0;
    // From 1 s on, 200 phones send their first REGISTER, 5 ms apart.
    if (t >= 1000 && t < 2000 && t % 5 === 0) {
      const user = String(2000 + (t - 1000) / 5);
      const req = registerFrom(user);
      officeActions.push(actionOf(flood.request!(requestContext(req, office), now)));
      pendingFirst.push({ req, user });
    }
    // At 3.5 s the registrar, slowed by the flood, challenges all of them.
    if (t === 3500) for (const { req } of pendingFirst) flood.outcome!(outcomeContext(req, office, 401), now);
    // The phones' answers come back over a slow link, 300 ms later.
    if (t === 3800) {
      for (const { user } of pendingFirst) {
        const req = registerFrom(user, true);
        officeActions.push(actionOf(flood.request!(requestContext(req, office), now)));
      }
    }
    // Later, phones that were switched on late send their first REGISTERs.
    if (t >= 6000 && t < 7000 && t % 50 === 0) {
      officeActions.push(actionOf(flood.request!(requestContext(registerFrom(`late${t}`), office), now)));
    }
  });
  assert.equal(officeActions.length, 420);
  assert.deepEqual(
    officeActions.filter((a) => a !== 'pass' && a !== 'alert'),
    [],
  );
});

test('register-distributed leaves a source ignoring its challenges alone when there is no surge', () => {
  const { flood } = stage();
  // A phone without a password, trying every second for a minute, and a slow svwar-like sweep.
  const phone = flow('198.51.100.20');
  for (let i = 0; i < 60; i++) {
    const req = registerFrom('100');
    assert.equal(actionOf(flood.request!(requestContext(req, phone), T0 + i * 1000)), 'pass');
    flood.outcome!(outcomeContext(req, phone, 401), T0 + i * 1000);
  }
});

test('register-distributed neither counts nor blocks a trusted source', () => {
  const { deps, flood } = stage();
  deps.trust.succeed('10.9.0.5', '100', T0 - 1000);
  const run = registerFlood(flood, 1200, 6);
  // Its last REGISTER comes after 5000 in the window: the global baseline's alert, no more.
  assert.deepEqual(run.actions.get('10.9.0.5'), ['pass', 'pass', 'pass', 'pass', 'pass', 'alert']);
  assert.deepEqual(run.actions.get('10.9.0.6'), ['pass', 'pass', 'pass', 'pass', 'block']);
});

test('register-distributed can be disabled, or set to alert only', () => {
  const off = registerFlood(stage({ disabled: ['register-distributed'] }).flood, 1200, 6);
  assert.ok(off.verdicts.every((v) => v.action === 'pass' || v.event?.rule === 'register-baseline'));
  const alerting = registerFlood(stage({ registerDistributed: { action: 'alert' } }).flood, 1200, 6);
  const fired = alerting.verdicts.filter((v) => v.action !== 'pass');
  assert.ok(fired.every((v) => v.action === 'alert'));
  const alerted = new Set(
    fired.filter((v) => v.event.rule === 'register-distributed').map((v) => v.event.source?.address),
  );
  assert.equal(alerted.size, 1200);
});

test('register-distributed follows its settings: surge floor, challenges, grace', () => {
  const { flood } = stage({
    registerDistributed: { ignoredChallenges: 1, graceMs: 500, surge: { floor: 100 } },
  });
  // 200 sources at 1000/s: one REGISTER per source every 200 ms; the surge begins past 100.
  const run = registerFlood(flood, 200, 6);
  // Challenge at 0 unanswered by 500 ms: the REGISTER at 600 ms is blocked.
  for (const actions of run.actions.values()) assert.deepEqual(actions, ['pass', 'pass', 'pass', 'block']);
});

test('register-distributed settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ registerDistributed: { block: { scope: 'key' } } }), [
    'registerDistributed.block.scope: must be address or network: the rule blocks the sources that ignore challenges',
  ]);
  assert.deepEqual(errors({ registerDistributed: { graceMs: 5, surge: { floor: 0 } } }), [
    'registerDistributed.graceMs: must be a delay in milliseconds from 100 to 60000',
    'registerDistributed.surge.floor: must be an integer from 1 to 10000000',
  ]);
  assert.deepEqual(
    errors({ rules: [{ name: 'register-distributed', key: [], threshold: { count: 1, windowMs: 1000 } }] }),
    ['rules[0].name: register-distributed is a built-in rule set under registerDistributed'],
  );
});

/** A new call to a random-looking user, as a distributed INVITE flood sends them. */
function floodCall(i: number) {
  return request({
    method: 'INVITE',
    fromUser: `f${i * 7919}`,
    fromDomain: `d${i}.example`,
    ruriUser: `${100_000 + i * 31}`,
  });
}

test('invite-distributed refuses new calls from unknown sources with 503 and Retry-After once more than 100 place calls in 10 s; nothing is blocked', () => {
  const { deps, flood } = stage();
  // A trunk had calls answered before the flood; an office authenticated.
  const trunk = flow('198.51.100.20');
  const trunkCall = request({ method: 'INVITE', fromUser: 'trunk-account', ruriUser: '2000' });
  assert.equal(actionOf(flood.request!(requestContext(trunkCall, trunk), T0 - 60_000)), 'pass');
  flood.outcome!(outcomeContext(trunkCall, trunk, 200), T0 - 59_000);
  deps.trust.succeed('198.51.100.77', '2001', T0 - 60_000);

  // 300 INVITEs from 254 sources, one or two each, random users, in 1 s.
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 300; i++) {
    const source = flow(`127.1.1.${(i % 254) + 1}`);
    verdicts.push(flood.request!(requestContext(floodCall(i), source), T0 + i * 3) as StageVerdict);
  }
  const first = firstNonPass(verdicts);
  assertNear(first, 100);
  assert.ok(verdicts.slice(0, first).every((v) => v.action === 'pass'));
  assert.ok(verdicts.slice(first).every((v) => v.action === 'reject'));
  const v = verdicts[first]!;
  assert.ok(v.action === 'reject');
  assert.equal(v.status, 503);
  assert.deepEqual(v.headers, [{ name: 'Retry-After', value: '30' }]);
  assert.equal(v.event.rule, 'invite-distributed');
  assert.equal(v.event.key, 'flood:invite-distributed|*');
  assert.equal(deps.blocks.list(T0 + 1000).length, 0);

  // Meanwhile the trunk (an established caller), the office (trusted) and in-dialog requests go on.
  const during = T0 + 950;
  assert.equal(actionOf(flood.request!(requestContext(trunkCall, trunk), during)), 'pass');
  const officeCall = request({ method: 'INVITE', fromUser: '2001', ruriUser: '2002' });
  assert.equal(actionOf(flood.request!(requestContext(officeCall, flow('198.51.100.77')), during)), 'pass');
  const bye = request({ method: 'BYE', fromUser: 'f1', toTag: 'x' });
  assert.equal(
    actionOf(flood.request!(requestContext(bye, flow('127.1.1.9'), { inDialog: true }), during)),
    'pass',
  );
  // A newcomer during the surge is refused, and calls again once it is over (two windows later).
  const newcomer = flow('192.0.2.44');
  const call = request({ method: 'INVITE', fromUser: 'newcomer', ruriUser: '2003' });
  assert.equal(actionOf(flood.request!(requestContext(call, newcomer), during)), 'reject');
  assert.equal(actionOf(flood.request!(requestContext(call, newcomer), T0 + 21_000)), 'pass');
});

test('invite-distributed: 100 unknown sources calling in 10 s are under the threshold, and a single source counts once', () => {
  const { flood } = stage();
  for (let i = 0; i < 90; i++) {
    const v = flood.request!(requestContext(floodCall(i), flow(`10.9.0.${i + 1}`)), T0 + i * 100);
    assert.equal(actionOf(v), 'pass');
  }
  // One source placing 150 calls to as many users in 10 s is one source (invite-flood's business).
  for (let i = 0; i < 150; i++) {
    const req = request({ method: 'INVITE', fromUser: `c${i}`, ruriUser: `${5000 + i}` });
    assert.equal(actionOf(flood.request!(requestContext(req, flow('10.9.1.1')), T0 + 9000 + i)), 'pass');
  }
});

test('invite-distributed can be disabled, set to drop or alert, and its settings are checked', () => {
  const surge = (settings: unknown) => {
    const { flood } = stage(settings);
    let last: StageVerdict = { action: 'pass' };
    for (let i = 0; i < 40; i++) {
      last = flood.request!(requestContext(floodCall(i), flow(`10.8.0.${i + 1}`)), T0 + i) as StageVerdict;
    }
    return last.action;
  };
  assert.equal(surge({ inviteDistributed: { sources: 20 } }), 'reject');
  assert.equal(surge({ inviteDistributed: { sources: 20, action: 'drop' } }), 'drop');
  assert.equal(surge({ inviteDistributed: { sources: 20, action: 'alert' } }), 'alert');
  assert.equal(surge({ inviteDistributed: { sources: 20 }, disabled: ['invite-distributed'] }), 'pass');
  assert.deepEqual(errors({ inviteDistributed: { sources: 0, status: 200 } }), [
    'inviteDistributed.status: must be a SIP status from 400 to 699',
    'inviteDistributed.sources: must be an integer from 1 to 10000000',
  ]);
  assert.deepEqual(
    errors({ rules: [{ name: 'invite-distributed', key: [], threshold: { count: 1, windowMs: 1000 } }] }),
    ['rules[0].name: invite-distributed is a built-in rule set under inviteDistributed'],
  );
});
