import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fastify } from 'fastify';
import { registerAssessmentRoutes } from '../../../src/assessments/assessment-routes.ts';
import { openAssessmentStore } from '../../../src/assessments/assessment-store.ts';
import { bearer, testStack } from './helpers.ts';

function scorecard(target: string, succeeded = 0): Record<string, unknown> {
  return {
    target,
    api: 'http://127.0.0.1:9060',
    callee: 'sipwarden',
    startedAt: '2026-12-07T20:00:00.000Z',
    seconds: 42,
    rows: [
      {
        attack: 'scan',
        kind: 'scan',
        verdict: succeeded > 0 ? 'succeeded' : 'stopped',
        detected: true,
        detectedAfterSeconds: 0.4,
        blocked: { messages: 12, seconds: 0.5, by: 'api' },
        legitCalls: { attempted: 10, succeeded: 10 },
        alive: true,
        seconds: 5,
        outcome: 'blocked after 12 messages',
      },
    ],
    summary: { attacks: 1, succeeded, stopped: 1 - succeeded, notApplicable: 0, errors: 0, aliveAtEnd: true },
  };
}

test('the store keeps the newest runs only, newest first', () => {
  const store = openAssessmentStore(':memory:', 3);
  for (let i = 1; i <= 5; i++) store.add(scorecard(`127.0.0.${i}:5060`), 1000 + i);
  const listed = store.list(10);
  assert.deepEqual(
    listed.map((run) => run.scorecard.target),
    ['127.0.0.5:5060', '127.0.0.4:5060', '127.0.0.3:5060'],
  );
  assert.equal(listed[0]!.at, 1005);
  store.close();
});

test('POST /api/assessments needs an operator and a well-formed scorecard; GET lists it for a viewer', async () => {
  const store = openAssessmentStore(':memory:');
  try {
    // The routes alone (the access control is the next test's).
    const app = fastify();
    registerAssessmentRoutes(app, store, () => 5000);
    await app.ready();
    const posted = await app.inject({
      method: 'POST',
      url: '/api/assessments',
      payload: scorecard('127.0.0.9:5060'),
    });
    assert.equal(posted.statusCode, 201, posted.body);
    const bad = await app.inject({
      method: 'POST',
      url: '/api/assessments',
      payload: { ...scorecard('x'), rows: [{ attack: 'scan', verdict: 'maybe' }] },
    });
    assert.equal(bad.statusCode, 400, bad.body);
    const tooMany = await app.inject({
      method: 'POST',
      url: '/api/assessments',
      payload: { ...scorecard('x'), rows: Array.from({ length: 65 }, () => scorecard('x').rows) },
    });
    assert.equal(tooMany.statusCode, 400);
    const listed = await app.inject({ method: 'GET', url: '/api/assessments' });
    const runs = (listed.json() as { assessments: { at: number; scorecard: { target: string } }[] })
      .assessments;
    assert.deepEqual(
      runs.map((run) => [run.at, run.scorecard.target]),
      [[5000, '127.0.0.9:5060']],
    );
    await app.close();
  } finally {
    store.close();
  }
});

test('through the management server: a viewer reads the runs, cannot store one; an operator can', async () => {
  const store = openAssessmentStore(':memory:');
  const stack = testStack({ assessments: store });
  try {
    const asViewer = await stack.inject({
      method: 'POST',
      url: '/api/assessments',
      headers: bearer(stack.tokens.viewer),
      payload: scorecard('127.0.0.9:5060'),
    });
    assert.equal(asViewer.statusCode, 403);
    const asOperator = await stack.inject({
      method: 'POST',
      url: '/api/assessments',
      headers: bearer(stack.tokens.operator),
      payload: scorecard('127.0.0.9:5060', 1),
    });
    assert.equal(asOperator.statusCode, 201, asOperator.body);
    const listed = await stack.inject({
      method: 'GET',
      url: '/api/assessments?limit=5',
      headers: bearer(stack.tokens.viewer),
    });
    assert.equal(listed.statusCode, 200);
    const runs = (listed.json() as { assessments: { scorecard: { summary: { succeeded: number } } }[] })
      .assessments;
    assert.equal(runs[0]!.scorecard.summary.succeeded, 1);
    const anonymous = await stack.inject({
      method: 'GET',
      url: '/api/assessments',
      headers: { authorization: '' },
    });
    assert.equal(anonymous.statusCode, 401);
  } finally {
    await stack.close();
    store.close();
  }
});
