/**
 * The NG client against Debian's rtpengine in userspace mode on loopback: ping, an offer and
 * its answer rewritten by rtpengine, query and delete; and against a silent UDP port: retries,
 * the timeout and the bound on commands waiting.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { NgClient, NgError } from '../../../src/media/rtpengine/ng-client.ts';
import { type Rtpengine, rtpengineAvailable, startRtpengine } from '../harness/rtpengine.ts';

const sdp = (port: number, session: string) =>
  [
    'v=0',
    `o=- ${session} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');

describe('NG client with rtpengine', {
  skip: rtpengineAvailable() ? false : 'rtpengine not installed',
}, () => {
  let engine: Rtpengine;
  let client: NgClient;

  before(async () => {
    engine = await startRtpengine();
    client = await NgClient.connect({ host: '127.0.0.1', port: engine.ngPort, timeoutMs: 500, retries: 2 });
  });

  after(async () => {
    await client?.close();
    await engine?.stop();
  });

  test('ping is answered pong', async () => {
    assert.equal((await client.ping()).result, 'pong');
  });

  test('offer and answer get rtpengine ports; query sees the call; delete ends it', async () => {
    const offer = await client.command('offer', {
      'call-id': 'ng-test-1',
      'from-tag': 'caller1',
      sdp: sdp(30000, '1'),
      replace: ['origin', 'session-connection'],
    });
    const offered = String(offer.sdp);
    const port = Number(/m=audio (\d+) /.exec(offered)?.[1]);
    assert.ok(port >= engine.portMin && port <= engine.portMax, offered);
    const answer = await client.command('answer', {
      'call-id': 'ng-test-1',
      'from-tag': 'caller1',
      'to-tag': 'callee1',
      sdp: sdp(30002, '2'),
      replace: ['origin', 'session-connection'],
    });
    const answerPort = Number(/m=audio (\d+) /.exec(String(answer.sdp))?.[1]);
    assert.ok(answerPort >= engine.portMin && answerPort <= engine.portMax);
    assert.notEqual(answerPort, port);
    const query = await client.command('query', { 'call-id': 'ng-test-1' });
    assert.equal(query.result, 'ok');
    assert.equal(typeof query.tags, 'object');
    await client.command('delete', { 'call-id': 'ng-test-1', 'from-tag': 'caller1' });
    await assert.rejects(client.command('query', { 'call-id': 'ng-test-1' }), (e: unknown) => {
      return e instanceof NgError && e.code === 'error-reply';
    });
  });

  test('an error reply rejects with its reason', async () => {
    await assert.rejects(
      client.command('answer', {
        'call-id': 'no-such-call',
        'from-tag': 'x',
        'to-tag': 'y',
        sdp: sdp(30004, '3'),
      }),
      (e: unknown) => e instanceof NgError && e.code === 'error-reply' && /answer/.test(e.message),
    );
  });
});

describe('NG client with a daemon that never answers', () => {
  test('sends again with the same cookie, then fails with a timeout', async () => {
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const received: string[] = [];
    silent.on('message', (data) => received.push(data.toString('latin1')));
    const client = await NgClient.connect({
      host: '127.0.0.1',
      port: silent.address().port,
      timeoutMs: 50,
      retries: 2,
    });
    try {
      await assert.rejects(client.ping(), (e: unknown) => e instanceof NgError && e.code === 'timeout');
      assert.equal(received.length, 3);
      const cookies = new Set(received.map((r) => r.split(' ')[0]));
      assert.equal(cookies.size, 1, 'one cookie for every send of one command');
      assert.match(received[0]!, / d7:command4:pinge$/);
      assert.equal(client.pending, 0);
    } finally {
      await client.close();
      silent.close();
    }
  });

  test('beyond maxPending a command fails at once as overloaded; close rejects those waiting', async () => {
    const silent = createSocket('udp4');
    silent.bind(0, '127.0.0.1');
    await once(silent, 'listening');
    const client = await NgClient.connect({
      host: '127.0.0.1',
      port: silent.address().port,
      timeoutMs: 10_000,
      maxPending: 3,
    });
    const waiting = [client.ping(), client.ping(), client.ping()];
    await assert.rejects(client.ping(), (e: unknown) => e instanceof NgError && e.code === 'overloaded');
    assert.equal(client.pending, 3);
    await client.close();
    for (const w of waiting)
      await assert.rejects(w, (e: unknown) => e instanceof NgError && e.code === 'closed');
    silent.close();
  });

  test('a reply from another address or with an unknown cookie is dropped', async () => {
    const daemon = createSocket('udp4');
    daemon.bind(0, '127.0.0.1');
    await once(daemon, 'listening');
    const stranger = createSocket('udp4');
    stranger.bind(0, '127.0.0.1');
    await once(stranger, 'listening');
    const client = await NgClient.connect({
      host: '127.0.0.1',
      port: daemon.address().port,
      timeoutMs: 2000,
      retries: 0,
    });
    daemon.on('message', (data, from) => {
      const cookie = data.toString('latin1').split(' ')[0];
      // The stranger answers first with the right cookie, then the daemon with a wrong one, then right.
      stranger.send(`${cookie} d6:result4:ponge`, from.port, from.address);
      daemon.send('nope d6:result4:ponge', from.port, from.address);
      setTimeout(() => daemon.send(`${cookie} d6:result4:ponge`, from.port, from.address), 50);
    });
    try {
      assert.equal((await client.ping()).result, 'pong');
      assert.equal(client.dropped, 2);
    } finally {
      await client.close();
      daemon.close();
      stranger.close();
    }
  });
});
