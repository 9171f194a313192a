import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressInKey, blockAddresses, readEvent } from '../../../src/attack/assess/events-api.ts';
import { ASSESS_PASSWORD, assessWordlist } from '../../../src/attack/assess/run-assess.ts';
import { formatScorecard, type Scorecard } from '../../../src/attack/assess/scorecard.ts';
import { classify } from '../../../src/attack/kinds/enumerate.ts';
import { plural } from '../../../src/attack/report.ts';
import { defaultWords, wordsOf } from '../../../src/attack/wordlist.ts';

test('an event from the API is read field by field; a wrong-shaped field is left out', () => {
  const event = readEvent({
    type: 'flood',
    stage: 'detect:flood',
    action: 'block',
    rule: 'invite-flood',
    key: 'source=127.0.0.12',
    source: { address: '127.0.0.12', port: 5000, transport: 'udp' },
    firstSeen: 1000,
    count: { not: 'a number' },
  });
  assert.deepEqual(event, {
    type: 'flood',
    action: 'block',
    rule: 'invite-flood',
    stage: 'detect:flood',
    key: 'source=127.0.0.12',
    sourceAddress: '127.0.0.12',
    firstSeen: 1000,
  });
  assert.equal(readEvent({ action: 'block' }), undefined);
  assert.equal(readEvent('nonsense'), undefined);
  assert.equal(readEvent(null), undefined);
});

test('blocks name their address in a key, an address field or a source', () => {
  assert.deepEqual(blockAddresses({ key: '127.0.0.19', scope: 'address' }), ['127.0.0.19']);
  assert.deepEqual(blockAddresses({ source: { address: '::1' } }), ['::1']);
  assert.deepEqual(blockAddresses(42), []);
  assert.equal(addressInKey('src:127.0.0.7'), '127.0.0.7');
  assert.equal(addressInKey('source=127.0.0.7'), undefined);
  assert.equal(addressInKey('127.1.0.0/16'), '127.1.0.0');
  assert.equal(addressInKey('to-user:100'), undefined);
});

test("the assess word list holds the callee's password at position 25 of 30", () => {
  const words = assessWordlist();
  assert.equal(words.length, 30);
  assert.equal(words.indexOf(ASSESS_PASSWORD), 24);
});

test('enumeration answers classify as svwar reads them', () => {
  assert.equal(classify(404), 'not-found');
  assert.equal(classify(401), 'auth-required');
  assert.equal(classify(407), 'auth-required');
  assert.equal(classify(403), 'forbidden');
  assert.equal(classify(200), 'open');
  assert.equal(classify(180), 'open');
  assert.equal(classify(undefined), 'silent');
  assert.equal(classify(500), 'other');
});

test('units are pluralised for people, SIP methods kept as written', () => {
  assert.equal(plural('OPTIONS', 20), 'OPTIONS');
  assert.equal(plural('INVITE', 2), 'INVITEs');
  assert.equal(plural('guess', 3), 'guesses');
  assert.equal(plural('call', 1), 'call');
});

test('word lists skip empty and overlong lines; the default list starts with the user name', () => {
  assert.deepEqual(wordsOf(['a', '', 'x'.repeat(300), 'b'], 'list'), ['a', 'b']);
  assert.throws(() => wordsOf([''], 'list'), { code: 'SW_ERR_ATTACK_WORDLIST' });
  assert.equal(defaultWords('100')[0], '100');
  assert.equal(new Set(defaultWords('1234')).size, defaultWords('1234').length);
});

test('the scorecard table has a row per attack and a summary line', () => {
  const card: Scorecard = {
    target: '127.0.0.1:5060',
    api: null,
    callee: 'the target',
    startedAt: '2026-01-01T00:00:00.000Z',
    seconds: 12.5,
    rows: [
      {
        attack: 'options-flood',
        kind: 'options-flood',
        verdict: 'stopped',
        detected: null,
        detectedAfterSeconds: null,
        blocked: { messages: 20, seconds: 0.1, by: 'silence' },
        legitCalls: { attempted: 4, succeeded: 4 },
        alive: true,
        seconds: 2.2,
        outcome: 'the target went silent after 20 OPTIONS (0.1 s)',
      },
      {
        attack: 'bye-spoof',
        kind: 'bye-spoof',
        verdict: 'succeeded',
        detected: null,
        detectedAfterSeconds: null,
        blocked: null,
        legitCalls: { attempted: 0, succeeded: 0 },
        alive: false,
        seconds: 5,
        outcome: 'a forged BYE ended the call',
      },
    ],
    summary: { attacks: 2, succeeded: 1, stopped: 1, notApplicable: 0, errors: 0, aliveAtEnd: false },
  };
  const text = formatScorecard(card);
  assert.match(text, /^options-flood\s+stopped\s+-\s+20 msgs, 0\.1 s\s+4\/4\s+yes\s+2\.2s$/m);
  assert.match(text, /^bye-spoof\s+SUCCEEDED\s+-\s+no\s+-\s+NO\s+5s$/m);
  assert.match(text, /2 attacks: 1 stopped, 1 succeeded, 0 not applicable; target alive at the end: NO/);
});
