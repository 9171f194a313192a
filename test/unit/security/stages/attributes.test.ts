import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedText, MessageAttributes, networkText } from '../../../../src/security/attributes.ts';
import { authParam, credentialsOf, isStaleChallenge } from '../../../../src/security/credentials.ts';
import { flow, parseRequest, parseResponse } from './helpers.ts';

const INVITE =
  'INVITE sip:Bob%20B@Biloxi.Example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: Bob <sip:BOB@biloxi.example.com>\r\n' +
  'From: Alice <sip:Alice@Atlanta.Example.COM>;tag=1928301774\r\n' +
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
  'CSeq: 314159 INVITE\r\n' +
  'Contact: <sip:alice@pc33.atlanta.example.com>\r\n' +
  'User-Agent: Softphone/1.0\r\n' +
  'Content-Length: 0\r\n' +
  '\r\n';

test('reads every attribute of a request and its flow', () => {
  const a = new MessageAttributes(flow('203.0.113.7', 5070, 'tcp'), parseRequest(INVITE), 404);
  assert.equal(a.get('source'), '203.0.113.7');
  assert.equal(a.get('network'), '203.0.113.0/24');
  assert.equal(a.get('sourcePort'), '5070');
  assert.equal(a.get('transport'), 'tcp');
  assert.equal(a.get('method'), 'INVITE');
  assert.equal(a.get('fromUser'), 'alice');
  assert.equal(a.get('fromDomain'), 'atlanta.example.com');
  assert.equal(a.get('toUser'), 'bob');
  // Kept %-escaped as written, lower-cased.
  assert.equal(a.get('ruriUser'), 'bob%20b');
  assert.equal(a.get('userAgent'), 'Softphone/1.0');
  assert.equal(a.get('status'), '404');
});

test('a tel URI gives its number; a missing part gives the empty string', () => {
  const text = INVITE.replace('INVITE sip:Bob%20B@Biloxi.Example.com', 'INVITE tel:+1-201-555-0123').replace(
    'User-Agent: Softphone/1.0\r\n',
    '',
  );
  const a = new MessageAttributes(flow('203.0.113.7'), parseRequest(text));
  assert.equal(a.get('ruriUser'), '+1-201-555-0123');
  assert.equal(a.get('userAgent'), '');
  assert.equal(a.get('status'), '');
  const packetOnly = new MessageAttributes(flow('203.0.113.7'));
  assert.equal(packetOnly.get('method'), '');
  assert.equal(packetOnly.get('source'), '203.0.113.7');
});

test('the network of an IPv6 source is its /64, of an IPv4-mapped source the IPv4 /24', () => {
  assert.equal(networkText('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(networkText('::ffff:198.51.100.9'), '198.51.100.0/24');
  assert.equal(new MessageAttributes(flow('2001:db8::1')).get('network'), '2001:db8::/64');
});

test('a long or unprintable User-Agent is cut to 128 printable characters', () => {
  const long = INVITE.replace('User-Agent: Softphone/1.0', `User-Agent: ${'A'.repeat(300)}`);
  assert.equal(
    new MessageAttributes(flow('203.0.113.7'), parseRequest(long)).get('userAgent'),
    'A'.repeat(128),
  );
  // UTF-8 bytes are read as latin1 (one character per byte) and shown as `?`.
  const utf8 = INVITE.replace('User-Agent: Softphone/1.0', 'User-Agent: T\xc3\xa9l\xc3\xa9phone');
  assert.equal(
    new MessageAttributes(flow('203.0.113.7'), parseRequest(utf8)).get('userAgent'),
    'T??l??phone',
  );
  assert.equal(boundedText('caf\xe9 \x7f'), 'caf? ?');
});

test('reads the digest user name of Authorization and Proxy-Authorization', () => {
  const withAuth = INVITE.replace(
    'Content-Length: 0',
    'Proxy-Authorization: Digest realm="x", username = "Alice\\"s", nonce="n", uri="sip:bob@x", response="r"\r\nContent-Length: 0',
  );
  assert.deepEqual(credentialsOf(parseRequest(withAuth)), { username: 'alice"s' });
  assert.equal(credentialsOf(parseRequest(INVITE)), undefined);
  const noName = INVITE.replace(
    'Content-Length: 0',
    'Authorization: Digest realm="x", nonce="n"\r\nContent-Length: 0',
  );
  assert.deepEqual(credentialsOf(parseRequest(noName)), { username: '' });
});

test('reads auth-params, quoted or not, and ignores look-alike names', () => {
  const v = 'Digest realm="a,b", xusername="no", username=carol, stale=TRUE';
  assert.equal(authParam(v, 'username'), 'carol');
  assert.equal(authParam(v, 'realm'), 'a,b');
  assert.equal(authParam(v, 'stale'), 'TRUE');
  assert.equal(authParam(v, 'nonce'), undefined);
  assert.equal(authParam('Digest', 'username'), undefined);
  assert.equal(authParam('Digest ,,= , x y=z', 'y'), 'z');
});

test('a challenge with stale=true is stale, one without is not', () => {
  const challenge = (extra: string) =>
    parseResponse(
      'SIP/2.0 401 Unauthorized\r\n' +
        'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n' +
        'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n' +
        'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n' +
        'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n' +
        'CSeq: 314159 REGISTER\r\n' +
        `WWW-Authenticate: Digest realm="x", nonce="n"${extra}\r\n` +
        'Content-Length: 0\r\n' +
        '\r\n',
    );
  assert.equal(isStaleChallenge(challenge(', stale=true')), true);
  assert.equal(isStaleChallenge(challenge(', stale="TRUE"')), true);
  assert.equal(isStaleChallenge(challenge(', stale=false')), false);
  assert.equal(isStaleChallenge(challenge('')), false);
});
