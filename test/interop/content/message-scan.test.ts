/**
 * The content stage in a running gateway (in this process, real sockets on loopback) with
 * Debian's clamd started by the harness: MESSAGE bodies carrying EICAR (plain, in a multipart,
 * base64-encoded, in message/cpim) are refused with no signature named to the sender and are
 * never forwarded; clean content (Debian's samples) reaches the upstream byte for byte;
 * clamd stopped, killed and started again, in both failure modes; the quarantine.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateRawSync, gzipSync } from 'node:zlib';
import type { ManagementClient } from '../../../src/api/client.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import type { ContentSettings } from '../../../src/content/config.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { gatewayClient } from '../../support/accounts.ts';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';
import {
  CLAMAV_TESTFILES,
  type Clamd,
  clamdAvailable,
  EICAR,
  EICAR_SIGNATURE,
  startClamd,
} from '../harness/clamd.ts';
import { stopAll } from '../harness/process.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const skip = clamdAvailable() ? false : 'clamd not installed (apt-get install clamav-daemon)';

let seq = 0;

/** A MESSAGE (RFC 3428) from `from` with `body` (latin1 bytes) and extra header lines. */
function message(from: UdpPeer, contentType: string, body: Buffer, extra: string[] = [], method = 'MESSAGE') {
  seq++;
  const head = [
    `${method} sip:bob@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP ${from.address}:${from.port};branch=z9hG4bK-msg-${seq};rport`,
    'Max-Forwards: 70',
    `From: <sip:alice@pbx.example.com>;tag=m${seq}`,
    '<sip:bob@pbx.example.com>'.replace(/^/, 'To: '),
    `Call-ID: msg-${seq}@client`,
    `CSeq: 1 ${method}`,
    ...(method === 'MESSAGE' ? [] : [`Contact: <sip:alice@${from.address}:${from.port}>`]),
    `Content-Type: ${contentType}`,
    ...extra,
    `Content-Length: ${body.length}`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]).toString('latin1');
}

function bodyOf(text: string): Buffer {
  return Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1');
}

const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');

function multipart(parts: { head: string[]; body: string }[], boundary = 'bound-1'): Buffer {
  const text = `${parts.map((p) => [`--${boundary}`, ...p.head, '', p.body].join('\r\n')).join('\r\n')}\r\n--${boundary}--\r\n`;
  return Buffer.from(text, 'latin1');
}

interface Rig {
  gateway: Gateway;
  upstream: UdpPeer;
  client: UdpPeer;
  port: number;
  tcpPort: number;
  api: ManagementClient;
  close(): Promise<void>;
}

async function rig(clamd: Clamd, content: Partial<ContentSettings>): Promise<Rig> {
  const base = defaultConfig();
  const upstream = await UdpPeer.bind();
  const client = await UdpPeer.bind();
  const config: SipwardenConfig = {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }],
    // Room for files in a datagram (the defaults fit text messages), and larger ones over TCP.
    limits: { ...base.limits, udpMessageBytes: 60_000, streamMessageBytes: 2_000_000, bodyBytes: 1_500_000 },
    upstream: { host: '127.0.0.1', port: upstream.port, transport: 'udp' },
    management: { ...base.management, enabled: true, host: '127.0.0.1', port: 0 },
    events: { ...base.events, database: ':memory:', aggregateWindowMs: 1000 },
    content: {
      ...base.content,
      enabled: true,
      clamd: { ...base.content.clamd, host: clamd.host, port: clamd.port, scanTimeoutMs: 2000 },
      ...content,
    },
  };
  const gateway = await startGateway(config, silentLogger);
  const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  const tcpPort = gateway.listening().find((l) => l.transport === 'tcp')!.port;
  // The upstream answers every request it gets: a transaction completes as with a real PBX.
  const answering = setInterval(() => {
    for (const m of upstream.received) {
      if (!m.text.startsWith('SIP/2.0') && !m.text.includes('X-Answered')) {
        upstream.send(answer(m.text, 200, 'OK'), m.port, m.address);
        m.text = m.text.replace('\r\n', '\r\nX-Answered: 1\r\n');
      }
    }
  }, 20);
  return {
    gateway,
    upstream,
    client,
    port,
    tcpPort,
    api: gatewayClient(gateway),
    async close() {
      clearInterval(answering);
      await gateway.close();
      upstream.close();
      client.close();
    },
  };
}

async function contentEvents(api: ManagementClient, rule: string, count = 1): Promise<SecurityEvent[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const events = (await api.events({ type: 'content' })).events.filter((e) => e.rule === rule);
    if (events.length >= count) return events;
    if (Date.now() > deadline) throw new Error(`no ${count} content events of rule ${rule}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends `request`; resolves with the client's final answer to it. */
async function send(r: Rig, request: string): Promise<string> {
  r.client.send(request, r.port);
  return r.client.next((t) => sameCall(request)(t) && /^SIP\/2\.0 [2-6]/.test(t), 5000);
}

/** The request the upstream received for `request`, after its answer came back. */
async function forwarded(r: Rig, request: string): Promise<string> {
  return (await r.upstream.next(sameCall(request), 3000)).replace('\r\nX-Answered: 1', '');
}

describe('MESSAGE scanning with a real clamd', { skip }, () => {
  let clamd: Clamd;
  let r: Rig;
  let quarantineDir: string;

  before(async () => {
    clamd = await startClamd();
    quarantineDir = join(tempDir('quarantine'), 'q');
    r = await rig(clamd, {
      methods: ['MESSAGE', 'INFO'],
      quarantine: { enabled: true, dir: quarantineDir, maxFiles: 100, maxBytes: 1024 * 1024 },
    });
  });

  after(async () => {
    await r.close();
    await clamd.stop();
  });

  test('EICAR in a text/plain MESSAGE: 403 Forbidden, naming no signature; not forwarded; an event naming it', async () => {
    const request = message(r.client, 'text/plain', Buffer.concat([Buffer.from('look: '), EICAR]));
    const response = await send(r, request);
    assert.equal(startLine(response), 'SIP/2.0 403 Forbidden');
    assert.doesNotMatch(response, /eicar|signature|virus/i);
    const [event] = await contentEvents(r.api, 'infected');
    assert.equal(event!.action, 'reject');
    assert.equal(event!.status, 403);
    assert.equal(event!.details?.signature, EICAR_SIGNATURE);
    assert.equal(event!.details?.method, 'MESSAGE');
    assert.equal(await r.upstream.count(sameCall(request)), 0);
  });

  test('EICAR in the second part of a multipart MESSAGE, and base64-encoded in a part: refused', async () => {
    const plain = multipart([
      { head: ['Content-Type: text/plain'], body: 'hello' },
      { head: ['Content-Type: application/octet-stream'], body: EICAR.toString('latin1') },
    ]);
    const encoded = multipart([
      { head: ['Content-Type: text/plain'], body: 'see attachment' },
      {
        head: ['Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64'],
        body: EICAR.toString('base64').replace(/(.{20})/g, '$1\r\n'),
      },
    ]);
    for (const body of [plain, encoded]) {
      const request = message(r.client, 'multipart/mixed; boundary=bound-1', body);
      assert.equal(startLine(await send(r, request)), 'SIP/2.0 403 Forbidden');
      assert.equal(await r.upstream.count(sameCall(request)), 0);
    }
    // The raw bytes of the base64 part are not EICAR: only decoding finds it.
    assert.equal(encoded.includes(EICAR), false);
  });

  test('EICAR base64-encoded in a message/cpim MESSAGE (RFC 3862), and in an INFO (a configured method): refused', async () => {
    const cpim = Buffer.from(
      [
        'From: <im:alice@example.com>',
        'To: <im:bob@example.com>',
        '',
        'Content-Type: application/octet-stream',
        'Content-Transfer-Encoding: base64',
        '',
        EICAR.toString('base64'),
      ].join('\r\n'),
    );
    const request = message(r.client, 'message/cpim', cpim);
    assert.equal(startLine(await send(r, request)), 'SIP/2.0 403 Forbidden');
    const info = message(r.client, 'application/octet-stream', EICAR, [], 'INFO');
    assert.equal(startLine(await send(r, info)), 'SIP/2.0 403 Forbidden');
  });

  test("Debian's clean samples are forwarded byte for byte", async () => {
    for (const name of ['clam.zip', 'clam.pdf', 'clam.7z', 'clam.ole.doc']) {
      const sample = readFileSync(join(CLAMAV_TESTFILES, name));
      const request = message(r.client, 'application/octet-stream', sample);
      assert.equal(startLine(await send(r, request)), 'SIP/2.0 200 OK', name);
      assert.ok(bodyOf(await forwarded(r, request)).equals(sample), name);
    }
    // A clean multipart with a base64 part is forwarded as it was sent, still encoded.
    const body = multipart([
      {
        head: ['Content-Type: application/pdf', 'Content-Transfer-Encoding: base64'],
        body: readFileSync(join(CLAMAV_TESTFILES, 'clam.zip')).toString('base64'),
      },
    ]);
    const request = message(r.client, 'multipart/mixed; boundary=bound-1', body);
    assert.equal(startLine(await send(r, request)), 'SIP/2.0 200 OK');
    assert.ok(bodyOf(await forwarded(r, request)).equals(body));
  });

  test('over TCP, EICAR after 600 KB of base64 in a part (decoded a block at a time) is found', async () => {
    const random = Buffer.alloc(600_000);
    for (let i = 0; i < random.length; i++) random[i] = (i * 131 + (i >> 9)) & 0xff;
    const attachment = Buffer.concat([random, EICAR]);
    const body = multipart([
      { head: ['Content-Type: text/plain'], body: 'the file' },
      {
        head: ['Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64'],
        body: attachment.toString('base64').replace(/(.{76})/g, '$1\r\n'),
      },
    ]);
    const text = message(r.client, 'multipart/mixed; boundary=bound-1', body).replace(
      'SIP/2.0/UDP',
      'SIP/2.0/TCP',
    );
    const socket = connect({ host: '127.0.0.1', port: r.tcpPort });
    try {
      await once(socket, 'connect');
      socket.write(Buffer.from(text, 'latin1'));
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      const deadline = Date.now() + 10_000;
      while (!received.includes('\r\n\r\n') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(startLine(received), 'SIP/2.0 403 Forbidden');
    } finally {
      socket.destroy();
    }
    assert.equal(await r.upstream.count(sameCall(text)), 0);
  });

  test('a method not configured is not scanned; a body that cannot be taken apart is refused with 415', async () => {
    const notify = message(
      r.client,
      'application/octet-stream',
      EICAR,
      ['Event: x', 'Subscription-State: active'],
      'NOTIFY',
    );
    // NOTIFY is not in content.methods here: forwarded as it is.
    assert.equal(startLine(await send(r, notify)), 'SIP/2.0 200 OK');
    const odd = message(r.client, 'text/plain', Buffer.from('begin 644 x\r\n'), [
      'Content-Transfer-Encoding: x-uuencode',
    ]);
    assert.equal(startLine(await send(r, odd)), 'SIP/2.0 415 Unsupported Media Type');
    const [event] = await contentEvents(r.api, 'unscannable');
    assert.match(event!.reason, /unknown Content-Transfer-Encoding/);
    assert.equal(await r.upstream.count(sameCall(odd)), 0);
  });

  test('a gzip Content-Encoding is scanned (clamd opens gzip); another coding is refused with 415', async () => {
    const gzipped = message(r.client, 'text/plain', gzipSync(EICAR), ['Content-Encoding: gzip']);
    assert.equal(startLine(await send(r, gzipped)), 'SIP/2.0 403 Forbidden');
    const clean = gzipSync(Buffer.from('hello, compressed'));
    const fine = message(r.client, 'text/plain', clean, ['Content-Encoding: gzip']);
    assert.equal(startLine(await send(r, fine)), 'SIP/2.0 200 OK');
    assert.ok(bodyOf(await forwarded(r, fine)).equals(clean));
    const deflated = message(r.client, 'text/plain', deflateRawSync(EICAR), ['Content-Encoding: deflate']);
    assert.equal(startLine(await send(r, deflated)), 'SIP/2.0 415 Unsupported Media Type');
    assert.equal(await r.upstream.count(sameCall(deflated)), 0);
  });

  test('the refused request is kept in the quarantine (0700 directory, 0600 file), named in its event', async () => {
    const request = message(r.client, 'text/plain', EICAR);
    assert.equal(startLine(await send(r, request)), 'SIP/2.0 403 Forbidden');
    const events = await contentEvents(r.api, 'infected', 1);
    const files = readdirSync(quarantineDir);
    assert.ok(files.length >= 1);
    assert.equal(statSync(quarantineDir).mode & 0o777, 0o700);
    const kept = files.find((f) =>
      readFileSync(join(quarantineDir, f), 'latin1').includes(header(request, 'call-id')!),
    );
    assert.ok(kept, 'the request is in a file');
    assert.equal(statSync(join(quarantineDir, kept)).mode & 0o777, 0o600);
    assert.ok(readFileSync(join(quarantineDir, kept)).includes(EICAR));
    // Events aggregate per rule and source: the file of one of them names a kept file.
    assert.ok(events.some((e) => files.includes(String(e.details?.quarantine))));
  });
});

describe('clamd down or slow', { skip }, () => {
  test('failureMode closed: 503 while clamd is killed or stopped, scanned again once it is back', async () => {
    let clamd = await startClamd();
    const r = await rig(clamd, { failureMode: 'closed' });
    try {
      const before = message(r.client, 'text/plain', Buffer.from('hello'));
      assert.equal(startLine(await send(r, before)), 'SIP/2.0 200 OK');
      await clamd.kill();
      const during = message(r.client, 'text/plain', Buffer.from('hello again'));
      assert.equal(startLine(await send(r, during)), 'SIP/2.0 503 Service Unavailable');
      assert.equal(await r.upstream.count(sameCall(during)), 0);
      const [event] = await contentEvents(r.api, 'scan-failed');
      assert.equal(event!.action, 'reject');
      assert.equal(event!.details?.failureMode, 'closed');
      assert.match(event!.reason, /content not scanned: clamd unreachable/);
      clamd = await startClamd({ port: clamd.port });
      assert.equal(startLine(await send(r, message(r.client, 'text/plain', EICAR))), 'SIP/2.0 403 Forbidden');
      // Stopped (SIGSTOP): no answer within scanTimeoutMs (2 s here) is a failure too.
      clamd.pause();
      const slow = message(r.client, 'text/plain', Buffer.from('slow'));
      assert.equal(startLine(await send(r, slow)), 'SIP/2.0 503 Service Unavailable');
      clamd.resume();
    } finally {
      await r.close();
      await clamd.stop();
    }
  });

  test('failureMode open: forwarded with an alert while clamd is killed; infected refused again once it is back', async () => {
    let clamd = await startClamd();
    const r = await rig(clamd, { failureMode: 'open' });
    try {
      assert.equal(startLine(await send(r, message(r.client, 'text/plain', EICAR))), 'SIP/2.0 403 Forbidden');
      await clamd.kill();
      const during = message(r.client, 'text/plain', Buffer.from('unscanned but let through'));
      assert.equal(startLine(await send(r, during)), 'SIP/2.0 200 OK');
      assert.ok(bodyOf(await forwarded(r, during)).equals(Buffer.from('unscanned but let through')));
      const [event] = await contentEvents(r.api, 'scan-failed');
      assert.equal(event!.action, 'alert');
      assert.equal(event!.details?.failureMode, 'open');
      clamd = await startClamd({ port: clamd.port });
      assert.equal(startLine(await send(r, message(r.client, 'text/plain', EICAR))), 'SIP/2.0 403 Forbidden');
    } finally {
      await r.close();
      await clamd.stop();
    }
  });
});
