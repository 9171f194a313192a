import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizationValue, parseChallenge } from '../../../../src/attack/digest.ts';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import type { EventInput } from '../../../../src/events/types.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { buildStages, type SecuritySettings, withTrunks } from '../../../../src/security/build-pipeline.ts';
import { SecurityPipeline } from '../../../../src/security/pipeline.ts';
import type { StageDependencies, StageVerdict } from '../../../../src/security/stage.ts';
import { appendHeader } from '../../../../src/sip/edit.ts';
import type { SipRequest } from '../../../../src/sip/message.ts';
import { serializeMessage } from '../../../../src/sip/serialize.ts';
import { MemoryUsers } from '../../../support/memory-users.ts';
import { flow, makeDeps, request, T0 } from './helpers.ts';

const PHONE = '198.51.100.10';
const DOMAIN = 'pbx.example.com';

interface Setup {
  readonly deps: StageDependencies;
  readonly pipeline: SecurityPipeline;
  readonly events: EventInput[];
  readonly clock: { now: number };
  readonly users: MemoryUsers;
  /** The request's verdict through the real pipeline, and its context afterwards. */
  send(
    req: SipRequest,
    from?: string,
    inDialog?: boolean,
  ): { verdict: ReturnType<SecurityPipeline['inspectRequest']>; context: RequestContext };
}

function setup(
  authenticate: Record<string, unknown> = { mode: 'local' },
  options: {
    allowlist?: string[];
    dryRun?: boolean;
    trunks?: SecuritySettings['trunks'];
    guessing?: Record<string, unknown>;
  } = {},
): Setup {
  const users = new MemoryUsers([
    { user: 'alice', domain: DOMAIN, password: 'correct horse', groups: ['staff'], roles: ['caller'] },
    { user: 'bob', domain: DOMAIN, password: 'battery staple', enabled: false },
    { user: 'carol', domain: DOMAIN, password: 'office only', allowedNetworks: ['192.0.2.0/24'] },
  ]);
  const security: SecuritySettings = {
    enabled: true,
    stages: ['authenticate', 'password-guessing'],
    allowlist: options.allowlist ?? [],
    ...(options.trunks ? { trunks: options.trunks } : {}),
    settings: { authenticate, 'password-guessing': options.guessing ?? {} },
    ...(options.dryRun ? { dryRun: true } : {}),
  };
  const deps = withTrunks(security, { ...makeDeps(), users });
  const events: EventInput[] = [];
  const clock = { now: T0 };
  const allow = new Set(options.allowlist ?? []);
  const pipeline = new SecurityPipeline({
    stages: buildStages(security, deps),
    blocks: deps.blocks,
    events: { emit: (event) => events.push(event) },
    log: silentLogger,
    isAllowlisted: (address) => allow.has(address),
    now: () => clock.now,
    ...(options.dryRun ? { dryRun: true } : {}),
  });
  return {
    deps,
    pipeline,
    events,
    clock,
    users,
    send(req, from = PHONE, inDialog = false) {
      const context: RequestContext = { flow: flow(from), direction: 'client', request: req, inDialog };
      return { verdict: pipeline.inspectRequest(context), context };
    },
  };
}

type Reply = {
  action: 'reject';
  status: number;
  reason: string;
  headers?: readonly { name: string; value: string }[];
};

function reply(v: unknown): Reply {
  assert.ok(!(v instanceof Promise));
  assert.equal((v as { action: string }).action, 'reject', `expected an answer, got ${JSON.stringify(v)}`);
  return v as Reply;
}

function challengeOf(v: unknown, algorithm: 'MD5' | 'SHA-256' = 'MD5') {
  const r = reply(v);
  const values = (r.headers ?? []).filter((h) => /authenticate$/i.test(h.name)).map((h) => h.value);
  const c = values.map((value) => parseChallenge(value)).find((ch) => ch?.algorithm === algorithm);
  assert.ok(c, `no ${algorithm} challenge in ${JSON.stringify(r.headers)}`);
  return c;
}

/** The request again (a new transaction, as a UA retries, RFC 3261 22.2) with credentials for the challenge. */
function answered(
  req: SipRequest,
  challenge: NonNullable<ReturnType<typeof parseChallenge>>,
  username: string,
  password: string,
  extra: { nc?: number; cnonce?: string; uri?: string } = {},
): SipRequest {
  const name = req.method === 'REGISTER' ? 'Authorization' : 'Proxy-Authorization';
  const value = authorizationValue(challenge, {
    username,
    password,
    method: req.method,
    uri: extra.uri ?? req.uriText,
    cnonce: extra.cnonce ?? 'c0ffee',
    nc: extra.nc ?? 1,
  });
  return appendHeader(req, name, value);
}

function lastRule(s: Setup): string | undefined {
  return s.events[s.events.length - 1]?.rule;
}

const invite = (fromUser = 'alice') => request({ method: 'INVITE', fromUser, toUser: '200' });
const register = (user = 'alice') => request({ method: 'REGISTER', fromUser: user, toUser: user });

test('by default (pass-through) sipwarden challenges nothing and forwards the request as it came', () => {
  const s = setup({});
  const { verdict, context } = s.send(invite());
  assert.equal((verdict as StageVerdict).action, 'pass');
  assert.equal(context.forward, undefined);
  assert.equal(context.identity, undefined);
});

test('P-Asserted-Identity and P-Preferred-Identity from the client side are removed in every mode (RFC 3325 9.1)', () => {
  for (const mode of ['pass-through', 'local']) {
    const s = setup({ mode });
    let req = appendHeader(
      request({ method: 'OPTIONS' }),
      'P-Asserted-Identity',
      '<sip:ceo@pbx.example.com>',
    );
    req = appendHeader(req, 'P-Preferred-Identity', '<sip:ceo@pbx.example.com>');
    const { verdict, context } = s.send(req);
    assert.equal((verdict as StageVerdict).action, 'pass', mode);
    assert.ok(context.forward, mode);
    const text = serializeMessage(context.forward).toString('latin1');
    assert.doesNotMatch(text, /P-Asserted-Identity|P-Preferred-Identity/i, mode);
  }
});

test('a REGISTER is challenged with 401 and WWW-Authenticate, SHA-256 before MD5, qop=auth; no event', () => {
  const s = setup();
  const r = reply(s.send(register()).verdict);
  assert.equal(r.status, 401);
  assert.deepEqual(
    r.headers?.map((h) => h.name),
    ['WWW-Authenticate', 'WWW-Authenticate'],
  );
  assert.match(
    r.headers![0]!.value,
    /^Digest realm="pbx\.example\.com", nonce="[A-Za-z0-9_-]{43}", algorithm=SHA-256, qop="auth"$/,
  );
  assert.match(r.headers![1]!.value, /algorithm=MD5, qop="auth"$/);
  assert.deepEqual(s.events, []);
});

test('an INVITE is challenged with 407 and Proxy-Authenticate (RFC 3261 22.3)', () => {
  const s = setup();
  const r = reply(s.send(invite()).verdict);
  assert.equal(r.status, 407);
  assert.ok(r.headers?.every((h) => h.name === 'Proxy-Authenticate'));
});

for (const algorithm of ['MD5', 'SHA-256'] as const) {
  test(`a correct ${algorithm} answer passes with the verified identity, without credentials, with P-Asserted-Identity`, () => {
    const s = setup();
    const first = invite();
    const challenge = challengeOf(s.send(first).verdict, algorithm);
    const { verdict, context } = s.send(answered(invite(), challenge, 'alice', 'correct horse'));
    assert.equal((verdict as StageVerdict).action, 'pass');
    assert.deepEqual(context.identity, {
      user: 'alice',
      domain: DOMAIN,
      groups: ['staff'],
      roles: ['caller'],
      method: 'digest',
    });
    assert.ok(context.forward);
    const text = serializeMessage(context.forward).toString('latin1');
    assert.doesNotMatch(text, /Authorization/i);
    assert.match(text, /\r\nP-Asserted-Identity: <sip:alice@pbx\.example\.com>\r\n/);
    assert.deepEqual(s.events, []);
  });
}

test('forwardCredentials keeps the credentials; assertIdentity off adds no P-Asserted-Identity', () => {
  const s = setup({ mode: 'local', forwardCredentials: true, assertIdentity: false });
  const challenge = challengeOf(s.send(register()).verdict);
  const { verdict, context } = s.send(answered(register(), challenge, 'alice', 'correct horse'));
  assert.equal((verdict as StageVerdict).action, 'pass');
  assert.equal(context.identity?.user, 'alice');
  assert.equal(context.forward, undefined, 'nothing to change');
});

test('a verified REGISTER earns its source trust for that user', () => {
  const s = setup();
  const challenge = challengeOf(s.send(register()).verdict);
  assert.equal(s.deps.trust.isKnownFor(PHONE, 'alice', T0), false);
  s.send(answered(register(), challenge, 'alice', 'correct horse'));
  assert.equal(s.deps.trust.isKnownFor(PHONE, 'alice', T0), true);
});

test('a wrong password gets a fresh challenge and an authentication event naming the user', () => {
  const s = setup();
  const challenge = challengeOf(s.send(invite()).verdict);
  const { verdict, context } = s.send(answered(invite(), challenge, 'alice', 'wrong'));
  const r = reply(verdict);
  assert.equal(r.status, 407);
  assert.equal(context.identity, undefined);
  assert.equal(s.events.length, 1);
  assert.equal(s.events[0]!.type, 'authentication');
  assert.equal(s.events[0]!.rule, 'wrong-password');
  assert.equal(s.events[0]!.key, 'user=alice');
});

test('an unknown or disabled user is answered exactly as a wrong password', () => {
  const s = setup();
  const shape = (user: string) => {
    const challenge = challengeOf(s.send(invite(user)).verdict);
    const r = reply(s.send(answered(invite(user), challenge, user, 'whatever')).verdict);
    return {
      status: r.status,
      headers: r.headers?.map((h) => `${h.name}: ${h.value.replace(/nonce="[^"]*"/, 'nonce=N')}`),
    };
  };
  const wrong = shape('alice');
  assert.deepEqual(shape('mallory'), wrong);
  assert.deepEqual(shape('bob'), wrong);
  assert.deepEqual(
    s.events.map((e) => e.rule),
    ['wrong-password', 'unknown-user', 'disabled-user'],
  );
});

test('wrong passwords count for password guessing: past its threshold the source is blocked', () => {
  const s = setup({ mode: 'local' }, { guessing: { perSource: { failures: 3 } } });
  const actions: string[] = [];
  for (let i = 0; i < 5; i++) {
    const challenge = challengeOf(s.send(invite()).verdict);
    const v = s.send(answered(invite(), challenge, 'alice', `guess${i}`)).verdict;
    actions.push((v as { action: string }).action);
  }
  // Three failures are allowed; the fourth goes over and blocks the source (dropped, no answer;
  // the gate would drop what follows before it got here).
  assert.deepEqual(actions, ['reject', 'reject', 'reject', 'drop', 'drop']);
  assert.ok(s.deps.blocks.match(PHONE, T0) !== undefined, 'the source is blocked');
  assert.ok(s.events.some((e) => e.type === 'password-guessing' && e.rule === 'per-source'));
});

test('an allowlisted source is never blocked for guessing, but a wrong password is still refused', () => {
  const s = setup({ mode: 'local' }, { allowlist: [PHONE], guessing: { perSource: { failures: 1 } } });
  for (let i = 0; i < 3; i++) {
    const challenge = challengeOf(s.send(invite()).verdict);
    assert.equal(reply(s.send(answered(invite(), challenge, 'alice', 'wrong')).verdict).status, 407);
  }
  assert.equal(s.deps.blocks.match(PHONE, T0), undefined);
});

test('in a dry run sipwarden still challenges and refuses wrong passwords', () => {
  const s = setup({ mode: 'local' }, { dryRun: true });
  const challenge = challengeOf(s.send(invite()).verdict);
  assert.equal(reply(s.send(answered(invite(), challenge, 'alice', 'wrong')).verdict).status, 407);
});

test('a replayed nonce count is refused; the next count passes', () => {
  const s = setup();
  const challenge = challengeOf(s.send(invite()).verdict);
  const once = answered(invite(), challenge, 'alice', 'correct horse', { nc: 1 });
  assert.equal((s.send(once).verdict as StageVerdict).action, 'pass');
  // The same credentials on a new request (a captured answer replayed).
  const replay = appendHeader(
    invite(),
    'Proxy-Authorization',
    once.headers.find((h) => h.name === 'proxy-authorization')!.value,
  );
  const r = reply(s.send(replay).verdict);
  assert.equal(r.status, 407);
  assert.equal(lastRule(s), 'replayed-nonce-count');
  const next = answered(invite(), challenge, 'alice', 'correct horse', { nc: 2 });
  assert.equal((s.send(next).verdict as StageVerdict).action, 'pass');
});

test('a right answer with an expired nonce gets stale=true; a wrong one is a failure, not stale', () => {
  const s = setup({ mode: 'local', nonceLifetimeMs: 10_000 });
  const challenge = challengeOf(s.send(invite()).verdict);
  s.clock.now = T0 + 10_001;
  const right = challengeOf(s.send(answered(invite(), challenge, 'alice', 'correct horse')).verdict);
  assert.equal(right.stale, true);
  assert.deepEqual(s.events, []);
  const wrong = challengeOf(s.send(answered(invite(), challenge, 'alice', 'wrong')).verdict);
  assert.equal(wrong.stale, false);
  assert.equal(lastRule(s), 'wrong-password');
  // The new nonce works.
  assert.equal(
    (s.send(answered(invite(), right, 'alice', 'correct horse')).verdict as StageVerdict).action,
    'pass',
  );
});

test('a nonce issued to another source gets a fresh challenge and counts nothing', () => {
  const s = setup();
  const challenge = challengeOf(s.send(invite(), '203.0.113.5').verdict);
  const r = challengeOf(s.send(answered(invite(), challenge, 'alice', 'correct horse'), PHONE).verdict);
  assert.notEqual(r.nonce, challenge.nonce);
  assert.deepEqual(s.events, []);
});

test('in-dialog requests, OPTIONS, ACK, upstream requests and declared trunks are not challenged', () => {
  const s = setup(
    { mode: 'local' },
    {
      trunks: [{ name: 'carrier', addresses: ['192.0.2.50'], maxConcurrentCalls: 10, maxCallsPerSecond: 5 }],
    },
  );
  const pass = (v: unknown) => assert.equal((v as StageVerdict).action, 'pass');
  pass(s.send(request({ method: 'BYE', toTag: 't1' }), PHONE, true).verdict);
  pass(s.send(request({ method: 'OPTIONS' })).verdict);
  pass(s.send(request({ method: 'ACK', toTag: 't1' })).verdict);
  pass(s.send(invite(), '192.0.2.50').verdict);
  pass(
    s.pipeline.inspectRequest({
      flow: flow('192.0.2.1'),
      direction: 'upstream',
      request: invite(),
      inDialog: false,
    }),
  );
});

test('a trunk declared with authenticate is challenged as a user and, verified, carries its identity', () => {
  const s = setup(
    { mode: 'local' },
    {
      trunks: [
        {
          name: 'office-pbx',
          addresses: ['192.0.2.60'],
          identity: 'alice',
          authenticate: true,
          maxConcurrentCalls: 100,
          maxCallsPerSecond: 50,
        },
      ],
    },
  );
  const challenge = challengeOf(s.send(invite(), '192.0.2.60').verdict);
  const { verdict, context } = s.send(answered(invite(), challenge, 'alice', 'correct horse'), '192.0.2.60');
  assert.equal((verdict as StageVerdict).action, 'pass');
  assert.equal(context.identity?.user, 'alice');
  assert.equal(context.identity?.method, 'digest');
});

test('an address of a trunk that does not authenticate is not challenged, whatever other trunks share it', () => {
  const trunk = { addresses: ['192.0.2.70'], maxConcurrentCalls: 10, maxCallsPerSecond: 5 };
  const s = setup(
    { mode: 'local' },
    {
      trunks: [
        { ...trunk, name: 'pbx', identity: 'alice', authenticate: true },
        { ...trunk, name: 'carrier' },
      ],
    },
  );
  assert.equal((s.send(invite(), '192.0.2.70').verdict as StageVerdict).action, 'pass');
});

test('a user registers only its own address-of-record and calls only as itself', () => {
  const s = setup();
  const reg = request({ method: 'REGISTER', fromUser: 'alice', toUser: 'mallory' });
  const challenge = challengeOf(s.send(reg).verdict);
  const r = reply(s.send(answered(reg, challenge, 'alice', 'correct horse')).verdict);
  assert.equal(r.status, 403);
  assert.equal(lastRule(s), 'identity-mismatch');
  const spoof = invite('ceo');
  const c2 = challengeOf(s.send(spoof).verdict);
  assert.equal(reply(s.send(answered(invite('ceo'), c2, 'alice', 'correct horse')).verdict).status, 403);
});

test('with a configured realm, a call must come From the verified user in that domain (calls are counted by it)', () => {
  const s = setup({ mode: 'local', realm: DOMAIN });
  const elsewhere = () =>
    request({ method: 'INVITE', fromUser: 'alice', fromDomain: 'other.example', toUser: '200' });
  const challenge = challengeOf(s.send(elsewhere()).verdict);
  assert.equal(reply(s.send(answered(elsewhere(), challenge, 'alice', 'correct horse')).verdict).status, 403);
  assert.equal(lastRule(s), 'identity-mismatch');
  const home = challengeOf(s.send(invite()).verdict);
  assert.equal(
    (s.send(answered(invite(), home, 'alice', 'correct horse')).verdict as StageVerdict).action,
    'pass',
  );
});

test("a user's allowed networks are enforced after the password is checked", () => {
  const s = setup();
  const challenge = challengeOf(s.send(invite('carol')).verdict);
  const r = reply(s.send(answered(invite('carol'), challenge, 'carol', 'office only')).verdict);
  assert.equal(r.status, 403);
  assert.equal(lastRule(s), 'network-not-allowed');
  const inside = challengeOf(s.send(invite('carol'), '192.0.2.9').verdict);
  assert.equal(
    (s.send(answered(invite('carol'), inside, 'carol', 'office only'), '192.0.2.9').verdict as StageVerdict)
      .action,
    'pass',
  );
});

test('the digest-uri is hashed as sent, not required to be the Request-URI (sipp sends the next hop)', () => {
  const s = setup();
  const challenge = challengeOf(s.send(invite()).verdict);
  const other = answered(invite(), challenge, 'alice', 'correct horse', { uri: 'sip:127.0.0.1:5060' });
  assert.equal((s.send(other).verdict as StageVerdict).action, 'pass');
});

test('only the configured algorithms are challenged and verified', () => {
  const s = setup({ mode: 'local', algorithms: ['MD5'] });
  const r = reply(s.send(invite()).verdict);
  assert.equal(r.headers?.length, 1);
  assert.match(r.headers![0]!.value, /algorithm=MD5/);
  const md5 = challengeOf(r);
  const sha = { ...md5, algorithm: 'SHA-256' as const };
  assert.equal(reply(s.send(answered(invite(), sha, 'alice', 'correct horse')).verdict).status, 400);
});

test('in pass-through mode the shared authenticator challenges for another stage, and the answer is verified', () => {
  const s = setup({});
  assert.ok(s.deps.authenticator, 'built when a user store is there');
  const context: RequestContext = {
    flow: flow(PHONE),
    direction: 'client',
    request: invite(),
    inDialog: false,
  };
  const challenge = challengeOf(reply2(s.deps.authenticator.challenge(context, T0)));
  const { verdict, context: after } = s.send(answered(invite(), challenge, 'alice', 'correct horse'));
  assert.equal((verdict as StageVerdict).action, 'pass');
  assert.equal(after.identity?.user, 'alice');
  // The upstream's own challenge's answer (a nonce not ours) passes untouched.
  const upstream = appendHeader(
    invite(),
    'Proxy-Authorization',
    `Digest username="alice", realm="${DOMAIN}", nonce="pbx-nonce", uri="sip:200@pbx.example.com", response="${'0'.repeat(32)}"`,
  );
  const passed = s.send(upstream);
  assert.equal((passed.verdict as StageVerdict).action, 'pass');
  assert.equal(passed.context.identity, undefined);
  assert.equal(passed.context.forward, undefined);
});

/** An authenticator's `answer` verdict as the pipeline turns it into the core's reply. */
function reply2(v: StageVerdict): Reply {
  assert.equal(v.action, 'answer');
  if (v.action !== 'answer') throw new Error('unreachable');
  return {
    action: 'reject',
    status: v.status,
    reason: v.reason,
    ...(v.headers ? { headers: v.headers } : {}),
  };
}

test('the PBX refusing a request sipwarden verified is no wrong password for password guessing', () => {
  const s = setup({ mode: 'local' }, { guessing: { perSource: { failures: 1 } } });
  // Past the threshold even for a trusted source (1 x the trusted multiplier of 5).
  for (let i = 0; i < 8; i++) {
    const challenge = challengeOf(s.send(invite()).verdict);
    const verified = answered(invite(), challenge, 'alice', 'correct horse');
    assert.equal((s.send(verified).verdict as StageVerdict).action, 'pass');
    s.pipeline.outcome({ flow: flow(PHONE), direction: 'client', request: verified, status: 403 });
  }
  assert.equal(s.deps.blocks.match(PHONE, T0), undefined);
  assert.deepEqual(s.events, []);
});
