import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CallsAnswer } from '../../../src/api/calls-route.ts';
import { CONSOLE_CSP } from '../../../src/api/console-routes.ts';
import type { LiveStats, MessageCounters } from '../../../src/api/live-route.ts';
import { createManagementServer } from '../../../src/api/management-server.ts';
import { DialogTable, partyOf } from '../../../src/core/dialog/dialog-table.ts';
import { EventBus } from '../../../src/events/event-bus.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createEventStore } from '../../../src/store/event-store.ts';
import { bearer, testAccess } from './helpers.ts';

function consoleDir(): string {
  const dir = join(tmpdir(), `sipwarden-console-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script src="/console/app.js"></script>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'notes.txt'), 'not served');
  return dir;
}

function stack(options: { consoleDirectory?: string; maxCounters?: MessageCounters } = {}) {
  const counters: Record<string, number> = { received: 0, dropped: 0 };
  const blocks = createMemoryBlockTable({ maxEntries: 100 });
  const store = createEventStore({ database: ':memory:', retentionDays: 1 });
  const bus = new EventBus({ windowMs: 10_000 });
  const calls = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000 });
  const access = testAccess();
  const viewer = access.store.createToken({ name: 'viewer', role: 'viewer', createdBy: 'test' }).token;
  const server = createManagementServer({
    access,
    host: '127.0.0.1',
    port: 0,
    blocks,
    events: store,
    metrics: createMetrics({ processMetrics: false }),
    bus,
    log: silentLogger,
    ...(options.consoleDirectory === undefined ? {} : { consoleDirectory: options.consoleDirectory }),
    live: {
      events: bus,
      counters: () => ({ ...counters }),
      readings: () => ({
        calls: calls.callCount,
        registrations: null,
        blockedSources: blocks.stats().active,
      }),
    },
    calls: () => calls,
  });
  return {
    server,
    counters,
    bus,
    calls,
    /** Headers of a viewer's requests. */
    viewer: bearer(viewer),
    async close() {
      await server.close();
      access.store.close();
      bus.stop();
      store.close();
    },
  };
}

interface Frame {
  readonly event: string;
  readonly data: unknown;
}

/** Opens GET /api/live and collects frames until `done` says enough (bounded by 10 s). */
function readLive(
  port: number,
  headers: Record<string, string>,
  done: (frames: Frame[]) => boolean,
): Promise<{ frames: Frame[]; type: string }> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`live stream: not enough frames in 10 s: ${JSON.stringify(frames)}`));
    }, 10_000);
    const req = request({ host: '127.0.0.1', port, path: '/api/live', headers }, (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let end = buffered.indexOf('\n\n');
        while (end !== -1) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) frames.push({ event, data: JSON.parse(data) });
          end = buffered.indexOf('\n\n');
        }
        if (done(frames)) {
          clearTimeout(timer);
          req.destroy();
          resolve({ frames, type: String(res.headers['content-type']) });
        }
      });
    });
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end();
  });
}

test('GET /api/live streams stats every second with rates, and security events as they are reported', async (t) => {
  const s = stack();
  t.after(() => s.close());
  const { port } = await s.server.listen();
  s.calls.create({
    callId: 'c1',
    fromTag: 'f',
    toTag: 't',
    method: 'INVITE',
    caller: partyOf(
      {
        transport: 'udp',
        localAddress: '127.0.0.1',
        localPort: 5060,
        remoteAddress: '192.0.2.1',
        remotePort: 5060,
      },
      'client',
    ),
    callee: partyOf(
      {
        transport: 'udp',
        localAddress: '127.0.0.1',
        localPort: 5060,
        remoteAddress: '127.0.0.1',
        remotePort: 5080,
      },
      'upstream',
    ),
    identity: 'alice@example.com',
    callerCSeq: 1,
    now: Date.now(),
  });
  // Traffic goes on while the stream is open: 200 received per interval, 50 dropped.
  const traffic = setInterval(() => {
    s.counters.received = (s.counters.received ?? 0) + 200;
    s.counters.dropped = (s.counters.dropped ?? 0) + 50;
  }, 250);
  t.after(() => clearInterval(traffic));
  setTimeout(() => {
    s.bus.emit(
      {
        type: 'scanner',
        stage: 'detect:scanner',
        rule: 'scanner-ua',
        action: 'block',
        source: { address: '203.0.113.9', port: 5060, transport: 'udp' },
        reason: 'scanner user agent friendly-scanner',
      },
      Date.now(),
    );
    s.bus.flush(Date.now());
  }, 300);
  const { frames, type } = await readLive(
    port,
    s.viewer,
    (all) =>
      all.some((f) => f.event === 'event') &&
      all.filter((f) => f.event === 'stats' && (f.data as LiveStats).messagesPerSecond.received! > 0)
        .length >= 1,
  );
  assert.match(type, /^text\/event-stream/);
  const stats = frames.filter((f) => f.event === 'stats').map((f) => f.data as LiveStats);
  // The first figures come at once, before any interval has passed.
  assert.deepEqual(stats[0]!.messagesPerSecond, { received: 0, dropped: 0 });
  assert.equal(stats[0]!.calls, 1);
  assert.equal(stats[0]!.registrations, null);
  const moving = stats.find((one) => one.messagesPerSecond.received! > 0)!;
  assert.ok(moving.messagesPerSecond.dropped! > 0);
  assert.ok(moving.messagesPerSecond.received! > moving.messagesPerSecond.dropped!);
  const event = frames.find((f) => f.event === 'event')!.data as SecurityEvent;
  assert.equal(event.type, 'scanner');
  assert.equal(event.source?.address, '203.0.113.9');
});

test('GET /api/live serves a bounded number of streams at once', async (t) => {
  const s = stack();
  t.after(() => s.close());
  const { port } = await s.server.listen();
  const open: Array<ReturnType<typeof request>> = [];
  t.after(() => {
    for (const one of open) one.destroy();
  });
  for (let i = 0; i < 32; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/live', headers: s.viewer }, (res) => {
        assert.equal(res.statusCode, 200);
        resolve();
      });
      req.on('error', reject);
      req.end();
      open.push(req);
    });
  }
  const refused = await s.server.app.inject({ method: 'GET', url: '/api/live', headers: s.viewer });
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.json().error.code, 'SW_ERR_TOO_MANY_LIVE');
});

test('the console page and its files are served with a strict Content Security Policy', async (t) => {
  const s = stack({ consoleDirectory: consoleDir() });
  t.after(() => s.close());
  const page = await s.server.app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
  assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:/);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  const script = await s.server.app.inject({ method: 'GET', url: '/console/app.js' });
  assert.equal(script.statusCode, 200);
  assert.match(String(script.headers['content-type']), /^text\/javascript/);
  assert.equal(script.body, 'console.log(1)');
  for (const url of ['/console/notes.txt', '/console/..%2Fpackage.json', '/console/missing.js']) {
    const reply = await s.server.app.inject({ method: 'GET', url });
    assert.ok(reply.statusCode === 404 || reply.statusCode === 400, `${url}: ${reply.statusCode}`);
  }
});

test('without a build, the console page says how to make one', async (t) => {
  const s = stack({ consoleDirectory: join(tmpdir(), 'sipwarden-no-console-here') });
  t.after(() => s.close());
  const page = await s.server.app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 503);
  assert.match(page.body, /npm run build/);
});

test('GET /api/calls lists the open calls newest first', async (t) => {
  const s = stack();
  t.after(() => s.close());
  const flow = { transport: 'udp' as const, localAddress: '127.0.0.1', localPort: 5060, remotePort: 5062 };
  for (const n of [1, 2]) {
    s.calls.create({
      callId: `call-${n}`,
      fromTag: `f${n}`,
      toTag: `t${n}`,
      method: 'INVITE',
      caller: partyOf({ ...flow, remoteAddress: `192.0.2.${n}` }, 'client'),
      callee: partyOf({ ...flow, remoteAddress: '127.0.0.1', remotePort: 5080 }, 'upstream'),
      identity: `user${n}@example.com`,
      callerCSeq: 1,
      now: 1_750_000_000_000 + n,
    });
  }
  const reply = await s.server.app.inject({ method: 'GET', url: '/api/calls?limit=5', headers: s.viewer });
  assert.equal(reply.statusCode, 200);
  const answer = reply.json<CallsAnswer>();
  assert.equal(answer.total, 2);
  assert.deepEqual(
    answer.calls.map((call) => [call.callId, call.identity, call.caller, call.callee]),
    [
      ['call-2', 'user2@example.com', 'udp:192.0.2.2:5062', 'udp:127.0.0.1:5080'],
      ['call-1', 'user1@example.com', 'udp:192.0.2.1:5062', 'udp:127.0.0.1:5080'],
    ],
  );
  const bad = await s.server.app.inject({ method: 'GET', url: '/api/calls?limit=5000', headers: s.viewer });
  assert.equal(bad.statusCode, 400);
});

test('the live feed and the calls need a session or token; the console page does not', async (t) => {
  const s = stack({ consoleDirectory: consoleDir() });
  t.after(() => s.close());
  for (const url of ['/api/live', '/api/calls']) {
    const reply = await s.server.app.inject({ method: 'GET', url });
    assert.equal(reply.statusCode, 401, url);
  }
  assert.equal((await s.server.app.inject({ method: 'GET', url: '/' })).statusCode, 200);
  assert.equal((await s.server.app.inject({ method: 'GET', url: '/console/app.js' })).statusCode, 200);
});
