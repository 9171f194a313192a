import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { HoldsAnswer } from '../../../src/api/views.ts';
import { type TestStack, testStack } from '../api/helpers.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');

function sipwarden(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...process.env, SIPWARDEN_API: '', SIPWARDEN_API_TOKEN: stack.tokens.operator } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let stack: TestStack;
let api: string;

before(async () => {
  stack = testStack();
  stack.clock.now = Date.now();
  const { port } = await stack.server.listen();
  api = `http://127.0.0.1:${port}`;
});
after(() => stack.close());

test('fraud holds lists the held identities; fraud release lets one call again, with an admin event', async () => {
  const empty = await sipwarden(['fraud', 'holds', '--api', api]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, 'no identity held\n');

  stack.holds.hold({
    identity: 'alice@example.com',
    verified: true,
    rule: 'spend-velocity',
    reason: '45 minutes to expensive destinations in the last hour',
    status: 403,
    since: stack.clock.now,
  });
  const listed = await sipwarden(['fraud', 'holds', '--api', api]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^HELD\s+VERIFIED\s+RULE\s+SINCE\s+REFUSED\s+REASON\n/);
  assert.match(listed.stdout, /alice@example\.com\s+yes\s+spend-velocity\s+\S+ \S+\s+0\s+45 minutes/);
  const json = await sipwarden(['fraud', 'holds', '--json', '--api', api]);
  const answer = JSON.parse(json.stdout) as HoldsAnswer;
  assert.deepEqual(
    answer.holds.map((h) => [h.identity, h.rule, h.verified]),
    [['alice@example.com', 'spend-velocity', true]],
  );

  const released = await sipwarden(['fraud', 'release', 'Alice@Example.com', '--api', api]);
  assert.equal(released.code, 0, released.stderr);
  assert.equal(released.stdout, 'released Alice@Example.com\n');
  assert.equal(stack.holds.get('alice@example.com'), undefined);
  stack.bus.stop();
  const events = stack.store.query({ type: 'fraud' });
  assert.deepEqual(
    events.map((e) => [e.stage, e.action, e.key]),
    [['admin', 'unblock', 'identity:alice@example.com']],
  );

  const again = await sipwarden(['fraud', 'release', 'alice@example.com', '--api', api]);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'sipwarden: no hold on "alice@example.com"\n');
});

test('block and unblock take a caller identity: identity:user@domain', async () => {
  const blocked = await sipwarden(['block', 'identity:Dave@Example.com', '--for', '10m', '--api', api]);
  assert.equal(blocked.code, 0, blocked.stderr);
  const entry = stack.blocks.list(stack.clock.now).find((b) => b.key === 'identity:dave@example.com');
  assert.equal(entry?.scope, 'key');
  const bad = await sipwarden(['block', 'identity:no-domain', '--api', api]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /identity: takes user@domain/);
  const unblocked = await sipwarden(['unblock', 'identity:dave@example.com', '--api', api]);
  assert.equal(unblocked.code, 0, unblocked.stderr);
  assert.equal(stack.blocks.matchKey('identity:dave@example.com', stack.clock.now), undefined);
});
