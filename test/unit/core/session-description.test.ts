import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type MediaContext,
  type MediaLineHandler,
  SessionDescriptions,
} from '../../../src/core/route/session-description.ts';
import type { SdpMedia } from '../../../src/sdp/index.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import type { Flow } from '../../../src/transport/types.ts';

const FLOW: Flow = {
  transport: 'udp',
  remoteAddress: '127.0.0.1',
  remotePort: 5070,
  localAddress: '127.0.0.1',
  localPort: 5060,
};

const sdp = (port: number) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    '',
  ].join('\r\n');

function message(startLine: string, cseq: string, tags: { from: string; to?: string }, body = ''): Buffer {
  const lines = [
    startLine,
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1',
    `From: <sip:a@example.com>;tag=${tags.from}`,
    `To: <sip:b@example.com>${tags.to === undefined ? '' : `;tag=${tags.to}`}`,
    'Call-ID: call-1',
    `CSeq: ${cseq}`,
    'Max-Forwards: 70',
    ...(body === '' ? [] : ['Content-Type: application/sdp']),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function req(startLine: string, cseq: string, tags: { from: string; to?: string }, body = ''): SipRequest {
  const r = parseMessage(message(startLine, cseq, tags, body));
  assert.ok(r.ok && r.message.kind === 'request');
  return r.message as SipRequest;
}

function res(status: string, cseq: string, tags: { from: string; to?: string }, body = ''): SipResponse {
  const r = parseMessage(message(`SIP/2.0 ${status}`, cseq, tags, body));
  assert.ok(r.ok && r.message.kind === 'response');
  return r.message as SipResponse;
}

/** A handler that moves every audio port up by 10000 and records what it saw and what ended. */
class Recorder implements MediaLineHandler {
  readonly seen: { port: number; context: MediaContext }[] = [];
  readonly endedList: string[] = [];
  rewrite(media: SdpMedia, _description: unknown, context: MediaContext): SdpMedia {
    this.seen.push({ port: media.port, context });
    return { ...media, port: media.port + 10000 };
  }
  ended(session: string): void {
    this.endedList.push(session);
  }
}
const recorder = () => new Recorder();

const portOf = (m: SipRequest | SipResponse) => /m=audio (\d+)/.exec(m.body.toString('latin1'))?.[1];

test('offer and answer are rewritten and their writers told apart; the session ends with the BYE', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler]);
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, sdp(4000));
  const out = sessions.request(invite, invite, 'client', FLOW);
  assert.equal(portOf(out), '14000');
  assert.equal(out.headers.find((h) => h.name === 'content-length')?.value, String(out.body.length));
  const ok = res('200 OK', '1 INVITE', { from: 'A', to: 'B' }, sdp(5000));
  assert.equal(portOf(sessions.response(ok, 'client', FLOW)), '15000');
  assert.deepEqual(
    handler.seen.map((s) => [s.context.from, s.context.toward]),
    [
      ['caller', 'upstream'],
      ['callee', 'client'],
    ],
  );
  // A re-INVITE from the callee (From and To swapped, from the upstream side) is the callee's.
  const reinvite = req('INVITE sip:a@example.com SIP/2.0', '7 INVITE', { from: 'B', to: 'A' }, sdp(6000));
  sessions.request(reinvite, reinvite, 'upstream', FLOW);
  assert.equal(handler.seen[2]?.context.from, 'callee');
  assert.equal(handler.seen[2]?.context.session, handler.seen[0]?.context.session);
  assert.equal(sessions.size, 1);
  sessions.completed(req('BYE sip:b@example.com SIP/2.0', '2 BYE', { from: 'A', to: 'B' }), 200, 'client');
  assert.equal(sessions.size, 0);
  assert.deepEqual(handler.endedList, [handler.seen[0]?.context.session]);
});

test('an INVITE without an offer: the 2xx carries the offer, the ACK the answer', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler]);
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' });
  assert.equal(sessions.request(invite, invite, 'client', FLOW), invite);
  const ok = res('200 OK', '1 INVITE', { from: 'A', to: 'B' }, sdp(5000));
  assert.equal(portOf(sessions.response(ok, 'client', FLOW)), '15000');
  const ack = req('ACK sip:b@example.com SIP/2.0', '1 ACK', { from: 'A', to: 'B' }, sdp(4000));
  assert.equal(portOf(sessions.request(ack, ack, 'client', FLOW)), '14000');
  assert.deepEqual(
    handler.seen.map((s) => s.context.from),
    ['callee', 'caller'],
  );
  assert.equal(handler.seen[0]?.context.session, handler.seen[1]?.context.session);
  sessions.completed(req('BYE sip:a@example.com SIP/2.0', '5 BYE', { from: 'B', to: 'A' }), 200, 'upstream');
  assert.equal(sessions.size, 0, 'a BYE from the callee ends it too');
});

test('a failed or cancelled INVITE ends its session; an in-dialog failure does not', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler]);
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, sdp(4000));
  sessions.request(invite, invite, 'client', FLOW);
  sessions.completed(
    req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A', to: 'B' }),
    491,
    'client',
  );
  assert.equal(sessions.size, 1, 'a refused re-INVITE leaves the call up');
  sessions.completed(invite, 487, 'client');
  assert.equal(sessions.size, 0);
  assert.equal(handler.endedList.length, 1);
});

test('a dialog the table ends (maximum session length) ends its session', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler]);
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, sdp(4000));
  sessions.request(invite, invite, 'client', FLOW);
  sessions.dialogEnded('call-1', 'A', 'client');
  assert.equal(sessions.size, 0);
  assert.equal(handler.endedList.length, 1);
});

test('bodies that are not SDP, requests out of any session and an unparsable SDP go on unchanged', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler]);
  const stray = req('UPDATE sip:b@example.com SIP/2.0', '3 UPDATE', { from: 'X', to: 'Y' }, sdp(4000));
  assert.equal(sessions.request(stray, stray, 'client', FLOW), stray);
  const bad = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, 'v=0\r\nnot sdp\r\n');
  assert.equal(sessions.request(bad, bad, 'client', FLOW), bad);
  assert.equal(handler.seen.length, 0);
});

test('the table is bounded: the oldest session ends first', () => {
  const handler = recorder();
  const sessions = new SessionDescriptions([handler], 2);
  for (const tag of ['A', 'B', 'C']) {
    const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: tag }, sdp(4000));
    sessions.request(invite, invite, 'client', FLOW);
  }
  assert.equal(sessions.size, 2);
  assert.deepEqual(handler.endedList, ['call-1|A|c']);
});

test('a handler that changed a section rewrites o= and the session c=; sections it left keep their address', () => {
  // Moves audio only; o= and the session c= name 192.0.2.1 afterwards.
  const handler: MediaLineHandler = {
    rewrite: (media) =>
      media.type === 'audio'
        ? { ...media, port: 30000, connections: [{ netType: 'IN', addrType: 'IP4', address: '192.0.2.1' }] }
        : media,
    rewriteSession: (description) => ({
      origin: { ...description.origin, address: '192.0.2.1' },
      connection: { netType: 'IN', addrType: 'IP4', address: '192.0.2.1' },
    }),
    ended: () => {},
  };
  const sessions = new SessionDescriptions([handler]);
  const body = sdp(4000).replace('c=IN IP4 127.0.0.1', 'c=IN IP4 10.1.2.3') + 'm=image 5000 udptl t38\r\n';
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, body);
  const out = sessions.request(invite, invite, 'client', FLOW).body.toString('latin1');
  assert.match(out, /^o=- 1 1 IN IP4 192\.0\.2\.1\r$/m);
  assert.match(out, /^c=IN IP4 192\.0\.2\.1\r\nt=/m);
  assert.match(out, /m=audio 30000 RTP\/AVP 0\r\nc=IN IP4 192\.0\.2\.1\r\n/);
  // The section nobody relays keeps the address the session c= gave it.
  assert.match(out, /m=image 5000 udptl t38\r\nc=IN IP4 10\.1\.2\.3\r\n/);
  assert.doesNotMatch(out, /127\.0\.0\.1/);
});

test('without a handler change, o= and c= go on as written', () => {
  const handler: MediaLineHandler = {
    rewrite: (media) => media,
    rewriteSession: () => ({ connection: { netType: 'IN', addrType: 'IP4', address: '192.0.2.1' } }),
    ended: () => {},
  };
  const sessions = new SessionDescriptions([handler]);
  const invite = req('INVITE sip:b@example.com SIP/2.0', '1 INVITE', { from: 'A' }, sdp(4000));
  assert.equal(sessions.request(invite, invite, 'client', FLOW), invite);
});
