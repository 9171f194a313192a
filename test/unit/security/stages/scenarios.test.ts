/**
 * The detection stages together, with their defaults, in the real pipeline runner: the
 * traffic they must never block (an office behind one NAT address, a trunk) and the attacks
 * they must stop. Blocks are written to a real block table; a blocked source's next
 * messages are refused before the stages, as the gate does before parsing, and the gate
 * itself runs first to refuse requests naming a blocked key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEnumerationStage } from '../../../../src/security/stages/enumeration.ts';
import { createFloodStage } from '../../../../src/security/stages/flood.ts';
import { createGateStage } from '../../../../src/security/stages/gate.ts';
import { createMalformedRateStage } from '../../../../src/security/stages/malformed-rate.ts';
import { createPasswordGuessingStage } from '../../../../src/security/stages/password-guessing.ts';
import { createScannerStage } from '../../../../src/security/stages/scanner.ts';
import { flow, Harness, request, T0 } from './helpers.ts';

function detection(): Harness {
  return new Harness((deps) => [
    createGateStage({}, deps),
    createScannerStage({}, deps),
    createFloodStage({}, deps),
    createEnumerationStage({}, deps),
    createPasswordGuessingStage({}, deps),
    createMalformedRateStage({}, deps),
  ]);
}

const CHALLENGE =
  'WWW-Authenticate: Digest realm="pbx.example.com", nonce="4f2e1d", algorithm=MD5, qop="auth"';
const PROXY_CHALLENGE =
  'Proxy-Authenticate: Digest realm="pbx.example.com", nonce="4f2e1e", algorithm=MD5, qop="auth"';
const STALE =
  'WWW-Authenticate: Digest realm="pbx.example.com", nonce="4f2e1f", algorithm=MD5, qop="auth", stale=true';

/** Asserts nothing was blocked, refused or dropped; returns the alerts for a look. */
function assertNothingActedOn(h: Harness): void {
  assert.deepEqual(
    h.actions().map((e) => `${e.type}/${e.rule}/${e.action}: ${e.reason}`),
    [],
  );
  assert.deepEqual(h.deps.blocks.list(h.clock.now), []);
}

test('an office of 200 phones behind one NAT address re-registering after an outage, then calling, is never blocked', () => {
  const h = detection();
  const office = flow('198.51.100.77', 5060);
  const users = Array.from({ length: 200 }, (_, i) => String(2000 + i));
  const ua = 'Yealink SIP-T46U 108.86.0.45';
  // The outage ends: every phone sends its REGISTER within one second, and each is challenged.
  for (const [i, user] of users.entries()) {
    h.clock.now = T0 + i * 5;
    const first = request({
      method: 'REGISTER',
      fromUser: user,
      callId: `reg-${user}`,
      cseq: 1,
      userAgent: ua,
    });
    assert.equal(h.send(first, office), 'pass');
    h.answer(first, office, 401, CHALLENGE);
  }
  // Then every phone answers its challenge, and registers.
  for (const [i, user] of users.entries()) {
    h.clock.now = T0 + 1000 + i * 5;
    const second = request({
      method: 'REGISTER',
      fromUser: user,
      callId: `reg-${user}`,
      cseq: 2,
      userAgent: ua,
      authUser: user,
      nonce: '4f2e1d',
    });
    assert.equal(h.send(second, office), 'pass');
    h.answer(second, office, 200);
  }
  // Then people call: 200 INVITEs over 10 s, each challenged by the PBX and sent again with credentials.
  for (const [i, user] of users.entries()) {
    h.clock.now = T0 + 5000 + i * 50;
    const target = String(2000 + ((i * 7) % 200));
    const invite = request({
      method: 'INVITE',
      fromUser: user,
      ruriUser: target,
      callId: `call-${user}`,
      cseq: 1,
      userAgent: ua,
    });
    assert.equal(h.send(invite, office), 'pass');
    h.answer(invite, office, 407, PROXY_CHALLENGE);
    const again = request({
      method: 'INVITE',
      fromUser: user,
      ruriUser: target,
      callId: `call-${user}`,
      cseq: 2,
      userAgent: ua,
      authUser: user,
      nonce: '4f2e1e',
      proxyAuth: true,
    });
    assert.equal(h.send(again, office), 'pass');
    h.answer(again, office, 200);
  }
  assertNothingActedOn(h);
  assert.ok(h.deps.trust.isTrusted('198.51.100.77', h.clock.now));
});

test('the same office re-registering with stale nonces an hour later is not taken for password guessing', () => {
  const h = detection();
  const office = flow('198.51.100.77', 5060);
  for (let i = 0; i < 200; i++) {
    const user = String(2000 + i);
    h.clock.now = T0 + i * 10;
    // The phone reuses its last nonce: the PBX says stale=true, the phone answers the new challenge.
    const refresh = request({
      method: 'REGISTER',
      fromUser: user,
      callId: `reg-${user}`,
      cseq: 3,
      authUser: user,
    });
    assert.equal(h.send(refresh, office), 'pass');
    h.answer(refresh, office, 401, STALE);
    const again = request({
      method: 'REGISTER',
      fromUser: user,
      callId: `reg-${user}`,
      cseq: 4,
      authUser: user,
    });
    assert.equal(h.send(again, office), 'pass');
    h.answer(again, office, 200);
  }
  assertNothingActedOn(h);
});

test('a trunk sending OPTIONS every 30 s and 20 calls per second for 60 s is never blocked', () => {
  const h = detection();
  const trunk = flow('198.51.100.200', 5060);
  const ua = 'Carrier SBC 7.2';
  for (let ms = 0; ms <= 60_000; ms += 50) {
    h.clock.now = T0 + ms;
    if (ms % 30_000 === 0) {
      const ping = request({
        method: 'OPTIONS',
        ruriUser: '',
        fromUser: 'trunk',
        fromDomain: 'carrier.example',
        userAgent: ua,
      });
      assert.equal(h.send(ping, trunk), 'pass');
      h.answer(ping, trunk, 200);
    }
    // One new call every 50 ms, from the PSTN to one of the office's numbers.
    const n = ms / 50;
    const did = `4930555${String(1000 + (n % 300)).padStart(4, '0')}`;
    const caller = `49170${String(1_000_000 + ((n * 7919) % 9_000_000))}`;
    const invite = request({
      method: 'INVITE',
      fromUser: caller,
      fromDomain: 'carrier.example',
      ruriUser: did,
      callId: `trunk-${n}`,
      userAgent: ua,
    });
    assert.equal(h.send(invite, trunk), 'pass');
    h.answer(invite, trunk, 200);
    // The call's BYE comes in its dialog.
    const bye = request({
      method: 'BYE',
      fromUser: caller,
      ruriUser: did,
      toTag: 'pbx1',
      callId: `trunk-${n}`,
      cseq: 2,
    });
    assert.equal(h.send(bye, trunk, true), 'pass');
  }
  assertNothingActedOn(h);
  assert.deepEqual(h.events, []);
});

test('the same trunk with every call challenged by the PBX (40 INVITEs per second) is never blocked', () => {
  const h = detection();
  const trunk = flow('198.51.100.201', 5060);
  for (let ms = 0; ms < 60_000; ms += 50) {
    h.clock.now = T0 + ms;
    const n = ms / 50;
    const did = `4930555${String(1000 + (n % 300)).padStart(4, '0')}`;
    const invite = request({
      method: 'INVITE',
      ruriUser: did,
      callId: `t-${n}`,
      fromDomain: 'carrier.example',
    });
    assert.equal(h.send(invite, trunk), 'pass');
    h.answer(invite, trunk, 407, PROXY_CHALLENGE);
    const again = request({
      method: 'INVITE',
      ruriUser: did,
      callId: `t-${n}`,
      cseq: 2,
      authUser: 'trunk',
      nonce: '4f2e1e',
      proxyAuth: true,
    });
    assert.equal(h.send(again, trunk), 'pass');
    // A few calls go to numbers that are not assigned.
    h.answer(again, trunk, n % 40 === 0 ? 404 : 200);
  }
  assertNothingActedOn(h);
});

test('password guessing over 50 sources against one user: the account is blocked after 11 failures, no further guess is answered, and the user keeps working from home', () => {
  const h = detection();
  const home = flow('198.51.100.50', 5062);
  const login = (cseq: number, auth: boolean) =>
    request({
      method: 'REGISTER',
      fromUser: 'alice',
      callId: 'alice-home',
      cseq,
      ...(auth ? { authUser: 'alice', nonce: '4f2e1d' } : {}),
    });
  // Alice's phone registers from home.
  h.clock.now = T0;
  assert.equal(h.send(login(1, false), home), 'pass');
  h.answer(login(1, false), home, 401, CHALLENGE);
  assert.equal(h.send(login(2, true), home), 'pass');
  h.answer(login(2, true), home, 200);

  // 50 sources each guess alice's password three times, one guess every 2 s per source.
  const sources = Array.from({ length: 50 }, (_, i) => flow(`192.0.2.${i + 1}`, 5060));
  let guesses = 0;
  for (let round = 0; round < 3; round++) {
    for (const [i, source] of sources.entries()) {
      h.clock.now = T0 + 10_000 + round * 100_000 + i * 2000;
      const guess = request({
        method: 'REGISTER',
        fromUser: 'alice',
        callId: `g-${i}`,
        cseq: round + 2,
        authUser: 'alice',
      });
      if (h.send(guess, source) !== 'pass') continue;
      guesses++;
      h.answer(guess, source, 403);
    }
  }
  // The first 10 failures (sources 1..10, first round) put alice under attack; the 11th
  // blocks her account, and from then on the gate refuses her requests from every source
  // but home: 11 guesses reached the registrar out of 150, and no address was blocked.
  assert.equal(guesses, 11);
  assert.equal(sources.filter((s) => h.blocked(s.remoteAddress)).length, 0);
  const perUser = h.actions().filter((e) => e.type === 'password-guessing');
  assert.equal(perUser.length, 1);
  assert.equal(perUser[0]!.rule, 'per-user');
  assert.equal(perUser[0]!.key, 'user=alice');
  assert.equal(perUser[0]!.action, 'block');
  assert.deepEqual(
    h.deps.blocks.list(h.clock.now).map((b) => [b.scope, b.key, b.hits]),
    [['key', 'user=alice', 150 - 11]],
  );
  const refused = h.actions().filter((e) => e.type === 'blocked');
  assert.equal(refused.length, 150 - 11);
  assert.ok(refused.every((e) => e.stage === 'gate' && e.action === 'drop' && e.key === 'user=alice'));

  // Meanwhile alice's phone at home re-registers, and even mistypes once: never blocked.
  h.clock.now = T0 + 400_000;
  assert.equal(h.send(login(3, true), home), 'pass');
  h.answer(login(3, true), home, 403);
  assert.equal(h.send(login(4, true), home), 'pass');
  h.answer(login(4, true), home, 200);
  assert.equal(h.blocked('198.51.100.50'), false);
  assert.equal(h.send(request({ method: 'INVITE', fromUser: 'alice', ruriUser: '300' }), home), 'pass');
});

test('an svwar sweep is blocked at its first request and then refused at the gate', () => {
  const h = detection();
  const scanner = flow('203.0.113.66', 5060);
  const sweep = (ext: number) =>
    request({
      method: 'REGISTER',
      fromUser: String(ext),
      userAgent: 'friendly-scanner',
      fromDisplay: String(ext),
    });
  assert.equal(h.send(sweep(100), scanner), 'drop');
  assert.equal(h.blocked('203.0.113.66'), true);
  assert.equal(h.send(sweep(101), scanner), 'blocked');
  const [event] = h.actions();
  assert.equal(event?.type, 'scanner');
  assert.equal(event?.action, 'block');
});

test('an extension sweep with a disguised User-Agent is blocked by the enumeration stage', () => {
  const h = detection();
  const scanner = flow('203.0.113.67', 5060);
  let refusedAt = -1;
  for (let ext = 100; ext < 200; ext++) {
    h.clock.now = T0 + (ext - 100) * 20;
    const req = request({ method: 'INVITE', ruriUser: String(ext), userAgent: 'Z 5.5.2' });
    if (h.send(req, scanner) === 'blocked') {
      refusedAt = ext;
      break;
    }
    h.answer(req, scanner, 404);
  }
  assert.equal(refusedAt, 111);
  assert.equal(h.actions()[0]?.type, 'enumeration');
});

test('an INVITE flood is blocked within its first 201 INVITEs, and refused at the gate after', () => {
  const h = detection();
  const flooder = flow('203.0.113.80', 5060);
  const invite = request({ method: 'INVITE', ruriUser: '100', userAgent: 'Bria 6' });
  const results: string[] = [];
  for (let i = 0; i < 1000; i++) {
    h.clock.now = T0 + i;
    results.push(h.send(invite, flooder));
  }
  assert.equal(results.indexOf('drop'), 200);
  assert.equal(results.filter((r) => r === 'blocked').length, 799);
  assert.equal(h.actions()[0]?.rule, 'invite-flood');
});

test('a source sending malformed messages is blocked at the 21st in 10 s', () => {
  const h = detection();
  const fuzzer = flow('203.0.113.90', 5060);
  const error = { code: 'SW_ERR_BAD_START_LINE', status: 400, reason: 'bad start line' } as const;
  const verdicts: string[] = [];
  for (let i = 0; i < 25; i++) {
    h.clock.now = T0 + i * 100;
    if (h.blocked(fuzzer.remoteAddress)) {
      verdicts.push('blocked');
      continue;
    }
    verdicts.push(
      h.pipeline.malformed({ flow: fuzzer, data: Buffer.from('x'), direction: 'client' }, error, true).action,
    );
  }
  assert.equal(verdicts.indexOf('drop'), 20);
  assert.deepEqual(verdicts.slice(21), ['blocked', 'blocked', 'blocked', 'blocked']);
});

test('during a REGISTER flood from 1200 sources, the flood is blocked and an office of 200 phones re-registering meanwhile is not', () => {
  const h = detection();
  const office = flow('198.51.100.77', 5060);
  const flooders = new Set<string>();
  const officeResults: string[] = [];
  // 1000 REGISTERs per second round robin over 1200 sources, each challenged and never answered.
  for (let k = 0; k < 1200 * 8; k++) {
    h.clock.now = T0 + k;
    const address = `10.8.${(k % 1200) >> 8}.${(k % 1200) & 255}`;
    flooders.add(address);
    const flood = request({
      method: 'REGISTER',
      fromUser: String(5000 + (k % 3000)),
      userAgent: 'MicroSIP/3.21.3',
    });
    if (h.send(flood, flow(address)) === 'pass') h.answer(flood, flow(address), 401, CHALLENGE);
    // From 2 s on, the office's 200 phones register, one every 10 ms: challenged, then answered.
    const t = k - 2000;
    if (t >= 0 && t < 2000 && t % 10 === 0) {
      const user = String(2000 + t / 10);
      const first = request({ method: 'REGISTER', fromUser: user, callId: `reg-${user}`, cseq: 1 });
      officeResults.push(h.send(first, office));
      h.answer(first, office, 401, CHALLENGE);
      const second = request({
        method: 'REGISTER',
        fromUser: user,
        callId: `reg-${user}`,
        cseq: 2,
        authUser: user,
      });
      officeResults.push(h.send(second, office));
      h.answer(second, office, 200);
    }
  }
  assert.equal(officeResults.length, 400);
  assert.ok(officeResults.every((r) => r === 'pass'));
  assert.equal(h.blocked('198.51.100.77'), false);
  const blocked = [...flooders].filter((a) => h.blocked(a));
  assert.equal(blocked.length, 1200);
  const rules = new Set(h.actions().map((e) => `${e.type}/${e.rule}`));
  assert.deepEqual([...rules], ['flood/register-distributed']);
});
