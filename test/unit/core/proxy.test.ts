import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { answer, header, headers, startLine, UdpPeer } from '../../support/udp-peer.ts';

// Short SIP timers so Timer A/B behaviour shows within a test; the logic is the same.
const TEST_TIMERS = { T1: 20, T2: 80, T4: 100, timerC: 5000 };

let gateway: Gateway;
let upstream: UdpPeer;
let client: UdpPeer;
let decoy: UdpPeer;
let port: number;
let seq = 0;

const config = (upstreamPort: number) => coreConfig(upstreamPort, ['udp', 'tcp']);

function request(
  method: string,
  options: {
    uri?: string;
    branch?: string;
    callId?: string;
    viaHost?: string;
    toTag?: string;
    extra?: string[];
    maxForwards?: number | null;
    cseq?: number;
  } = {},
): string {
  const branch = options.branch ?? `z9hG4bK-test-${++seq}`;
  const callId = options.callId ?? `call-${seq}@client.example`;
  const viaHost = options.viaHost ?? `127.0.0.1:${client.port}`;
  const lines = [
    `${method} ${options.uri ?? 'sip:alice@pbx.example.com'} SIP/2.0`,
    `Via: SIP/2.0/UDP ${viaHost};branch=${branch};rport`,
    ...(options.maxForwards === null ? [] : [`Max-Forwards: ${options.maxForwards ?? 70}`]),
    'From: <sip:bob@client.example>;tag=from-1',
    `To: <sip:alice@pbx.example.com>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
    `Contact: <sip:bob@127.0.0.1:${client.port}>`,
    ...(options.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ];
  return lines.join('\r\n');
}

const isMethod = (method: string) => (text: string) => startLine(text).startsWith(`${method} `);
const sameCall = (sent: string) => (text: string) => header(text, 'call-id') === header(sent, 'call-id');
const isStatus = (status: number) => (text: string) => startLine(text).startsWith(`SIP/2.0 ${status} `);

describe('the proxy core over UDP', () => {
  before(async () => {
    upstream = await UdpPeer.bind();
    client = await UdpPeer.bind();
    decoy = await UdpPeer.bind();
    gateway = await startGateway(config(upstream.port), silentLogger, { timers: TEST_TIMERS });
    port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  });

  after(async () => {
    await gateway.close();
    upstream.close();
    client.close();
    decoy.close();
  });

  beforeEach(() => {
    upstream.received.length = 0;
    client.received.length = 0;
    decoy.received.length = 0;
  });

  test('answers OPTIONS addressed to sipwarden itself with 200 and does not forward it', async () => {
    const options = request('OPTIONS', { uri: `sip:127.0.0.1:${port}` });
    client.send(options, port);
    const reply = await client.next(sameCall(options));
    assert.equal(startLine(reply), 'SIP/2.0 200 OK');
    assert.match(header(reply, 'allow') ?? '', /INVITE/);
    assert.equal(await upstream.count(() => true, 200), 0);
  });

  test('forwards OPTIONS for a user to the upstream', async () => {
    client.send(request('OPTIONS', { uri: `sip:100@127.0.0.1:${port}` }), port);
    const forwarded = await upstream.next(isMethod('OPTIONS'));
    assert.equal(headers(forwarded, 'via').length, 2);
  });

  test('forwards an INVITE once, answers 100 Trying, adds Via and Record-Route and decrements Max-Forwards', async () => {
    const invite = request('INVITE');
    client.send(invite, port);
    client.send(invite, port); // a retransmission
    const forwarded = await upstream.next(isMethod('INVITE'));
    assert.match(header(forwarded, 'via')!, /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
    assert.equal(header(forwarded, 'max-forwards'), '69');
    assert.match(header(forwarded, 'record-route')!, /^<sip:[A-Za-z0-9_-]+@127\.0\.0\.1:\d+;lr>$/);
    const trying = await client.next(isStatus(100));
    assert.ok(trying);
    upstream.send(answer(forwarded, 180, 'Ringing'), port);
    await client.next(isStatus(180));
    // The retransmitted INVITE reached the upstream only once (Timer A retransmissions stop at the 180).
    const branches = new Set(
      upstream.received.filter((m) => isMethod('INVITE')(m.text)).map((m) => header(m.text, 'via')),
    );
    assert.ok(branches.size <= 1);
  });

  test('sends every request from the untrusted side to the upstream, whatever its Request-URI and Route name', async () => {
    const invite = request('INVITE', {
      uri: `sip:victim@127.0.0.1:${decoy.port}`,
      extra: [`Route: <sip:127.0.0.1:${decoy.port};lr>`],
    });
    client.send(invite, port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    assert.equal(startLine(forwarded), `INVITE sip:victim@127.0.0.1:${decoy.port} SIP/2.0`);
    assert.equal(await decoy.count(() => true), 0);
  });

  test('sends responses to the address and port the request came from, not to its Via', async () => {
    client.send(request('MESSAGE', { viaHost: `127.0.0.1:${decoy.port}` }), port);
    const forwarded = await upstream.next(isMethod('MESSAGE'));
    // The client's Via gets received and rport stamped (RFC 3581).
    const clientVia = headers(forwarded, 'via')[1]!;
    assert.match(clientVia, /;received=127\.0\.0\.1(;|$)/);
    assert.match(clientVia, new RegExp(`;rport=${client.port}(;|$)`));
    upstream.send(answer(forwarded, 200, 'OK'), port);
    const reply = await client.next(isStatus(200));
    assert.ok(reply);
    assert.equal(await decoy.count(() => true), 0);
  });

  for (const method of [
    'REGISTER',
    'INVITE',
    'BYE',
    'OPTIONS',
    'MESSAGE',
    'SUBSCRIBE',
    'NOTIFY',
    'REFER',
    'INFO',
    'UPDATE',
    'PRACK',
    'PUBLISH',
    'FOOBAR',
  ]) {
    test(`forwards ${method} from the untrusted side to the upstream`, async () => {
      const sent = request(method, { uri: 'sip:200@pbx.example.com' });
      client.send(sent, port);
      const forwarded = await upstream.next((text) => isMethod(method)(text) && sameCall(sent)(text));
      assert.equal(startLine(forwarded), `${method} sip:200@pbx.example.com SIP/2.0`);
      upstream.send(answer(forwarded, 200, 'OK'), port);
      await client.next((text) => isStatus(200)(text) && sameCall(sent)(text));
    });
  }

  test('answers 483 to a request with Max-Forwards 0', async () => {
    const invite = request('INVITE', { maxForwards: 0 });
    client.send(invite, port);
    assert.equal(startLine(await client.next(isStatus(483))), 'SIP/2.0 483 Too Many Hops');
    assert.equal(await upstream.count(sameCall(invite), 150), 0);
  });

  test('adds Max-Forwards 70 when the request has none', async () => {
    client.send(request('MESSAGE', { maxForwards: null }), port);
    const forwarded = await upstream.next(isMethod('MESSAGE'));
    assert.equal(header(forwarded, 'max-forwards'), '70');
  });

  test('detects a loop: the forwarded request sent back to sipwarden gets 482', async () => {
    client.send(request('MESSAGE'), port);
    const forwarded = await upstream.next(isMethod('MESSAGE'));
    decoy.send(forwarded, port);
    assert.equal(startLine(await decoy.next(sameCall(forwarded))), 'SIP/2.0 482 Loop Detected');
  });

  test('answers a malformed request with 400 and a reason', async () => {
    const broken = request('INVITE').replace(/Max-Forwards: 70/, 'Max-Forwards: seventy');
    client.send(broken, port);
    const reply = await client.next(sameCall(broken));
    assert.match(startLine(reply), /^SIP\/2\.0 400 \S/);
    assert.equal(await upstream.count(sameCall(broken), 150), 0);
  });

  test('drops a response that comes from an address the request was not sent to', async () => {
    client.send(request('INVITE'), port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    await client.next(isStatus(100));
    decoy.send(answer(forwarded, 200, 'OK'), port); // forged, with the right branch
    assert.equal(await client.count(isStatus(200)), 0);
    upstream.send(answer(forwarded, 486, 'Busy Here'), port);
    await client.next(isStatus(486));
  });

  test('absorbs the ACK for a non-2xx final and sends its own ACK upstream', async () => {
    const invite = request('INVITE');
    client.send(invite, port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    upstream.send(answer(forwarded, 486, 'Busy Here'), port);
    const busy = await client.next(isStatus(486));
    const ack = await upstream.next(isMethod('ACK'));
    assert.equal(header(ack, 'via'), header(forwarded, 'via'));
    assert.match(header(ack, 'to')!, /tag=uas-1/);
    const branch = /branch=([^;]+)/.exec(invite)![1]!;
    client.send(request('ACK', { branch, callId: header(busy, 'call-id')!, toTag: 'uas-1' }), port);
    assert.equal(await upstream.count(isMethod('ACK')), 0);
  });

  test('forwards the ACK for a 2xx end to end', async () => {
    client.send(request('INVITE'), port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    upstream.send(answer(forwarded, 200, 'OK'), port);
    const ok = await client.next(isStatus(200));
    const route = headers(ok, 'record-route')[0]!;
    client.send(
      request('ACK', { callId: header(ok, 'call-id')!, toTag: 'uas-1', extra: [`Route: ${route}`] }),
      port,
    );
    const ack = await upstream.next(isMethod('ACK'));
    assert.equal(header(ack, 'route'), undefined); // our own Route entry is consumed
  });

  test('CANCEL reaches the upstream after a provisional, and the 487 comes back', async () => {
    const invite = request('INVITE');
    client.send(invite, port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    upstream.send(answer(forwarded, 180, 'Ringing'), port);
    await client.next(isStatus(180));
    const branch = /branch=([^;]+)/.exec(invite)![1]!;
    client.send(request('CANCEL', { branch, callId: header(invite, 'call-id')! }), port);
    assert.match(header(await client.next(isStatus(200)), 'cseq')!, /CANCEL/);
    const cancel = await upstream.next(isMethod('CANCEL'));
    assert.equal(header(cancel, 'via'), header(forwarded, 'via'));
    upstream.send(answer(forwarded, 487, 'Request Terminated'), port);
    await client.next(isStatus(487));
  });

  /** INVITE, 200 from the upstream, ACK: an established dialog; returns its Call-ID. */
  async function establishCall(): Promise<string> {
    const invite = request('INVITE');
    client.send(invite, port);
    const forwarded = await upstream.next((text) => isMethod('INVITE')(text) && sameCall(invite)(text));
    upstream.send(answer(forwarded, 200, 'OK'), port);
    await client.next((text) => isStatus(200)(text) && sameCall(invite)(text));
    const callId = header(invite, 'call-id')!;
    client.send(request('ACK', { callId, toTag: 'uas-1' }), port);
    await upstream.next((text) => isMethod('ACK')(text) && sameCall(invite)(text));
    return callId;
  }

  test('refuses a BYE forged from a third address with 481, and the real BYE still passes', async () => {
    const callId = await establishCall();
    const forged = request('BYE', { callId, toTag: 'uas-1', cseq: 2 });
    // Over UDP a party is its address (its port may change behind NAT): forge from another one.
    const attacker = await UdpPeer.bind('127.0.0.2');
    try {
      attacker.send(forged, port);
      assert.equal(
        startLine(await attacker.next(sameCall(forged))),
        'SIP/2.0 481 Not A Party Of This Dialog',
      );
    } finally {
      attacker.close();
    }
    assert.equal(await upstream.count((text) => isMethod('BYE')(text) && sameCall(forged)(text)), 0);
    client.send(request('BYE', { callId, toTag: 'uas-1', cseq: 2 }), port);
    const bye = await upstream.next((text) => isMethod('BYE')(text) && sameCall(forged)(text));
    upstream.send(answer(bye, 200, 'OK'), port);
    await client.next((text) => isStatus(200)(text) && sameCall(forged)(text));
  });

  test('refuses an in-dialog request for a dialog it does not know with 481', async () => {
    const bye = request('BYE', { toTag: 'never-answered', cseq: 2 });
    client.send(bye, port);
    assert.equal(startLine(await client.next(sameCall(bye))), 'SIP/2.0 481 Call/Transaction Does Not Exist');
    assert.equal(await upstream.count(sameCall(bye), 150), 0);
  });

  test('refuses an in-dialog request whose CSeq does not grow with 500', async () => {
    const callId = await establishCall();
    const stale = request('INFO', { callId, toTag: 'uas-1', cseq: 1 });
    client.send(stale, port);
    assert.equal(
      startLine(await client.next((t) => sameCall(stale)(t) && / INFO$/.test(header(t, 'cseq') ?? ''))),
      'SIP/2.0 500 CSeq Out Of Order',
    );
    assert.equal(await upstream.count((t) => isMethod('INFO')(t) && sameCall(stale)(t), 150), 0);
  });

  test('an in-dialog request refused on its way (Max-Forwards 0) leaves the dialog as it was', async () => {
    const callId = await establishCall();
    const spent = request('BYE', { callId, toTag: 'uas-1', cseq: 2, maxForwards: 0 });
    client.send(spent, port);
    assert.equal(startLine(await client.next(sameCall(spent))), 'SIP/2.0 483 Too Many Hops');
    // The refused BYE's CSeq was not recorded: the real BYE with the same number still passes.
    const bye = request('BYE', { callId, toTag: 'uas-1', cseq: 2 });
    client.send(bye, port);
    const forwarded = await upstream.next((text) => isMethod('BYE')(text) && sameCall(bye)(text));
    upstream.send(answer(forwarded, 200, 'OK'), port);
    await client.next((text) => isStatus(200)(text) && sameCall(bye)(text));
  });

  test('drops an ACK that claims a dialog it does not know', async () => {
    const ack = request('ACK', { toTag: 'unknown-tag' });
    client.send(ack, port);
    assert.equal(await upstream.count(sameCall(ack)), 0);
    assert.equal(await client.count(sameCall(ack), 0), 0);
  });

  test('shortens a registration asking for longer than the maximum', async () => {
    const register = request('REGISTER', {
      uri: 'sip:pbx.example.com',
      extra: ['Expires: 86400'],
    }).replace(/Contact: <([^>]+)>/, 'Contact: <$1>;expires=7200');
    client.send(register, port);
    const forwarded = await upstream.next((t) => isMethod('REGISTER')(t) && sameCall(register)(t));
    assert.equal(header(forwarded, 'expires'), '3600');
    assert.match(header(forwarded, 'contact')!, /;expires=3600$/);
  });

  test('answers 481 to a CANCEL that matches no INVITE', async () => {
    const cancel = request('CANCEL');
    client.send(cancel, port);
    assert.equal(
      startLine(await client.next(sameCall(cancel))),
      'SIP/2.0 481 Call/Transaction Does Not Exist',
    );
    assert.equal(await upstream.count(sameCall(cancel), 150), 0);
  });

  test('retransmits an unanswered INVITE (Timer A) and answers 408 when Timer B fires', async () => {
    const invite = request('INVITE');
    client.send(invite, port);
    await client.next((text) => isStatus(408)(text) && sameCall(invite)(text), 5000);
    const sent = upstream.received.filter((m) => isMethod('INVITE')(m.text) && sameCall(invite)(m.text));
    assert.ok(sent.length >= 3, `expected retransmissions, saw ${sent.length}`);
    assert.equal(new Set(sent.map((m) => header(m.text, 'via'))).size, 1);
  });

  test('routes an in-dialog BYE from the upstream to the caller through the Record-Route token', async () => {
    client.send(request('INVITE'), port);
    const forwarded = await upstream.next(isMethod('INVITE'));
    const recordRoute = header(forwarded, 'record-route')!;
    const bye = [
      `BYE sip:bob@127.0.0.98:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${upstream.port};branch=z9hG4bK-uas-bye-${++seq}`,
      `Route: ${recordRoute}`,
      'Max-Forwards: 70',
      `From: ${header(forwarded, 'to')};tag=uas-1`,
      `To: ${header(forwarded, 'from')}`,
      `Call-ID: ${header(forwarded, 'call-id')}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    upstream.send(bye, port);
    const delivered = await client.next(isMethod('BYE'));
    assert.equal(header(delivered, 'route'), undefined);
    // Topology hiding (on by default towards the untrusted side): only sipwarden's Via shows;
    // the upstream's comes back on the response from the transaction.
    assert.equal(headers(delivered, 'via').length, 1);
    client.send(answer(delivered, 200, 'OK'), port);
    const ok = await upstream.next(isStatus(200));
    assert.deepEqual(headers(ok, 'via'), [
      `SIP/2.0/UDP 127.0.0.1:${upstream.port};branch=z9hG4bK-uas-bye-${seq}`,
    ]);
  });

  test('refuses a request from the upstream whose flow token is forged', async () => {
    const bye = [
      `BYE sip:bob@127.0.0.1:${decoy.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${upstream.port};branch=z9hG4bK-forged-${++seq}`,
      `Route: <sip:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:${port};lr>`,
      'Max-Forwards: 70',
      'From: <sip:alice@pbx.example.com>;tag=a',
      'To: <sip:bob@client.example>;tag=b',
      'Call-ID: forged@x',
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    upstream.send(bye, port);
    assert.equal(startLine(await upstream.next(sameCall(bye))), 'SIP/2.0 403 Invalid Flow Token');
    assert.equal(await decoy.count(() => true), 0);
  });

  test('adds a Path with a flow token to REGISTER, and routes requests for the contact back over that flow', async () => {
    client.send(request('REGISTER', { uri: 'sip:pbx.example.com' }), port);
    const register = await upstream.next(isMethod('REGISTER'));
    const path = header(register, 'path')!;
    assert.match(path, /^<sip:[A-Za-z0-9_-]+@127\.0\.0\.1:\d+;lr;ob>$/);
    assert.equal(header(register, 'record-route'), undefined);
    const invite = [
      `INVITE sip:bob@127.0.0.97:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${upstream.port};branch=z9hG4bK-uas-inv-${++seq}`,
      `Route: ${path}`,
      'Max-Forwards: 70',
      'From: <sip:alice@pbx.example.com>;tag=pbx-1',
      'To: <sip:bob@client.example>',
      `Call-ID: from-pbx-${seq}`,
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    upstream.send(invite, port);
    const delivered = await client.next(isMethod('INVITE'));
    assert.equal(startLine(delivered), 'INVITE sip:bob@127.0.0.97:5060 SIP/2.0');
    assert.ok(header(delivered, 'record-route'));
    await upstream.next(isStatus(100));
  });
});

describe('the proxy core across transports', () => {
  let tcpGateway: Gateway;
  let tcpUpstream: UdpPeer;
  let tcpPort: number;

  before(async () => {
    tcpUpstream = await UdpPeer.bind();
    tcpGateway = await startGateway(config(tcpUpstream.port), silentLogger, { timers: TEST_TIMERS });
    tcpPort = tcpGateway.listening().find((l) => l.transport === 'tcp')!.port;
  });

  after(async () => {
    await tcpGateway.close();
    tcpUpstream.close();
  });

  test('record-routes twice when the transport changes, and answers over the same TCP connection', async () => {
    const { connect } = await import('node:net');
    const socket = connect(tcpPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    const invite = [
      `INVITE sip:alice@pbx.example.com SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:${socket.localPort};branch=z9hG4bK-tcp-${++seq}`,
      'Max-Forwards: 70',
      'From: <sip:bob@client.example>;tag=from-tcp',
      'To: <sip:alice@pbx.example.com>',
      `Call-ID: tcp-${seq}@client.example`,
      'CSeq: 1 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    socket.write(invite);
    const forwarded = await tcpUpstream.next(isMethod('INVITE'));
    const routes = headers(forwarded, 'record-route');
    assert.equal(routes.length, 2);
    assert.match(routes[0]!, /@127\.0\.0\.1:\d+;lr>$/); // facing the upstream (UDP)
    assert.match(routes[1]!, /;transport=tcp;lr>$/); // facing the client (TCP)
    tcpUpstream.send(
      answer(forwarded, 200, 'OK'),
      tcpGateway.listening().find((l) => l.transport === 'udp')!.port,
    );
    const deadline = Date.now() + 3000;
    while (!received.includes('SIP/2.0 200 OK') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.destroy();
    assert.match(received, /SIP\/2\.0 200 OK/);
  });
});

describe('the proxy core over IPv6', () => {
  test('forwards a request from an IPv6 client to an IPv6 upstream and answers back', async (t) => {
    let v6Upstream: UdpPeer;
    let v6Client: UdpPeer;
    try {
      v6Upstream = await UdpPeer.bind('::1');
      v6Client = await UdpPeer.bind('::1');
    } catch {
      t.skip('this machine has no ::1');
      return;
    }
    const base = defaultConfig();
    const v6 = await startGateway(
      {
        ...base,
        listen: [{ host: '::1', port: 0, transports: ['udp'] }],
        upstream: { host: '::1', port: v6Upstream.port, transport: 'udp' },
        management: { ...base.management, enabled: false },
        events: { ...base.events, database: ':memory:' },
      },
      silentLogger,
      { timers: TEST_TIMERS },
    );
    try {
      const v6Port = v6.listening()[0]!.port;
      const message = [
        'MESSAGE sip:alice@[2001:db8::10] SIP/2.0',
        `Via: SIP/2.0/UDP [::1]:${v6Client.port};branch=z9hG4bK-v6-${++seq}`,
        'Max-Forwards: 70',
        'From: <sip:bob@[::1]>;tag=v6',
        'To: <sip:alice@[2001:db8::10]>',
        `Call-ID: v6-${seq}`,
        'CSeq: 1 MESSAGE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      v6Client.send(message, v6Port, '::1');
      const forwarded = await v6Upstream.next(isMethod('MESSAGE'));
      assert.match(header(forwarded, 'via')!, new RegExp(`^SIP/2\\.0/UDP \\[::1\\]:${v6Port};`));
      v6Upstream.send(answer(forwarded, 202, 'Accepted'), v6Port, '::1');
      assert.equal(startLine(await v6Client.next()), 'SIP/2.0 202 Accepted');
    } finally {
      await v6.close();
      v6Upstream.close();
      v6Client.close();
    }
  });
});
