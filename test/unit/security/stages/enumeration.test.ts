import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import { createEnumerationStage, targetUserOf } from '../../../../src/security/stages/enumeration.ts';
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

const attacker = flow('203.0.113.20');

function stage(settings: unknown = {}, deps: TestDeps = makeDeps()) {
  return { deps, enumeration: createEnumerationStage(settings, deps) };
}

function errors(settings: unknown): string[] {
  try {
    createEnumerationStage(settings, makeDeps());
  } catch (error) {
    assert.ok(error instanceof StageConfigError);
    return [...error.issues];
  }
  assert.fail('expected a StageConfigError');
}

/** svwar: one REGISTER per extension, answered `status`. */
function sweep(
  enumeration: ReturnType<typeof createEnumerationStage>,
  users: number,
  status: number,
  options: { withCredentials?: boolean; from?: ReturnType<typeof flow>; start?: number } = {},
): StageVerdict[] {
  const out: StageVerdict[] = [];
  for (let i = 0; i < users; i++) {
    const ext = String(100 + i);
    const req = request({
      method: 'REGISTER',
      fromUser: ext,
      toUser: ext,
      ...(options.withCredentials ? { authUser: ext } : {}),
    });
    out.push(
      enumeration.outcome!(
        outcomeContext(req, options.from ?? attacker, status),
        (options.start ?? T0) + i * 100,
      ),
    );
  }
  return out;
}

test('blocks a source for an hour when more than 10 distinct users fail in 60 s', () => {
  const { enumeration } = stage();
  const verdicts = sweep(enumeration, 12, 404);
  assert.equal(
    verdicts.findIndex((v) => v.action !== 'pass'),
    10,
  );
  const v = verdicts[10]!;
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '203.0.113.20');
  assert.equal(v.durationMs, 3_600_000);
  assert.equal(v.event.type, 'enumeration');
  assert.equal(v.event.rule, 'failed-users');
  assert.equal(v.event.details?.distinctUsers, 11);
  assert.equal(v.event.details?.threshold, 10);
  assert.equal(v.event.details?.failureRatio, 1);
});

test('ten failed users, or the same user failing again, do not fire', () => {
  const { enumeration } = stage();
  assert.ok(sweep(enumeration, 10, 404).every((v) => v.action === 'pass'));
  const again = request({ method: 'REGISTER', fromUser: '100', toUser: '100' });
  for (let i = 0; i < 20; i++) {
    assert.equal(actionOf(enumeration.outcome!(outcomeContext(again, attacker, 404), T0 + 2000 + i)), 'pass');
  }
});

test('a challenge to a request without credentials is not a failed user', () => {
  const { enumeration } = stage();
  assert.ok(sweep(enumeration, 200, 401).every((v) => v.action === 'pass'));
  assert.ok(sweep(enumeration, 200, 407, { start: T0 + 30_000 }).every((v) => v.action === 'pass'));
});

test('a 401 to a request with credentials is a failed user', () => {
  const { enumeration } = stage();
  const verdicts = sweep(enumeration, 11, 401, { withCredentials: true });
  assert.equal(verdicts[10]!.action, 'block');
});

test('a 401 whose challenge says stale=true is not a failed user, even with credentials', () => {
  const { enumeration } = stage();
  for (let i = 0; i < 30; i++) {
    const ext = String(100 + i);
    const req = request({ method: 'REGISTER', fromUser: ext, toUser: ext, authUser: ext, cseq: 5 });
    const challenge = parseResponse(
      responseText(req, 401, 'WWW-Authenticate: Digest realm="pbx.example.com", nonce="77aa", stale=true'),
    );
    assert.equal(actionOf(enumeration.response!(requestContext(req, attacker), challenge, T0 + i)), 'pass');
    assert.equal(actionOf(enumeration.outcome!(outcomeContext(req, attacker, 401), T0 + i)), 'pass');
  }
});

test('403 and 604 count; 486 and 480 do not', () => {
  const { enumeration } = stage();
  assert.ok(sweep(enumeration, 30, 486).every((v) => v.action === 'pass'));
  assert.ok(sweep(enumeration, 30, 480).every((v) => v.action === 'pass'));
  const { enumeration: other } = stage();
  assert.equal(sweep(other, 11, 403)[10]!.action, 'block');
  const { enumeration: third } = stage();
  assert.equal(sweep(third, 11, 604)[10]!.action, 'block');
});

test('a trunk carrying many calls, a few to numbers that do not exist, is not an enumerator', () => {
  const { enumeration } = stage();
  const trunk = flow('198.51.100.200');
  let n = 0;
  for (let i = 0; i < 1200; i++) {
    const number = `4930${1000 + (i % 400)}`;
    const wrong = i % 50 === 0; // 24 calls to 24 numbers that do not exist
    const req = request({
      method: 'INVITE',
      ruriUser: wrong ? `4939${i}` : number,
      toUser: wrong ? `4939${i}` : number,
    });
    const v = enumeration.outcome!(outcomeContext(req, trunk, wrong ? 404 : 200), T0 + i * 50);
    if (v.action !== 'pass') n++;
  }
  assert.equal(n, 0);
});

test('the failure ratio is in the figures and can be lowered to catch a scanner hiding among good requests', () => {
  const { enumeration } = stage({ failedUsers: { minFailureRatio: 0.2 } });
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 11; i++) {
    const good = request({ method: 'OPTIONS', ruriUser: '100' });
    enumeration.outcome!(outcomeContext(good, attacker, 200), T0 + i * 10);
    enumeration.outcome!(outcomeContext(good, attacker, 200), T0 + i * 10 + 1);
    const probe = request({ method: 'INVITE', ruriUser: `${500 + i}` });
    verdicts.push(enumeration.outcome!(outcomeContext(probe, attacker, 404), T0 + i * 10 + 2));
  }
  const v = verdicts[10]!;
  assert.equal(v.action, 'block');
  assert.equal(eventOf(v).details?.failureRatio, 0.33);
});

test('a trusted source is allowed ten times as many failed users', () => {
  const { deps, enumeration } = stage();
  deps.trust.succeed('203.0.113.20', '100', T0 - 1000);
  const verdicts = sweep(enumeration, 30, 404);
  assert.ok(verdicts.every((v) => v.action === 'pass'));
});

test('an OPTIONS sweep over more than 20 users in 60 s blocks the source', () => {
  const { enumeration } = stage();
  const verdicts: StageVerdict[] = [];
  for (let i = 0; i < 22; i++) {
    const req = request({ method: 'OPTIONS', ruriUser: `${1000 + i}` });
    verdicts.push(enumeration.request!(requestContext(req, attacker), T0 + i * 50) as StageVerdict);
  }
  assert.equal(
    verdicts.findIndex((v) => v.action !== 'pass'),
    20,
  );
  const v = verdicts[20]!;
  assert.ok(v.action === 'block');
  assert.equal(v.event.rule, 'options-sweep');
  assert.equal(v.event.details?.distinctUsers, 21);
});

test('OPTIONS keep-alives to the server itself are not a sweep', () => {
  const { enumeration } = stage();
  const keepAlive = request({ method: 'OPTIONS', ruriUser: '' });
  for (let i = 0; i < 500; i++) {
    assert.equal(actionOf(enumeration.request!(requestContext(keepAlive, attacker), T0 + i * 10)), 'pass');
  }
});

test('the OPTIONS sweep rule is off with count 0', () => {
  const { enumeration } = stage({ optionsSweep: { count: 0 } });
  for (let i = 0; i < 50; i++) {
    const req = request({ method: 'OPTIONS', ruriUser: `${1000 + i}` });
    assert.equal(actionOf(enumeration.request!(requestContext(req, attacker), T0 + i)), 'pass');
  }
});

test('outcomes of requests from the upstream side are not counted', () => {
  const { enumeration } = stage();
  for (let i = 0; i < 30; i++) {
    const req = request({ method: 'INVITE', ruriUser: `${700 + i}` });
    assert.equal(
      actionOf(enumeration.outcome!(outcomeContext(req, attacker, 404, 'upstream'), T0 + i)),
      'pass',
    );
  }
});

test('the target of a REGISTER is its To user, of other requests the Request-URI user', () => {
  assert.equal(targetUserOf(request({ method: 'REGISTER', fromUser: '100', toUser: '101' })), '101');
  assert.equal(targetUserOf(request({ method: 'INVITE', ruriUser: '102', toUser: '103' })), '102');
  assert.equal(targetUserOf(request({ method: 'OPTIONS', ruriUser: '', toUser: '104' })), '104');
});

test('settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ failedUsers: { minFailureRatio: 2 } }), [
    'failedUsers.minFailureRatio: must be a number from 0 to 1',
  ]);
  assert.deepEqual(errors({ failedUsers: { statuses: [200] } }), [
    'failedUsers.statuses[0]: must be a SIP status from 400 to 699',
  ]);
  assert.deepEqual(errors({ optionsSweep: { count: -1 } }), [
    'optionsSweep.count: must be an integer from 0 to 10000000',
  ]);
  assert.deepEqual(errors({ action: 'reject' }), ['action: must be one of block, drop, alert']);
});
