import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import { createPasswordGuessingStage } from '../../../../src/security/stages/password-guessing.ts';
import type { SipRequest } from '../../../../src/sip/message.ts';
import {
  actionOf,
  eventOf,
  flow,
  makeDeps,
  outcomeContext,
  parseResponse,
  request,
  requestContext,
  responseText,
  T0,
  type TestDeps,
} from './helpers.ts';

const attacker = flow('203.0.113.9');

function stage(settings: unknown = {}, deps: TestDeps = makeDeps()) {
  return { deps, guard: createPasswordGuessingStage(settings, deps) };
}

function outcome(
  guard: ReturnType<typeof createPasswordGuessingStage>,
  req: SipRequest,
  from: ReturnType<typeof flow>,
  status: number,
  now: number,
): StageVerdict {
  return guard.outcome!(outcomeContext(req, from, status), now);
}

function errors(settings: unknown): string[] {
  try {
    createPasswordGuessingStage(settings, makeDeps());
  } catch (error) {
    assert.ok(error instanceof StageConfigError);
    return [...error.issues];
  }
  assert.fail('expected a StageConfigError');
}

test('a challenge to a request without credentials is not a failure', () => {
  const { guard } = stage();
  const req = request({ method: 'REGISTER', fromUser: '100' });
  for (let i = 0; i < 100; i++) assert.equal(actionOf(outcome(guard, req, attacker, 401, T0 + i)), 'pass');
});

test('blocks a source for an hour after its sixth failed authentication in 60 s', () => {
  const { guard } = stage();
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 6; i++) {
    const req = request({ method: 'REGISTER', fromUser: '100', authUser: '100', cseq: i + 2 });
    verdicts.push(outcome(guard, req, attacker, 401, T0 + i * 1000));
  }
  assert.deepEqual(
    verdicts.map((v) => v.action),
    ['pass', 'pass', 'pass', 'pass', 'pass', 'block'],
  );
  const v = verdicts[5]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '203.0.113.9');
  assert.equal(v.durationMs, 3_600_000);
  assert.equal(v.event.type, 'password-guessing');
  assert.equal(v.event.rule, 'per-source');
  assert.equal(v.event.key, 'source=203.0.113.9');
  assert.equal(v.event.details?.sourceFailures, 6);
  assert.equal(v.event.details?.sourceThreshold, 5);
  assert.equal(v.event.details?.user, '100');
});

test('failures spread over more than the per-source window do not block the source', () => {
  const { guard } = stage();
  for (let i = 0; i < 10; i++) {
    const req = request({ method: 'REGISTER', authUser: `u${i}` });
    // One failure every 30 s: 2 per minute, each for another user.
    assert.equal(actionOf(outcome(guard, req, attacker, 401, T0 + i * 30_000)), 'pass');
  }
});

test('a slow guesser under the per-source rate is blocked by the per-user rule after 10 failures in 10 minutes', () => {
  const { guard } = stage();
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 11; i++) {
    const req = request({ method: 'REGISTER', authUser: '100' });
    verdicts.push(outcome(guard, req, attacker, 401, T0 + i * 30_000));
  }
  assert.equal(
    verdicts.findIndex((v) => v.action !== 'pass'),
    10,
  );
  assert.equal(eventOf(verdicts[10]!).rule, 'per-user');
  assert.equal(verdicts[10]!.action, 'block');
});

test('counts 403 and 407 to requests with credentials, and not 404 or 486', () => {
  const { guard } = stage();
  const invite = request({ method: 'INVITE', authUser: 'bob', proxyAuth: true });
  for (const status of [404, 486, 404, 486, 404, 486, 404]) {
    assert.equal(actionOf(outcome(guard, invite, attacker, status, T0)), 'pass');
  }
  const statuses = [407, 403, 407, 403, 407, 403];
  const verdicts = statuses.map((status, i) => outcome(guard, invite, attacker, status, T0 + i));
  assert.equal(
    verdicts.findIndex((v) => v.action === 'block'),
    5,
  );
});

test('a 401 whose challenge says stale=true is not a failure', () => {
  const { guard } = stage();
  for (let i = 0; i < 10; i++) {
    const req = request({ method: 'REGISTER', authUser: '100', cseq: 10 + i });
    const challenge = parseResponse(
      responseText(
        req,
        401,
        'WWW-Authenticate: Digest realm="pbx.example.com", nonce="9a8b7c", algorithm=MD5, stale=TRUE',
      ),
    );
    assert.equal(actionOf(guard.response!(requestContext(req, attacker), challenge, T0 + i)), 'pass');
    assert.equal(actionOf(outcome(guard, req, attacker, 401, T0 + i)), 'pass');
  }
  // The same flow without stale is counted.
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 6; i++) {
    const req = request({ method: 'REGISTER', authUser: '100', cseq: 100 + i });
    const challenge = parseResponse(
      responseText(req, 401, 'WWW-Authenticate: Digest realm="pbx.example.com", nonce="9a8b7d"'),
    );
    guard.response!(requestContext(req, attacker), challenge, T0 + 100 + i);
    verdicts.push(outcome(guard, req, attacker, 401, T0 + 100 + i));
  }
  assert.equal(verdicts[5]!.action, 'block');
});

const CHALLENGE = 'WWW-Authenticate: Digest realm="pbx.example.com", nonce="a1b2c3", algorithm=MD5';

/** The upstream's answer `status` (with `headers`) to `req` from `from`: the response hook, then the outcome. */
function answer(
  guard: ReturnType<typeof createPasswordGuessingStage>,
  req: SipRequest,
  from: ReturnType<typeof flow>,
  status: number,
  now: number,
  headers = '',
): StageVerdict {
  guard.response!(requestContext(req, from), parseResponse(responseText(req, status, headers)), now);
  return outcome(guard, req, from, status, now);
}

/** A phone's registration: REGISTER, 401 with a challenge (nonce a1b2c3), REGISTER with credentials for it, `status`. */
function register(
  guard: ReturnType<typeof createPasswordGuessingStage>,
  from: ReturnType<typeof flow>,
  user: string,
  now: number,
  status = 200,
): StageVerdict {
  const callId = `reg-${user}-${now}`;
  answer(guard, request({ method: 'REGISTER', fromUser: user, callId, cseq: 1 }), from, 401, now, CHALLENGE);
  const again = request({
    method: 'REGISTER',
    fromUser: user,
    callId,
    cseq: 2,
    authUser: user,
    nonce: 'a1b2c3',
  });
  return answer(guard, again, from, status, now + 20);
}

test('a 2xx to the answer to a challenge issued to the source makes it trusted and known for that user', () => {
  const { deps, guard } = stage();
  assert.equal(actionOf(register(guard, flow('198.51.100.20'), 'Alice', T0)), 'pass');
  assert.ok(deps.trust.isTrusted('198.51.100.20', T0 + 100));
  assert.ok(deps.trust.isKnownFor('198.51.100.20', 'alice', T0 + 100));
  assert.ok(!deps.trust.isKnownFor('198.51.100.20', 'bob', T0 + 100));
  // A 200 to a request without credentials proves nothing.
  outcome(guard, request({ method: 'OPTIONS' }), flow('198.51.100.21'), 200, T0);
  assert.ok(!deps.trust.isTrusted('198.51.100.21', T0 + 1));
});

test('an INVITE answering its 407 proves the source when the call is answered, after minutes of ringing', () => {
  const { deps, guard } = stage();
  const phone = flow('198.51.100.22');
  const invite = (cseq: number, auth: boolean) =>
    request({
      method: 'INVITE',
      fromUser: 'carol',
      ruriUser: '300',
      callId: 'call-carol',
      cseq,
      ...(auth ? { authUser: 'carol', nonce: 'd4e5f6', proxyAuth: true } : {}),
    });
  answer(
    guard,
    invite(1, false),
    phone,
    407,
    T0,
    'Proxy-Authenticate: Digest realm="pbx.example.com", nonce="d4e5f6"',
  );
  const again = invite(2, true);
  guard.response!(requestContext(again, phone), parseResponse(responseText(again, 180)), T0 + 30);
  // Answered two minutes later, long after the challenge itself was forgotten.
  answer(guard, again, phone, 200, T0 + 120_000);
  assert.ok(deps.trust.isTrusted('198.51.100.22', T0 + 120_001));
  assert.ok(deps.trust.isKnownFor('198.51.100.22', 'carol', T0 + 120_001));
});

test('a made-up Authorization header on an OPTIONS answered 200 earns no trust', () => {
  const { deps, guard } = stage();
  const forged = request({ method: 'OPTIONS', authUser: 'alice', nonce: 'made-up' });
  assert.equal(actionOf(answer(guard, forged, attacker, 200, T0)), 'pass');
  assert.ok(!deps.trust.isTrusted(attacker.remoteAddress, T0 + 1));
  // Not even with a nonce the upstream really issued to it: an OPTIONS proves no password.
  answer(guard, request({ method: 'OPTIONS', callId: 'o1', cseq: 1 }), attacker, 401, T0 + 10, CHALLENGE);
  const answered = request({ method: 'OPTIONS', callId: 'o1', cseq: 2, authUser: 'alice', nonce: 'a1b2c3' });
  answer(guard, answered, attacker, 200, T0 + 20);
  assert.ok(!deps.trust.isTrusted(attacker.remoteAddress, T0 + 21));
});

test('a REGISTER answered 200 with credentials for a nonce never issued to the source earns no trust', () => {
  const { deps, guard } = stage();
  const req = request({ method: 'REGISTER', fromUser: 'alice', authUser: 'alice', nonce: 'never-issued' });
  assert.equal(actionOf(answer(guard, req, attacker, 200, T0)), 'pass');
  assert.ok(!deps.trust.isTrusted(attacker.remoteAddress, T0 + 1));
  assert.ok(!deps.trust.isKnownFor(attacker.remoteAddress, 'alice', T0 + 1));
});

test('credentials for a nonce issued to another source earn no trust', () => {
  const { deps, guard } = stage();
  const phone = flow('198.51.100.30');
  const first = request({ method: 'REGISTER', fromUser: 'alice', callId: 'r1', cseq: 1 });
  answer(guard, first, phone, 401, T0, CHALLENGE);
  // The attacker replays the phone's exchange from its own address.
  const replay = request({
    method: 'REGISTER',
    fromUser: 'alice',
    callId: 'r1',
    cseq: 2,
    authUser: 'alice',
    nonce: 'a1b2c3',
  });
  answer(guard, replay, attacker, 200, T0 + 20);
  assert.ok(!deps.trust.isTrusted(attacker.remoteAddress, T0 + 21));
  assert.ok(!deps.trust.isTrusted('198.51.100.30', T0 + 21));
});

test('credentials with the right nonce but another realm, on another request, or after the challenge expired earn no trust', () => {
  const { deps, guard } = stage();
  const phone = flow('198.51.100.31');
  const first = request({ method: 'REGISTER', fromUser: 'alice', callId: 'r2', cseq: 1 });
  answer(guard, first, phone, 401, T0, CHALLENGE);
  const realm = request({
    method: 'REGISTER',
    fromUser: 'alice',
    callId: 'r2',
    cseq: 2,
    authUser: 'alice',
    nonce: 'a1b2c3',
    realm: 'elsewhere',
  });
  answer(guard, realm, phone, 200, T0 + 10);
  // The challenge was issued to a REGISTER for alice; a call to 300 with its nonce is another request.
  const call = request({
    method: 'INVITE',
    fromUser: 'alice',
    ruriUser: '300',
    callId: 'r2',
    cseq: 3,
    authUser: 'alice',
    nonce: 'a1b2c3',
  });
  answer(guard, call, phone, 200, T0 + 20);
  const otherUser = request({
    method: 'REGISTER',
    fromUser: 'bob',
    callId: 'r2',
    cseq: 4,
    authUser: 'bob',
    nonce: 'a1b2c3',
  });
  answer(guard, otherUser, phone, 200, T0 + 30);
  assert.ok(!deps.trust.isTrusted('198.51.100.31', T0 + 31));
  // The right answer, but 40 s after its challenge (a transaction lives 32 s).
  const late = request({
    method: 'REGISTER',
    fromUser: 'alice',
    callId: 'r2',
    cseq: 5,
    authUser: 'alice',
    nonce: 'a1b2c3',
  });
  answer(guard, late, phone, 200, T0 + 40_000);
  assert.ok(!deps.trust.isTrusted('198.51.100.31', T0 + 40_001));
});

test('a trusted source is allowed five times as many failures', () => {
  const { deps, guard } = stage();
  deps.trust.succeed('203.0.113.9', 'carol', T0 - 1000);
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 26; i++) {
    const req = request({ method: 'REGISTER', authUser: `u${i % 3}` });
    verdicts.push(outcome(guard, req, attacker, 401, T0 + i * 100));
  }
  assert.equal(
    verdicts.findIndex((v) => v.action === 'block'),
    25,
  );
  assert.equal(eventOf(verdicts[25]!).details?.sourceThreshold, 25);
});

test('guessing over 50 sources against one user: the account is blocked once the user is under attack; the user keeps working from home', () => {
  const { deps, guard } = stage();
  const home = flow('198.51.100.50');
  const login = request({ method: 'REGISTER', fromUser: 'alice', authUser: 'alice' });
  // Alice registered from home earlier today.
  register(guard, home, 'alice', T0 - 3_600_000);

  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 50; i++) {
    // Each source tries two passwords: far below the per-source threshold.
    for (let k = 0; k < 2; k++) {
      const guess = request({ method: 'REGISTER', fromUser: 'alice', authUser: 'alice' });
      verdicts.push(outcome(guard, guess, flow(`192.0.2.${i + 1}`), 403, T0 + i * 2000 + k * 500));
    }
  }
  // Failures 1..10 put alice under attack; the 11th blocks her account (a key the gate
  // refuses from every source but her known-good ones), not the sixth source's address.
  const actions = verdicts.map((v) => v.action);
  assert.deepEqual(actions.slice(0, 10), Array(10).fill('pass'));
  assert.deepEqual(actions.slice(10), Array(90).fill('block'));
  const v = verdicts[10]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'key');
  assert.equal(v.key, 'user=alice');
  assert.equal(v.durationMs, 30 * 60_000);
  assert.equal(v.event.rule, 'per-user');
  assert.equal(v.event.key, 'user=alice');
  assert.equal(v.event.details?.userFailures, 11);

  // Alice's phone at home mistypes once while the attack goes on: reported, not blocked.
  const typo = outcome(guard, login, home, 401, T0 + 101_000);
  assert.equal(typo.action, 'alert');
  assert.match(eventOf(typo).reason, /known-good for this user/);
  // And her next registration from home succeeds and passes.
  assert.equal(actionOf(outcome(guard, login, home, 200, T0 + 102_000)), 'pass');
  assert.equal(deps.blocks.match('198.51.100.50', T0 + 102_000), undefined);
});

test('does not block for guessing without the stage: action alert only reports', () => {
  const { guard } = stage({ action: 'alert' });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 10; i++)
    verdicts.push(outcome(guard, request({ method: 'REGISTER', authUser: '100' }), attacker, 401, T0 + i));
  assert.ok(verdicts.every((v) => v.action === 'pass' || v.action === 'alert'));
  assert.equal(verdicts[5]!.action, 'alert');
});

test('outcomes of requests from the upstream side are not counted', () => {
  const { guard } = stage();
  for (let i = 0; i < 20; i++) {
    const req = request({ method: 'INVITE', authUser: 'trunk' });
    assert.equal(actionOf(guard.outcome!(outcomeContext(req, attacker, 407, 'upstream'), T0 + i)), 'pass');
  }
});

test('the user is the digest user name, not the From user', () => {
  const { guard } = stage({ perUser: { failures: 2 } });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 3; i++) {
    const req = request({ method: 'REGISTER', fromUser: `decoy${i}`, authUser: 'Admin' });
    verdicts.push(outcome(guard, req, flow(`192.0.2.${100 + i}`), 401, T0 + i));
  }
  assert.equal(verdicts[2]!.action, 'block');
  assert.equal(eventOf(verdicts[2]!).key, 'user=admin');
});

test('settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ perSource: { failures: 0 } }), [
    'perSource.failures: must be an integer from 1 to 10000000',
  ]);
  assert.deepEqual(errors({ perUser: { windowMs: 'long' } }), [
    'perUser.windowMs: must be a window in milliseconds from 100 to 86400000 (1 day)',
  ]);
  assert.deepEqual(errors({ action: 'drop' }), ['action: must be one of block, alert']);
  assert.deepEqual(errors({ failureStatuses: [401, 401] }), [
    'failureStatuses: must not list an entry twice',
  ]);
  assert.deepEqual(errors({ perSorce: {} }), ['perSorce: unknown key (did you mean perSource?)']);
});
