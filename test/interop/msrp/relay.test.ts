/**
 * The MSRP relay through a running sipwarden: SIP from a caller on the untrusted side to
 * the upstream over UDP (hand-written peers), MSRP between two RFC 4975 test peers through
 * the relay, content scanned by Debian's clamd started by the test with the EICAR signature.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { ClamdScanner } from '../../../src/content/clamd-scanner.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { UdpPeer } from '../../support/udp-peer.ts';
import { selfSignedCertificate } from '../harness/certs.ts';
import { type Clamd, clamdAvailable, EICAR, startClamd } from '../harness/clamd.ts';
import { tempDir } from '../harness/workdir.ts';
import { type CallPeers, hangUp, type MsrpCall, placeMsrpCall, refusedMsrpCall } from './msrp-call.ts';
import { MsrpPeer } from './msrp-peer.ts';

const clamd = clamdAvailable();

describe('MSRP relay through sipwarden, scanning with clamd', {
  skip: clamd ? false : 'clamd not installed',
}, () => {
  let daemon: Clamd;
  let scanner: ClamdScanner;
  let gateway: Gateway;
  let sipPort: number;
  let relayPort: number;
  let caller: UdpPeer;
  let upstream: UdpPeer;
  const msrpPeers: MsrpPeer[] = [];

  before(async () => {
    daemon = await startClamd();
    scanner = new ClamdScanner({ endpoint: { host: '127.0.0.1', port: daemon.port } });
    caller = await UdpPeer.bind();
    upstream = await UdpPeer.bind();
    const base = coreConfig(upstream.port);
    gateway = await startGateway(
      {
        ...base,
        // The relay scans with the clamd of content.clamd, as configured (MESSAGE scanning off).
        content: {
          ...defaultConfig().content,
          clamd: { ...defaultConfig().content.clamd, host: '127.0.0.1', port: daemon.port },
          msrp: {
            ...defaultConfig().content.msrp,
            enabled: true,
            host: '127.0.0.1',
            port: 0,
            maxMessageBytes: 256 * 1024,
            maxIncompleteMessages: 2,
          },
        },
      },
      silentLogger,
    );
    sipPort = gateway.listening().find((l) => l.transport === 'udp')!.port;
    relayPort = gateway.msrpRelay!.port;
  });

  after(async () => {
    for (const peer of msrpPeers) peer.close();
    await gateway?.close();
    await scanner?.close();
    caller?.close();
    upstream?.close();
    await daemon?.stop();
  });

  const peers = (): CallPeers => ({ caller, upstream, sipPort });
  const call = (callerPath: string, calleePath: string) => placeMsrpCall(peers(), callerPath, calleePath);
  const bye = (c: MsrpCall) => hangUp(peers(), c);

  async function connect(path: string): Promise<MsrpPeer> {
    const peer = await MsrpPeer.connect(relayPort, path);
    msrpPeers.push(peer);
    return peer;
  }

  test('each party gets its own relay URI; a clean file goes through whole, EICAR in chunks is refused, reports come back', async () => {
    const alicePath = MsrpPeer.newPath(7654);
    const bobPath = MsrpPeer.newPath(8888);
    const c = await call(alicePath, bobPath);
    // Neither party learns the other's path; each gets the relay, passive, at the relay's address.
    for (const [text, hidden] of [
      [c.forwarded, alicePath],
      [c.answered, bobPath],
    ] as const) {
      assert.ok(!text.includes(hidden), 'the peer path is hidden');
      assert.match(text, new RegExp(`m=message ${relayPort} TCP/MSRP \\*`));
      assert.match(text, /a=setup:passive/);
    }
    assert.notEqual(c.toCallee, c.toCaller);
    assert.match(c.toCallee, new RegExp(`^msrp://127\\.0\\.0\\.1:${relayPort}/[^;]+;tcp$`));

    const alice = await connect(alicePath);
    const bob = await connect(bobPath);
    // Bodiless SENDs bind each connection (RFC 4975 7.1.1).
    assert.equal((await alice.response(alice.send(c.toCaller))).status, 200);
    assert.equal((await bob.response(bob.send(c.toCallee))).status, 200);

    // A clean file in 4 KiB chunks: every chunk answered 200, Bob gets it whole, byte for byte.
    const file = randomBytes(20_000);
    const tids = alice.sendChunked(c.toCaller, 'file0001', file, 4096, 'application/octet-stream');
    for (const tid of tids) assert.equal((await alice.response(tid)).status, 200);
    const delivered = await bob.next((f) => f.method === 'SEND');
    assert.deepEqual(delivered.body, file);
    assert.equal(delivered.headers.get('message-id'), 'file0001');
    assert.equal(delivered.headers.get('to-path'), bobPath);
    assert.equal(delivered.headers.get('from-path'), c.toCallee);
    assert.equal(delivered.headers.get('byte-range'), `1-${file.length}/${file.length}`);
    bob.respond(delivered);
    // Bob's success report reaches Alice with Alice's paths.
    bob.write(
      [
        'MSRP rep00001 REPORT',
        `To-Path: ${c.toCallee}`,
        `From-Path: ${bobPath}`,
        'Message-ID: file0001',
        `Byte-Range: 1-${file.length}/${file.length}`,
        'Status: 000 200 OK',
        '-------rep00001$',
        '',
      ].join('\r\n'),
    );
    const report = await alice.next((f) => f.method === 'REPORT');
    assert.equal(report.headers.get('to-path'), alicePath);
    assert.equal(report.headers.get('from-path'), c.toCaller);
    assert.equal(report.headers.get('status'), '000 200 OK');

    // EICAR split in 3 chunks: the first two are taken, the last is answered 403 naming nothing.
    const chunk = Math.ceil(EICAR.length / 3);
    const eicarTids = alice.sendChunked(c.toCaller, 'evil0001', EICAR, chunk, 'text/plain');
    assert.equal(eicarTids.length, 3);
    assert.equal((await alice.response(eicarTids[0]!)).status, 200);
    assert.equal((await alice.response(eicarTids[1]!)).status, 200);
    const refused = await alice.response(eicarTids[2]!);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.startLine, /eicar|signature|FOUND/i);
    // Nothing of it reached Bob: the next message he gets is the one sent after it.
    const after = Buffer.from('after the refused one');
    alice.send(c.toCaller, {
      messageId: 'text0002',
      byteRange: `1-${after.length}/${after.length}`,
      body: after,
    });
    const next = await bob.next((f) => f.method === 'SEND');
    assert.equal(next.headers.get('message-id'), 'text0002');
    assert.deepEqual(next.body, after);
    assert.equal(gateway.msrpRelay!.stats.refused, 1);
    // The operator's event names the signature; the sender's answer did not.
    gateway.flushEvents();
    gateway.management.store.drain();
    const [event] = gateway.management.store.query({ type: 'content' });
    assert.equal(event?.rule, 'infected');
    assert.equal(event?.stage, 'msrp');
    assert.equal(event?.source?.address, '127.0.0.1');
    assert.match(String(event?.details?.signature), /eicar/i);

    // Bob to Alice works the same way.
    const reply = Buffer.from('got it');
    bob.send(c.toCallee, {
      messageId: 'back0001',
      byteRange: `1-${reply.length}/${reply.length}`,
      body: reply,
    });
    assert.deepEqual((await alice.next((f) => f.method === 'SEND')).body, reply);

    // The session ends with the dialog: the relay closes both connections and forgets the URIs.
    await bye(c);
    await alice.closedByPeer();
    await bob.closedByPeer();
    assert.equal(gateway.msrpRelay!.bufferedBytes, 0, 'everything held was given back');
    const late = await connect(alicePath);
    assert.equal((await late.response(late.send(c.toCaller))).status, 481);
  });

  test('only the negotiated peers: a third party is refused and disconnected', async () => {
    const alicePath = MsrpPeer.newPath(7000);
    const bobPath = MsrpPeer.newPath(7001);
    const c = await call(alicePath, bobPath);
    // The upstream's 200 retransmitted after the ACK (RFC 6026) carries the relay's URI too.
    upstream.send(c.ok, sipPort);
    const again = await caller.next((t) => t.startsWith('SIP/2.0 200') && t.includes(c.callId));
    assert.equal(/a=path:(\S+)/.exec(again)?.[1], c.toCaller);
    // Unknown session: 481.
    const stranger = await connect(MsrpPeer.newPath(6666));
    const unknown = stranger.send(`msrp://127.0.0.1:${relayPort}/nosuchsession1;tcp`);
    assert.equal((await stranger.response(unknown)).status, 481);
    await stranger.closedByPeer();
    // A large frame before proving a stream ends the connection unanswered.
    const flooder = await connect(MsrpPeer.newPath(6668));
    flooder.send(c.toCallee, {
      messageId: 'big00001',
      byteRange: '1-65536/65536',
      body: Buffer.alloc(65536),
    });
    await flooder.closedByPeer();
    assert.equal(flooder.received.length, 0);
    // The right relay URI from a path the SDP did not negotiate: 403.
    const intruder = await connect(MsrpPeer.newPath(6667));
    const tid = intruder.send(c.toCallee, {
      messageId: 'intr0001',
      byteRange: '1-5/5',
      body: Buffer.from('hello'),
    });
    assert.equal((await intruder.response(tid)).status, 403);
    await intruder.closedByPeer();
    // Bob's own path on a second connection while Bob is connected: 403 too.
    const bob = await connect(bobPath);
    assert.equal((await bob.response(bob.send(c.toCallee))).status, 200);
    const impostor = await connect(bobPath);
    assert.equal((await impostor.response(impostor.send(c.toCallee))).status, 403);
    await impostor.closedByPeer();
    // Nothing of theirs reached Alice.
    const alice = await connect(alicePath);
    assert.equal((await alice.response(alice.send(c.toCaller))).status, 200);
    const hello = Buffer.from('only from bob');
    bob.send(c.toCallee, {
      messageId: 'bob00001',
      byteRange: `1-${hello.length}/${hello.length}`,
      body: hello,
    });
    const got = await alice.next((f) => f.method === 'SEND');
    assert.equal(got.headers.get('message-id'), 'bob00001');
    await bye(c);
  });

  test('a call refused by the callee leaves no stream behind', async () => {
    const before = gateway.msrpRelay!.streamCount;
    const calleePath = MsrpPeer.newPath(7200);
    const toCallee = await refusedMsrpCall(peers(), MsrpPeer.newPath(7201));
    assert.equal(gateway.msrpRelay!.streamCount, before);
    const callee = await connect(calleePath);
    assert.equal((await callee.response(callee.send(toCallee))).status, 481);
  });

  test('a message over content.msrp.maxMessageBytes is stopped with 413', async () => {
    const alicePath = MsrpPeer.newPath(7100);
    const c = await call(alicePath, MsrpPeer.newPath(7101));
    const alice = await connect(alicePath);
    const total = 300 * 1024;
    const tid = alice.send(c.toCaller, {
      messageId: 'big00001',
      byteRange: `1-4096/${total}`,
      body: Buffer.alloc(4096, 0x61),
      flag: '+',
    });
    assert.equal((await alice.response(tid)).status, 413);
    await bye(c);
  });

  test('without a TLS listener a TCP/TLS/MSRP stream is refused in the offer (port 0)', async () => {
    const c = await call(MsrpPeer.newPath(7400, 'msrps'), MsrpPeer.newPath(7401, 'msrps'));
    assert.match(c.forwarded, /m=message 0 TCP\/TLS\/MSRP \*/);
    await bye(c);
  });

  test('TCP/TLS/MSRP through the TLS listener: EICAR refused, clean content through, never over plain TCP', async () => {
    const dir = tempDir('msrp-tls');
    const { certPath, keyPath } = selfSignedCertificate(dir);
    const secure = await startGateway(
      {
        ...coreConfig(upstream.port),
        tls: {
          cert: certPath,
          key: keyPath,
          minVersion: 'TLSv1.2',
          verifyUpstream: true,
          requestClientCert: false,
        },
        content: {
          ...defaultConfig().content,
          msrp: { ...defaultConfig().content.msrp, enabled: true, host: '127.0.0.1', port: 0, tlsPort: 0 },
        },
      },
      silentLogger,
      { contentScanner: scanner },
    );
    try {
      const tlsPeers = {
        caller,
        upstream,
        sipPort: secure.listening().find((l) => l.transport === 'udp')!.port,
      };
      const alicePath = MsrpPeer.newPath(7500, 'msrps');
      const bobPath = MsrpPeer.newPath(7501, 'msrps');
      const c = await placeMsrpCall(tlsPeers, alicePath, bobPath);
      const tlsPort = secure.msrpRelay!.tlsPort;
      assert.match(c.forwarded, new RegExp(`m=message ${tlsPort} TCP/TLS/MSRP \\*`));
      assert.match(c.toCallee, new RegExp(`^msrps://127\\.0\\.0\\.1:${tlsPort}/`));
      const ca = readFileSync(certPath, 'utf8');
      const alice = await MsrpPeer.connectTls(tlsPort, alicePath, ca);
      const bob = await MsrpPeer.connectTls(tlsPort, bobPath, ca);
      msrpPeers.push(alice, bob);
      assert.equal((await alice.response(alice.send(c.toCaller))).status, 200);
      assert.equal((await bob.response(bob.send(c.toCallee))).status, 200);
      // The stream's URI over plain TCP: refused.
      const plain = await MsrpPeer.connect(secure.msrpRelay!.port, alicePath);
      msrpPeers.push(plain);
      assert.equal((await plain.response(plain.send(c.toCaller))).status, 403);
      const tids = alice.sendChunked(c.toCaller, 'tlsevil1', EICAR, 30, 'text/plain');
      assert.equal((await alice.response(tids.at(-1)!)).status, 403);
      const clean = randomBytes(10_000);
      const last = alice.sendChunked(c.toCaller, 'tlsfile1', clean, 4096).at(-1)!;
      assert.equal((await alice.response(last)).status, 200);
      const got = await bob.next((f) => f.method === 'SEND');
      assert.equal(got.headers.get('message-id'), 'tlsfile1');
      assert.deepEqual(got.body, clean);
      await hangUp(tlsPeers, c);
      await alice.closedByPeer();
    } finally {
      await secure.close();
    }
  });

  // Last: clamd goes away for good.
  test('clamd down: failureMode closed refuses unscanned content, open forwards it; both raise an event', async () => {
    await daemon.stop();
    const alicePath = MsrpPeer.newPath(7300);
    const bobPath = MsrpPeer.newPath(7301);
    const c = await call(alicePath, bobPath);
    const alice = await connect(alicePath);
    const bob = await connect(bobPath);
    await alice.response(alice.send(c.toCaller));
    await bob.response(bob.send(c.toCallee));
    const text = Buffer.from('scanned by nobody');
    const range = `1-${text.length}/${text.length}`;
    const refused = alice.send(c.toCaller, { messageId: 'down0001', byteRange: range, body: text });
    assert.equal((await alice.response(refused)).status, 403);
    await bye(c);

    // The same relay with failureMode open, clamd still down.
    const open = await startGateway(
      {
        ...coreConfig(upstream.port),
        content: {
          ...defaultConfig().content,
          msrp: {
            ...defaultConfig().content.msrp,
            enabled: true,
            host: '127.0.0.1',
            port: 0,
            failureMode: 'open',
          },
        },
      },
      silentLogger,
      { contentScanner: scanner },
    );
    try {
      const openPeers = {
        caller,
        upstream,
        sipPort: open.listening().find((l) => l.transport === 'udp')!.port,
      };
      const d = await placeMsrpCall(openPeers, alicePath, bobPath);
      const a2 = await MsrpPeer.connect(open.msrpRelay!.port, alicePath);
      const b2 = await MsrpPeer.connect(open.msrpRelay!.port, bobPath);
      msrpPeers.push(a2, b2);
      await a2.response(a2.send(d.toCaller));
      await b2.response(b2.send(d.toCallee));
      const sent = a2.send(d.toCaller, { messageId: 'down0002', byteRange: range, body: text });
      assert.equal((await a2.response(sent)).status, 200);
      assert.deepEqual((await b2.next((f) => f.method === 'SEND')).body, text);
      await hangUp(openPeers, d);
      open.flushEvents();
      open.management.store.drain();
      const [alert] = open.management.store.query({ type: 'content' });
      assert.equal(alert?.rule, 'scan-failed');
      assert.equal(alert?.action, 'alert');
    } finally {
      await open.close();
    }
    gateway.flushEvents();
    gateway.management.store.drain();
    const closed = gateway.management.store.query({ type: 'content' }).find((e) => e.rule === 'scan-failed');
    assert.equal(closed?.action, 'reject');
  });
});
