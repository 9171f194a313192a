/**
 * Events out to the operator's tools, received by real listeners on loopback: a syslog
 * collector over UDP, TCP and TLS (RFC 5424 with CEF; octet counting on streams), and an
 * HTTP receiver that checks the webhook's HMAC signature; the bounds (queue, retries) and
 * the configuration wired through the management stack.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { createManagementStack } from '../../../src/api/management-stack.ts';
import { parseConfigText } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { formatCef } from '../../../src/events/export/cef.ts';
import { SyslogSink, type SyslogSinkOptions } from '../../../src/events/export/syslog-sink.ts';
import { WebhookSink } from '../../../src/events/export/webhook-sink.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { generateSelfSignedCertificate } from '../../../src/transport/tls-cert.ts';

const EVENT: SecurityEvent = {
  type: 'flood',
  stage: 'detect:flood',
  rule: 'invite-flood',
  action: 'block',
  source: { address: '203.0.113.7', port: 5060, transport: 'udp' },
  key: 'flood:invite-flood|source=203.0.113.7',
  reason: 'INVITE flood | 201 INVITEs in 2 s\nblocked=600 s \\ done',
  status: 403,
  details: { count: 201 },
  firstSeen: 1_800_000_000_000,
  lastSeen: 1_800_000_001_500,
  count: 201,
  aggregateId: 'agg-1',
  final: true,
};

const sinkOptions = (overrides: Partial<SyslogSinkOptions>): SyslogSinkOptions => ({
  host: '127.0.0.1',
  port: 514,
  transport: 'udp',
  format: 'cef',
  facility: 16,
  appName: 'sipwarden',
  maxQueued: 100,
  version: '1.2.3',
  log: silentLogger,
  ...overrides,
});

const connections = new Set<Socket>();

/** Frames of RFC 6587 octet counting: `LEN SP MSG`, however the stream was cut. */
function octetFrames(stream: Socket, into: string[]): void {
  connections.add(stream);
  let buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const space = buffer.indexOf(0x20);
      if (space < 0) return;
      const length = Number(buffer.subarray(0, space).toString());
      if (buffer.length < space + 1 + length) return;
      into.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
      buffer = buffer.subarray(space + 1 + length);
    }
  });
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const closers: (() => unknown)[] = [];
after(async () => {
  // A server's close waits for its connections: the collectors' are ended first.
  for (const stream of connections) stream.destroy();
  for (const close of closers.reverse()) await close();
});

describe('CEF', () => {
  test('escapes what could forge a field: pipes in the header, equals signs, backslashes and line breaks in values', () => {
    const line = formatCef(EVENT, '1.2.3');
    assert.equal(
      line,
      'CEF:0|sipwarden|sipwarden|1.2.3|flood:invite-flood|flood block (invite-flood)|8|' +
        'act=block cnt=201 start=1800000000000 end=1800000001500 src=203.0.113.7 spt=5060 proto=UDP ' +
        'cs1Label=stage cs1=detect:flood cs2Label=rule cs2=invite-flood ' +
        'cs3Label=key cs3=flood:invite-flood|source\\=203.0.113.7 cn1Label=sipStatus cn1=403 ' +
        'externalId=agg-1 cs4Label=final cs4=true ' +
        'msg=INVITE flood | 201 INVITEs in 2 s\\nblocked\\=600 s \\\\ done',
    );
    const header = formatCef({ ...EVENT, rule: 'a|b\\c' }, '1|2');
    assert.match(header, /^CEF:0\|sipwarden\|sipwarden\|1\\\|2\|flood:a\\\|b\\\\c\|/);
  });
});

describe('syslog', () => {
  test('over UDP: one RFC 5424 message per datagram, with the facility and severity in PRI', async () => {
    const collector = createSocket('udp4');
    collector.bind(0, '127.0.0.1');
    await once(collector, 'listening');
    closers.push(() => collector.close());
    const received: string[] = [];
    collector.on('message', (data) => received.push(data.toString('utf8')));
    const sink = new SyslogSink(sinkOptions({ port: collector.address().port }));
    closers.push(() => sink.close());
    sink.write([EVENT, { ...EVENT, action: 'alert', type: 'scanner', rule: 'scanner-ua' }]);
    await until(() => received.length === 2);
    // local0 (16) * 8 + warning (4) for a block; + notice (5) for an alert.
    assert.match(
      received[0]!,
      new RegExp(
        `^<132>1 2027-01-15T08:00:01\\.500Z \\S+ sipwarden ${process.pid} flood - CEF:0\\|sipwarden\\|`,
      ),
    );
    assert.match(received[1]!, /^<133>1 \S+ \S+ sipwarden \d+ scanner - CEF:0\|/);
    assert.equal(received[0]!.split(' - ')[1], formatCef(EVENT, '1.2.3'));
    assert.equal(sink.stats.sent, 2);
  });

  test('over TCP with octet counting: what is written while the collector is down waits, within its bound, and goes once it is up', async () => {
    // A port that is free now; the collector listens on it only later.
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const sink = new SyslogSink(sinkOptions({ transport: 'tcp', port, maxQueued: 3, format: 'json' }));
    closers.push(() => sink.close());
    sink.write([1, 2, 3, 4, 5].map((n) => ({ ...EVENT, count: n })));
    assert.equal(sink.stats.dropped, 2, 'past maxQueued, dropped and counted');
    const frames: string[] = [];
    const collector: Server = createTcpServer((stream) => octetFrames(stream, frames));
    collector.listen(port, '127.0.0.1');
    await once(collector, 'listening');
    closers.push(() => new Promise((resolve) => collector.close(resolve)));
    await until(() => frames.length === 3, 10_000);
    const counts = frames.map(
      (frame) => (JSON.parse(frame.slice(frame.indexOf(' - ') + 3)) as SecurityEvent).count,
    );
    assert.deepEqual(counts, [1, 2, 3]);
    for (const frame of frames) assert.match(frame, /^<132>1 /);
  });

  test('over TLS: the collector certificate is checked against the configured CA', async () => {
    const pair = await generateSelfSignedCertificate({ commonName: 'collector', altNames: ['127.0.0.1'] });
    const frames: string[] = [];
    const collector = createTlsServer({ cert: pair.cert, key: pair.key }, (stream) =>
      octetFrames(stream as unknown as Socket, frames),
    );
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    closers.push(() => new Promise((resolve) => collector.close(resolve)));
    const port = (collector.address() as { port: number }).port;
    const trusted = new SyslogSink(sinkOptions({ transport: 'tls', port, ca: pair.cert }));
    closers.push(() => trusted.close());
    trusted.write([EVENT]);
    await until(() => frames.length === 1);
    assert.match(frames[0]!, /CEF:0\|sipwarden/);
    // Without the CA the handshake fails: nothing is delivered.
    const unverified = new SyslogSink(sinkOptions({ transport: 'tls', port }));
    closers.push(() => unverified.close());
    unverified.write([EVENT]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(frames.length, 1);
    assert.equal(unverified.stats.sent, 0);
  });
});

describe('webhooks', () => {
  async function receiver(
    answer: (request: IncomingMessage, body: string) => number,
  ): Promise<{ server: HttpServer; url: string }> {
    const server = createHttpServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      request.on('end', () => {
        response.statusCode = answer(request, body);
        response.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/events` };
  }

  test('POSTs the events signed with HMAC-SHA-256 over timestamp.body, and retries a failure', async () => {
    const secret = 'a-shared-secret-of-the-receiver';
    const accepted: SecurityEvent[][] = [];
    let calls = 0;
    const { url } = await receiver((request, body) => {
      calls++;
      const timestamp = String(request.headers['x-sipwarden-timestamp']);
      const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
      if (request.headers['x-sipwarden-signature'] !== expected) return 401;
      if (calls === 1) return 503;
      accepted.push((JSON.parse(body) as { events: SecurityEvent[] }).events);
      return 204;
    });
    const sink = new WebhookSink({
      url,
      secret,
      timeoutMs: 20_000,
      maxAttempts: 3,
      maxQueued: 100,
      batchSize: 10,
      retryDelayMs: 50,
      log: silentLogger,
    });
    closers.push(() => sink.close());
    sink.write([EVENT, { ...EVENT, count: 7 }]);
    // The receiver has the batch before the sink has its answer: wait for both.
    await until(() => accepted.length === 1 && sink.stats.sent === 2);
    assert.deepEqual(
      accepted[0]!.map((e) => e.count),
      [201, 7],
    );
    assert.equal(calls, 2, 'the 503 was retried once');
    assert.equal(sink.stats.sent, 2);
    assert.equal(sink.stats.failedRequests, 1);
  });

  test('a receiver that refuses every attempt: the batch is dropped and counted after maxAttempts', async () => {
    let calls = 0;
    const { url } = await receiver(() => {
      calls++;
      return 500;
    });
    const sink = new WebhookSink({
      url,
      secret: 'another-shared-secret',
      timeoutMs: 20_000,
      maxAttempts: 2,
      maxQueued: 1,
      batchSize: 10,
      retryDelayMs: 20,
      log: silentLogger,
    });
    closers.push(() => sink.close());
    sink.write([EVENT, EVENT]);
    assert.equal(sink.stats.dropped, 1, 'past maxQueued');
    await until(() => sink.stats.dropped === 2);
    assert.equal(calls, 2);
    assert.equal(sink.stats.sent, 0);
  });
});

describe('export configured in events:, through the management stack', () => {
  test('check-config refuses a bad webhook URL and a short secret; a configured syslog receives the bus events', async () => {
    const refused = parseConfigText(
      'events:\n  webhooks:\n    - { url: "ftp://x", secret: "short" }\n',
      'test',
    );
    assert.equal(refused.ok, false);
    assert.ok(!refused.ok);
    assert.ok(
      refused.errors.some((e) => /webhooks\[0\]\.url: must be an http/.test(e)),
      refused.errors.join('; '),
    );
    assert.ok(
      refused.errors.some((e) => /webhooks\[0\]\.secret: must be at least 16/.test(e)),
      refused.errors.join('; '),
    );
    const collector = createSocket('udp4');
    collector.bind(0, '127.0.0.1');
    await once(collector, 'listening');
    closers.push(() => collector.close());
    const received: string[] = [];
    collector.on('message', (data) => received.push(data.toString('utf8')));
    const parsed = parseConfigText(
      `events:\n  syslog: { host: 127.0.0.1, port: ${collector.address().port}, transport: udp, facility: 20 }\n`,
      'test',
    );
    assert.ok(parsed.ok);
    const config: SipwardenConfig = parsed.config;
    const stack = createManagementStack(
      { ...config.management, enabled: false },
      { ...config.events, database: ':memory:' },
      { blocks: createMemoryBlockTable({ maxEntries: 100 }), log: silentLogger, processMetrics: false },
    );
    await stack.start();
    stack.bus.emit(
      {
        type: 'scanner',
        stage: 'detect:scanner',
        rule: 'scanner-ua',
        action: 'block',
        reason: 'friendly-scanner',
      },
      Date.now(),
    );
    await stack.close();
    await until(() => received.length >= 1);
    // local4 (20) * 8 + warning (4).
    assert.match(
      received[0]!,
      /^<164>1 .* scanner - CEF:0\|sipwarden\|sipwarden\|[^|]+\|scanner:scanner-ua\|/,
    );
  });
});
