/**
 * The stub resolver's UDP exchange (src/dns/udp-client.ts) against a server the test plays
 * on a loopback socket: an answer is taken only with the query's id and question, from the
 * server asked; a truncated answer, SERVFAIL and silence are failures; the next server is
 * asked when one fails.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { DnsQueryError, parseServer, UdpDnsClient } from '../../../src/dns/udp-client.ts';

type Reply = (query: Buffer) => Buffer[];

/** A server that answers each query with what `reply` makes of it (nothing for []). */
async function server(reply: Reply): Promise<{ socket: Socket; port: number; queries: number }> {
  const socket = createSocket('udp4');
  const state = { socket, port: 0, queries: 0 };
  socket.on('message', (query, from) => {
    state.queries++;
    for (const packet of reply(query)) socket.send(packet, from.port, from.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  state.port = socket.address().port;
  return state;
}

/** The query turned into an answer: QR set, `rcode`, one A record 192.0.2.1 with TTL 42. */
function answerTo(query: Buffer, options: { id?: number; rcode?: number; truncated?: boolean } = {}): Buffer {
  const question = query.subarray(12, query.length - 11);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8180 | (options.truncated ? 0x0200 : 0) | (options.rcode ?? 0), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(options.rcode ? 0 : 1, 6);
  const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 42, 0, 4, 192, 0, 2, 1]);
  return Buffer.concat([header, question, options.rcode ? Buffer.alloc(0) : record]);
}

const open: Socket[] = [];
after(() => {
  for (const socket of open) socket.close();
});

async function start(reply: Reply) {
  const s = await server(reply);
  open.push(s.socket);
  return s;
}

describe('UdpDnsClient', () => {
  it('reads the TTL, ignoring an answer with another id first', async () => {
    const s = await start((q) => [answerTo(q, { id: (q.readUInt16BE(0) + 1) & 0xffff }), answerTo(q)]);
    const client = new UdpDnsClient([parseServer(`127.0.0.1:${s.port}`)!], 1000, 1);
    assert.deepEqual(await client.query('a.test', 'A'), {
      kind: 'answer',
      records: [{ type: 'A', address: '192.0.2.1' }],
      ttlS: 42,
    });
  });

  it('ignores an answer from another port than the server asked', async () => {
    const asked = await start(() => []);
    const spoofer = createSocket('udp4');
    open.push(spoofer);
    spoofer.bind(0, '127.0.0.1');
    await once(spoofer, 'listening');
    // The spoofer sees the query only because the test hands it over: it answers correctly.
    asked.socket.removeAllListeners('message');
    asked.socket.on('message', (query, from) => spoofer.send(answerTo(query), from.port, from.address));
    const client = new UdpDnsClient([parseServer(`127.0.0.1:${asked.port}`)!], 300, 1);
    await assert.rejects(
      client.query('a.test', 'A'),
      (e: unknown) => e instanceof DnsQueryError && e.code === 'ETIMEOUT',
    );
  });

  it('a truncated answer or SERVFAIL fails over to the next server', async () => {
    const truncating = await start((q) => [answerTo(q, { truncated: true })]);
    const failing = await start((q) => [answerTo(q, { rcode: 2 })]);
    const good = await start((q) => [answerTo(q)]);
    const client = new UdpDnsClient(
      [truncating, failing, good].map((s) => parseServer(`127.0.0.1:${s.port}`)!),
      1000,
      1,
    );
    const lookup = await client.query('a.test', 'A');
    assert.equal(lookup.kind, 'answer');
    assert.deepEqual([truncating.queries, failing.queries, good.queries], [1, 1, 1]);
    const alone = new UdpDnsClient([parseServer(`127.0.0.1:${failing.port}`)!], 1000, 2);
    await assert.rejects(
      alone.query('a.test', 'A'),
      (e: unknown) => e instanceof DnsQueryError && e.code === 'ESERVFAIL',
    );
    assert.equal(failing.queries, 3, 'asked once per try');
  });

  it('NXDOMAIN without a SOA is a negative answer with no TTL of its own', async () => {
    const s = await start((q) => [answerTo(q, { rcode: 3 })]);
    const client = new UdpDnsClient([parseServer(`127.0.0.1:${s.port}`)!], 1000, 1);
    assert.deepEqual(await client.query('a.test', 'A'), {
      kind: 'negative',
      what: 'NXDOMAIN',
      ttlS: undefined,
    });
  });

  it('close() ends a query in flight', async () => {
    const s = await start(() => []);
    const client = new UdpDnsClient([parseServer(`127.0.0.1:${s.port}`)!], 10_000, 1);
    const pending = client.query('a.test', 'A');
    setImmediate(() => client.close());
    await assert.rejects(pending, (e: unknown) => e instanceof DnsQueryError && e.code === 'ECANCELLED');
  });

  it('reads servers as dns.servers writes them', () => {
    assert.deepEqual(parseServer('127.0.0.1'), { address: '127.0.0.1', port: 53 });
    assert.deepEqual(parseServer('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353 });
    assert.deepEqual(parseServer('[::1]:53'), { address: '::1', port: 53 });
    assert.deepEqual(parseServer('::1'), { address: '::1', port: 53 });
    assert.equal(parseServer('999.1.1.1'), undefined);
  });
});
