import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMsrpMedia, pathOf, refusedMedia, relayedMedia } from '../../../src/msrp/path-rewrite.ts';
import { formatMsrpUri, parseMsrpUri, sameMsrpUri } from '../../../src/msrp/uri.ts';
import { parseSdp, serializeSdp } from '../../../src/sdp/index.ts';

// RFC 4975 section 8.1's offer (its media lines), beside an audio stream that must not change.
const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844527 IN IP4 atlanta.example.com',
  's=-',
  'c=IN IP4 atlanta.example.com',
  't=0 0',
  'm=audio 49170 RTP/AVP 0',
  'm=message 7654 TCP/MSRP *',
  'a=accept-types:text/plain',
  'a=path:msrp://atlanta.example.com:7654/jshA7weztas;tcp',
  '',
].join('\r\n');

test('the MSRP section of the RFC 4975 offer gets the relay; the audio section is left alone', () => {
  const parsed = parseSdp(OFFER);
  assert.ok(parsed.ok);
  const [audio, message] = parsed.sdp.media;
  assert.equal(isMsrpMedia(audio!), false);
  assert.ok(isMsrpMedia(message!));
  assert.deepEqual(pathOf(message!), ['msrp://atlanta.example.com:7654/jshA7weztas;tcp']);
  const relayed = relayedMedia(message!, '192.0.2.10', 2855, 'msrp://192.0.2.10:2855/r3lay;tcp');
  const text = serializeSdp({ ...parsed.sdp, media: [audio!, relayed] });
  assert.equal(
    text,
    [
      'v=0',
      'o=alice 2890844526 2890844527 IN IP4 atlanta.example.com',
      's=-',
      'c=IN IP4 atlanta.example.com',
      't=0 0',
      'm=audio 49170 RTP/AVP 0',
      'm=message 2855 TCP/MSRP *',
      'c=IN IP4 192.0.2.10',
      'a=accept-types:text/plain',
      'a=path:msrp://192.0.2.10:2855/r3lay;tcp',
      'a=setup:passive',
      '',
    ].join('\r\n'),
  );
  assert.equal(refusedMedia(message!).port, 0);
  const v6 = relayedMedia(message!, '2001:db8::1', 2855, 'msrp://[2001:db8::1]:2855/r3lay;tcp');
  assert.deepEqual(v6.connections, [{ netType: 'IN', addrType: 'IP6', address: '2001:db8::1' }]);
});

test('MSRP URIs: the RFC 4975 forms parse, compare as section 6.1 says, and are written back', () => {
  const uri = parseMsrpUri('msrp://atlanta.example.com:7654/jshA7weztas;tcp');
  assert.deepEqual(uri, {
    secure: false,
    host: 'atlanta.example.com',
    port: 7654,
    sessionId: 'jshA7weztas',
    transport: 'tcp',
  });
  assert.equal(formatMsrpUri(uri!), 'msrp://atlanta.example.com:7654/jshA7weztas;tcp');
  // Host and scheme compare without case, the session-id with it.
  assert.ok(sameMsrpUri(uri!, parseMsrpUri('MSRP://Atlanta.Example.com:7654/jshA7weztas;TCP')!));
  assert.ok(!sameMsrpUri(uri!, parseMsrpUri('msrp://atlanta.example.com:7654/JSHA7WEZTAS;tcp')!));
  assert.equal(parseMsrpUri('msrps://[2001:db8::1]:2855/s1;tcp')?.host, '2001:db8::1');
  assert.equal(parseMsrpUri('msrp://bob.example.com/s1;tcp')?.port, 2855);
  for (const bad of [
    'sip:bob@example.com',
    'msrp://host:99999/s;tcp',
    'msrp://host/s',
    'msrp://host:1/;tcp',
  ]) {
    assert.equal(parseMsrpUri(bad), undefined, bad);
  }
});
