import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAcceptList, splitList } from '../../../src/sip/headers/accept.ts';
import { isEvent } from '../../../src/sip/headers/event.ts';
import { isOptionTagList } from '../../../src/sip/headers/option-tags.ts';
import { isLeadingDeltaSeconds } from '../../../src/sip/headers/scalar.ts';

test('an option-tag list is comma-separated tokens, empty only where allowed', () => {
  assert.ok(isOptionTagList('100rel, timer,replaces', false));
  assert.ok(isOptionTagList('', true));
  assert.ok(!isOptionTagList('', false));
  assert.ok(!isOptionTagList('100rel,,timer', false));
  assert.ok(!isOptionTagList('tag with space', false));
  assert.ok(!isOptionTagList('t\u00e9l', false));
});

test('an option-tag list holds at most 64 tags', () => {
  const tags = (n: number) => Array.from({ length: n }, (_v, k) => `t${k}`).join(',');
  assert.ok(isOptionTagList(tags(64), false));
  assert.ok(!isOptionTagList(tags(65), false));
});

test('a list is split on commas outside quoted strings, with escapes inside them', () => {
  assert.deepEqual(splitList('a, "b,c", d', 8), ['a', ' "b,c"', ' d']);
  assert.deepEqual(splitList('"x\\",y", z', 8), ['"x\\",y"', ' z']);
  assert.equal(splitList('a,b,c', 2), undefined);
});

test('an Accept list is empty or media ranges the caller accepts', () => {
  const isRange = (r: string) => /^\s*[a-z*]+\/[a-z*]+\s*$/.test(r);
  assert.ok(isAcceptList('', isRange));
  assert.ok(isAcceptList('application/sdp, */*', isRange));
  assert.ok(!isAcceptList('application/sdp, nonsense', isRange));
  assert.ok(!isAcceptList(Array.from({ length: 65 }, () => 'a/b').join(','), isRange));
});

test('an Event value starts with a token event type', () => {
  assert.ok(isEvent('presence'));
  assert.ok(isEvent('dialog.winfo;id=1'));
  assert.ok(!isEvent(''));
  assert.ok(!isEvent('pres ence'));
});

test('leading delta-seconds are digits up to 2^32-1, then parameters, a space or a comment', () => {
  assert.ok(isLeadingDeltaSeconds('1800'));
  assert.ok(isLeadingDeltaSeconds('1800;refresher=uac'));
  assert.ok(isLeadingDeltaSeconds('120 (busy)'));
  assert.ok(isLeadingDeltaSeconds('4294967295'));
  assert.ok(!isLeadingDeltaSeconds('4294967296'));
  assert.ok(!isLeadingDeltaSeconds(''));
  assert.ok(!isLeadingDeltaSeconds('12x'));
});
