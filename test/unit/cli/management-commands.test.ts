import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { BlockAnswer, BlocksAnswer, EventsAnswer } from '../../../src/api/views.ts';
import { type TestStack, testStack } from '../api/helpers.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node bin/sipwarden.js ...args` to completion, without blocking the in-process server,
 * with an operator's API token in $SIPWARDEN_API_TOKEN unless `env` says otherwise.
 */
function sipwarden(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      {
        cwd: root,
        env: { ...process.env, SIPWARDEN_API: '', SIPWARDEN_API_TOKEN: stack.tokens.operator, ...env },
      },
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
  // The commands read the real clock; the server's starts there too.
  stack.clock.now = Date.now();
  const { port } = await stack.server.listen();
  api = `http://127.0.0.1:${port}`;
});
after(() => stack.close());

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

test('block sets a block on the running gateway and says until when', async () => {
  const run = await sipwarden(['block', '203.0.113.7', '--for', '30m', '--reason', 'scanner', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^blocked 203\.0\.113\.7 until \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z\n$/);
  const entry = stack.blocks.list(stack.clock.now).find((block) => block.key === '203.0.113.7');
  assert.equal(entry?.reason, 'scanner');
  assert.equal(entry!.expiresAt - entry!.createdAt, 30 * 60_000);
});

test('block --for takes a bare number as seconds and permanent for until unblocked', async () => {
  const seconds = await sipwarden(['block', '198.51.100.1', '--for', '90', '--api', api, '--json']);
  assert.equal(seconds.code, 0, seconds.stderr);
  assert.equal((JSON.parse(seconds.stdout) as BlockAnswer).block.remainingSeconds, 90);
  const permanent = await sipwarden(['block', '198.51.100.2', '--for', 'permanent', '--api', api]);
  assert.equal(permanent.stdout, 'blocked 198.51.100.2 until unblocked\n');
});

test('block of something that is not an address prints the API message and exits 1', async () => {
  const run = await sipwarden(['block', 'example.com', '--api', api]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.equal(
    run.stderr,
    'sipwarden: address: "example.com" is not an IP address or a network in CIDR form\n',
  );
});

test('block with a bad duration prints the API message and exits 1', async () => {
  const run = await sipwarden(['block', '203.0.113.8', '--for', 'soon', '--api', api]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^sipwarden: duration: "soon" is not a duration/);
});

test('blocks prints a table of the blocks in force', async () => {
  await sipwarden(['block', '192.0.2.0/24', '--for', '1h', '--reason', 'test net', '--api', api]);
  const run = await sipwarden(['blocks', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^BLOCKED\s+SCOPE\s+RULE\s+EXPIRES\s+LEFT\s+HITS\s+REASON$/);
  const row = lines.find((line) => line.startsWith('192.0.2.0/24'));
  assert.match(row!, /^192\.0\.2\.0\/24\s+network\s+admin\s+\S+ \S+\s+(59m\d+s|1h)\s+0\s+test net$/);
});

test('blocks --json prints the API answer', async () => {
  const run = await sipwarden(['blocks', '--json', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  const answer = JSON.parse(run.stdout) as BlocksAnswer;
  assert.ok(answer.blocks.some((block) => block.key === '203.0.113.7'));
});

test('unblock removes a block, a network too', async () => {
  await sipwarden(['block', '203.0.113.99', '--api', api]);
  const run = await sipwarden(['unblock', '203.0.113.99', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'unblocked 203.0.113.99\n');
  assert.equal(stack.blocks.match('203.0.113.99', Date.now()), undefined);
  const network = await sipwarden(['unblock', '192.0.2.0/24', '--api', api]);
  assert.equal(network.code, 0, network.stderr);
});

test('unblock of an address that is not blocked prints the API message and exits 1', async () => {
  const run = await sipwarden(['unblock', '203.0.113.250', '--api', api]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, 'sipwarden: no block on "203.0.113.250"\n');
});

test('events prints a table with what, source, rule, count, first and last seen and reason', async () => {
  stack.store.write([
    {
      type: 'flood',
      stage: 'detect:flood',
      rule: 'invite-flood',
      action: 'block',
      source: { address: '203.0.113.66', port: 5062, transport: 'udp' },
      key: 'src:203.0.113.66',
      reason: 'more than 50 INVITE in 10 s',
      firstSeen: Date.now() - 5000,
      lastSeen: Date.now() - 1000,
      count: 1234,
      aggregateId: 'cli-test-1',
    },
  ]);
  const run = await sipwarden(['events', '--since', '10m', '--type', 'flood', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^LAST SEEN\s+WHAT\s+SOURCE\s+KEY\s+RULE\s+COUNT\s+FIRST SEEN\s+REASON$/);
  assert.equal(lines.length, 2);
  assert.match(
    lines[1]!,
    /flood block\s+203\.0\.113\.66:5062\/udp\s+src:203\.0\.113\.66\s+invite-flood\s+1234\s+.+more than 50 INVITE in 10 s$/,
  );
});

test('events --json shows the admin events of blocks made through the API', async () => {
  stack.bus.flush(Date.now());
  const run = await sipwarden(['events', '--type', 'block', '--limit', '500', '--json', '--api', api]);
  assert.equal(run.code, 0, run.stderr);
  const { events } = JSON.parse(run.stdout) as EventsAnswer;
  assert.ok(events.some((event) => event.stage === 'admin' && event.key === '203.0.113.7'));
});

test('events with a bad limit prints the API message and exits 1', async () => {
  const run = await sipwarden(['events', '--limit', '5000', '--api', api]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^sipwarden: querystring\/limit must be <= 1000\n$/);
});

test('the API URL comes from SIPWARDEN_API when --api is not given', async () => {
  const run = await sipwarden(['blocks', '--json'], { SIPWARDEN_API: `${api}/` });
  assert.equal(run.code, 0, run.stderr);
});

test('an unreachable API is reported with its URL and the reason, and exits 1', async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const run = await sipwarden(['blocks', '--api', url]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, `sipwarden: cannot reach the management API at ${url}: ECONNREFUSED\n`);
});

test('an --api that is not a URL is a usage error (exit 2)', async () => {
  const run = await sipwarden(['blocks', '--api', 'nowhere']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^sipwarden: --api: "nowhere" is not a URL/);
});

test('over HTTP without a token the command says how to get one, and exits 1', async () => {
  const run = await sipwarden(['blocks', '--api', api], { SIPWARDEN_API_TOKEN: '' });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^sipwarden: http:\/\/127\.0\.0\.1:\d+ needs an API token: give --token or set SIPWARDEN_API_TOKEN/,
  );
});

test('a viewer token may list blocks but not block: the API says which role it needs', async () => {
  const list = await sipwarden(['blocks', '--api', api, '--token', stack.tokens.viewer]);
  assert.equal(list.code, 0, list.stderr);
  const run = await sipwarden(['block', '203.0.113.77', '--api', api, '--token', stack.tokens.viewer]);
  assert.equal(run.code, 1);
  assert.equal(run.stderr, 'sipwarden: this needs the operator role; token:viewer has viewer\n');
  assert.equal(
    stack.blocks.list(Date.now()).some((entry) => entry.key === '203.0.113.77'),
    false,
  );
});

test('a revoked or made-up token is refused', async () => {
  const run = await sipwarden([
    'blocks',
    '--api',
    api,
    '--token',
    'swt_AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /refused the API token: the API token is not valid/);
});
