import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { type Running, sip, start } from './helpers.ts';

const running: Running[] = [];
const clients: Socket[] = [];

after(async () => {
  for (const client of clients) client.close();
  await Promise.all(running.map((item) => item.transport.close()));
});

async function udpClient(type: 'udp4' | 'udp6' = 'udp4', host = '127.0.0.1'): Promise<Socket> {
  const client = createSocket(type);
  clients.push(client);
  client.bind(0, host);
  await once(client, 'listening');
  return client;
}

async function startUdp(options: Parameters<typeof start>[0] = {}): Promise<Running> {
  const item = await start(options);
  running.push(item);
  return item;
}

/** Whether this machine can bind ::1 at all. */
async function hasIpv6Loopback(): Promise<boolean> {
  const probe = createSocket('udp6');
  try {
    probe.bind(0, '::1');
    await once(probe, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    try {
      probe.close();
    } catch {
      // never bound
    }
  }
}

describe('udp transport', () => {
  test('delivers a datagram with the flow it came on', async () => {
    const { inbox, port } = await startUdp();
    const client = await udpClient();
    client.send(sip('OPTIONS'), port('udp'), '127.0.0.1');
    const message = await inbox.next();
    assert.equal(message.data.toString(), sip('OPTIONS'));
    assert.deepEqual(message.flow, {
      transport: 'udp',
      localAddress: '127.0.0.1',
      localPort: port('udp'),
      remoteAddress: '127.0.0.1',
      remotePort: client.address().port,
    });
  });

  test('sends a reply that reaches the client from the listening port', async () => {
    const { transport, port } = await startUdp();
    const client = await udpClient();
    const received = once(client, 'message');
    const sent = await transport.send(
      { transport: 'udp', address: '127.0.0.1', port: client.address().port },
      Buffer.from('SIP/2.0 200 OK\r\n\r\n'),
    );
    assert.equal(sent, true);
    const [data, remote] = (await received) as [Buffer, { address: string; port: number }];
    assert.equal(data.toString(), 'SIP/2.0 200 OK\r\n\r\n');
    assert.equal(remote.port, port('udp'));
  });

  // The SIP layer judges the size: it answers an oversized request 513 when its head can be read.
  test('delivers a large datagram whole, for the SIP layer to judge', async () => {
    const { transport, inbox, port } = await startUdp();
    const client = await udpClient();
    const large = sip('MESSAGE', 'x'.repeat(10_000));
    client.send(large, port('udp'), '127.0.0.1');
    assert.equal((await inbox.next()).data.toString(), large);
    assert.equal(transport.stats().udpDatagramsIn, 1);
  });

  test('ignores a datagram of only CRLFs as a keep-alive', async () => {
    const { transport, inbox, port } = await startUdp();
    const client = await udpClient();
    client.send('\r\n\r\n', port('udp'), '127.0.0.1');
    client.send(sip('OPTIONS'), port('udp'), '127.0.0.1');
    assert.equal((await inbox.next()).data.toString(), sip('OPTIONS'));
    assert.equal(transport.stats().keepAlivesIn, 1);
  });

  test('opens UDP and TCP of one entry with port 0 on the same port', async () => {
    const { transport } = await startUdp();
    const [first, second] = transport.listening();
    assert.ok(first !== undefined && second !== undefined);
    assert.notEqual(first.port, 0);
    assert.equal(first.port, second.port);
  });

  test('fails a send to an address family it has no socket for, without throwing', async () => {
    const { transport } = await startUdp();
    assert.equal(
      await transport.send({ transport: 'udp', address: '::1', port: 5060 }, Buffer.from('x')),
      false,
    );
    assert.equal(transport.stats().sendFailures, 1);
  });

  test('fails a send to a host name: names are resolved above this layer', async () => {
    const { transport, logger } = await startUdp();
    assert.equal(
      await transport.send({ transport: 'udp', address: 'localhost', port: 5060 }, Buffer.from('x')),
      false,
    );
    assert.equal(logger.records.find((record) => record.level === 'warn')?.context.reason, 'bad-address');
  });

  test('takes a larger UDP receive buffer when asked', async () => {
    const { transport, inbox, port } = await startUdp({ udpReceiveBufferBytes: 1024 * 1024 });
    const client = await udpClient();
    client.send(sip('OPTIONS'), port('udp'), '127.0.0.1');
    await inbox.next();
    assert.equal(transport.stats().udpDatagramsIn, 1);
  });

  test('keeps serving after the handler throws', async () => {
    const item = await startUdp();
    const client = await udpClient();
    let calls = 0;
    const second = new Promise<void>((resolve) => {
      item.transport.onMessage(() => {
        calls++;
        if (calls === 1) throw new Error('handler bug');
        resolve();
      });
    });
    client.send(sip('OPTIONS'), item.port('udp'), '127.0.0.1');
    client.send(sip('OPTIONS'), item.port('udp'), '127.0.0.1');
    await second;
    assert.equal(item.logger.records.filter((record) => record.level === 'error').length, 1);
  });

  test('works on IPv6 loopback ::1', async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('this machine has no IPv6 loopback address ::1');
      return;
    }
    const { transport, inbox, port } = await startUdp({
      listen: [{ host: '::1', port: 0, transports: ['udp'] }],
    });
    const client = await udpClient('udp6', '::1');
    client.send(sip('OPTIONS'), port('udp'), '::1');
    const message = await inbox.next();
    assert.equal(message.flow.remoteAddress, '::1');
    assert.equal(message.flow.localAddress, '::1');
    const reply = once(client, 'message');
    assert.equal(
      await transport.send(
        { transport: 'udp', address: '::1', port: message.flow.remotePort },
        Buffer.from('SIP/2.0 200 OK\r\n\r\n'),
      ),
      true,
    );
    const [, remote] = (await reply) as [Buffer, { port: number }];
    assert.equal(remote.port, port('udp'));
  });
});
