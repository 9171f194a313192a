import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalName,
  compactName,
  knownNameBytes,
  longName,
  nameHashStep,
} from '../../../src/sip/header-names.ts';

test('expands compact forms of any case to lower-case long names', () => {
  const pairs: [string, string][] = [
    ['v', 'via'],
    ['V', 'via'],
    ['i', 'call-id'],
    ['m', 'contact'],
    ['e', 'content-encoding'],
    ['l', 'content-length'],
    ['f', 'from'],
    ['s', 'subject'],
    ['k', 'supported'],
    ['t', 'to'],
    ['c', 'content-type'],
    ['o', 'event'],
    ['r', 'refer-to'],
    ['u', 'allow-events'],
    ['x', 'session-expires'],
    ['y', 'identity'],
    ['b', 'referred-by'],
    ['a', 'accept-contact'],
    ['j', 'reject-contact'],
    ['d', 'request-disposition'],
  ];
  for (const [compact, long] of pairs) assert.equal(longName(compact), long);
});

test('lower-cases long names of any case', () => {
  assert.equal(longName('MaX-fOrWaRdS'), 'max-forwards');
  assert.equal(longName('Call-ID'), 'call-id');
  assert.equal(longName('q'), 'q');
});

test('writes the canonical capitalisation of names', () => {
  assert.equal(canonicalName('call-id'), 'Call-ID');
  assert.equal(canonicalName('cseq'), 'CSeq');
  assert.equal(canonicalName('www-authenticate'), 'WWW-Authenticate');
  assert.equal(canonicalName('max-forwards'), 'Max-Forwards');
  assert.equal(canonicalName('record-route'), 'Record-Route');
  assert.equal(canonicalName('x-custom-thing'), 'X-Custom-Thing');
});

test('treats names that are Object prototype keys as plain names', () => {
  assert.equal(canonicalName('constructor'), 'Constructor');
  assert.equal(longName('__proto__'), '__proto__');
});

test('gives the compact form of a long name when one exists', () => {
  assert.equal(compactName('via'), 'v');
  assert.equal(compactName('max-forwards'), undefined);
});

test('recognises common names on their bytes in any case and nothing else', () => {
  const hashOf = (s: string): number => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = nameHashStep(h, s.charCodeAt(i));
    return h;
  };
  const at = (name: string): string | undefined => {
    const line = Buffer.from(`X${name}: 1`, 'latin1');
    return knownNameBytes(line, 1, 1 + name.length, hashOf(name));
  };
  assert.equal(at('Via'), 'via');
  assert.equal(at('vIA'), 'via');
  assert.equal(at('v'), 'via');
  assert.equal(at('Call-ID'), 'call-id');
  assert.equal(at('CONTENT-LENGTH'), 'content-length');
  assert.equal(at('i'), 'call-id');
  for (const near of ['Vias', 'Vi', 'Xia', 'Via-', 'Call_ID', 'Content-Lengthx', 'q', 'X-Via']) {
    assert.equal(at(near), undefined, near);
  }
});
