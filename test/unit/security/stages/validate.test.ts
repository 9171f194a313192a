/**
 * The validate stage: every rule with offending SIP text, parsed and validated by src/sip
 * first exactly as the core does (so each test shows a check the core does not make), and
 * the valid conformance messages of RFC 4475 and RFC 5118 passing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import {
  STAGE_PASS,
  type Stage,
  StageConfigError,
  type StageVerdict,
} from '../../../../src/security/stage.ts';
import { createValidateStage } from '../../../../src/security/stages/validate.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../../../src/sip/message.ts';
import { parseMessage } from '../../../../src/sip/parse.ts';
import { validateMessage } from '../../../../src/sip/validate.ts';
import { flow, makeDeps, T0 } from './helpers.ts';

const FLOW = flow('198.51.100.7', 5060);
const conformance = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'conformance');

const SDP =
  'v=0\r\n' +
  'o=- 1 1 IN IP4 198.51.100.7\r\n' +
  's=-\r\n' +
  'c=IN IP4 198.51.100.7\r\n' +
  't=0 0\r\n' +
  'm=audio 49170 RTP/AVP 0 101\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\n' +
  'a=fmtp:101 0-16\r\n';

interface MessageOptions {
  readonly method?: string;
  readonly ruri?: string;
  /** Via values, one field each. */
  readonly via?: readonly string[];
  readonly from?: string;
  readonly to?: string;
  /** null: no Contact. */
  readonly contact?: string | null;
  /** Extra header lines. */
  readonly headers?: readonly string[];
  readonly body?: string;
  /** Defaults to application/sdp when there is a body; null: none. */
  readonly contentType?: string | null;
}

/** A request as a phone sends it, literal SIP text. */
function sip(o: MessageOptions = {}): string {
  const method = o.method ?? 'INVITE';
  const lines = [
    `${method} ${o.ruri ?? 'sip:200@pbx.example.com'} SIP/2.0`,
    ...(o.via ?? ['SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9;rport']).map((v) => `Via: ${v}`),
    'Max-Forwards: 70',
    `From: ${o.from ?? '"Alice" <sip:100@pbx.example.com>;tag=9fxced76sl'}`,
    `To: ${o.to ?? '<sip:200@pbx.example.com>'}`,
    'Call-ID: 3848276298220188511@198.51.100.7',
    `CSeq: 1 ${method}`,
  ];
  if (o.contact !== null) lines.push(`Contact: ${o.contact ?? '<sip:100@198.51.100.7:5060>'}`);
  lines.push(...(o.headers ?? []));
  const body = o.body ?? '';
  const type = o.contentType === undefined ? (body === '' ? null : 'application/sdp') : o.contentType;
  if (type !== null) lines.push(`Content-Type: ${type}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

function response(
  status: string,
  headers: readonly string[],
  body = '',
  contentType = 'application/sdp',
): string {
  const lines = [
    `SIP/2.0 ${status}`,
    'Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK74bf9;rport=5060',
    'From: "Alice" <sip:100@pbx.example.com>;tag=9fxced76sl',
    'To: <sip:200@pbx.example.com>;tag=as5f2a',
    'Call-ID: 3848276298220188511@198.51.100.7',
    'CSeq: 1 INVITE',
    'Contact: <sip:200@203.0.113.5:5060>',
    ...headers,
  ];
  if (body !== '') lines.push(`Content-Type: ${contentType}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

/** Parses and validates as the core does before any stage runs. */
function parsed(text: string | Buffer): SipMessage {
  const r = parseMessage(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  assert.ok(r.ok, r.ok ? '' : `the parser refuses it first: ${r.error.code} ${r.error.reason}`);
  const v = validateMessage(r.message);
  assert.ok(v.ok, v.ok ? '' : `the core refuses it first: ${v.code} ${v.reason}`);
  return r.message;
}

function contextOf(request: SipRequest): RequestContext {
  return { flow: FLOW, direction: 'client', request, inDialog: false };
}

function stage(settings?: unknown): Stage {
  return createValidateStage(settings, makeDeps());
}

const defaultStage = stage();

function onRequest(text: string | Buffer, s: Stage = defaultStage): StageVerdict {
  const m = parsed(text);
  assert.equal(m.kind, 'request');
  const v = s.request!(contextOf(m as SipRequest), T0);
  assert.ok(!(v instanceof Promise), 'the stage answers synchronously');
  return v;
}

function passes(text: string | Buffer, s?: Stage): void {
  const v = onRequest(text, s);
  assert.equal(v, STAGE_PASS, v.action === 'pass' ? '' : `refused: ${'event' in v ? v.event?.rule : ''}`);
}

type Reject = Extract<StageVerdict, { action: 'reject' }>;

/** Asserts a 400 (or `status`) with the rule's code, a clean reason and a Warning naming it. */
function rejects(text: string, code: string, s?: Stage, status = 400): Reject {
  const v = onRequest(text, s);
  assert.equal(v.action, 'reject', `expected a rejection with ${code}`);
  const r = v as Reject;
  assert.equal(r.event.rule, code, r.reason);
  assert.equal(r.status, status);
  assert.match(r.reason, /^[\x20-\x7e]{1,100}$/);
  assert.deepEqual(r.headers?.[0], { name: 'Warning', value: `399 sipwarden "${r.reason}"` });
  assert.deepEqual(
    { type: r.event.type, stage: r.event.stage, action: r.event.action, status: r.event.status },
    { type: 'invalid', stage: 'validate', action: 'reject', status },
  );
  assert.deepEqual(r.event.source, { address: '198.51.100.7', port: 5060, transport: 'udp' });
  assert.equal(r.event.reason, r.reason);
  return r;
}

function onResponse(text: string, s: Stage = defaultStage): StageVerdict {
  const request = parsed(sip({ body: SDP })) as SipRequest;
  const m = parsed(text);
  assert.equal(m.kind, 'response');
  return s.response!(contextOf(request), m as SipResponse, T0);
}

// The stage itself

test('is named validate, runs in the validate phase and fails closed', () => {
  assert.equal(defaultStage.name, 'validate');
  assert.equal(defaultStage.phase, 'validate');
  assert.equal(defaultStage.failMode, 'closed');
});

test('refuses bad settings at start, listing every problem with its path', () => {
  assert.throws(
    () => stage({ maxVia: 0, maxExpires: -1, sdp: { maxBytes: 'big' }, checkSDP: true }),
    (e: unknown) => {
      assert.ok(e instanceof StageConfigError);
      const text = e.issues.join('\n');
      assert.match(text, /^maxVia: must be an integer 1\.\.64$/m);
      assert.match(text, /^maxExpires: /m);
      assert.match(text, /^sdp\.maxBytes: /m);
      assert.match(text, /checkSDP/);
      return true;
    },
  );
});

test('passes a well-formed INVITE with SDP with the shared pass verdict', () => {
  passes(sip({ body: SDP }));
});

test('passes a REGISTER, an OPTIONS and a BYE without bodies', () => {
  passes(sip({ method: 'REGISTER', ruri: 'sip:pbx.example.com', headers: ['Expires: 3600'] }));
  passes(sip({ method: 'OPTIONS', contact: null, headers: ['Accept: application/sdp'] }));
  passes(sip({ method: 'BYE', contact: null, to: '<sip:200@pbx.example.com>;tag=as5f2a' }));
});

// Header counts

test('rejects more Via values than maxVia with 400', () => {
  const via = ['SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1', 'SIP/2.0/UDP p1.example.com;branch=z9hG4bK2'];
  passes(sip({ via }), stage({ maxVia: 2 }));
  rejects(
    sip({ via: [...via, 'SIP/2.0/UDP p2.example.com;branch=z9hG4bK3'] }),
    'SW_ERR_TOO_MANY_VIA',
    stage({ maxVia: 2 }),
  );
});

test('rejects more Route values than maxRoute, counted across fields', () => {
  const s = stage({ maxRoute: 2 });
  passes(sip({ headers: ['Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>'] }), s);
  rejects(
    sip({
      headers: ['Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>', 'Route: <sip:p3.example.com;lr>'],
    }),
    'SW_ERR_TOO_MANY_ROUTE',
    s,
  );
});

test('rejects more Record-Route values than maxRoute', () => {
  const rr = 'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>, <sip:p3.example.com;lr>';
  rejects(sip({ headers: [rr] }), 'SW_ERR_TOO_MANY_ROUTE', stage({ maxRoute: 2 }));
});

test('rejects more Contact values than maxContact', () => {
  const s = stage({ maxContact: 2 });
  const contact = '<sip:100@198.51.100.7>, <sip:100@198.51.100.8>, <sip:100@198.51.100.9>';
  rejects(sip({ method: 'REGISTER', ruri: 'sip:pbx.example.com', contact }), 'SW_ERR_TOO_MANY_CONTACT', s);
});

test('a Contact value seen before is judged again: refused again, and its values still counted', () => {
  const s = stage({ maxContact: 3 });
  const bad = '<sip:100@198.51.100.7:0>';
  rejects(sip({ contact: bad }), 'SW_ERR_BAD_PORT', s);
  rejects(sip({ contact: bad }), 'SW_ERR_BAD_PORT', s);
  const two = '<sip:100@198.51.100.7>, <sip:100@198.51.100.8>';
  const register = { method: 'REGISTER', ruri: 'sip:pbx.example.com' };
  passes(sip({ ...register, contact: two }), s);
  rejects(sip({ ...register, contact: two, headers: [`Contact: ${two}`] }), 'SW_ERR_TOO_MANY_CONTACT', s);
});

test('a Route value seen before still counts toward maxRoute across fields', () => {
  const s = stage({ maxRoute: 3 });
  const route = 'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>';
  passes(sip({ headers: [route] }), s);
  rejects(sip({ headers: [route, route] }), 'SW_ERR_TOO_MANY_ROUTE', s);
});

test('one value in two headers is judged by the rules of each', () => {
  const s = stage();
  passes(sip({ headers: ['P-Asserted-Identity: <tel:+15551234567>'] }), s);
  const r = rejects(sip({ headers: ['Route: <tel:+15551234567>'] }), 'SW_ERR_BAD_HEADER_URI', s);
  assert.equal(r.reason, 'Route URI scheme not allowed');
});

test('rejects more fields of one header than maxHeaderFields', () => {
  const s = stage({ maxHeaderFields: 3 });
  passes(sip({ headers: ['X-Tag: 1', 'X-Tag: 2', 'X-Tag: 3'] }), s);
  rejects(
    sip({ headers: ['X-Tag: 1', 'X-Tag: 2', 'X-Tag: 3', 'X-Tag: 4'] }),
    'SW_ERR_TOO_MANY_HEADER_FIELDS',
    s,
  );
});

test('the Via bound, not maxHeaderFields, governs Via fields', () => {
  const via = Array.from({ length: 5 }, (_, k) => `SIP/2.0/UDP p${k}.example.com;branch=z9hG4bK${k}`);
  passes(sip({ via }), stage({ maxHeaderFields: 3 }));
});

// Single-valued headers (From, To, Call-ID, CSeq, Max-Forwards, Content-Length,
// Content-Type and Expires are refused by the parser already)

for (const [name, a, b] of [
  ['Subject', 'Lunch', 'Dinner'],
  ['User-Agent', 'Phone/1.0', 'Phone/2.0'],
  ['Session-Expires', '1800', '90'],
  ['Date', 'Sat, 13 Nov 2010 23:29:00 GMT', 'Sun, 14 Nov 2010 23:29:00 GMT'],
  ['P-Called-Party-ID', '<sip:200@pbx.example.com>', '<sip:201@pbx.example.com>'],
] as const) {
  test(`rejects a request with two ${name} headers with 400`, () => {
    const r = rejects(sip({ headers: [`${name}: ${a}`, `${name}: ${b}`] }), 'SW_ERR_DUPLICATE_HEADER');
    assert.equal(r.reason, `repeated ${name} header`);
  });
}

test('rejects a REFER with two Refer-To headers', () => {
  const headers = ['Refer-To: <sip:300@pbx.example.com>', 'Refer-To: <sip:301@pbx.example.com>'];
  rejects(sip({ method: 'REFER', headers }), 'SW_ERR_DUPLICATE_HEADER');
});

test('rejects a NOTIFY with two Event headers', () => {
  const headers = ['Event: dialog', 'Event: presence', 'Subscription-State: active;expires=60'];
  rejects(sip({ method: 'NOTIFY', headers }), 'SW_ERR_DUPLICATE_HEADER');
});

// URIs, hosts and ports

test('rejects a Request-URI with port 0', () => {
  const r = rejects(sip({ ruri: 'sip:200@pbx.example.com:0' }), 'SW_ERR_BAD_PORT');
  assert.equal(r.reason, 'Request-URI URI port out of range');
});

test('rejects a Request-URI whose maddr is not a host', () => {
  rejects(sip({ ruri: 'sip:200@pbx.example.com;maddr=bad_host' }), 'SW_ERR_BAD_HEADER_URI');
  passes(sip({ ruri: 'sip:200@pbx.example.com;maddr=239.255.255.1' }));
});

test('rejects a Via sent-by port 0', () => {
  rejects(sip({ via: ['SIP/2.0/UDP 198.51.100.7:0;branch=z9hG4bK1'] }), 'SW_ERR_BAD_PORT');
});

test('rejects From and To URIs with port 0', () => {
  rejects(sip({ from: '<sip:100@pbx.example.com:0>;tag=1' }), 'SW_ERR_BAD_PORT');
  rejects(sip({ to: '<sip:200@pbx.example.com:0>' }), 'SW_ERR_BAD_PORT');
});

test('rejects a Contact URI with port 0', () => {
  rejects(sip({ contact: '<sip:100@198.51.100.7:0>' }), 'SW_ERR_BAD_PORT');
});

test('rejects a Contact URI whose maddr is not a host', () => {
  rejects(sip({ contact: '<sip:100@198.51.100.7;maddr=300.1.1.1>' }), 'SW_ERR_BAD_HEADER_URI');
});

test('rejects Route, Record-Route and Path URIs with port 0', () => {
  rejects(sip({ headers: ['Route: <sip:p1.example.com:0;lr>'] }), 'SW_ERR_BAD_PORT');
  rejects(sip({ headers: ['Record-Route: <sip:p1.example.com:0;lr>'] }), 'SW_ERR_BAD_PORT');
  const register = {
    method: 'REGISTER',
    ruri: 'sip:pbx.example.com',
    headers: ['Path: <sip:edge.example.com:0;lr>'],
  };
  rejects(sip(register), 'SW_ERR_BAD_PORT');
});

test('rejects a Route or Record-Route URI that is not sip or sips', () => {
  rejects(sip({ headers: ['Route: <tel:+15551234567>'] }), 'SW_ERR_BAD_HEADER_URI');
  rejects(sip({ headers: ['Record-Route: <http://p1.example.com/>'] }), 'SW_ERR_BAD_HEADER_URI');
});

test('rejects a malformed P-Asserted-Identity or one with a scheme other than sip, sips or tel', () => {
  rejects(sip({ headers: ['P-Asserted-Identity: <sip:100@bad..host>'] }), 'SW_ERR_BAD_HEADER_URI');
  rejects(sip({ headers: ['P-Asserted-Identity: <http://example.com/>'] }), 'SW_ERR_BAD_HEADER_URI');
  passes(sip({ headers: ['P-Asserted-Identity: "Alice" <sip:100@pbx.example.com>, <tel:+15551234567>'] }));
});

test('rejects a malformed P-Preferred-Identity', () => {
  rejects(sip({ headers: ['P-Preferred-Identity: <sip:100@pbx.example.com'] }), 'SW_ERR_BAD_HEADER_URI');
});

test('rejects a malformed Refer-To, and one with port 0', () => {
  rejects(sip({ method: 'REFER', headers: ['Refer-To: <sip:300@bad host>'] }), 'SW_ERR_BAD_HEADER_URI');
  rejects(sip({ method: 'REFER', headers: ['Refer-To: <sip:300@pbx.example.com:0>'] }), 'SW_ERR_BAD_PORT');
});

test('passes a REFER whose Refer-To carries escaped Replaces', () => {
  const referTo =
    'Refer-To: <sip:300@pbx.example.com?Replaces=12345%40192.0.2.1%3Bto-tag%3D1%3Bfrom-tag%3D2>';
  passes(sip({ method: 'REFER', headers: [referTo, 'Referred-By: <sip:100@pbx.example.com>'] }));
});

test('rejects a malformed Referred-By, Reply-To, Diversion or History-Info', () => {
  rejects(
    sip({ method: 'REFER', headers: ['Refer-To: <sip:3@p.example.com>', 'Referred-By: <>'] }),
    'SW_ERR_BAD_HEADER_URI',
  );
  rejects(sip({ headers: ['Reply-To: Bob <sip:bob@>'] }), 'SW_ERR_BAD_HEADER_URI');
  rejects(
    sip({ headers: ['Diversion: <sip:200@pbx.example.com:99999>;reason=user-busy'] }),
    'SW_ERR_BAD_HEADER_URI',
  );
  rejects(sip({ headers: ['History-Info: <sip:200@pbx.example.com;index=1'] }), 'SW_ERR_BAD_HEADER_URI');
});

test('passes URIs of other schemes in To, From and Contact (RFC 4475 3.1.1.12)', () => {
  passes(readFileSync(join(conformance, 'rfc4475', 'valid', 'unksm2.dat')));
});

test('the reason names the problem in our words, never the bytes that caused it', () => {
  const r = rejects(
    sip({ headers: ['P-Asserted-Identity: <sip:evil"<script>.example.com>'] }),
    'SW_ERR_BAD_HEADER_URI',
  );
  assert.equal(r.reason, 'bad P-Asserted-Identity header');
});

// Expires and other numbers

test('rejects Expires above the configured maxExpires', () => {
  const s = stage({ maxExpires: 86_400 });
  const register = { method: 'REGISTER', ruri: 'sip:pbx.example.com' };
  passes(sip({ ...register, headers: ['Expires: 86400'] }), s);
  rejects(sip({ ...register, headers: ['Expires: 86401'] }), 'SW_ERR_EXPIRES_RANGE', s);
});

test('rejects a Contact expires above the configured maxExpires', () => {
  const s = stage({ maxExpires: 86_400 });
  const register = { method: 'REGISTER', ruri: 'sip:pbx.example.com' };
  rejects(sip({ ...register, contact: '<sip:100@198.51.100.7>;expires=999999' }), 'SW_ERR_EXPIRES_RANGE', s);
});

test('by default accepts expires up to 2^32-1: the core shortens long registrations', () => {
  const register = { method: 'REGISTER', ruri: 'sip:pbx.example.com' };
  passes(
    sip({ ...register, headers: ['Expires: 4294967295'], contact: '<sip:1@198.51.100.7>;expires=7200' }),
  );
});

test('rejects Min-Expires, Session-Expires, Min-SE or Retry-After that are not numbers of seconds', () => {
  rejects(sip({ headers: ['Session-Expires: soon;refresher=uac'] }), 'SW_ERR_BAD_DELTA_SECONDS');
  rejects(sip({ headers: ['Min-SE: 4294967296'] }), 'SW_ERR_BAD_DELTA_SECONDS');
  rejects(
    sip({ method: 'REGISTER', ruri: 'sip:pbx.example.com', headers: ['Min-Expires: -1'] }),
    'SW_ERR_BAD_DELTA_SECONDS',
  );
  rejects(sip({ method: 'OPTIONS', headers: ['Retry-After: 5min'] }), 'SW_ERR_BAD_DELTA_SECONDS');
});

test('passes delta-seconds with parameters and comments', () => {
  passes(sip({ headers: ['Session-Expires: 1800;refresher=uac', 'Min-SE: 90'] }));
  passes(sip({ method: 'OPTIONS', headers: ["Retry-After: 120 (I'm in a meeting);duration=60"] }));
});

// Option tags, Accept, Content-Type, bodies

test('rejects Require, Supported or Unsupported that are not option-tag lists', () => {
  rejects(sip({ headers: ['Require: '] }), 'SW_ERR_BAD_OPTION_TAGS');
  rejects(sip({ headers: ['Require: 100rel,,timer'] }), 'SW_ERR_BAD_OPTION_TAGS');
  rejects(sip({ headers: ['Supported: replaces timer'] }), 'SW_ERR_BAD_OPTION_TAGS');
  rejects(sip({ headers: ['Unsupported: <foo>'] }), 'SW_ERR_BAD_OPTION_TAGS');
});

test('passes option-tag lists with spaces around commas and an empty Supported', () => {
  passes(sip({ headers: ['Require: 100rel , timer', 'Supported: '] }));
});

test('rejects an Accept that is not a list of media ranges', () => {
  rejects(sip({ method: 'OPTIONS', headers: ['Accept: sdp'] }), 'SW_ERR_BAD_ACCEPT');
  passes(sip({ method: 'OPTIONS', headers: ['Accept: application/sdp, text/*;q=0.5, */*;q=0.1'] }));
  passes(sip({ method: 'OPTIONS', headers: ['Accept: '] }));
});

test('rejects a Content-Type that is not a media type', () => {
  rejects(sip({ body: SDP, contentType: 'applicationsdp' }), 'SW_ERR_BAD_CONTENT_TYPE');
});

test('rejects a body without Content-Type (RFC 3261 20.15)', () => {
  rejects(sip({ body: SDP, contentType: null }), 'SW_ERR_MISSING_CONTENT_TYPE');
});

test('passes a body of nothing but line ends without Content-Type', () => {
  passes(sip({ body: '\r\n', contentType: null }));
});

test('passes a Content-Type of application/sdp with an empty body', () => {
  passes(sip({ contentType: 'application/sdp' }));
});

test('rejects a bad Event package', () => {
  const headers = ['Event: pres ence', 'Expires: 3600'];
  rejects(sip({ method: 'SUBSCRIBE', headers }), 'SW_ERR_BAD_EVENT');
});

// Headers a method needs

test('rejects an INVITE without Contact from an RFC 3261 client', () => {
  const r = rejects(sip({ contact: null, body: SDP }), 'SW_ERR_MISSING_HEADER');
  assert.equal(r.reason, 'INVITE without Contact');
});

test('passes an INVITE without Contact from an RFC 2543 client (RFC 4475 3.1.1.13)', () => {
  passes(sip({ contact: null, via: ['SIP/2.0/UDP 198.51.100.7;branch=1234'] }));
});

test('rejects a SUBSCRIBE without Event or without Contact', () => {
  rejects(sip({ method: 'SUBSCRIBE' }), 'SW_ERR_MISSING_HEADER');
  rejects(sip({ method: 'SUBSCRIBE', contact: null, headers: ['Event: presence'] }), 'SW_ERR_MISSING_HEADER');
  passes(sip({ method: 'SUBSCRIBE', headers: ['Event: presence', 'Expires: 3600'] }));
});

test('rejects a NOTIFY without Event or without Subscription-State', () => {
  rejects(sip({ method: 'NOTIFY', headers: ['Subscription-State: active'] }), 'SW_ERR_MISSING_HEADER');
  rejects(sip({ method: 'NOTIFY', headers: ['Event: dialog'] }), 'SW_ERR_MISSING_HEADER');
  passes(sip({ method: 'NOTIFY', headers: ['Event: dialog', 'Subscription-State: active;expires=60'] }));
});

test('rejects a REFER without Refer-To', () => {
  rejects(sip({ method: 'REFER' }), 'SW_ERR_MISSING_HEADER');
});

test('rejects a PRACK without RAck', () => {
  rejects(sip({ method: 'PRACK', contact: null }), 'SW_ERR_MISSING_HEADER');
  passes(sip({ method: 'PRACK', contact: null, headers: ['RAck: 1 1 INVITE'] }));
});

// Session descriptions

test('rejects an INVITE with a broken SDP with 400, the SDP code and a Warning', () => {
  const r = rejects(sip({ body: SDP.replace('m=audio 49170', 'm=audio 70000') }), 'SW_ERR_SDP_BAD_PORT');
  assert.equal(r.reason, 'bad SDP: media port out of range');
  assert.deepEqual(r.headers, [
    { name: 'Warning', value: '399 sipwarden "bad SDP: media port out of range"' },
  ]);
});

test('rejects SDP with a bad origin, connection address, payload type or rtpmap', () => {
  rejects(sip({ body: SDP.replace('o=- 1 1', 'o=- x 1') }), 'SW_ERR_SDP_BAD_ORIGIN');
  rejects(
    sip({ body: SDP.replace('c=IN IP4 198.51.100.7', 'c=IN IP4 198.51.100.700') }),
    'SW_ERR_SDP_BAD_CONNECTION',
  );
  rejects(sip({ body: SDP.replace('RTP/AVP 0 101', 'RTP/AVP 0 101 200') }), 'SW_ERR_SDP_BAD_PAYLOAD_TYPE');
  rejects(sip({ body: SDP.replace('rtpmap:101', 'rtpmap:102') }), 'SW_ERR_SDP_BAD_RTPMAP');
  rejects(sip({ body: SDP.replace('v=0', 'v=1') }), 'SW_ERR_SDP_BAD_VERSION');
});

test('applies the configured SDP size and media limits', () => {
  rejects(sip({ body: SDP }), 'SW_ERR_SDP_TOO_LARGE', stage({ sdp: { maxBytes: 100 } }));
  const twoMedia = SDP + 'm=video 49172 RTP/AVP 31\r\n';
  passes(sip({ body: twoMedia }), stage({ sdp: { maxMedia: 2 } }));
  rejects(sip({ body: twoMedia }), 'SW_ERR_SDP_TOO_MANY_MEDIA', stage({ sdp: { maxMedia: 1 } }));
});

test('matches the SDP Content-Type case-insensitively, with parameters', () => {
  rejects(sip({ body: 'v=0\r\n', contentType: 'Application/SDP; charset=utf-8' }), 'SW_ERR_SDP_MISSING_LINE');
});

test('does not look at SDP when checkSdp is false', () => {
  passes(sip({ body: 'not sdp at all\r\n' }), stage({ checkSdp: false }));
});

test('does not read a body of another type as SDP', () => {
  passes(sip({ method: 'MESSAGE', body: 'v=1 hello', contentType: 'text/plain' }));
});

test('rejects a compressed SDP with 415 and Accept-Encoding: identity', () => {
  const r = rejects(
    sip({ body: SDP, headers: ['Content-Encoding: gzip'] }),
    'SW_ERR_UNSUPPORTED_CONTENT_ENCODING',
    undefined,
    415,
  );
  assert.deepEqual(r.headers?.[1], { name: 'Accept-Encoding', value: 'identity' });
});

const multipart = (sdp: string, encoding = ''): string =>
  '--boundary42\r\n' +
  'Content-Type: application/sdp\r\n' +
  encoding +
  '\r\n' +
  sdp +
  '\r\n--boundary42\r\n' +
  'Content-Type: application/resource-lists+xml\r\n' +
  'Content-Disposition: recipient-list\r\n' +
  '\r\n' +
  '<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists/>\r\n' +
  '--boundary42--\r\n';
const MULTIPART_TYPE = 'multipart/mixed;boundary=boundary42';

test('passes a multipart/mixed body with a valid SDP part (RFC 5621)', () => {
  passes(sip({ body: multipart(SDP), contentType: MULTIPART_TYPE }));
});

test('rejects a multipart/mixed body whose SDP part is broken', () => {
  const body = multipart(SDP.replace('t=0 0', 't=zero'));
  rejects(sip({ body, contentType: MULTIPART_TYPE }), 'SW_ERR_SDP_BAD_TIMING');
});

test('rejects a multipart body without its closing boundary', () => {
  const body = multipart(SDP).replace('--boundary42--\r\n', '');
  rejects(sip({ body, contentType: MULTIPART_TYPE }), 'SW_ERR_SDP_BAD_MULTIPART');
});

test('rejects a base64-encoded SDP part with 415', () => {
  const body = multipart(Buffer.from(SDP).toString('base64'), 'Content-Transfer-Encoding: base64\r\n');
  rejects(sip({ body, contentType: MULTIPART_TYPE }), 'SW_ERR_UNSUPPORTED_CONTENT_ENCODING', undefined, 415);
});

test('passes RFC 4475 mpart01, whose multipart body holds no SDP', () => {
  passes(readFileSync(join(conformance, 'rfc4475', 'valid', 'mpart01.dat')));
});

test('rejects RFC 4475 mpart01 with an application/sdp part that is not SDP', () => {
  const original = readFileSync(join(conformance, 'rfc4475', 'valid', 'mpart01.dat')).toString('latin1');
  // Five more bytes in the body: Content-Length follows.
  const changed = original
    .replace('Content-Type: text/plain', 'Content-Type: application/sdp')
    .replace('Content-Length: 553', 'Content-Length: 558');
  assert.notEqual(changed, original);
  rejects(changed, 'SW_ERR_SDP_BAD_LINE');
});

test('drops an ACK with a broken SDP instead of answering it', () => {
  const ack = sip({
    method: 'ACK',
    body: SDP.replace('s=-\r\n', ''),
    to: '<sip:200@pbx.example.com>;tag=as5f2a',
  });
  const v = onRequest(ack);
  assert.equal(v.action, 'drop');
  if (v.action === 'drop') {
    assert.equal(v.event.action, 'drop');
    assert.equal(v.event.rule, 'SW_ERR_SDP_MISSING_LINE');
  }
});

// Responses

test('passes a 200 OK with a valid SDP answer', () => {
  assert.equal(onResponse(response('200 OK', [], SDP)), STAGE_PASS);
});

test('drops a 200 OK with a broken SDP answer, with an event', () => {
  const v = onResponse(response('200 OK', [], SDP.replace('c=IN IP4 198.51.100.7\r\n', '')));
  assert.equal(v.action, 'drop');
  if (v.action === 'drop') {
    assert.deepEqual(
      { type: v.event.type, stage: v.event.stage, action: v.event.action, rule: v.event.rule },
      { type: 'invalid', stage: 'validate', action: 'drop', rule: 'SW_ERR_SDP_MISSING_CONNECTION' },
    );
    assert.equal(v.event.details?.status, 200);
    assert.match(v.event.reason, /^response: bad SDP: /);
  }
});

test('drops a 183 with a Record-Route URI on port 0', () => {
  const v = onResponse(response('183 Session Progress', ['Record-Route: <sip:p1.example.com:0;lr>'], SDP));
  assert.equal(v.action, 'drop');
});

test('does not hold responses to the headers a request method needs', () => {
  assert.equal(
    onResponse(response('202 Accepted', []).replace(/CSeq: 1 INVITE/, 'CSeq: 1 REFER')),
    STAGE_PASS,
  );
});

// Conformance messages

interface ManifestEntry {
  readonly id: string;
  readonly file: string;
  readonly kind: 'request' | 'response';
  readonly expect: string;
}
const manifest = (
  JSON.parse(readFileSync(join(conformance, 'manifest.json'), 'utf8')) as { messages: ManifestEntry[] }
).messages;

for (const entry of manifest.filter((e) => e.expect === 'accept')) {
  test(`passes the valid conformance message ${entry.id}`, () => {
    const data = readFileSync(join(conformance, entry.file));
    if (entry.kind === 'request') passes(data);
    else
      assert.equal(
        defaultStage.response!(contextOf(parsed(sip()) as SipRequest), parsed(data) as SipResponse, T0),
        STAGE_PASS,
      );
  });
}

for (const id of ['unreason', 'noreason']) {
  test(`passes the valid conformance response ${id}`, () => {
    const entry = manifest.find((e) => e.id === id)!;
    const v = defaultStage.response!(
      contextOf(parsed(sip()) as SipRequest),
      parsed(readFileSync(join(conformance, entry.file))) as SipResponse,
      T0,
    );
    assert.equal(v, STAGE_PASS);
  });
}

for (const id of ['mult-ip-in-sdp', 'ipv4-mapped-ipv6']) {
  test(`rejects the SDP that Content-Length cuts short in the lenient RFC 5118 message ${id}`, () => {
    // Over UDP the octets past Content-Length are not part of the message (RFC 3261 18.3),
    // so its last SDP line ends inside the rtpmap; the -fixcl version passes above.
    const entry = manifest.find((e) => e.id === id)!;
    rejects(readFileSync(join(conformance, entry.file)).toString('latin1'), 'SW_ERR_SDP_BAD_RTPMAP');
  });
}
