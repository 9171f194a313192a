import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiErrorBody } from '../../../src/api/errors.ts';
import type { BlockAnswer, BlocksAnswer, EventsAnswer } from '../../../src/api/views.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { bearer, T0, testStack } from './helpers.ts';

const MINUTE = 60_000;

function floodEvent(overrides: Partial<SecurityEvent> = {}): SecurityEvent {
  return {
    type: 'flood',
    stage: 'detect:flood',
    rule: 'invite-flood',
    action: 'block',
    source: { address: '203.0.113.7', port: 5060, transport: 'udp' },
    key: 'src:203.0.113.7',
    reason: 'more than 50 INVITE in 10 s',
    firstSeen: T0,
    lastSeen: T0,
    count: 1,
    ...overrides,
  };
}

function errorOf(body: string): ApiErrorBody['error'] {
  return (JSON.parse(body) as ApiErrorBody).error;
}

test('GET /metrics answers the Prometheus text format', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.metrics.message('gate', 'pass');
  const reply = await stack.inject({ method: 'GET', url: '/metrics' });
  assert.equal(reply.statusCode, 200);
  assert.match(reply.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  assert.match(reply.body, /^sipwarden_messages_total\{stage="gate",verdict="pass"\} 1$/m);
  assert.match(reply.body, /^sipwarden_blocks_active 0$/m);
});

test('GET /api/events answers stored events newest first', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.store.write([floodEvent({ lastSeen: T0 - 2 * MINUTE }), floodEvent({ lastSeen: T0 - MINUTE })]);
  const reply = await stack.inject({ method: 'GET', url: '/api/events' });
  assert.equal(reply.statusCode, 200);
  const { events } = reply.json<EventsAnswer>();
  assert.deepEqual(
    events.map((event) => event.lastSeen),
    [T0 - MINUTE, T0 - 2 * MINUTE],
  );
  assert.equal(events[0]!.reason, 'more than 50 INVITE in 10 s');
});

test('GET /api/events reads since as a duration back from now, an ISO time or epoch ms', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.store.write([floodEvent({ lastSeen: T0 - 20 * MINUTE }), floodEvent({ lastSeen: T0 - 5 * MINUTE })]);
  const count = async (since: string) =>
    (await stack.inject({ url: `/api/events?since=${encodeURIComponent(since)}` })).json<EventsAnswer>()
      .events.length;
  assert.equal(await count('10m'), 1);
  assert.equal(await count('1h'), 2);
  assert.equal(await count(new Date(T0 - 10 * MINUTE).toISOString()), 1);
  assert.equal(await count(String(T0 - 30 * MINUTE)), 2);
});

test('GET /api/events filters by type and source and honours limit', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.store.write([
    floodEvent(),
    floodEvent({ type: 'scanner' }),
    floodEvent({ source: { address: '2001:db8::9', port: 5060, transport: 'tcp' } }),
  ]);
  const get = async (query: string) =>
    (await stack.inject({ url: `/api/events?${query}` })).json<EventsAnswer>().events;
  assert.equal((await get('type=scanner')).length, 1);
  assert.equal((await get('source=2001:DB8:0::9')).length, 1);
  assert.equal((await get('limit=2')).length, 2);
});

test('GET /api/events refuses a bad since, type or limit with 400 and a coded error', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const cases = [
    ['since=yesterday', 'SW_ERR_BAD_TIME'],
    ['type=earthquake', 'SW_ERR_BAD_REQUEST'],
    ['limit=0', 'SW_ERR_BAD_REQUEST'],
    ['limit=1001', 'SW_ERR_BAD_REQUEST'],
    ['limit=ten', 'SW_ERR_BAD_REQUEST'],
    ['source=not-an-ip', 'SW_ERR_BAD_ADDRESS'],
    ['colour=red', 'SW_ERR_BAD_REQUEST'],
  ] as const;
  for (const [query, code] of cases) {
    const reply = await stack.inject({ url: `/api/events?${query}` });
    assert.equal(reply.statusCode, 400, query);
    assert.equal(errorOf(reply.body).code, code, query);
    assert.ok(errorOf(reply.body).message.length > 0);
  }
});

test('POST /api/blocks blocks an address for an hour by default and answers 201', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    payload: { address: '203.0.113.7', reason: 'scanning us' },
  });
  assert.equal(reply.statusCode, 201);
  const { block } = reply.json<BlockAnswer>();
  assert.deepEqual(block, {
    key: '203.0.113.7',
    scope: 'address',
    rule: 'admin',
    reason: 'scanning us',
    createdAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 3_600_000).toISOString(),
    remainingSeconds: 3600,
    hits: 0,
  });
  assert.ok(stack.blocks.match('203.0.113.7', T0 + 1000));
});

test('POST /api/blocks accepts durations as text or seconds, and permanent', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const block = async (address: string, duration: string | number) =>
    (
      await stack.inject({ method: 'POST', url: '/api/blocks', payload: { address, duration } })
    ).json<BlockAnswer>().block;
  assert.equal((await block('198.51.100.1', '30m')).remainingSeconds, 1800);
  assert.equal((await block('198.51.100.2', '3600s')).remainingSeconds, 3600);
  assert.equal((await block('198.51.100.3', 90)).remainingSeconds, 90);
  const permanent = await block('198.51.100.4', 'permanent');
  assert.equal(permanent.expiresAt, null);
  assert.equal(permanent.remainingSeconds, null);
});

test('POST /api/blocks blocks a network in canonical CIDR form', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    payload: { address: '203.0.113.77/24' },
  });
  assert.equal(reply.statusCode, 201);
  assert.equal(reply.json<BlockAnswer>().block.key, '203.0.113.0/24');
  assert.equal(reply.json<BlockAnswer>().block.scope, 'network');
  assert.ok(stack.blocks.match('203.0.113.200', T0));
});

test('POST /api/blocks blocks a rule key as the stages spell it: users lower-cased, a source canonical', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const block = async (address: string) => {
    const reply = await stack.inject({ method: 'POST', url: '/api/blocks', payload: { address } });
    assert.equal(reply.statusCode, 201, reply.body);
    return reply.json<BlockAnswer>().block;
  };
  assert.deepEqual(
    [await block('user=Alice'), await block('fromUser=mallory'), await block('source=::ffff:192.0.2.9')].map(
      (b) => [b.scope, b.key],
    ),
    [
      ['key', 'user=alice'],
      ['key', 'fromUser=mallory'],
      ['key', 'source=192.0.2.9'],
    ],
  );
  assert.equal((await block('userAgent=BadDialer 1.0')).key, 'userAgent=BadDialer 1.0');
  assert.ok(stack.blocks.matchKey('user=alice', T0));
  for (const address of ['password=x', 'user=', 'source=example.com', `userAgent=${'x'.repeat(129)}`]) {
    const reply = await stack.inject({ method: 'POST', url: '/api/blocks', payload: { address } });
    assert.equal(reply.statusCode, 400, address);
    assert.equal(errorOf(reply.body).code, 'SW_ERR_BAD_ADDRESS', address);
  }
});

test('POST /api/blocks refuses bad input with 400 and a coded error', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const cases: [unknown, string][] = [
    [{ address: 'example.com' }, 'SW_ERR_BAD_ADDRESS'],
    [{ address: '10.0.0.0/4' }, 'SW_ERR_BAD_ADDRESS'],
    [{ address: '203.0.113.7', duration: 'soon' }, 'SW_ERR_BAD_DURATION'],
    [{ address: '203.0.113.7', duration: '500ms' }, 'SW_ERR_BAD_DURATION'],
    [{ address: '203.0.113.7', duration: -5 }, 'SW_ERR_BAD_DURATION'],
    [{}, 'SW_ERR_BAD_REQUEST'],
    [{ address: 7 }, 'SW_ERR_BAD_ADDRESS'],
    [{ address: '203.0.113.7', duraton: '1h' }, 'SW_ERR_BAD_REQUEST'],
    [{ address: '203.0.113.7', reason: 'x'.repeat(300) }, 'SW_ERR_BAD_REQUEST'],
    [[], 'SW_ERR_BAD_REQUEST'],
  ];
  for (const [payload, code] of cases) {
    const reply = await stack.inject({
      method: 'POST',
      url: '/api/blocks',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
    assert.equal(reply.statusCode, 400, JSON.stringify(payload));
    assert.equal(errorOf(reply.body).code, code, JSON.stringify(payload));
  }
  assert.equal(stack.blocks.stats().active, 0);
});

test('POST /api/blocks refuses a body that is not JSON', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const plain = await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    headers: { 'content-type': 'text/plain' },
    payload: '{"address":"203.0.113.7"}',
  });
  assert.equal(plain.statusCode, 415);
  assert.equal(errorOf(plain.body).code, 'SW_ERR_UNSUPPORTED_MEDIA_TYPE');
  const broken = await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    headers: { 'content-type': 'application/json' },
    payload: '{"address":',
  });
  assert.equal(broken.statusCode, 400);
  assert.equal(errorOf(broken.body).code, 'SW_ERR_BAD_REQUEST');
});

test('POST /api/blocks refuses a body over 16 KiB with 413', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ address: '203.0.113.7', reason: 'x'.repeat(20_000) }),
  });
  assert.equal(reply.statusCode, 413);
  assert.equal(errorOf(reply.body).code, 'SW_ERR_BODY_TOO_LARGE');
});

test('GET /api/blocks lists blocks with expiry and remaining seconds', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  await stack.inject({ method: 'POST', url: '/api/blocks', payload: { address: '203.0.113.7' } });
  stack.clock.now = T0 + 600_000;
  const reply = await stack.inject({ url: '/api/blocks' });
  assert.equal(reply.statusCode, 200);
  const answer = reply.json<BlocksAnswer>();
  assert.equal(answer.total, 1);
  assert.equal(answer.blocks[0]!.key, '203.0.113.7');
  assert.equal(answer.blocks[0]!.remainingSeconds, 3000);
});

test('DELETE /api/blocks/:address removes a block, a network given with %2F', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  for (const address of ['203.0.113.7', '198.51.100.0/24']) {
    await stack.inject({ method: 'POST', url: '/api/blocks', payload: { address } });
  }
  const one = await stack.inject({ method: 'DELETE', url: '/api/blocks/203.0.113.7' });
  assert.equal(one.statusCode, 200);
  assert.deepEqual(one.json(), { removed: true });
  const network = await stack.inject({ method: 'DELETE', url: '/api/blocks/198.51.100.0%2F24' });
  assert.equal(network.statusCode, 200);
  assert.equal(stack.blocks.stats().active, 0);
});

test('DELETE /api/blocks/:address answers 404 when there is no such block', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({ method: 'DELETE', url: '/api/blocks/203.0.113.9' });
  assert.equal(reply.statusCode, 404);
  assert.equal(errorOf(reply.body).code, 'SW_ERR_NO_SUCH_BLOCK');
});

test('DELETE /api/blocks/:address removes a rule-key block by its key', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.blocks.block({
    key: 'user:alice@example.com',
    scope: 'key',
    reason: 'password guessing',
    rule: 'auth-guess',
    createdAt: T0,
    expiresAt: T0 + 60_000,
  });
  const reply = await stack.inject({
    method: 'DELETE',
    url: `/api/blocks/${encodeURIComponent('user:alice@example.com')}`,
  });
  assert.equal(reply.statusCode, 200);
});

test('blocking and unblocking produce admin events', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  await stack.inject({
    method: 'POST',
    url: '/api/blocks',
    payload: { address: '203.0.113.7', duration: '1h', reason: 'scanner' },
  });
  await stack.inject({ method: 'DELETE', url: '/api/blocks/203.0.113.7' });
  stack.bus.flush(T0 + 1);
  const events = stack.store.query({});
  assert.deepEqual(
    events.map((event) => [event.type, event.stage, event.rule, event.action, event.key]).sort(),
    [
      ['block', 'admin', 'admin', 'block', '203.0.113.7'],
      ['unblock', 'admin', 'admin', 'unblock', '203.0.113.7'],
    ],
  );
  const block = events.find((event) => event.type === 'block')!;
  assert.equal(block.reason, 'scanner');
  assert.equal(block.details?.duration, '1h');
  assert.equal(block.details?.client, '127.0.0.1');
});

test('an unknown route answers 404 with a coded error', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({ url: '/api/nothing' });
  assert.equal(reply.statusCode, 404);
  assert.deepEqual(errorOf(reply.body), { code: 'SW_ERR_NOT_FOUND', message: 'no route GET /api/nothing' });
});

test('a Host header naming another host is refused with 403 (DNS rebinding)', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const evil = await stack.inject({
    url: '/api/blocks',
    headers: { host: 'attacker.example:9060' },
  });
  assert.equal(evil.statusCode, 403);
  assert.equal(errorOf(evil.body).code, 'SW_ERR_FORBIDDEN_HOST');
  for (const host of ['127.0.0.1:9060', 'localhost:9060', '[::1]:9060', 'LOCALHOST']) {
    const ok = await stack.inject({ url: '/api/blocks', headers: { host } });
    assert.equal(ok.statusCode, 200, host);
  }
});

test('GET /metrics answers whatever the Host header names, for Prometheus servers', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.inject({
    url: '/metrics',
    headers: { host: 'gateway.example.net:9060' },
  });
  assert.equal(reply.statusCode, 200);
});

test('a failing event store answers 503 with a coded error', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  stack.store.close();
  const reply = await stack.inject({ url: '/api/events' });
  assert.equal(reply.statusCode, 503);
  assert.equal(errorOf(reply.body).code, 'SW_ERR_EVENT_STORE');
});

test('the server listens on 127.0.0.1 port 0 and answers over real HTTP', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const { host, port } = await stack.server.listen();
  assert.equal(host, '127.0.0.1');
  assert.ok(port > 0);
  const created = await fetch(`http://127.0.0.1:${port}/api/blocks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(stack.tokens.operator) },
    body: JSON.stringify({ address: '2001:db8::7', duration: '10m' }),
  });
  assert.equal(created.status, 201);
  const list = (await (
    await fetch(`http://127.0.0.1:${port}/api/blocks`, { headers: bearer(stack.tokens.viewer) })
  ).json()) as BlocksAnswer;
  assert.deepEqual(
    list.blocks.map((block) => block.key),
    ['2001:db8::7'],
  );
  const removed = await fetch(`http://127.0.0.1:${port}/api/blocks/${encodeURIComponent('2001:db8::7')}`, {
    method: 'DELETE',
    headers: bearer(stack.tokens.operator),
  });
  assert.equal(removed.status, 200);
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: bearer(stack.tokens.viewer) });
  assert.match(await metrics.text(), /sipwarden_blocks_active 0/);
});
