import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pace } from '../../../src/attack/pacer.ts';

test('an unpaced run sends exactly --count messages, in order', async () => {
  const seen: number[] = [];
  const result = await pace({ count: 500, durationMs: 60_000, rate: 0 }, (i) => {
    seen.push(i);
    return undefined;
  });
  assert.equal(result.sent, 500);
  assert.equal(result.stoppedBy, 'count');
  assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
  assert.equal(seen.at(-1), 499);
});

test('a run ends at --duration even when --count is far away', async () => {
  const result = await pace({ count: 1_000_000, durationMs: 50, rate: 10 }, () => undefined);
  assert.equal(result.stoppedBy, 'duration');
  assert.ok(result.sent < 1_000_000);
});

test('a send that returns false ends the run', async () => {
  const result = await pace({ count: 100, durationMs: 60_000, rate: 0 }, (i) =>
    i === 9 ? false : undefined,
  );
  assert.equal(result.sent, 10);
  assert.equal(result.stoppedBy, 'stopped');
});

test('serial sends wait for each other', async () => {
  let open = 0;
  let most = 0;
  await pace({ count: 20, durationMs: 60_000, rate: 0, batch: 1 }, async () => {
    open++;
    most = Math.max(most, open);
    await new Promise((resolve) => setImmediate(resolve));
    open--;
    return undefined;
  });
  assert.equal(most, 1);
});

test('an aborted run stops', async () => {
  const controller = new AbortController();
  controller.abort();
  const result = await pace(
    { count: 10, durationMs: 60_000, rate: 0, signal: controller.signal },
    () => undefined,
  );
  assert.equal(result.stoppedBy, 'stopped');
  assert.equal(result.sent, 0);
});
