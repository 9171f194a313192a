import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import {
  createScannerStage,
  DEFAULT_SIGNATURES,
  isSipviciousBranch,
  isSipviciousTag,
} from '../../../../src/security/stages/scanner.ts';
import type { SipRequest } from '../../../../src/sip/message.ts';
import { actionOf, eventOf, flow, makeDeps, parseRequest, request, requestContext, T0 } from './helpers.ts';

const scanner = flow('203.0.113.66', 5060);

// What SIPVicious 0.3.3 sent to a loopback listener (svmap, svwar -e100-103, svcrack -u100).
const SVMAP_OPTIONS =
  'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3245090144;rport\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: "sipvicious"<sip:100@1.1.1.1>\r\n' +
  'From: "sipvicious"<sip:100@1.1.1.1>;tag=37663030303030313361666201363834303931393230\r\n' +
  'User-Agent: friendly-scanner\r\n' +
  'Call-ID: 894901844411678895434286\r\n' +
  'Contact: sip:100@127.0.0.1:5060\r\n' +
  'CSeq: 1 OPTIONS\r\n' +
  'Accept: application/sdp\r\n' +
  'Content-Length: 0\r\n' +
  '\r\n';

const SVWAR_REGISTER =
  'REGISTER sip:127.0.0.1 SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3652832388;rport\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: "100"<sip:100@127.0.0.1>\r\n' +
  'From: "100"<sip:100@127.0.0.1>;tag=3130300133303235383430333930\r\n' +
  'User-Agent: friendly-scanner\r\n' +
  'Call-ID: 3279441116\r\n' +
  'Contact: sip:100@127.0.0.1\r\n' +
  'CSeq: 1 REGISTER\r\n' +
  'Accept: application/sdp\r\n' +
  'Content-Length: 0\r\n' +
  '\r\n';

const SVCRACK_FIRST =
  'REGISTER sip:127.0.0.1 SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3723202342;rport\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: "100" <sip:100@127.0.0.1>\r\n' +
  'From: "100" <sip:100@127.0.0.1>;tag=3206210844\r\n' +
  'User-Agent: friendly-scanner\r\n' +
  'Call-ID: 432795449\r\n' +
  'Contact: sip:123@1.1.1.1\r\n' +
  'CSeq: 1 REGISTER\r\n' +
  'Accept: application/sdp\r\n' +
  'Content-Length: 0\r\n' +
  '\r\n';

const SVCRACK_GUESS =
  'REGISTER sip:127.0.0.1 SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-3635457537;rport\r\n' +
  'Max-Forwards: 70\r\n' +
  'To: "100" <sip:100@127.0.0.1>\r\n' +
  'From: "100" <sip:100@127.0.0.1>;tag=3130303a70773101373936303333333731\r\n' +
  'User-Agent: friendly-scanner\r\n' +
  'Call-ID: 432795449\r\n' +
  'Contact: sip:123@1.1.1.1\r\n' +
  'CSeq: 2 REGISTER\r\n' +
  'Accept: application/sdp\r\n' +
  'Content-Length: 0\r\n' +
  'Authorization: Digest username="100",realm="asterisk",nonce="abc123",uri="sip:127.0.0.1",algorithm=MD5,qop=auth,response="eba3e52f274634c87c0a8241762ccec9"\r\n' +
  '\r\n';

/** The same request with its User-Agent changed, as newer SIPVicious versions allow. */
function disguised(text: string, userAgent = 'Z 5.5.2 v2.10.19.5'): string {
  return text.replace('User-Agent: friendly-scanner', `User-Agent: ${userAgent}`);
}

function check(
  message: string | SipRequest,
  settings: unknown = {},
  deps = makeDeps(),
  from = scanner,
): StageVerdict {
  const stage = createScannerStage(settings, deps);
  const req = typeof message === 'string' ? parseRequest(message) : message;
  const v = stage.request!(requestContext(req, from), T0);
  assert.ok(!(v instanceof Promise));
  return v;
}

function errors(settings: unknown): string[] {
  try {
    createScannerStage(settings, makeDeps());
  } catch (error) {
    assert.ok(error instanceof StageConfigError);
    return [...error.issues];
  }
  assert.fail('expected a StageConfigError');
}

test('blocks an svmap OPTIONS for an hour and answers nothing', () => {
  const v = check(SVMAP_OPTIONS);
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'address');
  assert.equal(v.key, '203.0.113.66');
  assert.equal(v.durationMs, 3_600_000);
  assert.equal(v.status, undefined);
  assert.equal(v.event.type, 'scanner');
  assert.equal(v.event.rule, 'signature');
  assert.equal(v.event.details?.signature, 'friendly-scanner');
  assert.equal(v.event.details?.field, 'User-Agent');
});

test('blocks an svwar REGISTER', () => {
  assert.equal(actionOf(check(SVWAR_REGISTER)), 'block');
});

test('blocks svcrack REGISTERs, with and without credentials', () => {
  assert.equal(actionOf(check(SVCRACK_FIRST)), 'block');
  assert.equal(actionOf(check(SVCRACK_GUESS)), 'block');
});

test('recognises svmap by its shape when its User-Agent is changed', () => {
  const v = check(disguised(SVMAP_OPTIONS));
  // The From display name "sipvicious" gives it away first.
  assert.equal(eventOf(v).rule, 'signature');
  assert.equal(eventOf(v).details?.field, 'From display name');
  const renamed = disguised(SVMAP_OPTIONS).replaceAll('"sipvicious"', '"alice"');
  const w = check(renamed);
  assert.equal(w.action, 'block');
  assert.equal(eventOf(w).rule, 'sipvicious-fingerprint');
  assert.match(String(eventOf(w).details?.evidence), /From tag hex/);
});

test('recognises svwar and svcrack by their shape when the User-Agent is changed', () => {
  assert.equal(eventOf(check(disguised(SVWAR_REGISTER))).rule, 'sipvicious-fingerprint');
  assert.equal(eventOf(check(disguised(SVCRACK_GUESS))).rule, 'sipvicious-fingerprint');
  const first = eventOf(check(disguised(SVCRACK_FIRST)));
  assert.equal(first.rule, 'sipvicious-fingerprint');
  assert.match(String(first.details?.evidence), /svcrack From tag/);
});

test('recognises the svcrack default Contact with the SIPVicious branch', () => {
  const text = disguised(SVCRACK_FIRST).replace('tag=3206210844', 'tag=a8f3c1');
  assert.match(String(eventOf(check(text)).details?.evidence), /Contact sip:123@1\.1\.1\.1/);
});

test('the SIPVicious branch alone is not enough to block', () => {
  const text = disguised(SVWAR_REGISTER).replace('tag=3130300133303235383430333930', 'tag=a8f3c1d2');
  assert.equal(actionOf(check(text)), 'pass');
});

test('a SIPVicious tag under a branch of another shape is not enough to block', () => {
  const text = disguised(SVWAR_REGISTER).replace('branch=z9hG4bK-3652832388', 'branch=z9hG4bK.a7c3e1');
  assert.equal(actionOf(check(text)), 'pass');
});

test('finds every built-in signature in a User-Agent whatever its case', () => {
  for (const signature of DEFAULT_SIGNATURES) {
    const ua = `Tool ${signature.toUpperCase()} 1.0`;
    const v = check(optionsWith(ua));
    assert.equal(v.action, 'block', signature);
    assert.equal(eventOf(v).details?.signature, signature);
  }
});

function optionsWith(userAgent: string): string {
  return (
    'OPTIONS sip:100@pbx.example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKnashds7\r\n' +
    'Max-Forwards: 70\r\n' +
    'To: <sip:100@pbx.example.com>\r\n' +
    'From: <sip:100@pbx.example.com>;tag=1928301774\r\n' +
    'Call-ID: a84b4c76e66710@198.51.100.10\r\n' +
    'CSeq: 1 OPTIONS\r\n' +
    `User-Agent: ${userAgent}\r\n` +
    'Content-Length: 0\r\n' +
    '\r\n'
  );
}

test('lets the requests of real phones through', () => {
  for (const ua of [
    'Yealink SIP-T46U 108.86.0.45',
    'Grandstream GXP2170 1.0.11.23',
    'PolycomVVX-VVX_411-UA/6.4.3.5018',
    'Z 5.5.2 v2.10.19.5',
    'Linphone Desktop/5.2.0 (Ubuntu 22.04) LinphoneCore/5.3.0',
    'Asterisk PBX 20.5.0',
    'FPBX-16.0.40(18.20.0)',
    'MicroSIP/3.21.3',
  ]) {
    assert.equal(actionOf(check(optionsWith(ua))), 'pass', ua);
  }
  assert.equal(actionOf(check(request({ method: 'INVITE', userAgent: 'Bria 6 release 6.5.2' }))), 'pass');
});

test('does not fire without its signature: a removed built-in one lets its tool through', () => {
  const text = optionsWith('sipsak 0.9.8');
  assert.equal(actionOf(check(text)), 'block');
  assert.equal(actionOf(check(text, { removeSignatures: ['sipsak'] })), 'pass');
});

test('an added signature is found like a built-in one', () => {
  const v = check(optionsWith('MyScanner/2.0'), { addSignatures: ['MyScanner'] });
  assert.equal(v.action, 'block');
  assert.equal(eventOf(v).details?.signature, 'myscanner');
});

test('fingerprints can be turned off', () => {
  const renamed = disguised(SVMAP_OPTIONS).replaceAll('"sipvicious"', '"alice"');
  assert.equal(actionOf(check(renamed, { fingerprints: false })), 'pass');
});

test('a trusted source is not blocked: the scan is dropped and reported', () => {
  const deps = makeDeps();
  deps.trust.succeed('203.0.113.66', '100', T0 - 1000);
  const v = check(SVMAP_OPTIONS, {}, deps);
  assert.equal(v.action, 'drop');
  assert.match(eventOf(v).reason, /trusted source: not blocked/);
});

test('the action and block period follow the settings', () => {
  const v = check(SVMAP_OPTIONS, {
    action: 'block',
    block: { scope: 'network', durationMs: 86_400_000 },
    status: 403,
  });
  assert.ok(v.action === 'block');
  assert.equal(v.scope, 'network');
  assert.equal(v.key, '203.0.113.0/24');
  assert.equal(v.durationMs, 86_400_000);
  assert.equal(v.status, 403);
  const t = check(SVMAP_OPTIONS, { action: 'tarpit', tarpitMs: 20_000 });
  assert.ok(t.action === 'tarpit');
  assert.equal(t.delayMs, 20_000);
  // Held back, then answered with the rule's status (403 unless it names one).
  assert.equal(t.status, 403);
  assert.equal(t.event.status, 403);
  const t2 = check(SVMAP_OPTIONS, { action: 'tarpit', tarpitMs: 1000, status: 480 });
  assert.ok(t2.action === 'tarpit');
  assert.equal(t2.status, 480);
});

test('requests from the upstream side are not checked by default', () => {
  const stage = createScannerStage({}, makeDeps());
  const v = stage.request!(
    requestContext(parseRequest(SVMAP_OPTIONS), scanner, { direction: 'upstream' }),
    T0,
  );
  assert.equal(actionOf(v), 'pass');
});

test('reads the SIPVicious tag and branch shapes exactly', () => {
  assert.ok(isSipviciousTag('37663030303030313361666201363834303931393230'));
  assert.ok(isSipviciousTag('3130300133303235383430333930'));
  assert.ok(isSipviciousTag('3130303a70773101373936303333333731'));
  assert.ok(!isSipviciousTag('3206210844'));
  assert.ok(!isSipviciousTag('a8f3c1d2e4b5'));
  assert.ok(!isSipviciousTag('1928301774'));
  assert.ok(!isSipviciousTag('3130300133303235383430333930333132333435363738')); // 12 digits: not a 32-bit number
  assert.ok(!isSipviciousTag('0001313233')); // 0x00 is not printable text
  assert.ok(!isSipviciousTag('01313233')); // no text before 0x01
  assert.ok(!isSipviciousTag('31303001333'));
  assert.ok(!isSipviciousTag(undefined));
  assert.ok(!isSipviciousTag(null));
  assert.ok(isSipviciousBranch('z9hG4bK-3245090144'));
  assert.ok(isSipviciousBranch('z9hG4bK-7'));
  assert.ok(!isSipviciousBranch('z9hG4bK-'));
  assert.ok(!isSipviciousBranch('z9hG4bK-32450901441'));
  assert.ok(!isSipviciousBranch('z9hG4bK3245090144'));
  assert.ok(!isSipviciousBranch('z9hG4bK-3245a'));
  assert.ok(!isSipviciousBranch(undefined));
});

test('settings errors name the key and the reason', () => {
  assert.deepEqual(errors({ removeSignatures: ['nosuchtool'] }), [
    'removeSignatures[0]: nosuchtool is not a built-in signature',
  ]);
  assert.deepEqual(errors({ addSignatures: ['x'] }), [
    'addSignatures[0]: must be 3 to 64 printable ASCII characters',
  ]);
  assert.deepEqual(errors({ action: 'ban' }), ['action: must be one of alert, reject, drop, block, tarpit']);
  assert.deepEqual(errors({ block: { durationMs: 10 } }), [
    'block.durationMs: must be a duration in milliseconds from 1000 to 2592000000 (30 days)',
  ]);
  assert.deepEqual(errors({ fingerprint: false }), ['fingerprint: unknown key (did you mean fingerprints?)']);
  assert.deepEqual(errors({ action: 'drop', status: 403 }), [
    'status: only applies when action is reject, block or tarpit',
  ]);
});
