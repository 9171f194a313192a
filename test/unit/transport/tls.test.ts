import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { generateSelfSignedCertificate } from '../../../src/transport/tls-cert.ts';
import { parseAltNames } from '../../../src/transport/tls-peer.ts';
import { closeOf, type Running, readUntil, sip, start } from './helpers.ts';

let pair: { cert: string; key: string };
/** A second, unrelated certificate: a server presenting it is not to be trusted. */
let stranger: { cert: string; key: string };
const running: Running[] = [];
const sockets: Socket[] = [];
const servers: Server[] = [];

before(async () => {
  [pair, stranger] = await Promise.all([
    generateSelfSignedCertificate({ commonName: 'localhost', altNames: ['127.0.0.1', '::1'] }),
    generateSelfSignedCertificate({ commonName: 'localhost', altNames: ['127.0.0.1'] }),
  ]);
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
  await Promise.all(running.map((item) => item.transport.close()));
});

async function startTls(options: Parameters<typeof start>[0] = {}): Promise<Running> {
  const item = await start({
    listen: [{ host: '127.0.0.1', port: 0, transports: ['tls'] }],
    tls: { cert: pair.cert, key: pair.key, ca: pair.cert },
    ...options,
  });
  running.push(item);
  return item;
}

function tlsClient(
  port: number,
  options: { maxVersion?: 'TLSv1.1'; identity?: { cert: string; key: string } } = {},
): TLSSocket {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ca: pair.cert,
    ...(options.identity ?? {}),
    ...(options.maxVersion === undefined
      ? { minVersion: 'TLSv1.2' as const }
      : { minVersion: 'TLSv1' as const, maxVersion: options.maxVersion }),
  });
  sockets.push(socket);
  return socket;
}

/** A TLS server of the test that records what it receives. */
async function peerServer(credentials: {
  cert: string;
  key: string;
}): Promise<{ port: number; received: () => string }> {
  let received = '';
  const server = createServer({ cert: credentials.cert, key: credentials.key }, (socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
  });
  server.on('tlsClientError', () => {});
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, received: () => received };
}

describe('tls peer names', () => {
  test('splits subjectAltName text without letting a quoted comma forge an entry', () => {
    assert.deepEqual(parseAltNames('DNS:a.example, DNS:"b.example, URI:sip:evil", URI:sip:c.example'), [
      'DNS:a.example',
      'DNS:b.example, URI:sip:evil',
      'URI:sip:c.example',
    ]);
  });

  test('keeps at most 32 names', () => {
    const text = Array.from({ length: 40 }, (_, i) => `DNS:h${i}.example`).join(', ');
    assert.equal(parseAltNames(text).length, 32);
  });
});

describe('tls transport', () => {
  test('generates a certificate for the names asked, with its key', () => {
    const certificate = new X509Certificate(pair.cert);
    assert.equal(certificate.subject, 'CN=localhost');
    assert.match(certificate.subjectAltName ?? '', /DNS:localhost, IP Address:127\.0\.0\.1/);
    assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  test('delivers a message from a TLS 1.2+ client with transport tls', async () => {
    const { inbox, port } = await startTls();
    const socket = tlsClient(port('tls'));
    await once(socket, 'secureConnect');
    assert.equal(socket.authorized, true);
    socket.write(sip('REGISTER'));
    const message = await inbox.next();
    assert.equal(message.data.toString(), sip('REGISTER'));
    assert.equal(message.flow.transport, 'tls');
    assert.equal(message.flow.remotePort, socket.localPort);
  });

  test('answers a CRLFCRLF ping with a CRLF pong inside TLS (RFC 5626 section 3.5.1)', async () => {
    const { transport, port } = await startTls();
    const socket = tlsClient(port('tls'));
    await once(socket, 'secureConnect');
    const pong = readUntil(socket, (received) => received.length >= 2);
    socket.write('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    assert.equal(transport.stats().keepAlivesIn, 1);
  });

  test('answers on the same TLS connection by connectionId', async () => {
    const { transport, inbox, port } = await startTls();
    const socket = tlsClient(port('tls'));
    await once(socket, 'secureConnect');
    socket.write(sip('REGISTER'));
    const { flow } = await inbox.next();
    const reply = readUntil(socket, (received) => received.endsWith('\r\n\r\n'));
    assert.equal(
      await transport.send(
        {
          transport: 'tls',
          address: flow.remoteAddress,
          port: flow.remotePort,
          connectionId: flow.connectionId!,
        },
        Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'),
      ),
      true,
    );
    assert.equal(await reply, 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
  });

  test('reports a client certificate that chains to the CA as authorized, with its names', async () => {
    const { inbox, port } = await startTls({
      tls: { cert: pair.cert, key: pair.key, ca: pair.cert, requestClientCert: true },
    });
    const socket = tlsClient(port('tls'), { identity: pair });
    await once(socket, 'secureConnect');
    socket.write(sip('REGISTER'));
    const { flow } = await inbox.next();
    assert.equal(flow.tlsPeer?.authorized, true);
    assert.equal(flow.tlsPeer?.subjectCommonName, 'localhost');
    assert.deepEqual(flow.tlsPeer?.altNames, [
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    assert.match(flow.tlsPeer?.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  test('reports a client certificate from an unknown issuer as not authorized, and still serves', async () => {
    const { inbox, port } = await startTls({
      tls: { cert: pair.cert, key: pair.key, ca: pair.cert, requestClientCert: true },
    });
    const socket = tlsClient(port('tls'), { identity: stranger });
    await once(socket, 'secureConnect');
    socket.write(sip('REGISTER'));
    const { flow } = await inbox.next();
    assert.equal(flow.tlsPeer?.authorized, false);
    assert.match(flow.tlsPeer?.authorizationError ?? '', /CERT|SIGNATURE|ISSUER/);
  });

  test('reports a client that ignores the request for a certificate as not authorized', async () => {
    const { inbox, port } = await startTls({
      tls: { cert: pair.cert, key: pair.key, ca: pair.cert, requestClientCert: true },
    });
    const socket = tlsClient(port('tls'));
    await once(socket, 'secureConnect');
    socket.write(sip('REGISTER'));
    const { flow } = await inbox.next();
    assert.equal(flow.tlsPeer?.authorized, false);
    assert.equal(flow.tlsPeer?.subjectCommonName, undefined);
  });

  test('reports a client without a certificate as not authorized and nameless', async () => {
    const { inbox, port } = await startTls();
    const socket = tlsClient(port('tls'));
    await once(socket, 'secureConnect');
    socket.write(sip('REGISTER'));
    const { flow } = await inbox.next();
    assert.equal(flow.tlsPeer?.authorized, false);
    assert.equal(flow.tlsPeer?.subjectCommonName, undefined);
    assert.deepEqual(flow.tlsPeer?.altNames, []);
  });

  test('refuses a client that offers only TLS 1.1', async () => {
    const { port } = await startTls();
    const socket = tlsClient(port('tls'), { maxVersion: 'TLSv1.1' });
    const outcome = await new Promise<string>((resolve) => {
      socket.once('secureConnect', () => resolve('connected'));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    assert.notEqual(outcome, 'connected');
  });

  test('cuts a client that opens TCP and never completes the handshake', async () => {
    const { transport, port } = await startTls({ headerTimeoutMs: 200, idleTimeoutMs: 60_000 });
    const socket = connectTcp({ host: '127.0.0.1', port: port('tls') });
    sockets.push(socket);
    socket.on('error', () => {});
    await closeOf(socket);
    assert.equal(transport.stats().headerTimeouts, 1);
    assert.equal(transport.stats().tlsHandshakeFailures, 1);
  });

  test('sends to a TLS server whose certificate it trusts', async () => {
    const { transport } = await startTls();
    const peer = await peerServer(pair);
    const target = { transport: 'tls', address: '127.0.0.1', port: peer.port } as const;
    assert.equal(await transport.send(target, Buffer.from(sip('OPTIONS'))), true);
    assert.equal(await transport.send(target, Buffer.from(sip('BYE'))), true);
    while (!peer.received().includes('BYE ')) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(peer.received(), sip('OPTIONS') + sip('BYE'));
    assert.equal(transport.stats().outboundConnectionsOpened, 1);
  });

  test('refuses to send to a TLS server whose certificate it does not trust', async () => {
    const { transport, logger } = await startTls();
    const peer = await peerServer(stranger);
    const sent = await transport.send(
      { transport: 'tls', address: '127.0.0.1', port: peer.port },
      Buffer.from('x'),
    );
    assert.equal(sent, false);
    assert.equal(logger.records.find((record) => record.level === 'warn')?.context.reason, 'connect-failed');
  });

  test('checks the server certificate against serverName when one is given', async () => {
    const { transport } = await startTls();
    const peer = await peerServer(pair);
    const target = { transport: 'tls', address: '127.0.0.1', port: peer.port } as const;
    assert.equal(
      await transport.send({ ...target, serverName: 'localhost' }, Buffer.from(sip('OPTIONS'))),
      true,
    );
    assert.equal(transport.stats().outboundConnectionsOpened, 1);
    const other = await peerServer(pair);
    const mismatch = { ...target, port: other.port, serverName: 'pbx.example.com' };
    assert.equal(await transport.send(mismatch, Buffer.from(sip('OPTIONS'))), false);
  });

  test('sends to an untrusted TLS server when peer verification is turned off', async () => {
    const { transport } = await startTls({ tls: { cert: pair.cert, key: pair.key, verifyPeer: false } });
    const peer = await peerServer(stranger);
    assert.equal(
      await transport.send(
        { transport: 'tls', address: '127.0.0.1', port: peer.port },
        Buffer.from(sip('OPTIONS')),
      ),
      true,
    );
  });

  test('rejects a tls listener without a certificate at start', async () => {
    await assert.rejects(
      start({ listen: [{ host: '127.0.0.1', port: 0, transports: ['tls'] }] }),
      (error: Error & { code?: string }) => error.code === 'SW_ERR_TRANSPORT_CONFIG',
    );
  });
});
