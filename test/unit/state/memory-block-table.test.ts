import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateError } from '../../../src/state/errors.ts';
import { createMemoryBlockTable, parseBlockKey } from '../../../src/state/memory-block-table.ts';
import { runBlockTableContract } from './block-table.contract.ts';

runBlockTableContract('memory', (options) => createMemoryBlockTable(options));

const t0 = 1_700_000_000_000;
const minute = 60_000;
const block = (key: string, expiresAt: number, scope: 'address' | 'network' | 'key' = 'address') => ({
  key,
  scope,
  reason: 'test',
  rule: 'test',
  createdAt: t0,
  expiresAt,
});

test('refuses a bound or a network prefix out of range with a coded error', () => {
  for (const options of [
    { maxEntries: 0 },
    { maxEntries: 10, networkPrefixV4: 33 },
    { maxEntries: 10, networkPrefixV6: 0 },
    { maxEntries: Number.POSITIVE_INFINITY },
  ]) {
    assert.throws(
      () => createMemoryBlockTable(options),
      (e: unknown) => e instanceof StateError && e.code === 'SW_ERR_STATE_OPTION',
      JSON.stringify(options),
    );
  }
});

test('sweep removes the expired entries and keeps the others', () => {
  const table = createMemoryBlockTable({ maxEntries: 100 });
  for (let i = 0; i < 50; i++) table.block(block(`198.51.100.${i}`, t0 + i * 1000));
  table.block(block('203.0.113.0/24', t0 + 10_500, 'network'));
  table.block(block('user:a', Number.POSITIVE_INFINITY, 'key'));
  assert.equal(table.sweep(t0 + 10_000), 11);
  assert.equal(table.stats().active, 41);
  assert.equal(table.sweep(t0 + 10_000), 0);
  assert.equal(table.sweep(t0 + 1e9), 40);
  assert.deepEqual(
    table.list(t0).map((b) => b.key),
    ['user:a'],
  );
});

test('sweep honours an extension made after the first expiry was recorded', () => {
  const table = createMemoryBlockTable({ maxEntries: 10 });
  table.block(block('198.51.100.1', t0 + minute));
  table.block(block('198.51.100.1', t0 + 5 * minute));
  assert.equal(table.sweep(t0 + 2 * minute), 0);
  assert.ok(table.match('198.51.100.1', t0 + 2 * minute));
});

test('counts the entries that gave way and the blocks refused when full', () => {
  const table = createMemoryBlockTable({ maxEntries: 2 });
  table.block(block('198.51.100.1', t0 + minute));
  table.block(block('198.51.100.2', t0 + 2 * minute));
  table.block(block('198.51.100.3', t0 + 3 * minute));
  table.block(block('198.51.100.4', t0 + 30_000));
  assert.deepEqual(table.stats(), { active: 2, maxEntries: 2, evictions: 1, refused: 1 });
});

test('repeated extensions keep the expiry index bounded', () => {
  const table = createMemoryBlockTable({ maxEntries: 10 });
  for (let i = 1; i <= 100_000; i++) table.block(block('198.51.100.1', t0 + i));
  assert.equal(table.stats().active, 1);
  assert.equal(table.sweep(t0 + 99_999), 0);
  assert.equal(table.sweep(t0 + 100_000), 1);
});

test('parseBlockKey gives the canonical key and the scope it becomes', () => {
  assert.deepEqual(
    [
      parseBlockKey('address', '::FFFF:198.51.100.7'),
      parseBlockKey('address', '10.1.2.3/8'),
      parseBlockKey('network', '198.51.100.7'),
      parseBlockKey('network', '198.51.100.7', 16),
      parseBlockKey('network', '2001:db8::1'),
      parseBlockKey('key', 'user:alice'),
      parseBlockKey('address', 'user:alice'),
    ].map((t) => t && `${t.scope} ${t.key}`),
    [
      'address 198.51.100.7',
      'network 10.0.0.0/8',
      'network 198.51.100.0/24',
      'network 198.51.0.0/16',
      'network 2001:db8::/64',
      'key user:alice',
      undefined,
    ],
  );
});

test('a table of 100,000 blocks matches addresses and networks', () => {
  const table = createMemoryBlockTable({ maxEntries: 100_000 });
  for (let i = 0; i < 100_000; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    table.block(block(a, t0 + minute, i % 10 === 0 ? 'network' : 'address'));
  }
  // 90,000 addresses and the 391 /24 networks the other 10,000 fall in.
  assert.equal(table.stats().active, 90_391);
  assert.ok(table.match('10.0.0.1', t0));
  assert.ok(table.match('10.1.134.159', t0));
  assert.equal(table.match('11.0.0.1', t0), undefined);
});

test('hasKeyBlocks is true only while a rule key is blocked', () => {
  const table = createMemoryBlockTable({ maxEntries: 10 });
  assert.equal(table.hasKeyBlocks(), false);
  table.block(block('203.0.113.7', t0 + minute));
  assert.equal(table.hasKeyBlocks(), false);
  table.block(block('toUser:100', t0 + minute, 'key'));
  assert.equal(table.hasKeyBlocks(), true);
  table.unblock('toUser:100');
  assert.equal(table.hasKeyBlocks(), false);
});
