/**
 * The pipeline's hook runner: stages in order, the first refusal ends a message's way,
 * synchronous stages answer synchronously, a promise is awaited only when a stage returns
 * one, a stage that fails is contained, and the outcome reaches every stage.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DROP, PASS } from '../../../src/core/inspector.ts';
import type { EventInput } from '../../../src/events/types.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { SecurityPipeline } from '../../../src/security/pipeline.ts';
import { STAGE_PASS, type Stage, type StageVerdict } from '../../../src/security/stage.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import {
  flow,
  outcomeContext,
  packet,
  parseResponse,
  request,
  requestContext,
  responseText,
  T0,
} from './stages/helpers.ts';

const FROM = flow('198.51.100.20');

function event(stage: string): EventInput {
  return { type: 'policy', stage, action: 'reject', reason: `${stage} says no` };
}

const reject = (stage: string): StageVerdict => ({
  action: 'reject',
  status: 403,
  reason: 'Forbidden',
  event: event(stage),
});

/** A stage answering every hook with `verdict`, noting each call in `calls`. */
function stage(
  name: string,
  calls: string[],
  verdict: () => StageVerdict | Promise<StageVerdict>,
  failMode: Stage['failMode'] = 'closed',
): Stage {
  const sync = (hook: string) => {
    calls.push(`${name}.${hook}`);
    const v = verdict();
    assert.ok(!(v instanceof Promise));
    return v;
  };
  return {
    name,
    phase: 'policy',
    failMode,
    admit: () => sync('admit'),
    malformed: () => sync('malformed'),
    request: () => {
      calls.push(`${name}.request`);
      return verdict();
    },
    response: () => sync('response'),
    outcome: () => sync('outcome'),
  };
}

function pipeline(stages: Stage[], events: EventInput[] = []): SecurityPipeline {
  return new SecurityPipeline({
    stages,
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    events: { emit: (e) => events.push(e) },
    log: silentLogger,
    isAllowlisted: () => false,
    now: () => T0,
  });
}

test('every stage passing gives the shared PASS, synchronously, for each hook', () => {
  const calls: string[] = [];
  const p = pipeline([stage('a', calls, () => STAGE_PASS), stage('b', calls, () => STAGE_PASS)]);
  const req = request();
  assert.equal(p.admit(packet(FROM)), PASS);
  assert.equal(p.inspectRequest(requestContext(req, FROM)), PASS);
  assert.equal(p.inspectResponse(requestContext(req, FROM), parseResponse(responseText(req, 200))), PASS);
  p.outcome(outcomeContext(req, FROM, 200));
  assert.deepEqual(calls, [
    'a.admit',
    'b.admit',
    'a.request',
    'b.request',
    'a.response',
    'b.response',
    'a.outcome',
    'b.outcome',
  ]);
});

test('the first refusal ends the way: later stages are not asked', () => {
  const calls: string[] = [];
  const events: EventInput[] = [];
  const p = pipeline([stage('a', calls, () => reject('a')), stage('b', calls, () => STAGE_PASS)], events);
  const verdict = p.inspectRequest(requestContext(request(), FROM));
  assert.deepEqual(verdict, { action: 'reject', status: 403, reason: 'Forbidden' });
  assert.deepEqual(calls, ['a.request']);
  assert.deepEqual(
    events.map((e) => e.stage),
    ['a'],
  );
});

test('a refused response is dropped, never answered', () => {
  const calls: string[] = [];
  const p = pipeline([stage('a', calls, () => reject('a'))]);
  const req = request();
  assert.equal(p.inspectResponse(requestContext(req, FROM), parseResponse(responseText(req, 200))), DROP);
});

test('a malformed packet is seen by each stage until one refuses, then recorded with what happens to it', () => {
  const calls: string[] = [];
  const events: EventInput[] = [];
  const p = pipeline([stage('a', calls, () => STAGE_PASS), stage('b', calls, () => reject('b'))], events);
  const verdict = p.malformed(
    packet(FROM),
    {
      code: 'SW_ERR_BAD_START_LINE',
      status: 400,
      reason: 'bad start line',
    },
    true,
  );
  assert.equal(verdict.action, 'reject');
  assert.deepEqual(calls, ['a.malformed', 'b.malformed']);
  assert.deepEqual(
    events.map((e) => `${e.type}/${e.stage}`),
    ['policy/b', 'malformed/parse'],
  );
});

test('the outcome reaches every stage, even after one of them refuses', () => {
  const calls: string[] = [];
  const events: EventInput[] = [];
  const p = pipeline([stage('a', calls, () => reject('a')), stage('b', calls, () => reject('b'))], events);
  p.outcome(outcomeContext(request(), FROM, 403));
  assert.deepEqual(calls, ['a.outcome', 'b.outcome']);
  assert.deepEqual(
    events.map((e) => e.stage),
    ['a', 'b'],
  );
});

test('a stage returning a promise is awaited, and the stages after it run once it settles', async () => {
  const calls: string[] = [];
  let settle: (v: StageVerdict) => void = () => {};
  const p = pipeline([
    stage('a', calls, () => STAGE_PASS),
    stage('b', calls, () => new Promise<StageVerdict>((resolve) => (settle = resolve))),
    stage('c', calls, () => reject('c')),
  ]);
  const verdict = p.inspectRequest(requestContext(request(), FROM));
  assert.ok(verdict instanceof Promise);
  assert.deepEqual(calls, ['a.request', 'b.request']);
  settle(STAGE_PASS);
  assert.deepEqual(await verdict, { action: 'reject', status: 403, reason: 'Forbidden' });
  assert.deepEqual(calls, ['a.request', 'b.request', 'c.request']);
});

test('an asynchronous refusal ends the way', async () => {
  const calls: string[] = [];
  const p = pipeline([
    stage('a', calls, () => Promise.resolve(reject('a'))),
    stage('b', calls, () => STAGE_PASS),
  ]);
  assert.deepEqual(await p.inspectRequest(requestContext(request(), FROM)), {
    action: 'reject',
    status: 403,
    reason: 'Forbidden',
  });
  assert.deepEqual(calls, ['a.request']);
});

test('a stage that throws or rejects fails as it declared: open goes on, closed answers 500', async () => {
  const calls: string[] = [];
  const open = pipeline([
    stage(
      'a',
      calls,
      () => {
        throw new Error('broken');
      },
      'open',
    ),
    stage('b', calls, () => Promise.reject(new Error('broken')), 'open'),
    stage('c', calls, () => STAGE_PASS),
  ]);
  assert.equal(await open.inspectRequest(requestContext(request(), FROM)), PASS);
  assert.deepEqual(calls, ['a.request', 'b.request', 'c.request']);

  const closedSync = pipeline([
    stage('a', [], () => {
      throw new Error('broken');
    }),
  ]);
  assert.equal(closedSync.admit(packet(FROM)).action, 'reject');
  const closedAsync = pipeline([stage('a', [], () => Promise.reject(new Error('broken')))]);
  const verdict = await closedAsync.inspectRequest(requestContext(request(), FROM));
  assert.equal(verdict.action, 'reject');
  assert.equal(verdict.action === 'reject' ? verdict.status : 0, 500);
});

test('an allowlisted source is spared the refusals of detection, not those of authentication or policy', () => {
  const events: EventInput[] = [];
  const phased = (name: string, phase: Stage['phase']): Stage => ({
    ...stage(name, [], () => reject(name)),
    phase,
  });
  const allowlisted = (stages: Stage[]) =>
    new SecurityPipeline({
      stages,
      blocks: createMemoryBlockTable({ maxEntries: 100 }),
      events: { emit: (e) => events.push(e) },
      log: silentLogger,
      isAllowlisted: () => true,
      now: () => T0,
    });
  // Detection: reported as an alert, the request goes on.
  assert.equal(
    allowlisted([phased('flood', 'detect')]).inspectRequest(requestContext(request(), FROM)),
    PASS,
  );
  assert.equal(events.at(-1)?.action, 'alert');
  assert.match(events.at(-1)?.reason ?? '', /allowlisted: would reject/);
  // Who the sender is and what it may do hold for every address.
  for (const phase of ['authenticate', 'policy'] as const) {
    const verdict = allowlisted([phased(phase, phase)]).inspectRequest(requestContext(request(), FROM));
    assert.deepEqual(verdict, { action: 'reject', status: 403, reason: 'Forbidden' }, phase);
    assert.equal(events.at(-1)?.action, 'reject');
  }
});
