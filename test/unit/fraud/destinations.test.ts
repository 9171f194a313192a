import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  DestinationTable,
  loadDestinations,
  parseDestinations,
  SHIPPED_DESTINATIONS,
} from '../../../src/fraud/destinations.ts';
import { DEFAULT_NUMBERING, e164Of } from '../../../src/fraud/dialled-number.ts';

test('the longest matching prefix decides the category', () => {
  const table = new DestinationTable([
    { prefix: '8', category: 'international', description: 'zone 8' },
    { prefix: '881', category: 'satellite', description: 'GMSS' },
    { prefix: '8816', category: 'satellite', description: 'Iridium' },
    { prefix: '44', category: 'international', description: 'UK' },
    { prefix: '449', category: 'premium', description: 'UK 09' },
  ]);
  assert.equal(table.match('881612345678')?.description, 'Iridium');
  assert.equal(table.match('881012345678')?.description, 'GMSS');
  assert.equal(table.match('8612345678')?.description, 'zone 8');
  assert.equal(table.match('449012345678')?.category, 'premium');
  assert.equal(table.match('442071234567')?.category, 'international');
  assert.equal(table.match('33123456789'), undefined);
});

test('the shipped table loads, and classifies well-known ranges', () => {
  const loaded = loadDestinations(SHIPPED_DESTINATIONS, 20_000);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  const table = loaded.table;
  assert.equal(table.match('881612345678')?.category, 'satellite');
  assert.equal(table.match('8821234567')?.category, 'satellite');
  assert.equal(table.match('53712345678')?.category, 'high-risk');
  assert.equal(table.match('18765551234')?.category, 'high-risk');
  assert.equal(table.match('19005551234')?.category, 'premium');
  assert.equal(table.match('12125551234')?.category, 'international');
  assert.equal(table.match('33899123456')?.category, 'premium');
  assert.equal(table.match('33123456789')?.category, 'domestic');
  for (const c of ['premium', 'international', 'high-risk', 'satellite', 'domestic']) {
    assert.ok(table.categories().has(c), c);
  }
});

test('every bad row is reported as path:line: reason', () => {
  const text = [
    '# comment',
    'prefix,category,description',
    '44,international,UK',
    '4x,premium,bad prefix',
    '449,Premium,bad category',
    '44,premium,again',
    'only-one-field',
    '1234567890123456,premium,too long',
    '',
  ].join('\n');
  const result = parseDestinations(text, 'dest.csv', 100);
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, [
    'dest.csv:4: prefix "4x" must be 1 to 15 digits (E.164, country code first)',
    'dest.csv:5: category "Premium" must be a lower-case word (letters, digits, dashes)',
    'dest.csv:6: prefix 44 is listed already on line 3',
    'dest.csv:7: expected prefix,category,description',
    'dest.csv:8: prefix "1234567890123456" must be 1 to 15 digits (E.164, country code first)',
  ]);
});

test('a table is bounded in rows and bytes, and a missing file names itself', () => {
  const rows = Array.from({ length: 11 }, (_, i) => `${100 + i},premium,row ${i}`).join('\n');
  const result = parseDestinations(rows, 't.csv', 10);
  assert.ok(!result.ok);
  assert.deepEqual(result.errors, ['t.csv:11: more than 10 rows (destinations.maxRows)']);

  const dir = mkdtempSync(join(tmpdir(), 'dest-'));
  const big = join(dir, 'big.csv');
  writeFileSync(big, `# ${'x'.repeat(5 * 1024 * 1024)}\n`);
  const tooBig = loadDestinations(big, 10);
  assert.ok(!tooBig.ok && /over the 4194304 bytes/.test(tooBig.errors[0]!));
  const missing = loadDestinations(join(dir, 'none.csv'), 10);
  assert.ok(!missing.ok);
  assert.deepEqual(missing.errors, [`${join(dir, 'none.csv')}: cannot read: ENOENT`]);
});

test('dialled numbers are normalised: +, the international prefix, the national prefix with the country code', () => {
  const france = { ...DEFAULT_NUMBERING, countryCode: '33' };
  assert.equal(e164Of('+881612345678', france), '881612345678');
  assert.equal(e164Of('%2B44-20-7123-4567', france), '442071234567');
  assert.equal(e164Of('00881612345678', france), '881612345678');
  assert.equal(e164Of('0899123456', france), '33899123456');
  assert.equal(e164Of('+1 (876) 555.1234', france), '18765551234');
  assert.equal(e164Of('+33123;phone-context=example.com', france), '33123');
  // Extensions and names have no E.164 form.
  assert.equal(e164Of('200', france), undefined);
  assert.equal(e164Of('alice', france), undefined);
  assert.equal(e164Of('+1234567890123456', france), undefined);
  // Without a country code, national numbers stay unknown.
  assert.equal(e164Of('0899123456', DEFAULT_NUMBERING), undefined);
  // North America: 011 exits, 1 is the trunk prefix.
  const nanp = { internationalPrefix: '011', nationalPrefix: '1', countryCode: '1' };
  assert.equal(e164Of('011881612345678', nanp), '881612345678');
  assert.equal(e164Of('19005551234', nanp), '19005551234');
});
