/**
 * The activity store contract, written against the interface only: every backend (memory
 * now, Redis later) runs it from its own test file with its own factory. Estimates of
 * distinct counts are checked within 10% (4 standard errors at precision 10); small counts
 * exactly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ActivityStore } from '../../../src/state/types.ts';

export type ActivityStoreFactory = (options: { maxKeys: number }) => ActivityStore;

const runs = (n: number): number => (process.env.CI ? n * 5 : n);

/** Within `tolerance` (a fraction) of `expected`. */
function near(actual: number, expected: number, tolerance: number, message?: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * tolerance,
    `${message ?? ''} ${actual} is not within ${tolerance * 100}% of ${expected}`,
  );
}

export function runActivityStoreContract(name: string, factory: ActivityStoreFactory): void {
  describe(`${name}: activity store contract`, () => {
    const window = 10_000;
    /** A time at the start of a fixed window, so that tests read well. */
    const t0 = 1_700_000_000_000 - (1_700_000_000_000 % window);

    test('counts every hit within one window', () => {
      const store = factory({ maxKeys: 100 });
      let count = 0;
      for (let i = 0; i < 7; i++) count = store.hit('invite:198.51.100.1', window, t0 + i * 100);
      assert.equal(count, 7);
      assert.equal(store.peek('invite:198.51.100.1', window, t0 + 5000), 7);
    });

    test('counts a weight as that many hits', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('bytes:a', window, t0, 1500);
      assert.equal(store.hit('bytes:a', window, t0 + 1, 500), 2000);
    });

    test('peek does not count', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('k', window, t0);
      store.peek('k', window, t0 + 1);
      store.peek('k', window, t0 + 2);
      assert.equal(store.peek('k', window, t0 + 3), 1);
    });

    test('peek of a key never hit is zero', () => {
      const store = factory({ maxKeys: 100 });
      assert.equal(store.peek('never', window, t0), 0);
    });

    test('keys count independently', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('a', window, t0);
      store.hit('a', window, t0);
      store.hit('b', window, t0);
      assert.equal(store.peek('a', window, t0), 2);
      assert.equal(store.peek('b', window, t0), 1);
    });

    test('weights the previous window by how much of it the sliding window still covers', () => {
      const store = factory({ maxKeys: 100 });
      for (let i = 0; i < 10; i++) store.hit('k', window, t0 + 1000 + i);
      // At the start of the next window the whole previous one is inside the sliding window.
      assert.equal(store.peek('k', window, t0 + window), 10);
      assert.equal(store.peek('k', window, t0 + window + window / 4), 7.5);
      assert.equal(store.peek('k', window, t0 + window + window / 2), 5);
      assert.equal(store.hit('k', window, t0 + window + window / 2), 6);
    });

    test('forgets everything two windows later', () => {
      const store = factory({ maxKeys: 100 });
      for (let i = 0; i < 10; i++) store.hit('k', window, t0);
      assert.equal(store.peek('k', window, t0 + 2 * window), 0);
      assert.equal(store.peek('k', window, t0 + 5 * window), 0);
      assert.equal(store.hit('k', window, t0 + 5 * window), 1);
    });

    test('a hit one millisecond before the window boundary counts fully in the next window', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('k', window, t0 + window - 1);
      assert.equal(store.peek('k', window, t0 + window), 1);
      near(store.peek('k', window, t0 + 2 * window - 1), 1 / window, 1e-9);
      assert.equal(store.peek('k', window, t0 + 2 * window), 0);
    });

    test('reset forgets a key', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('k', window, t0);
      store.distinct('d', 'x', window, t0);
      store.reset('k');
      store.reset('d');
      store.reset('never-seen');
      assert.equal(store.peek('k', window, t0), 0);
      assert.equal(store.hit('k', window, t0), 1);
      assert.equal(store.distinct('d', 'y', window, t0), 1);
    });

    test('a negative, infinite or NaN weight adds nothing', () => {
      const store = factory({ maxKeys: 100 });
      store.hit('k', window, t0, 2);
      for (const w of [-5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        assert.equal(store.hit('k', window, t0, w), 2, String(w));
      }
    });

    test('a window that is not a positive finite length counts nothing', () => {
      const store = factory({ maxKeys: 100 });
      for (const w of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        assert.equal(store.hit('k', w, t0), 0);
        assert.equal(store.distinct('d', 'x', w, t0), 0);
      }
    });

    test('counts distinct values exactly when there are few', () => {
      const store = factory({ maxKeys: 100 });
      for (let n = 1; n < 20; n++) {
        assert.equal(store.distinct('users:198.51.100.7', `user${n}`, window, t0), n);
      }
    });

    test('counts a repeated value once', () => {
      const store = factory({ maxKeys: 100 });
      let estimate = 0;
      for (let i = 0; i < 50; i++) estimate = store.distinct('k', `v${i % 5}`, window, t0);
      assert.equal(estimate, 5);
      for (let i = 0; i < 5000; i++) estimate = store.distinct('big', `v${i % 1000}`, window, t0);
      near(estimate, 1000, 0.1);
    });

    for (const n of [10, 100, 1000, 10_000, 100_000]) {
      test(`estimates ${n} distinct values within 10%`, () => {
        const store = factory({ maxKeys: 100 });
        let estimate = 0;
        for (let i = 0; i < n; i++) estimate = store.distinct('k', `sip:${i}@example.com`, 60_000, t0);
        near(estimate, n, 0.1);
      });
    }

    test('weights the distinct values of the previous window by overlap', () => {
      const store = factory({ maxKeys: 100 });
      for (let i = 0; i < 200; i++) store.distinct('k', `a${i}`, window, t0 + i);
      // Half-way into the next window, half the previous window's values count.
      near(store.distinct('k', 'b0', window, t0 + 1.5 * window), 101, 0.1);
      // Two windows on, nothing of the first is left.
      assert.equal(store.distinct('k', 'c0', window, t0 + 3 * window), 1);
    });

    test('a value seen in both windows counts once in the sliding window', () => {
      const store = factory({ maxKeys: 100 });
      for (let i = 0; i < 10; i++) store.distinct('k', `u${i}`, window, t0);
      let estimate = 0;
      for (let i = 0; i < 10; i++) estimate = store.distinct('k', `u${i}`, window, t0 + window + 1);
      assert.equal(estimate, 10);
      for (let i = 0; i < 500; i++) store.distinct('big', `u${i}`, window, t0);
      for (let i = 0; i < 500; i++) estimate = store.distinct('big', `u${i}`, window, t0 + window + 1);
      near(estimate, 500, 0.1);
    });

    test('never holds more keys than its bound', () => {
      const store = factory({ maxKeys: 100 });
      for (let i = 0; i < 1000; i++) {
        if (i % 2 === 0) store.hit(`k${i}`, window, t0);
        else store.distinct(`k${i}`, 'v', window, t0);
        assert.ok(store.stats().keys <= 100);
      }
      const stats = store.stats();
      assert.equal(stats.maxKeys, 100);
      assert.equal(stats.keys, 100);
      assert.ok(stats.evictions >= 900, `evictions ${stats.evictions}`);
      assert.ok(stats.approxBytes > 0);
    });

    test('property: counts are never negative nor NaN, and never exceed what was added', () => {
      const op = fc.record({
        key: fc.constantFrom('a', 'b', 'c'),
        kind: fc.constantFrom('hit', 'peek', 'reset', 'distinct'),
        dt: fc.integer({ min: 0, max: 3 * window }),
        weight: fc.oneof(fc.double({ noDefaultInfinity: false }), fc.integer({ min: -3, max: 10 })),
      });
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          const store = factory({ maxKeys: 2 });
          let now = t0;
          let added = 0;
          for (const o of ops) {
            now += o.dt;
            let v = 0;
            if (o.kind === 'hit') {
              v = store.hit(o.key, window, now, o.weight);
              if (o.weight > 0 && Number.isFinite(o.weight)) added += o.weight;
            } else if (o.kind === 'peek') v = store.peek(o.key, window, now);
            else if (o.kind === 'distinct') v = store.distinct(o.key, String(o.weight), window, now);
            else store.reset(o.key);
            assert.ok(v >= 0 && !Number.isNaN(v), `${o.kind} gave ${v}`);
            if (o.kind !== 'distinct') assert.ok(v <= added * (1 + 1e-9) + 1e-9, `${v} > ${added}`);
          }
        }),
        { numRuns: runs(200) },
      );
    });

    test('property: the distinct estimate never decreases while values are added at one time', () => {
      fc.assert(
        fc.property(
          fc.array(fc.string({ maxLength: 8 }), { maxLength: 80 }),
          fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 400 }),
          fc.integer({ min: 0, max: window - 1 }),
          (previous, values, offset) => {
            const store = factory({ maxKeys: 10 });
            for (const p of previous) store.distinct('k', p, window, t0);
            const now = t0 + window + offset;
            let last = 0;
            for (const v of values) {
              const estimate = store.distinct('k', `v${v}`, window, now);
              assert.ok(estimate >= last - 1e-9, `${estimate} < ${last}`);
              last = estimate;
            }
          },
        ),
        { numRuns: runs(100) },
      );
    });

    test('property: within its first window the distinct estimate never decreases as time goes on', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 50 })), {
            maxLength: 300,
          }),
          (steps) => {
            const store = factory({ maxKeys: 10 });
            let now = t0;
            let last = 0;
            for (const [v, dt] of steps) {
              now = Math.min(now + dt, t0 + window - 1);
              const estimate = store.distinct('k', `v${v}`, window, now);
              assert.ok(estimate >= last - 1e-9, `${estimate} < ${last}`);
              last = estimate;
            }
          },
        ),
        { numRuns: runs(100) },
      );
    });
  });
}
