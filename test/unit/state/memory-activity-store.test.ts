import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateError } from '../../../src/state/errors.ts';
import { createMemoryActivityStore } from '../../../src/state/memory-activity-store.ts';
import { runActivityStoreContract } from './activity-store.contract.ts';
import { settle, usedBytes } from './heap.ts';

runActivityStoreContract('memory', ({ maxKeys }) => createMemoryActivityStore({ maxKeys, hashSeed: 0x5eed }));

const window = 10_000;
const t0 = 1_700_000_000_000;

test('refuses a bound or a precision out of range with a coded error', () => {
  for (const options of [
    { maxKeys: 0 },
    { maxKeys: 1.5 },
    { maxKeys: Number.NaN },
    { maxKeys: 10, hllPrecision: 3 },
    { maxKeys: 10, hllPrecision: 15 },
    { maxKeys: 10, maxKeyLength: 10 },
  ]) {
    assert.throws(
      () => createMemoryActivityStore(options),
      (e: unknown) => e instanceof StateError && e.code === 'SW_ERR_STATE_OPTION',
      JSON.stringify(options),
    );
  }
});

test('a key touched again survives a flood of keys seen once', () => {
  const store = createMemoryActivityStore({ maxKeys: 1000, hashSeed: 1 });
  for (let i = 0; i < 100_000; i++) {
    if (i % 100 === 0) store.hit('invite:198.51.100.1', window, t0);
    store.hit(`invite:spoofed-${i}`, window, t0);
  }
  assert.equal(store.peek('invite:198.51.100.1', window, t0), 1000);
  assert.equal(store.stats().keys, 1000);
});

test('reuses the slot of a reset key before evicting another', () => {
  const store = createMemoryActivityStore({ maxKeys: 3, hashSeed: 1 });
  store.hit('a', window, t0);
  store.hit('b', window, t0);
  store.hit('c', window, t0);
  store.reset('b');
  store.hit('d', window, t0);
  assert.equal(store.stats().evictions, 0);
  assert.equal(store.peek('a', window, t0), 1);
  assert.equal(store.peek('c', window, t0), 1);
  assert.equal(store.peek('d', window, t0), 1);
});

test('folds a long key into a bounded one without merging keys that share a long prefix', () => {
  const store = createMemoryActivityStore({ maxKeys: 100, maxKeyLength: 64, hashSeed: 1 });
  const prefix = `ua:${'x'.repeat(100)}`;
  store.hit(`${prefix}A`, window, t0);
  store.hit(`${prefix}A`, window, t0);
  store.hit(`${prefix}B`, window, t0);
  assert.equal(store.peek(`${prefix}A`, window, t0), 2);
  assert.equal(store.peek(`${prefix}B`, window, t0), 1);
  assert.equal(store.distinct(`${prefix}A`, 'v', window, t0), 1);
  store.reset(`${prefix}A`);
  assert.equal(store.peek(`${prefix}A`, window, t0), 0);
});

test('a key used with another window length starts over', () => {
  const store = createMemoryActivityStore({ maxKeys: 10, hashSeed: 1 });
  store.hit('k', 1000, t0);
  store.hit('k', 1000, t0);
  assert.equal(store.peek('k', 2000, t0), 0);
  assert.equal(store.hit('k', 2000, t0), 1);
});

test('a clock step back counts in the current window', () => {
  const store = createMemoryActivityStore({ maxKeys: 10, hashSeed: 1 });
  store.hit('k', window, t0 + window);
  assert.equal(store.hit('k', window, t0), 2);
});

test('peekDistinct reads the distinct estimate without adding', () => {
  const store = createMemoryActivityStore({ maxKeys: 10, hashSeed: 1 });
  for (let i = 0; i < 8; i++) store.distinct('k', `v${i}`, window, t0);
  assert.equal(store.peekDistinct('k', window, t0), 8);
  assert.equal(store.peekDistinct('k', window, t0), 8);
  assert.equal(store.peekDistinct('k', window, t0 + 1.5 * window), 4);
  assert.equal(store.peekDistinct('k', window, t0 + 3 * window), 0);
  assert.equal(store.peekDistinct('other', window, t0), 0);
});

type Store = ReturnType<typeof createMemoryActivityStore>;

/** Heap held by a store after `fill`, and the store's own estimate, both settled. */
async function held(
  maxKeys: number,
  fill: (store: Store) => void,
): Promise<{ held: number; approx: number }> {
  await settle();
  const before = usedBytes();
  const store = createMemoryActivityStore({ maxKeys, hashSeed: 1 });
  fill(store);
  await settle();
  return { held: usedBytes() - before, approx: store.stats().approxBytes };
}

const sourceKey = (i: number): string => `src:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;

for (const [shape, fill] of [
  [
    'counters',
    (s: Store) => {
      for (let i = 0; i < 20_000; i++) s.hit(sourceKey(i), window, t0);
    },
  ],
  [
    'small distinct sets',
    (s: Store) => {
      for (let i = 0; i < 20_000; i++) s.distinct(sourceKey(i), 'alice', window, t0);
    },
  ],
  [
    'large distinct sets',
    (s: Store) => {
      for (let i = 0; i < 2000; i++)
        for (let j = 0; j < 40; j++) s.distinct(sourceKey(i), `user${j}`, window, t0);
    },
  ],
] as const) {
  test(`approxBytes is within 25% of the memory held by ${shape}`, async () => {
    const r = await held(20_000, fill);
    assert.ok(
      r.held > r.approx * 0.75 && r.held < r.approx * 1.25,
      `held ${r.held} bytes, approxBytes ${r.approx}`,
    );
  });
}

test('a flood from 1,000,000 distinct source keys leaves the store within its bound', async () => {
  const maxKeys = 10_000;
  await settle();
  const before = usedBytes();
  const store = createMemoryActivityStore({ maxKeys, hashSeed: 1 });
  let peakKeys = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const source = `${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}.${i % 7}`;
    store.hit(`register:${source}`, window, t0 + i);
    if (i % 4 === 0) store.distinct(`users:${source}`, `user${i & 63}`, window, t0 + i);
    if (i % 1000 === 0) peakKeys = Math.max(peakKeys, store.stats().keys);
  }
  await settle();
  const grown = usedBytes() - before;
  const stats = store.stats();
  assert.ok(peakKeys <= maxKeys && stats.keys <= maxKeys, `keys ${stats.keys}, peak ${peakKeys}`);
  assert.ok(stats.evictions >= 1_250_000 - maxKeys, `evictions ${stats.evictions}`);
  assert.ok(stats.approxBytes <= stats.maxBytes, `approxBytes ${stats.approxBytes} > ${stats.maxBytes}`);
  // 10,000 keys with small sketches are a few megabytes; the bound allows for measuring noise.
  assert.ok(stats.approxBytes < 10_000_000, `approxBytes ${stats.approxBytes}`);
  assert.ok(grown < 2 * stats.approxBytes + 4_000_000, `heap grew ${grown} bytes`);
});
