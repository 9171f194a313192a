import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Flow } from '../../../src/transport/types.ts';
import { closedPort, closeOf, type Running, readUntil, sip, start } from './helpers.ts';

const running: Running[] = [];
const sockets: Socket[] = [];
const servers: Server[] = [];

after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
  await Promise.all(running.map((item) => item.transport.close()));
});

async function startTcp(options: Parameters<typeof start>[0] = {}): Promise<Running> {
  const item = await start({ listen: [{ host: '127.0.0.1', port: 0, transports: ['tcp'] }], ...options });
  running.push(item);
  return item;
}

async function client(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** A plain TCP server of the test that records what each of its connections receives. */
async function peerServer(): Promise<{ port: number; connections: Socket[]; received: () => string }> {
  const connections: Socket[] = [];
  let received = '';
  const server = createServer((socket) => {
    connections.push(socket);
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, connections, received: () => received };
}

describe('tcp transport', () => {
  test('delivers two pipelined messages written at once as two', async () => {
    const { inbox, port } = await startTcp();
    const socket = await client(port('tcp'));
    socket.write(sip('OPTIONS') + sip('MESSAGE', 'hello'));
    assert.equal((await inbox.next()).data.toString(), sip('OPTIONS'));
    const second = await inbox.next();
    assert.equal(second.data.toString(), sip('MESSAGE', 'hello'));
    assert.equal(second.flow.transport, 'tcp');
    assert.equal(second.flow.remotePort, socket.localPort);
  });

  test('delivers a message written byte by byte once', async () => {
    const { transport, inbox, port } = await startTcp();
    const socket = await client(port('tcp'));
    const text = sip('MESSAGE', 'split');
    for (const byte of text) {
      socket.write(byte);
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.write(sip('OPTIONS'));
    assert.equal((await inbox.next()).data.toString(), text);
    assert.equal((await inbox.next()).data.toString(), sip('OPTIONS'));
    assert.equal(transport.stats().streamMessagesIn, 2);
  });

  test('closes the connection on a Content-Length over the message limit', async () => {
    const { transport, port } = await startTcp({ maxStreamMessageBytes: 1000, maxStreamHeaderBytes: 500 });
    const socket = await client(port('tcp'));
    const closed = closeOf(socket);
    socket.write('MESSAGE sip:bob@example.com SIP/2.0\r\nContent-Length: 5000\r\n\r\n');
    await closed;
    assert.equal(transport.stats().framingErrors, 1);
  });

  test('closes the connection when the headers pass the header limit', async () => {
    const { transport, port } = await startTcp({ maxStreamHeaderBytes: 500 });
    const socket = await client(port('tcp'));
    const closed = closeOf(socket);
    socket.write(`OPTIONS sip:bob@example.com SIP/2.0\r\nX-Padding: ${'a'.repeat(600)}`);
    await closed;
    assert.equal(transport.stats().framingErrors, 1);
  });

  test('answers a CRLFCRLF ping with a CRLF pong', async () => {
    const { port } = await startTcp();
    const socket = await client(port('tcp'));
    const pong = readUntil(socket, (received) => received.length >= 2);
    socket.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
  });

  test('tells its listener the flow of a connection the peer closed', async () => {
    const { transport, inbox, port } = await startTcp();
    const closedFlows: Flow[] = [];
    transport.onConnectionClosed?.((flow) => closedFlows.push(flow));
    const socket = await client(port('tcp'));
    socket.write(sip('REGISTER'));
    const message = await inbox.next();
    socket.destroy();
    const deadline = Date.now() + 5000;
    while (closedFlows.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(closedFlows, [message.flow]);
  });

  test('closes a connection over the per-address cap at once', async () => {
    const { transport, inbox, port } = await startTcp({ maxConnectionsPerAddress: 2 });
    const first = await client(port('tcp'));
    first.write(sip('OPTIONS'));
    await inbox.next();
    const second = await client(port('tcp'));
    second.write(sip('OPTIONS'));
    await inbox.next();
    const third = await client(port('tcp'));
    await closeOf(third);
    assert.equal(transport.stats().rejectedConnections, 1);
    // The first two still work.
    first.write(sip('MESSAGE', 'still here'));
    assert.equal((await inbox.next()).data.toString(), sip('MESSAGE', 'still here'));
    assert.equal(transport.stats().connections, 2);
  });

  test('accepts a connection again once one under the cap has closed', async () => {
    const { transport, inbox, port } = await startTcp({ maxConnections: 1 });
    const first = await client(port('tcp'));
    first.write(sip('OPTIONS'));
    const flow = (await inbox.next()).flow;
    first.destroy();
    while (transport.stats().connections > 0) await new Promise((resolve) => setImmediate(resolve));
    const second = await client(port('tcp'));
    second.write(sip('OPTIONS'));
    assert.notEqual((await inbox.next()).flow.connectionId, flow.connectionId);
  });

  test('closes a connection that stays idle past idleTimeoutMs', async () => {
    const { transport, port } = await startTcp({ idleTimeoutMs: 200 });
    const socket = await client(port('tcp'));
    await closeOf(socket);
    assert.equal(transport.stats().idleTimeouts, 1);
    assert.equal(transport.stats().connections, 0);
  });

  test('cuts a slowloris client that never completes its headers', async () => {
    const { transport, port } = await startTcp({ headerTimeoutMs: 300, idleTimeoutMs: 60_000 });
    const socket = await client(port('tcp'));
    const text = `OPTIONS sip:bob@example.com SIP/2.0\r\n${'X-Slow: a\r\n'.repeat(40)}`;
    let sent = 0;
    // One byte every 50 ms: the socket stays busy, but the message never completes in time.
    const drip = setInterval(() => {
      if (sent < text.length && !socket.destroyed) socket.write(text[sent++]!);
    }, 50);
    try {
      await closeOf(socket);
    } finally {
      clearInterval(drip);
    }
    assert.equal(transport.stats().headerTimeouts, 1);
    assert.ok(sent < text.length, 'cut before the text ran out');
  });

  test('opens an outbound connection for a send and reuses it for the next', async () => {
    const { transport } = await startTcp();
    const peer = await peerServer();
    const target = { transport: 'tcp', address: '127.0.0.1', port: peer.port } as const;
    const [a, b] = await Promise.all([
      transport.send(target, Buffer.from(sip('OPTIONS'))),
      transport.send(target, Buffer.from(sip('MESSAGE', 'x'))),
    ]);
    assert.equal(a && b, true);
    assert.equal(await transport.send(target, Buffer.from(sip('BYE'))), true);
    while (!peer.received().includes('BYE ')) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(peer.connections.length, 1);
    assert.equal(transport.stats().outboundConnectionsOpened, 1);
  });

  test('delivers what the peer sends back on an outbound connection', async () => {
    const { transport, inbox } = await startTcp();
    const peer = await peerServer();
    assert.equal(
      await transport.send(
        { transport: 'tcp', address: '127.0.0.1', port: peer.port },
        Buffer.from(sip('INVITE')),
      ),
      true,
    );
    while (peer.connections.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    peer.connections[0]!.write('SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n');
    const reply = await inbox.next();
    assert.equal(reply.flow.remotePort, peer.port);
    assert.equal(typeof reply.flow.connectionId, 'number');
  });

  test('sends a reply with connectionId on that connection', async () => {
    const { transport, inbox, port } = await startTcp();
    const socket = await client(port('tcp'));
    socket.write(sip('INVITE'));
    const { flow } = await inbox.next();
    const reply = readUntil(socket, (received) => received.endsWith('\r\n\r\n'));
    const sent = await transport.send(
      {
        transport: 'tcp',
        address: flow.remoteAddress,
        port: flow.remotePort,
        connectionId: flow.connectionId!,
      },
      Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'),
    );
    assert.equal(sent, true);
    assert.equal(await reply, 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(transport.stats().outboundConnectionsOpened, 0);
  });

  test('resolves false and logs the reason for a send to an unreachable port', async () => {
    const { transport, logger } = await startTcp();
    const port = await closedPort();
    const sent = await transport.send(
      { transport: 'tcp', address: '127.0.0.1', port },
      Buffer.from(sip('OPTIONS')),
    );
    assert.equal(sent, false);
    assert.equal(transport.stats().sendFailures, 1);
    const warning = logger.records.find((record) => record.level === 'warn');
    assert.equal(warning?.context.reason, 'connect-failed');
    assert.match(String(warning?.context.error), /ECONNREFUSED/);
  });

  test('disconnects a peer that does not read once pending writes pass maxWriteBufferBytes', async () => {
    const { transport, inbox, port } = await startTcp({ maxWriteBufferBytes: 64 * 1024 });
    const socket = await client(port('tcp'));
    socket.pause();
    socket.write(sip('SUBSCRIBE'));
    const { flow } = await inbox.next();
    const closed = closeOf(socket);
    const chunk = Buffer.alloc(32 * 1024, 0x61);
    const target = { transport: 'tcp', address: flow.remoteAddress, port: flow.remotePort } as const;
    let sends = 0;
    // Bounded: the kernel buffers some megabytes on loopback before our queue grows.
    while (sends < 4000 && (await transport.send({ ...target, connectionId: flow.connectionId! }, chunk)))
      sends++;
    assert.ok(sends < 4000, 'a send failed before the bound');
    socket.resume();
    await closed;
    assert.equal(transport.stats().slowReaderDisconnects, 1);
  });

  test('closes open connections on close()', async () => {
    const item = await start({ listen: [{ host: '127.0.0.1', port: 0, transports: ['tcp'] }] });
    const socket = await client(item.port('tcp'));
    socket.write(sip('OPTIONS'));
    await item.inbox.next();
    const closed = closeOf(socket);
    await item.transport.close();
    await closed;
    assert.equal(item.transport.stats().connections, 0);
    assert.equal(
      await item.transport.send({ transport: 'tcp', address: '127.0.0.1', port: 9 }, Buffer.from('x')),
      false,
    );
  });
});

describe('tcp transport options', () => {
  test('rejects a listen host that is not an IP address', async () => {
    await assert.rejects(
      start({ listen: [{ host: 'localhost', port: 0, transports: ['tcp'] }] }),
      (error: Error & { code?: string }) => error.code === 'SW_ERR_TRANSPORT_CONFIG',
    );
  });

  test('rejects tcp and tls on one listen entry', async () => {
    await assert.rejects(
      start({ listen: [{ host: '127.0.0.1', port: 0, transports: ['tcp', 'tls'] }] }),
      (error: Error & { code?: string }) => error.code === 'SW_ERR_TRANSPORT_CONFIG',
    );
  });

  test('rejects a port that is taken with SW_ERR_LISTEN_FAILED', async () => {
    const { port } = await startTcp();
    await assert.rejects(
      start({ listen: [{ host: '127.0.0.1', port: port('tcp'), transports: ['tcp'] }] }),
      (error: Error & { code?: string }) => error.code === 'SW_ERR_LISTEN_FAILED',
    );
  });

  test('rejects a limit that is not a positive integer', async () => {
    await assert.rejects(
      start({ maxConnections: 0 }),
      (error: Error & { code?: string }) => error.code === 'SW_ERR_TRANSPORT_CONFIG',
    );
  });

  test('reports a specific listener host over a wildcard for localFor', async () => {
    const { transport } = await startTcp();
    assert.deepEqual(transport.localFor('tcp'), transport.listening()[0]);
    assert.equal(transport.localFor('udp'), undefined);
  });

  test('carries TCP over IPv6 loopback ::1', async (t) => {
    let item: Running;
    try {
      item = await startTcp({ listen: [{ host: '::1', port: 0, transports: ['tcp'] }] });
    } catch {
      t.skip('this machine has no IPv6 loopback address ::1');
      return;
    }
    const socket = connect({ host: '::1', port: item.port('tcp') });
    sockets.push(socket);
    socket.on('error', () => {});
    socket.write(sip('OPTIONS'));
    const message = await item.inbox.next();
    assert.equal(message.flow.remoteAddress, '::1');
    assert.equal(message.flow.localAddress, '::1');
  });
});
