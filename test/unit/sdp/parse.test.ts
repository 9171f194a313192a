import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_SDP_LIMITS, type SdpLimits } from '../../../src/sdp/limits.ts';
import type { SdpSession } from '../../../src/sdp/model.ts';
import { parseSdp } from '../../../src/sdp/parse.ts';
import { serializeSdp } from '../../../src/sdp/serialize.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const conformance = join(import.meta.dirname, '..', '..', 'fixtures', 'conformance');

/** SDP text with LF line ends in the source, CRLF on the wire. */
const sdp = (text: string): string => text.replace(/\n/g, '\r\n');

function parseOk(text: string | Buffer, limits?: SdpLimits): SdpSession {
  const r = parseSdp(text, limits);
  assert.ok(r.ok, r.ok ? '' : r.error.toString());
  return r.sdp;
}

function parseFails(text: string, code: string, limits?: SdpLimits): void {
  const r = parseSdp(text, limits);
  assert.equal(r.ok, false, 'expected an SDP error');
  if (r.ok) return;
  assert.equal(r.error.code, code, r.error.toString());
  assert.match(r.error.reason, /^[\x20-\x7e]{1,100}$/);
}

const BASE = sdp(
  'v=0\n' +
    'o=- 20518 0 IN IP4 203.0.113.1\n' +
    's=-\n' +
    'c=IN IP4 203.0.113.1\n' +
    't=0 0\n' +
    'm=audio 54400 RTP/AVP 0 96\n' +
    'a=rtpmap:96 opus/48000/2\n',
);

/** BASE with one line replaced (by its prefix, e.g. `m=`), or a line added at the end. */
function withLine(prefix: string, line: string | undefined): string {
  const lines = BASE.split('\r\n');
  const at = lines.findIndex((l) => l.startsWith(prefix));
  if (line === undefined) lines.splice(at, 1);
  else lines[at] = line;
  return lines.join('\r\n');
}

test('the base offer of these tests parses', () => {
  const s = parseOk(BASE);
  assert.equal(s.media.length, 1);
});

for (const file of readdirSync(fixtures).filter((f) => f.endsWith('.sdp'))) {
  test(`parses the realistic description ${file}`, () => {
    const data = readFileSync(join(fixtures, file));
    const s = parseOk(data);
    assert.ok(s.media.length > 0);
    // The serializer writes the same bytes back: the fixtures are in canonical form.
    assert.equal(serializeSdp(s), data.toString('latin1'));
  });
}

for (const file of ['ipv6-in-sdp-fixcl.dat', 'mult-ip-in-sdp-fixcl.dat', 'ipv4-mapped-ipv6-fixcl.dat']) {
  test(`parses the IPv6 description of RFC 5118 ${file}`, () => {
    const message = readFileSync(join(conformance, 'rfc5118', 'valid', file));
    const body = message.subarray(message.indexOf('\r\n\r\n') + 4);
    const s = parseOk(body);
    const addresses = [s.connection, ...s.media.flatMap((m) => m.connections)].filter((c) => c !== undefined);
    assert.ok(addresses.some((c) => c.addrType === 'IP6'));
  });
}

test('reads the fields of an Asterisk offer into the model', () => {
  const s = parseOk(readFileSync(join(fixtures, 'asterisk-offer.sdp')));
  assert.deepEqual(s.origin, {
    username: '-',
    sessionId: '1700000000',
    sessionVersion: '1700000000',
    netType: 'IN',
    addrType: 'IP4',
    address: '203.0.113.10',
  });
  assert.deepEqual(s.connection, { netType: 'IN', addrType: 'IP4', address: '203.0.113.10' });
  const audio = s.media[0]!;
  assert.equal(audio.type, 'audio');
  assert.equal(audio.port, 14562);
  assert.equal(audio.proto, 'RTP/AVP');
  assert.deepEqual(audio.formats, ['0', '8', '3', '9', '101']);
  assert.deepEqual(audio.rtpmaps[4], { payloadType: 101, encoding: 'telephone-event', clockRate: 8000 });
  assert.deepEqual(audio.attributes.at(-1), { name: 'sendrecv' });
});

test('reads channels, multicast TTL and count, port count, repeat and zone lines', () => {
  const s = parseOk(readFileSync(join(fixtures, 'multicast-seminar.sdp')));
  assert.deepEqual(s.connection, { netType: 'IN', addrType: 'IP4', address: '224.2.17.12', ttl: 127 });
  assert.deepEqual(s.timings[0]!.repeats, ['604800 3600 0 90000', '7d 1h 0 25h']);
  assert.equal(s.zone, '2882844526 -1h 2898848070 0');
  assert.equal(s.media[1]!.portCount, 2);
  assert.deepEqual(s.media[1]!.connections[0], {
    netType: 'IN',
    addrType: 'IP6',
    address: 'ff15::101',
    count: 3,
  });
  const opus = parseOk(readFileSync(join(fixtures, 'freeswitch-answer.sdp'))).media[0]!.rtpmaps[0];
  assert.deepEqual(opus, { payloadType: 102, encoding: 'opus', clockRate: 48000, channels: 2 });
});

test('keeps session ids beyond 2^53 as their digits', () => {
  const s = parseOk(readFileSync(join(fixtures, 'webrtc-offer.sdp')));
  assert.equal(s.origin.sessionId, '4611731400430051336');
});

test('tolerates LF alone as a line end', () => {
  assert.equal(parseOk(BASE.replace(/\r\n/g, '\n')).media.length, 1);
});

test('tolerates a missing line end after the last line', () => {
  assert.equal(parseOk(BASE.slice(0, -2)).media[0]!.rtpmaps.length, 1);
});

test('tolerates empty lines at the end', () => {
  assert.equal(parseOk(BASE + '\r\n\r\n').media.length, 1);
});

test('tolerates an empty session name (RFC 5118 4.6 sends one)', () => {
  assert.equal(parseOk(withLine('s=', 's=')).name, '');
});

test('tolerates an rtpmap without a clock rate for a static payload type (RFC 4475 3.1.1.1)', () => {
  const s = parseOk(BASE + 'a=rtpmap:0 PCMU\r\n');
  assert.deepEqual(s.media[0]!.rtpmaps[1], { payloadType: 0, encoding: 'PCMU' });
});

test('accepts a rejected media description (port 0) without a connection address', () => {
  const text = withLine('c=', undefined) + 'm=video 0 RTP/AVP 31\r\n';
  parseFails(text, 'SW_ERR_SDP_MISSING_CONNECTION'); // the audio one still needs one
  const ok = sdp('v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.1\n');
  assert.equal(parseOk(ok + 'm=video 0 RTP/AVP 31\r\n').media[1]!.port, 0);
});

test('accepts domain names and IPv6 literals as addresses', () => {
  parseOk(withLine('c=', 'c=IN IP4 media.example.com'));
  parseOk(withLine('c=', 'c=IN IP6 2001:db8::1'));
  parseOk(withLine('o=', 'o=- 1 1 IN IP6 ::ffff:192.0.2.1'));
});

test('accepts non-RTP formats as tokens (MSRP, T.38, data channels)', () => {
  parseOk(withLine('m=', 'm=message 2855 TCP/TLS/MSRP *').replace(/a=rtpmap.*\r\n/, ''));
  parseOk(withLine('m=', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel').replace(/a=rtpmap.*\r\n/, ''));
});

// One broken description per rule, each with the code it must give.
const broken: readonly [string, string, string][] = [
  ['an empty description', '', 'SW_ERR_SDP_EMPTY'],
  ['a description of empty lines', '\r\n\r\n', 'SW_ERR_SDP_EMPTY'],
  ['a first line that is not v=', BASE.replace('v=0\r\n', ''), 'SW_ERR_SDP_MISSING_LINE'],
  ['a version other than 0', withLine('v=', 'v=1'), 'SW_ERR_SDP_BAD_VERSION'],
  ['a missing o= line', withLine('o=', undefined), 'SW_ERR_SDP_MISSING_LINE'],
  ['a missing s= line', withLine('s=', undefined), 'SW_ERR_SDP_MISSING_LINE'],
  ['a missing t= line', withLine('t=', undefined), 'SW_ERR_SDP_MISSING_LINE'],
  ['an origin with five fields', withLine('o=', 'o=- 20518 IN IP4 203.0.113.1'), 'SW_ERR_SDP_BAD_ORIGIN'],
  [
    'an origin with a non-numeric session id',
    withLine('o=', 'o=- 2051x 0 IN IP4 203.0.113.1'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'an origin with a non-numeric version',
    withLine('o=', 'o=- 1 v2 IN IP4 203.0.113.1'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'an origin network type other than IN',
    withLine('o=', 'o=- 1 1 ATM NSAP 47.0005'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'an origin address type other than IP4/IP6',
    withLine('o=', 'o=- 1 1 IN IPX 1.2.3.4'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'an origin with a broken IPv4 address',
    withLine('o=', 'o=- 1 1 IN IP4 300.1.1.1'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'an origin with two spaces between fields',
    withLine('o=', 'o=-  1 1 IN IP4 192.0.2.1'),
    'SW_ERR_SDP_BAD_ORIGIN',
  ],
  [
    'a connection address of the wrong family',
    withLine('c=', 'c=IN IP4 2001:db8::1'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  [
    'a connection address that is no address',
    withLine('c=', 'c=IN IP4 bad_host!'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  [
    'a connection IPv4 address with a bad octet',
    withLine('c=', 'c=IN IP4 192.0.2.256'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  ['a broken IPv6 connection address', withLine('c=', 'c=IN IP6 2001:db8:::1'), 'SW_ERR_SDP_BAD_CONNECTION'],
  [
    'a unicast connection address with a TTL',
    withLine('c=', 'c=IN IP4 192.0.2.1/127'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  [
    'an IPv4 multicast address without a TTL',
    withLine('c=', 'c=IN IP4 224.2.1.1'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  ['a multicast TTL above 255', withLine('c=', 'c=IN IP4 224.2.1.1/256'), 'SW_ERR_SDP_BAD_CONNECTION'],
  [
    'an IPv6 multicast address with a TTL and a count',
    withLine('c=', 'c=IN IP6 ff15::1/127/3'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  [
    'a connection network type other than IN',
    withLine('c=', 'c=TN RFC2543 +1-555'),
    'SW_ERR_SDP_BAD_CONNECTION',
  ],
  [
    'a media description without a connection address',
    withLine('c=', undefined),
    'SW_ERR_SDP_MISSING_CONNECTION',
  ],
  ['a media port above 65535', withLine('m=', 'm=audio 65536 RTP/AVP 0 96'), 'SW_ERR_SDP_BAD_PORT'],
  ['a non-numeric media port', withLine('m=', 'm=audio 5x RTP/AVP 0 96'), 'SW_ERR_SDP_BAD_PORT'],
  ['a media port count of 0', withLine('m=', 'm=audio 5000/0 RTP/AVP 0 96'), 'SW_ERR_SDP_BAD_PORT'],
  ['a media port count past 65535', withLine('m=', 'm=audio 65534/2 RTP/AVP 0 96'), 'SW_ERR_SDP_BAD_PORT'],
  ['a media line without formats', withLine('m=', 'm=audio 5000 RTP/AVP'), 'SW_ERR_SDP_BAD_MEDIA'],
  ['a media type that is not a token', withLine('m=', 'm=au(dio 5000 RTP/AVP 0 96'), 'SW_ERR_SDP_BAD_MEDIA'],
  ['a protocol with an empty part', withLine('m=', 'm=audio 5000 RTP//AVP 0 96'), 'SW_ERR_SDP_BAD_PROTO'],
  [
    'an RTP payload type above 127',
    withLine('m=', 'm=audio 5000 RTP/AVP 0 128'),
    'SW_ERR_SDP_BAD_PAYLOAD_TYPE',
  ],
  [
    'an RTP format that is not a number',
    withLine('m=', 'm=audio 5000 RTP/SAVP 0 pcmu'),
    'SW_ERR_SDP_BAD_PAYLOAD_TYPE',
  ],
  [
    'an RTP payload type listed twice',
    withLine('m=', 'm=audio 5000 RTP/AVP 0 96 0'),
    'SW_ERR_SDP_BAD_PAYLOAD_TYPE',
  ],
  [
    'an rtpmap for a payload type not on the m= line',
    BASE + 'a=rtpmap:97 PCMA/8000\r\n',
    'SW_ERR_SDP_BAD_RTPMAP',
  ],
  ['a second rtpmap for one payload type', BASE + 'a=rtpmap:96 PCMA/8000\r\n', 'SW_ERR_SDP_BAD_RTPMAP'],
  ['an rtpmap with a zero clock rate', withLine('a=rtpmap', 'a=rtpmap:96 opus/0'), 'SW_ERR_SDP_BAD_RTPMAP'],
  [
    'an rtpmap with a non-numeric clock rate',
    withLine('a=rtpmap', 'a=rtpmap:96 opus/fast'),
    'SW_ERR_SDP_BAD_RTPMAP',
  ],
  [
    'a dynamic rtpmap without a clock rate',
    withLine('a=rtpmap', 'a=rtpmap:96 opus'),
    'SW_ERR_SDP_BAD_RTPMAP',
  ],
  [
    'an rtpmap with four slash fields',
    withLine('a=rtpmap', 'a=rtpmap:96 opus/48000/2/1'),
    'SW_ERR_SDP_BAD_RTPMAP',
  ],
  [
    'an rtpmap at session level',
    BASE.replace('t=0 0\r\n', 't=0 0\r\na=rtpmap:0 PCMU/8000\r\n'),
    'SW_ERR_SDP_BAD_RTPMAP',
  ],
  ['an fmtp for a format not on the m= line', BASE + 'a=fmtp:101 0-16\r\n', 'SW_ERR_SDP_BAD_FMTP'],
  ['a bandwidth that is not a number', BASE.replace('t=', 'b=AS:lots\r\nt='), 'SW_ERR_SDP_BAD_BANDWIDTH'],
  ['a bandwidth without a type', BASE.replace('t=', 'b=64\r\nt='), 'SW_ERR_SDP_BAD_BANDWIDTH'],
  ['a bandwidth beyond 2^32-1', BASE.replace('t=', 'b=AS:4294967296\r\nt='), 'SW_ERR_SDP_BAD_BANDWIDTH'],
  ['a timing with one field', withLine('t=', 't=0'), 'SW_ERR_SDP_BAD_TIMING'],
  ['a timing that is not numeric', withLine('t=', 't=now later'), 'SW_ERR_SDP_BAD_TIMING'],
  [
    'a repeat line with a bad unit',
    BASE.replace('t=0 0\r\n', 't=0 0\r\nr=7w 1h 0\r\n'),
    'SW_ERR_SDP_BAD_TIMING',
  ],
  [
    'a repeat line not after t=',
    BASE.replace('t=0 0\r\n', 't=0 0\r\nz=0 0\r\nr=7d 1h 0\r\n'),
    'SW_ERR_SDP_LINE_ORDER',
  ],
  [
    'a zone line with an odd field count',
    BASE.replace('t=0 0\r\n', 't=0 0\r\nz=2882844526\r\n'),
    'SW_ERR_SDP_BAD_TIMING',
  ],
  ['an rtcp attribute with a port above 65535', BASE + 'a=rtcp:70000\r\n', 'SW_ERR_SDP_BAD_ATTRIBUTE'],
  ['an rtcp attribute with a bad address', BASE + 'a=rtcp:5001 IN IP4 1.2.3\r\n', 'SW_ERR_SDP_BAD_ATTRIBUTE'],
  ['a ptime that is not a number', BASE + 'a=ptime:twenty\r\n', 'SW_ERR_SDP_BAD_ATTRIBUTE'],
  [
    'an ICE candidate with a bad port',
    BASE + 'a=candidate:1 1 udp 2122260223 192.0.2.1 99999 typ host\r\n',
    'SW_ERR_SDP_BAD_ATTRIBUTE',
  ],
  [
    'an ICE candidate with a bad address',
    BASE + 'a=candidate:1 1 udp 2122260223 192.0.2.300 5000 typ host\r\n',
    'SW_ERR_SDP_BAD_ATTRIBUTE',
  ],
  ['an attribute name that is not a token', BASE + 'a=foo bar\r\n', 'SW_ERR_SDP_BAD_ATTRIBUTE'],
  ['an attribute with an empty value', BASE + 'a=label:\r\n', 'SW_ERR_SDP_BAD_ATTRIBUTE'],
  ['a line that is not <type>=<value>', BASE + 'hello\r\n', 'SW_ERR_SDP_BAD_LINE'],
  ['a space before the =', BASE + 'a =sendrecv\r\n', 'SW_ERR_SDP_BAD_LINE'],
  ['an upper-case type letter', BASE + 'A=sendrecv\r\n', 'SW_ERR_SDP_BAD_LINE'],
  ['an empty line in the middle', BASE.replace('t=0 0\r\n', 't=0 0\r\n\r\n'), 'SW_ERR_SDP_BAD_LINE'],
  ['an unknown type letter', BASE + 'x=anything\r\n', 'SW_ERR_SDP_UNKNOWN_LINE'],
  ['a NUL byte in a value', BASE + 'a=label:a\0b\r\n', 'SW_ERR_SDP_BAD_CHARACTER'],
  ['a bare CR inside a line', BASE + 'a=label:a\rb=AS:1\r\n', 'SW_ERR_SDP_BAD_CHARACTER'],
  [
    'a c= line after t=',
    BASE.replace('t=0 0\r\n', 't=0 0\r\nc=IN IP4 192.0.2.2\r\n'),
    'SW_ERR_SDP_LINE_ORDER',
  ],
  ['an o= line inside a media description', BASE + 'o=- 1 1 IN IP4 192.0.2.1\r\n', 'SW_ERR_SDP_LINE_ORDER'],
  ['a c= line after a= in a media description', BASE + 'c=IN IP4 192.0.2.2\r\n', 'SW_ERR_SDP_LINE_ORDER'],
  ['two s= lines', BASE.replace('s=-\r\n', 's=-\r\ns=again\r\n'), 'SW_ERR_SDP_REPEATED_LINE'],
  ['two session c= lines', BASE.replace('t=', 'c=IN IP4 192.0.2.9\r\nt='), 'SW_ERR_SDP_REPEATED_LINE'],
  ['a second v= line', BASE + 'v=0\r\n', 'SW_ERR_SDP_LINE_ORDER'],
  ['an empty i= line', BASE.replace('s=-\r\n', 's=-\r\ni=\r\n'), 'SW_ERR_SDP_BAD_FIELD'],
];

for (const [what, text, code] of broken) {
  test(`refuses ${what} with ${code}`, () => parseFails(text, code));
}

test('refuses a description larger than maxBytes before reading it', () => {
  parseFails(BASE, 'SW_ERR_SDP_TOO_LARGE', { ...DEFAULT_SDP_LIMITS, maxBytes: BASE.length - 1 });
  parseOk(BASE, { ...DEFAULT_SDP_LIMITS, maxBytes: BASE.length });
});

test('refuses more lines than maxLines', () => {
  parseFails(BASE + 'a=sendrecv\r\n'.repeat(300), 'SW_ERR_SDP_TOO_MANY_LINES', {
    ...DEFAULT_SDP_LIMITS,
    maxBytes: 10_000,
  });
});

test('refuses more media descriptions than maxMedia', () => {
  const text = BASE + 'm=audio 5000 RTP/AVP 0\r\n'.repeat(2);
  parseOk(text, { ...DEFAULT_SDP_LIMITS, maxMedia: 3 });
  parseFails(text, 'SW_ERR_SDP_TOO_MANY_MEDIA', { ...DEFAULT_SDP_LIMITS, maxMedia: 2 });
});

test('refuses more attributes than maxAttributes', () => {
  const text = BASE + 'a=sendrecv\r\n'.repeat(3);
  parseOk(text, { ...DEFAULT_SDP_LIMITS, maxAttributes: 4 });
  parseFails(text, 'SW_ERR_SDP_TOO_MANY_ATTRIBUTES', { ...DEFAULT_SDP_LIMITS, maxAttributes: 3 });
});

test('refuses more formats on one m= line than maxFormats', () => {
  const text = withLine('m=', 'm=audio 5000 RTP/AVP 0 8 96');
  parseOk(text, { ...DEFAULT_SDP_LIMITS, maxFormats: 3 });
  parseFails(text, 'SW_ERR_SDP_TOO_MANY_FORMATS', { ...DEFAULT_SDP_LIMITS, maxFormats: 2 });
});

test('the default limits refuse a description past 4000 bytes', () => {
  const big = BASE + `a=label:${'x'.repeat(4000)}\r\n`;
  parseFails(big, 'SW_ERR_SDP_TOO_LARGE');
});

test('reports the line number of the problem', () => {
  const r = parseSdp(withLine('m=', 'm=audio 99999 RTP/AVP 0 96'));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.line, 6);
    assert.equal(r.error.toString(), 'SW_ERR_SDP_BAD_PORT: media port out of range (line 6)');
  }
});

test('reads a string and a Buffer of the same bytes alike', () => {
  const text = BASE.replace('s=-', 's=Caf\xc3\xa9');
  assert.deepEqual(parseOk(text), parseOk(Buffer.from(text, 'latin1')));
  assert.equal(Buffer.from(parseOk(text).name, 'latin1').toString('utf8'), 'Café');
});
