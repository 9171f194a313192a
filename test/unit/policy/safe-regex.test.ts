import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSafeRegex } from '../../../src/policy/safe-regex.ts';

const reason = (source: string) => {
  const r = compileSafeRegex(source);
  return r.ok ? 'ok' : r.reason;
};

test('patterns for dialled numbers compile', () => {
  for (const source of [
    '^\\+44',
    '^\\+(44|33)9\\d+$',
    '^00[1-9]\\d{6,14}$',
    '^\\+1(900|976)',
    '^[*#]',
    '^\\+(?:44|353)\\d{3}\\d{4}\\d{3}$',
  ]) {
    assert.equal(reason(source), 'ok', source);
  }
});

test('nested repetition and repeated alternation, the causes of catastrophic backtracking, are refused', () => {
  for (const source of [
    '(\\d+)+$',
    '(a*)*',
    '(\\d|\\d\\d)+$',
    '(?:[0-9]+\\d)*x',
    '((ab)+)+',
    '(\\d{1,3}){2,}',
    '(\\d\\d?)+x',
  ]) {
    assert.match(
      reason(source),
      /must not repeat a group that holds a variable repetition or an alternation/,
      source,
    );
  }
});

test('a group repeated at most once, or a repeated group without repetition inside, is fine', () => {
  assert.equal(reason('^(\\d+)?$'), 'ok');
  assert.equal(reason('^(44|33)?\\d+$'), 'ok');
  assert.equal(reason('^(ab)+$'), 'ok');
  // A fixed count inside leaves the engine no choice.
  assert.equal(reason('^(\\d{3})+$'), 'ok');
});

test('back-references, look-arounds, too many variable quantifiers and overlong patterns are refused', () => {
  assert.match(reason('(\\d)\\1'), /back-references/);
  assert.match(reason('(?<d>\\d)\\k<d>'), /back-references/);
  assert.match(reason('^(?=\\+44)'), /look-ahead/);
  assert.match(reason('(?<!0)9'), /look-ahead or look-behind/);
  assert.match(reason('\\d*\\d*\\d*\\d*'), /at most 3 quantifiers/);
  assert.match(reason(`^${'1'.repeat(201)}`), /at most 200 characters/);
  assert.match(reason(''), /must not be empty/);
});

test("a malformed pattern is refused with the engine's reason", () => {
  assert.match(reason('^(44'), /not a valid regular expression/);
  // The u flag: an unknown escape is an error, not a literal.
  assert.match(reason('\\q'), /not a valid regular expression/);
});

test('a character class is one atom: quantifier characters inside it are literals', () => {
  assert.equal(reason('^[+*]?[0-9+]+$'), 'ok');
  assert.equal(reason('^[\\]+]+(\\d)+$'), 'ok');
});
