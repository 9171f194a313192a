import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sourceKey, userKey } from '../../../../src/security/block-keys.ts';
import { withTrunks } from '../../../../src/security/build-pipeline.ts';
import type { Authenticator } from '../../../../src/security/stage.ts';
import { createEnumerationStage } from '../../../../src/security/stages/enumeration.ts';
import { createGateStage } from '../../../../src/security/stages/gate.ts';
import { createMalformedRateStage } from '../../../../src/security/stages/malformed-rate.ts';
import { createPasswordGuessingStage } from '../../../../src/security/stages/password-guessing.ts';
import { flow, Harness, packet, request, T0 } from './helpers.ts';

const HOUR = 3_600_000;

function withGate(): Harness {
  return new Harness((deps) => [
    createGateStage({}, deps),
    createEnumerationStage({ block: { scope: 'key' } }, deps),
    createPasswordGuessingStage({}, deps),
    createMalformedRateStage({ block: { scope: 'key' } }, deps),
  ]);
}

function operatorBlock(h: Harness, key: string): void {
  h.deps.blocks.block({
    key,
    scope: 'key',
    reason: 'blocked by an operator',
    rule: 'admin',
    createdAt: h.clock.now,
    expiresAt: h.clock.now + HOUR,
  });
}

test('a dropped packet from a blocked address counts one hit on its block, not two', () => {
  const h = withGate();
  const source = flow('203.0.113.40');
  h.deps.blocks.block({
    key: '203.0.113.40',
    scope: 'address',
    reason: 'test',
    rule: 'admin',
    createdAt: T0,
    expiresAt: T0 + HOUR,
  });
  for (let i = 0; i < 3; i++) assert.equal(h.pipeline.admit(packet(source)).action, 'drop');
  assert.deepEqual(
    h.deps.blocks.list(T0).map((b) => b.hits),
    [3],
  );
  assert.equal(h.events.filter((e) => e.type === 'blocked').length, 3);
});

test('a dropped request naming a blocked key counts one hit on its block, not two', () => {
  const h = withGate();
  operatorBlock(h, 'fromUser=mallory');
  for (let i = 0; i < 3; i++) {
    assert.equal(h.send(request({ fromUser: 'mallory' }), flow(`192.0.2.${i + 1}`)), 'drop');
  }
  assert.deepEqual(
    h.deps.blocks.list(T0).map((b) => [b.key, b.hits]),
    [['fromUser=mallory', 3]],
  );
});

test('key blocks on the From user, the To user and the User-Agent refuse requests naming them, and only those', () => {
  const h = withGate();
  const source = flow('192.0.2.10');
  operatorBlock(h, 'fromUser=mallory');
  operatorBlock(h, 'toUser=900');
  operatorBlock(h, 'userAgent=BadDialer 1.0');
  assert.equal(h.send(request({ fromUser: 'mallory' }), source), 'drop');
  assert.equal(h.send(request({ toUser: '900', ruriUser: '900' }), source), 'drop');
  assert.equal(h.send(request({ userAgent: 'BadDialer 1.0' }), source), 'drop');
  assert.equal(h.send(request({ fromUser: 'bob', toUser: '200', userAgent: 'Yealink' }), source), 'pass');
  const refused = h.events.filter((e) => e.type === 'blocked');
  assert.deepEqual(
    refused.map((e) => [e.stage, e.action, e.key]),
    [
      ['gate', 'drop', 'fromUser=mallory'],
      ['gate', 'drop', 'toUser=900'],
      ['gate', 'drop', 'userAgent=BadDialer 1.0'],
    ],
  );
});

test("enumeration with block.scope key blocks the source's key, and the gate then refuses the source", () => {
  const h = withGate();
  const scanner = flow('203.0.113.50');
  let verdict = '';
  for (let i = 0; i < 30 && verdict !== 'block'; i++) {
    const probe = request({ method: 'REGISTER', fromUser: String(500 + i) });
    assert.equal(h.send(probe, scanner), 'pass');
    h.answer(probe, scanner, 404);
    verdict = h.actions().some((e) => e.action === 'block') ? 'block' : '';
  }
  assert.deepEqual(
    h.deps.blocks.list(h.clock.now).map((b) => [b.scope, b.key]),
    [['key', sourceKey('203.0.113.50')]],
  );
  // Before parsing (every packet) and after (every request): refused.
  assert.equal(h.pipeline.admit(packet(scanner)).action, 'drop');
  assert.equal(h.send(request({ method: 'OPTIONS' }), flow('203.0.113.51')), 'pass');
});

test('malformed-rate with block.scope key blocks the source key, and its next packets are dropped before parsing', () => {
  const h = withGate();
  const fuzzer = flow('203.0.113.60');
  let blocked = false;
  for (let i = 0; i < 40 && !blocked; i++) {
    h.pipeline.malformed(packet(fuzzer), { code: 'bad', status: 400, reason: 'bad' }, true);
    blocked = h.deps.blocks.matchKey(sourceKey('203.0.113.60'), h.clock.now) !== undefined;
  }
  assert.ok(blocked);
  assert.equal(h.pipeline.admit(packet(fuzzer)).action, 'drop');
  assert.equal(h.pipeline.admit(packet(flow('203.0.113.61'))).action, 'pass');
});

test("a blocked account refuses that user's requests from every source but the user's known-good ones", () => {
  const h = withGate();
  const home = flow('198.51.100.50');
  h.deps.trust.succeed('198.51.100.50', 'alice', T0 - HOUR);
  operatorBlock(h, userKey('alice'));
  const register = (auth: boolean) =>
    request({ method: 'REGISTER', fromUser: 'alice', ...(auth ? { authUser: 'alice' } : {}) });
  assert.equal(h.send(register(true), flow('192.0.2.77')), 'drop');
  assert.equal(h.send(register(false), flow('192.0.2.78')), 'drop');
  assert.equal(h.send(request({ method: 'INVITE', fromUser: 'alice' }), flow('192.0.2.79')), 'drop');
  assert.equal(h.send(register(true), home), 'pass');
  assert.equal(h.send(request({ method: 'REGISTER', fromUser: 'bob' }), flow('192.0.2.77')), 'pass');
  // A call of alice's set up before the block ends normally: in-dialog requests are not refused.
  const bye = request({ method: 'BYE', fromUser: 'alice', toTag: 'b1' });
  assert.equal(h.send(bye, flow('192.0.2.80'), true), 'pass');
});

test('under overload, a made-up Authorization header is shed like any untrusted request, while the answer to a challenge issued to that source goes on', () => {
  const h = new Harness((deps) => [
    createGateStage({ overload: { messagesPerSecond: 10 } }, deps),
    createPasswordGuessingStage({}, deps),
  ]);
  const phone = flow('198.51.100.70', 5062);
  const forger = flow('203.0.113.70', 5062);
  const challenge =
    'WWW-Authenticate: Digest realm="pbx.example.com", nonce="5f1d2c", algorithm=MD5, qop="auth"';
  // The phone's first REGISTER is challenged by the upstream, before the load rises.
  const first = request({ method: 'REGISTER', fromUser: 'alice', callId: 'reg-alice', cseq: 1 });
  assert.equal(h.send(first, phone), 'pass');
  h.answer(first, phone, 401, challenge);
  // Over the gate's budget of messages per second.
  for (let i = 0; i < 20; i++) h.pipeline.admit(packet(flow(`192.0.2.${i + 1}`)));
  const retry = request({
    method: 'REGISTER',
    fromUser: 'alice',
    callId: 'reg-alice',
    cseq: 2,
    authUser: 'alice',
    nonce: '5f1d2c',
  });
  assert.equal(h.send(retry, phone), 'pass');
  const forged = request({
    method: 'REGISTER',
    fromUser: 'bob',
    callId: 'reg-bob',
    cseq: 2,
    authUser: 'bob',
    nonce: '5f1d2c',
  });
  assert.equal(h.send(forged, forger), 'reject');
  assert.equal(h.send(request({ method: 'OPTIONS' }), forger), 'reject');
});

test("under overload, the answer to sipwarden's own challenge goes on; one with a nonce signed for another source is shed", () => {
  let authenticator: Authenticator | undefined;
  const h = new Harness((deps) => {
    const shared = withTrunks(
      { enabled: true, allowlist: [], settings: { authenticate: { mode: 'local' } } },
      deps,
    );
    authenticator = shared.authenticator;
    return [createGateStage({ overload: { messagesPerSecond: 10 } }, shared)];
  });
  assert.ok(authenticator);
  const phone = flow('198.51.100.71', 5062);
  const nonceFor = (source: string): string => {
    const verdict = authenticator!.challenge(
      { flow: flow(source), direction: 'client', request: request({ method: 'REGISTER' }), inDialog: false },
      T0,
    );
    assert.ok(verdict.action === 'answer');
    return /nonce="([^"]+)"/.exec(verdict.headers![0]!.value)![1]!;
  };
  const retry = (nonce: string) =>
    request({ method: 'REGISTER', fromUser: 'alice', authUser: 'alice', nonce });
  const ours = nonceFor(phone.remoteAddress);
  const another = nonceFor('203.0.113.71');
  // Over the gate's budget of messages per second.
  for (let i = 0; i < 20; i++) h.pipeline.admit(packet(flow(`192.0.2.${i + 1}`)));
  assert.equal(h.send(retry(ours), phone), 'pass');
  assert.equal(h.send(retry(another), phone), 'reject');
});
