import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ClamdScanner } from '../../../src/content/clamd-scanner.ts';
import type { MediaContext } from '../../../src/core/route/session-description.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { pathOf } from '../../../src/msrp/path-rewrite.ts';
import { MsrpRelay } from '../../../src/msrp/relay.ts';
import { parseSdp, type SdpSession } from '../../../src/sdp/index.ts';

// The SDP side alone: no content is sent, so the scanner (nothing listens there) is never asked.
const scanner = new ClamdScanner({ endpoint: { host: '127.0.0.1', port: 1 } });
let relay: MsrpRelay;

before(async () => {
  relay = new MsrpRelay(
    {
      host: '127.0.0.1',
      port: 0,
      advertise: { client: '192.0.2.1', upstream: '198.51.100.1' },
      maxMessageBytes: 65536,
      maxChunkBytes: 65536,
      maxBufferedBytes: 1 << 20,
      maxIncompleteMessages: 2,
      maxSessions: 2,
      maxConnections: 10,
      idleTimeoutMs: 1000,
      failureMode: 'closed',
    },
    scanner,
    silentLogger,
  );
  await relay.start();
});

after(async () => {
  await relay.close();
  await scanner.close();
});

function description(path: string, proto = 'TCP/MSRP'): SdpSession {
  const parsed = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=message 9 ${proto} *`,
      `a=path:${path}`,
      '',
    ].join('\r\n'),
  );
  assert.ok(parsed.ok);
  return parsed.sdp;
}

function rewrite(d: SdpSession, context: Omit<MediaContext, 'index' | 'source'>) {
  return relay.rewrite(d.media[0]!, d, {
    ...context,
    index: 0,
    source: {
      transport: 'udp',
      remoteAddress: '127.0.0.1',
      remotePort: 5060,
      localAddress: '127.0.0.1',
      localPort: 5060,
    },
  });
}

test('each side gets a relay URI at the address sipwarden shows that side; the stream ends with its session', () => {
  const offer = rewrite(description('msrp://10.0.0.5:7654/alice1;tcp'), {
    session: 's1',
    from: 'caller',
    toward: 'upstream',
  });
  const toCallee = pathOf(offer)![0]!;
  assert.match(toCallee, new RegExp(`^msrp://198\\.51\\.100\\.1:${relay.port}/[^;]+;tcp$`));
  assert.equal(offer.port, relay.port);
  const answer = rewrite(description('msrp://10.0.0.9:8888/bob1;tcp'), {
    session: 's1',
    from: 'callee',
    toward: 'client',
  });
  const toCaller = pathOf(answer)![0]!;
  assert.match(toCaller, new RegExp(`^msrp://192\\.0\\.2\\.1:${relay.port}/[^;]+;tcp$`));
  assert.equal(relay.streamCount, 1);
  relay.ended('s1');
  assert.equal(relay.streamCount, 0);
});

test('a call through sipwarden twice is relayed once, on its first leg', () => {
  // Leg 1: phone A -> sipwarden -> PBX.
  const alice = 'msrp://10.0.0.5:7654/alice2;tcp';
  const leg1Offer = rewrite(description(alice), { session: 'leg1', from: 'caller', toward: 'upstream' });
  const relayForB = pathOf(leg1Offer)![0]!;
  // Leg 2: the PBX's INVITE to phone B carries the relay's URI: it goes on unchanged.
  const leg2OfferIn = description(relayForB);
  assert.equal(
    rewrite(leg2OfferIn, { session: 'leg2', from: 'caller', toward: 'client' }),
    leg2OfferIn.media[0],
  );
  // B's answer on leg 2 goes on unchanged too; on leg 1 it is rewritten for A.
  const bob = 'msrp://10.0.0.9:8888/bob2;tcp';
  const leg2Answer = description(bob);
  assert.equal(
    rewrite(leg2Answer, { session: 'leg2', from: 'callee', toward: 'upstream' }),
    leg2Answer.media[0],
  );
  const leg1Answer = rewrite(description(bob), { session: 'leg1', from: 'callee', toward: 'client' });
  assert.notEqual(pathOf(leg1Answer)![0], bob);
  assert.equal(relay.streamCount, 1);
  // The second leg's end leaves the stream; the first leg's ends it.
  relay.ended('leg2');
  assert.equal(relay.streamCount, 1);
  relay.ended('leg1');
  assert.equal(relay.streamCount, 0);
});

test('refused with port 0: TLS without a TLS listener, no a=path, beyond maxSessions', () => {
  assert.equal(
    rewrite(description('msrps://10.0.0.5:7654/a3;tcp', 'TCP/TLS/MSRP'), {
      session: 's3',
      from: 'caller',
      toward: 'upstream',
    }).port,
    0,
  );
  const noPath = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=message 9 TCP/MSRP *',
      '',
    ].join('\r\n'),
  );
  assert.ok(noPath.ok);
  assert.equal(rewrite(noPath.sdp, { session: 's4', from: 'caller', toward: 'upstream' }).port, 0);
  for (const session of ['s5', 's6']) {
    assert.notEqual(
      rewrite(description(`msrp://10.0.0.5:7654/${session};tcp`), {
        session,
        from: 'caller',
        toward: 'upstream',
      }).port,
      0,
    );
  }
  assert.equal(
    rewrite(description('msrp://10.0.0.5:7654/s7;tcp'), { session: 's7', from: 'caller', toward: 'upstream' })
      .port,
    0,
  );
  relay.ended('s5');
  relay.ended('s6');
});
