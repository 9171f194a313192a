/**
 * Registration caching's rule (src/core/route/registration-cache.ts): which re-REGISTERs are
 * answered from the PBX's last 2xx and which go to the PBX, on parsed messages and a clock
 * the test moves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistrationCache } from '../../../src/core/route/registration-cache.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import type { Flow } from '../../../src/transport/types.ts';

const PHONE: Flow = {
  transport: 'udp',
  localAddress: '127.0.0.1',
  localPort: 5060,
  remoteAddress: '192.0.2.10',
  remotePort: 40000,
};

function parse(text: string): SipRequest & SipResponse {
  const result = parseMessage(Buffer.from(text.split('\n').join('\r\n')));
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.message as SipRequest & SipResponse;
}

interface RegisterOptions {
  cseq: number;
  callId?: string;
  contact?: string;
  expires?: number;
  branch?: string;
}

function register(o: RegisterOptions): SipRequest {
  return parse(
    [
      'REGISTER sip:pbx.test SIP/2.0',
      `Via: SIP/2.0/UDP 192.0.2.10:40000;branch=${o.branch ?? `z9hG4bK-${o.cseq}`};rport`,
      'From: <sip:100@pbx.test>;tag=f1',
      'To: <sip:100@pbx.test>',
      `Call-ID: ${o.callId ?? 'reg-1'}`,
      `CSeq: ${o.cseq} REGISTER`,
      `Contact: ${o.contact ?? '<sip:100@192.0.2.10:40000>'}`,
      `Expires: ${o.expires ?? 600}`,
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\n'),
  );
}

function ok(request: SipRequest, expires = 600): SipResponse {
  return parse(
    [
      'SIP/2.0 200 OK',
      `Via: SIP/2.0/UDP 192.0.2.10:40000;branch=z9hG4bK-${request.cseq.seq};rport=40000`,
      'From: <sip:100@pbx.test>;tag=f1',
      'To: <sip:100@pbx.test>;tag=pbx-tag',
      `Call-ID: ${request.callId}`,
      `CSeq: ${request.cseq.seq} REGISTER`,
      `Contact: <sip:100@192.0.2.10:40000>;expires=${expires}, <sip:100@198.51.100.7:5060>;expires=30`,
      'Service-Route: <sip:orig@pbx.test;lr>',
      'Date: Mon, 07 Dec 2026 22:00:00 GMT',
      'Content-Length: 0',
      '',
      '',
    ].join('\n'),
  );
}

function accepted(
  cache: RegistrationCache,
  request: SipRequest,
  flow = PHONE,
  identity?: string,
  expires = 600,
): void {
  cache.forwarded(request, flow, identity);
  cache.answered(request, flow, ok(request, expires));
}

function setup(refreshBelowPercent = 50, maxEntries = 100) {
  let now = 1_000_000;
  const cache = new RegistrationCache({ maxEntries, refreshBelowPercent }, () => now);
  return { cache, advance: (ms: number) => (now += ms) };
}

const header = (m: SipResponse, name: string) => m.headers.find((h) => h.name === name)?.value;

test('a re-REGISTER on the same flow, Call-ID and Contacts with a higher CSeq is answered from the PBX 2xx', () => {
  const { cache, advance } = setup();
  accepted(cache, register({ cseq: 1 }));
  advance(100_000);
  const answer = cache.answer(register({ cseq: 2 }), PHONE, undefined);
  assert.ok(answer, 'answered from the cache');
  assert.equal(answer.status, 200);
  assert.equal(answer.cseq.seq, 2);
  assert.equal(answer.to.params.get('tag'), 'pbx-tag');
  // The phone's own binding: the 500 s the PBX has left; the other binding: its 30 s ran out.
  assert.equal(header(answer, 'contact'), '<sip:100@192.0.2.10:40000>;expires=500');
  assert.equal(header(answer, 'service-route'), '<sip:orig@pbx.test;lr>');
  assert.notEqual(header(answer, 'date'), 'Mon, 07 Dec 2026 22:00:00 GMT');
  assert.equal(cache.stats.answered, 1);
});

test('the answer never gives more than the phone asks for now', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 1 }));
  const answer = cache.answer(register({ cseq: 2, expires: 120 }), PHONE, undefined);
  assert.match(header(answer!, 'contact') ?? '', /expires=120/);
});

test('another flow with the same Call-ID goes to the PBX: another address, another port, another connection', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 1 }));
  const others: Flow[] = [
    { ...PHONE, remoteAddress: '203.0.113.66' },
    { ...PHONE, remotePort: 40001 },
    { ...PHONE, transport: 'tcp', connectionId: 7 },
  ];
  for (const flow of others) assert.equal(cache.answer(register({ cseq: 5 }), flow, undefined), undefined);
  assert.equal(cache.stats.forwarded['other-flow'], 3);
  // Refused by the PBX there: the phone's entry stays.
  const spoofed = register({ cseq: 6 });
  cache.forwarded(spoofed, others[0]!, undefined);
  cache.answered(spoofed, others[0]!, { ...ok(spoofed), status: 401, reason: 'Unauthorized' });
  assert.ok(cache.answer(register({ cseq: 7 }), PHONE, undefined));
});

test('a changed Contact, an unregistration, a lower CSeq or a new Call-ID go to the PBX', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 10 }));
  assert.equal(
    cache.answer(register({ cseq: 11, contact: '<sip:100@203.0.113.9:5060>' }), PHONE, undefined),
    undefined,
  );
  assert.equal(cache.answer(register({ cseq: 12, expires: 0 }), PHONE, undefined), undefined);
  assert.equal(cache.answer(register({ cseq: 13, contact: '*' }), PHONE, undefined), undefined);
  assert.equal(
    cache.answer(register({ cseq: 14, contact: '<sip:100@192.0.2.10:40000>;expires=0' }), PHONE, undefined),
    undefined,
  );
  assert.equal(cache.answer(register({ cseq: 10 }), PHONE, undefined), undefined);
  assert.equal(cache.answer(register({ cseq: 15, callId: 'other' }), PHONE, undefined), undefined);
  assert.deepEqual(
    { ...cache.stats.forwarded },
    {
      'no-entry': 1,
      unregister: 3,
      query: 0,
      'other-flow': 0,
      changed: 1,
      unverified: 0,
      cseq: 1,
      refresh: 0,
    },
  );
  assert.equal(cache.stats.answered, 0);
});

test('a retransmission (same CSeq and branch) gets the same answer again; the same CSeq on a new branch does not', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 1 }));
  assert.ok(cache.answer(register({ cseq: 2, branch: 'z9hG4bK-a' }), PHONE, undefined));
  assert.ok(cache.answer(register({ cseq: 2, branch: 'z9hG4bK-a' }), PHONE, undefined));
  assert.equal(cache.answer(register({ cseq: 2, branch: 'z9hG4bK-b' }), PHONE, undefined), undefined);
});

test('once the PBX binding has less than refreshBelowPercent left the re-REGISTER goes to the PBX, and its 2xx renews the entry', () => {
  const { cache, advance } = setup(50);
  accepted(cache, register({ cseq: 1 }));
  advance(299_000);
  assert.ok(cache.answer(register({ cseq: 2 }), PHONE, undefined));
  advance(2_000);
  const refresh = register({ cseq: 3 });
  assert.equal(cache.answer(refresh, PHONE, undefined), undefined);
  assert.equal(cache.stats.forwarded.refresh, 1);
  cache.forwarded(refresh, PHONE, undefined);
  cache.answered(refresh, PHONE, ok(refresh));
  assert.ok(cache.answer(register({ cseq: 4 }), PHONE, undefined));
  advance(600_000);
  assert.equal(cache.answer(register({ cseq: 5 }), PHONE, undefined), undefined, 'expired');
});

test('a registration sipwarden verified itself is answered from the cache only for a request verified for the same user', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 1 }), PHONE, '100@pbx.test');
  assert.equal(cache.answer(register({ cseq: 2 }), PHONE, undefined), undefined);
  assert.equal(cache.answer(register({ cseq: 3 }), PHONE, '200@pbx.test'), undefined);
  assert.equal(cache.stats.forwarded.unverified, 2);
  assert.ok(cache.answer(register({ cseq: 4 }), PHONE, '100@pbx.test'));
});

test('an unregistration accepted by the PBX ends the entry; a 2xx without the phone Contact stores nothing', () => {
  const { cache } = setup();
  accepted(cache, register({ cseq: 1 }));
  const bye = register({ cseq: 2, expires: 0 });
  cache.forwarded(bye, PHONE, undefined);
  cache.answered(bye, PHONE, ok(bye, 0));
  assert.equal(cache.size, 0);
  assert.equal(cache.answer(register({ cseq: 3 }), PHONE, undefined), undefined);
});

test('the table holds at most maxEntries registrations, the least recently used going first', () => {
  const { cache } = setup(50, 3);
  for (let i = 0; i < 5; i++) accepted(cache, register({ cseq: 1, callId: `c${i}` }));
  assert.equal(cache.size, 3);
  assert.equal(cache.stats.evicted, 2);
  assert.equal(cache.answer(register({ cseq: 2, callId: 'c0' }), PHONE, undefined), undefined);
  assert.ok(cache.answer(register({ cseq: 2, callId: 'c4' }), PHONE, undefined));
});

test("a REGISTER from another flow with the phone's Call-ID and CSeq does not keep the phone's 2xx from being stored", () => {
  const { cache } = setup();
  const mine = register({ cseq: 1 });
  const other: Flow = { ...PHONE, remoteAddress: '203.0.113.66' };
  cache.forwarded(mine, PHONE, undefined);
  cache.forwarded(register({ cseq: 1 }), other, undefined);
  cache.answered(mine, PHONE, ok(mine));
  assert.ok(cache.answer(register({ cseq: 2 }), PHONE, undefined));
});
