import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import { withTrunks } from '../../../../src/security/build-pipeline.ts';
import type { StageVerdict } from '../../../../src/security/stage.ts';
import { createCallLimitStage } from '../../../../src/security/stages/call-limit.ts';
import type { TrunkSettings } from '../../../../src/security/trunks.ts';
import { flow, makeDeps, request, T0 } from './helpers.ts';

const TRUNK = '203.0.113.10';
const PHONE = '198.51.100.20';

function stageWith(trunks: TrunkSettings[], settings: unknown = {}) {
  const deps = withTrunks({ enabled: true, allowlist: [], settings: {}, trunks }, makeDeps());
  return { stage: createCallLimitStage(settings, deps), deps };
}

/** A new INVITE from the client side with `active` calls of its caller identity open, as the proxy hands it over. */
function invite(from: string, active: number, fromUser = 'carrier'): RequestContext {
  return {
    flow: flow(from),
    direction: 'client',
    request: request({ fromUser }),
    inDialog: false,
    activeDialogs: active,
  };
}

function verdict(v: StageVerdict | Promise<StageVerdict>): StageVerdict {
  assert.ok(!(v instanceof Promise));
  return v;
}

const carrier: TrunkSettings = {
  name: 'carrier',
  addresses: ['203.0.113.0/28'],
  identity: 'carrier',
  maxConcurrentCalls: 100,
  maxCallsPerSecond: 30,
};

test('a caller identity is held to 5 concurrent calls by default: the sixth gets 403', () => {
  const { stage } = stageWith([]);
  assert.equal(verdict(stage.request!(invite(PHONE, 4), T0)).action, 'pass');
  const v = verdict(stage.request!(invite(PHONE, 5), T0));
  assert.equal(v.action, 'reject');
  assert.ok(v.action === 'reject' && v.status === 403);
  assert.ok(v.action === 'reject' && v.event.rule === 'max-concurrent-calls');
});

test('calls from a declared trunk with its identity get the trunk limit instead', () => {
  const { stage } = stageWith([carrier]);
  assert.equal(verdict(stage.request!(invite(TRUNK, 50), T0)).action, 'pass');
  const v = verdict(stage.request!(invite(TRUNK, 100), T0 + 100));
  assert.ok(v.action === 'reject' && v.status === 403);
  assert.ok(v.action === 'reject' && v.event.rule === 'trunk-concurrent-calls');
  assert.deepEqual(v.action === 'reject' && v.event.details, { active: 100, limit: 100, trunk: 'carrier' });
});

test("the trunk's identity from another address, and another identity from the trunk's address, are users", () => {
  const { stage } = stageWith([carrier]);
  assert.equal(verdict(stage.request!(invite(PHONE, 5, 'carrier'), T0)).action, 'reject');
  const other = verdict(stage.request!(invite(TRUNK, 5, 'alice'), T0));
  assert.ok(other.action === 'reject' && other.event.rule === 'max-concurrent-calls');
});

test('a trunk declared without identity gets its limits for every caller from its addresses', () => {
  const { stage } = stageWith([{ ...carrier, identity: undefined }]);
  assert.equal(verdict(stage.request!(invite(TRUNK, 50, 'alice'), T0)).action, 'pass');
  assert.equal(verdict(stage.request!(invite('203.0.113.15', 50, '4930555'), T0)).action, 'pass');
  // Outside its network: a user.
  assert.equal(verdict(stage.request!(invite('203.0.113.16', 50, '4930555'), T0)).action, 'reject');
});

test('a trunk over its call rate gets 503 with Retry-After, and admitted calls alone count towards it', () => {
  const { stage } = stageWith([carrier]);
  let admitted = 0;
  let refused = 0;
  // 60 calls offered within one second against a rate of 30.
  for (let i = 0; i < 60; i++) {
    const v = verdict(stage.request!(invite(TRUNK, 0), T0 + i * 16));
    if (v.action === 'pass') admitted++;
    else {
      refused++;
      assert.ok(v.action === 'reject' && v.status === 503 && v.event.rule === 'trunk-call-rate');
      assert.deepEqual(v.action === 'reject' && v.headers, [{ name: 'Retry-After', value: '1' }]);
    }
  }
  assert.equal(admitted, 30);
  assert.equal(refused, 30);
  // Two seconds later the trunk has its full rate again.
  assert.equal(verdict(stage.request!(invite(TRUNK, 0), T0 + 2500)).action, 'pass');
});

test('a steady 20 calls/s stays under a rate of 30 for a minute', () => {
  const { stage } = stageWith([carrier]);
  for (let i = 0; i < 20 * 60; i++) {
    assert.equal(verdict(stage.request!(invite(TRUNK, 40), T0 + i * 50)).action, 'pass', `call ${i}`);
  }
});

test("a declared trunk's addresses count as trusted for every stage; other addresses do not", () => {
  const { deps } = stageWith([carrier]);
  assert.equal(deps.trust.isTrusted('203.0.113.3', T0), true);
  assert.equal(deps.trust.isTrusted(PHONE, T0), false);
  deps.trust.succeed(PHONE, 'alice', T0);
  assert.equal(deps.trust.isTrusted(PHONE, T0 + 1), true);
});

test('a trunk whose every call the upstream challenges counts each call once: 25 calls/s under a rate of 30', () => {
  const { stage } = stageWith([carrier]);
  for (let i = 0; i < 25 * 10; i++) {
    const now = T0 + i * 40;
    const first = invite(TRUNK, 10);
    assert.equal(verdict(stage.request!(first, now)).action, 'pass', `call ${i}`);
    stage.outcome!({ flow: first.flow, direction: 'client', request: first.request, status: 407 }, now + 5);
    const again = invite(TRUNK, 10);
    assert.equal(verdict(stage.request!(again, now + 10)).action, 'pass', `call ${i} with credentials`);
  }
});

test('a call sipwarden authenticated is refused in the name of its verified identity', () => {
  const { stage } = stageWith([]);
  const context: RequestContext = {
    ...invite(PHONE, 5, 'alice'),
    identity: { user: 'alice', domain: 'pbx.example.com', groups: [], roles: [], method: 'digest' },
  };
  const v = verdict(stage.request!(context, T0));
  assert.ok(v.action === 'reject' && v.status === 403);
  assert.equal(v.event.key, 'identity=alice@pbx.example.com');
  assert.match(v.event.reason, /alice@pbx\.example\.com over its concurrent call limit/);
});
