import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from '../harness/ports.ts';
import { sipwarden } from './helpers.ts';

test('attack --help lists every kind and the loopback rule', async () => {
  const run = await sipwarden(['attack', '--help']);
  assert.equal(run.code, 0);
  for (const kind of [
    'invite-flood',
    'scan',
    'enumerate',
    'crack',
    'malformed',
    'bye-spoof',
    'tcp-exhaust',
    'spit',
  ]) {
    assert.match(run.stdout, new RegExp(kind));
  }
  assert.match(run.stdout, /--allow-remote/);
});

test('an unknown attack kind exits 2 and names the kinds', async () => {
  const run = await sipwarden(['attack', 'teardrop', '--target', '127.0.0.1:5060']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /unknown attack kind 'teardrop': one of invite-flood/);
});

test('a count beyond the bound exits 2 before anything is sent', async () => {
  const run = await sipwarden([
    'attack',
    'options-flood',
    '--target',
    '127.0.0.1:5060',
    '--count',
    '5000000',
  ]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--count 5000000: must be a whole number 1\.\.1000000/);
});

test('assess refuses an unknown attack in --only, and a remote target', async () => {
  const only = await sipwarden(['assess', '--target', '127.0.0.1:5060', '--only', 'scan,nope']);
  assert.equal(only.code, 2);
  assert.match(only.stderr, /--only: unknown attack 'nope'/);
  const remote = await sipwarden(['assess', '--target', '198.51.100.7:5060']);
  assert.equal(remote.code, 2);
  assert.match(remote.stderr, /--allow-remote/);
});

test('assess exits 1 when the target does not answer OPTIONS at the start', async () => {
  const port = await freePort('127.0.0.1', ['udp']);
  const run = await sipwarden(['assess', '--target', `127.0.0.1:${port}`]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /does not answer OPTIONS: nothing to assess/);
});
