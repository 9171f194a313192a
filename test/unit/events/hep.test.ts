import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { createManagementStack } from '../../../src/api/management-stack.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { HepCapture, type HepSettings } from '../../../src/events/export/hep-capture.ts';
import { decodeHep, encodeHep, HEP_CHUNK, type HepChunk } from '../../../src/events/export/hep-encoder.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';

const INVITE = Buffer.from(
  'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n' +
    'i: abc-123@192.0.2.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
);

function chunk(chunks: readonly HepChunk[], type: number): Buffer {
  const found = chunks.find((c) => c.type === type && c.vendor === 0);
  assert.ok(found, `chunk ${type}`);
  return found.value;
}

test('a HEP v3 packet encodes every generic chunk and decodes back', () => {
  const at = 1_750_000_000_123;
  const packet = encodeHep({
    sourceAddress: '::ffff:192.0.2.1',
    sourcePort: 5060,
    destinationAddress: '198.51.100.7',
    destinationPort: 5080,
    transport: 'tls',
    at,
    protocolType: 1,
    captureId: 2001,
    payload: INVITE,
    correlationId: 'abc-123@192.0.2.1',
    authKey: 'secret',
  });
  assert.ok(packet);
  assert.equal(packet.toString('latin1', 0, 4), 'HEP3');
  assert.equal(packet.readUInt16BE(4), packet.length);
  const chunks = decodeHep(packet);
  assert.ok(chunks);
  assert.equal(chunk(chunks, HEP_CHUNK.ipFamily).readUInt8(0), 2);
  assert.equal(chunk(chunks, HEP_CHUNK.ipProtocol).readUInt8(0), 6);
  assert.deepEqual([...chunk(chunks, HEP_CHUNK.ipv4Source)], [192, 0, 2, 1]);
  assert.deepEqual([...chunk(chunks, HEP_CHUNK.ipv4Destination)], [198, 51, 100, 7]);
  assert.equal(chunk(chunks, HEP_CHUNK.sourcePort).readUInt16BE(0), 5060);
  assert.equal(chunk(chunks, HEP_CHUNK.destinationPort).readUInt16BE(0), 5080);
  assert.equal(chunk(chunks, HEP_CHUNK.seconds).readUInt32BE(0), 1_750_000_000);
  assert.equal(chunk(chunks, HEP_CHUNK.microseconds).readUInt32BE(0), 123_000);
  assert.equal(chunk(chunks, HEP_CHUNK.protocolType).readUInt8(0), 1);
  assert.equal(chunk(chunks, HEP_CHUNK.captureId).readUInt32BE(0), 2001);
  assert.equal(chunk(chunks, HEP_CHUNK.authKey).toString(), 'secret');
  assert.equal(chunk(chunks, HEP_CHUNK.correlationId).toString(), 'abc-123@192.0.2.1');
  assert.deepEqual(chunk(chunks, HEP_CHUNK.payload), INVITE);
  const v6 = decodeHep(
    encodeHep({
      sourceAddress: '2001:db8::1',
      sourcePort: 1,
      destinationAddress: '::1',
      destinationPort: 2,
      transport: 'udp',
      at,
      protocolType: 1,
      captureId: 1,
      payload: INVITE,
    }) ?? Buffer.alloc(0),
  );
  assert.ok(v6);
  assert.equal(chunk(v6, HEP_CHUNK.ipFamily).readUInt8(0), 10);
  assert.equal(chunk(v6, HEP_CHUNK.ipv6Source).toString('hex'), '20010db8000000000000000000000001');
  assert.equal(chunk(v6, HEP_CHUNK.ipv6Destination).toString('hex'), '00000000000000000000000000000001');
  // Mixed families and payloads beyond HEP's 16-bit lengths are not encodable.
  const base = {
    sourcePort: 1,
    destinationPort: 2,
    transport: 'udp',
    at,
    protocolType: 1,
    captureId: 1,
  } as const;
  assert.equal(
    encodeHep({ ...base, sourceAddress: '::1', destinationAddress: '127.0.0.1', payload: INVITE }),
    undefined,
  );
  assert.equal(
    encodeHep({
      ...base,
      sourceAddress: '127.0.0.1',
      destinationAddress: '127.0.0.1',
      payload: Buffer.alloc(70_000),
    }),
    undefined,
  );
  assert.equal(decodeHep(Buffer.from('HEP3\x00\x20garbage', 'latin1')), undefined);
});

async function receiver(): Promise<{ socket: Socket; port: number; packets: Buffer[] }> {
  const socket = createSocket('udp4');
  const packets: Buffer[] = [];
  socket.on('message', (data) => packets.push(data));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, packets };
}

function settings(port: number, over: Partial<HepSettings> = {}): HepSettings {
  return {
    host: '127.0.0.1',
    port,
    captureId: 7,
    sampleRate: 1,
    sources: [],
    decisions: true,
    maxInFlight: 100,
    ...over,
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
}

const message = (remote: string) => ({
  transport: 'udp' as const,
  from: { address: remote, port: 5060 },
  to: { address: '127.0.0.1', port: 5070 },
  remoteAddress: remote,
  data: INVITE,
});

test('capture sends selected messages to the server, filtered by source and sampled by Call-ID', async () => {
  const server = await receiver();
  const capture = new HepCapture(settings(server.port, { sources: ['192.0.2.0/24'] }), silentLogger);
  const none = new HepCapture(settings(server.port, { sampleRate: 0 }), silentLogger);
  try {
    capture.message(message('192.0.2.1'));
    capture.message(message('203.0.113.9'));
    none.message(message('192.0.2.1'));
    await until(() => capture.stats().sent === 1);
    assert.deepEqual(capture.stats(), { sent: 1, skipped: 1, dropped: 0, sendErrors: 0 });
    assert.deepEqual(none.stats(), { sent: 0, skipped: 1, dropped: 0, sendErrors: 0 });
    await until(() => server.packets.length === 1);
    assert.equal(server.packets.length, 1);
    const chunks = decodeHep(server.packets[0]!);
    assert.ok(chunks);
    assert.deepEqual([...chunk(chunks, HEP_CHUNK.ipv4Source)], [192, 0, 2, 1]);
    assert.equal(chunk(chunks, HEP_CHUNK.captureId).readUInt32BE(0), 7);
    assert.equal(chunk(chunks, HEP_CHUNK.correlationId).toString(), 'abc-123@192.0.2.1');
  } finally {
    await capture.close();
    await none.close();
    server.socket.close();
  }
});

test('at most maxInFlight packets wait in the socket: the rest are dropped and counted, never queued', async () => {
  const server = await receiver();
  const capture = new HepCapture(settings(server.port, { maxInFlight: 2 }), silentLogger);
  try {
    for (let i = 0; i < 50; i += 1) capture.message(message('192.0.2.1'));
    assert.equal(capture.stats().dropped, 48);
    await until(() => capture.stats().sent === 2);
    assert.equal(capture.stats().sent, 2);
  } finally {
    await capture.close();
    server.socket.close();
  }
});

test('security decisions go out as HEP log packets with the decision as JSON', async () => {
  const server = await receiver();
  const capture = new HepCapture(settings(server.port), silentLogger);
  try {
    const event: SecurityEvent = {
      type: 'scanner',
      stage: 'detect:scanner',
      rule: 'signature',
      action: 'block',
      source: { address: '192.0.2.9', port: 5062, transport: 'udp' },
      reason: 'scanner signature',
      firstSeen: 1_750_000_000_000,
      lastSeen: 1_750_000_000_500,
      count: 3,
    };
    capture.write([event]);
    await until(() => server.packets.length === 1);
    const chunks = decodeHep(server.packets[0]!);
    assert.ok(chunks);
    assert.equal(chunk(chunks, HEP_CHUNK.protocolType).readUInt8(0), 100);
    assert.deepEqual([...chunk(chunks, HEP_CHUNK.ipv4Source)], [192, 0, 2, 9]);
    const decision = JSON.parse(chunk(chunks, HEP_CHUNK.payload).toString('utf8')) as Record<string, unknown>;
    assert.equal(decision.type, 'scanner');
    assert.equal(decision.action, 'block');
    assert.equal(decision.count, 3);
  } finally {
    await capture.close();
    server.socket.close();
  }
});

test('events.hep builds the capture in the management stack, counted on /metrics', async () => {
  const server = await receiver();
  const config = defaultConfig();
  const stack = createManagementStack(
    { ...config.management, enabled: false },
    {
      ...config.events,
      database: ':memory:',
      hep: { ...settings(server.port, { maxInFlight: 1 }), sources: [] },
    },
    { blocks: createMemoryBlockTable({ maxEntries: 100 }), log: silentLogger, processMetrics: false },
  );
  try {
    assert.ok(stack.hep);
    stack.hep.message(message('192.0.2.1'));
    stack.hep.message(message('192.0.2.1'));
    await until(() => stack.hep?.stats().sent === 1);
    const text = await stack.metrics.text();
    assert.match(text, /^sipwarden_hep_sent_total 1$/m);
    assert.match(text, /^sipwarden_hep_dropped_total 1$/m);
    assert.match(text, /^sipwarden_audit_not_written_total 0$/m);
  } finally {
    await stack.close();
    server.socket.close();
  }
});
