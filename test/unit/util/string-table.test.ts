import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { StringTable, seededHash } from '../../../src/util/string-table.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'major' | 'minor' }) => void;

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'clear' };

// Few distinct keys, so that sets, overwrites and deletes of present keys all happen.
const key = fc.oneof(
  fc.constantFrom('', 'a', 'b', 'z9hG4bK-1|INVITE', 'z9hG4bK-2|INVITE', '__proto__', 'constructor', '0', '1'),
  fc.string({ maxLength: 6 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

describe('string table', () => {
  // The reason the table exists. Run in this file's own process, before anything else grows
  // the heap: 20,000 entries of about 850 bytes pass through, at most 9 at a time.
  test('entries removed from a long-lived table are not kept alive into the old generation', () => {
    const oldSpaceUsed = () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    const churn = (table: { set(k: string, v: object): void; delete(k: string): boolean }): number => {
      gc();
      gc(); // the table itself is now in the old generation, as the proxy's tables are
      const before = oldSpaceUsed();
      const live: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        const k = `z9hG4bK-${i}|INVITE`;
        table.set(k, { payload: new Array(100).fill(i) });
        live.push(k);
        if (live.length > 8) table.delete(live.shift()!);
        if (i % 500 === 0) gc({ type: 'minor' });
      }
      for (let i = 0; i < 3; i++) gc({ type: 'minor' });
      return oldSpaceUsed() - before;
    };
    const table = churn(new StringTable());
    assert.ok(table < 3 << 20, `StringTable: ${table >> 10} KiB promoted`);
    // The same churn through a Map promotes most of the 17 MB (V8 keeps each replaced backing
    // store linked to the next until a full collection): the check above could not pass by accident.
    const map = churn(new Map());
    assert.ok(map > 6 << 20, `Map: ${map >> 10} KiB promoted`);
  });

  test('behaves as a Map for any sequence of sets, deletes and clears', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const table = new StringTable<number>(8);
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            table.set(o.key, o.value);
            model.set(o.key, o.value);
          } else if (o.kind === 'delete') {
            assert.equal(table.delete(o.key), model.delete(o.key));
          } else {
            table.clear();
            model.clear();
          }
          assert.equal(table.size, model.size);
        }
        for (const [k, v] of model) {
          assert.equal(table.get(k), v);
          assert.equal(table.has(k), true);
        }
        assert.deepEqual(
          table.valuesSnapshot().sort((a, b) => a - b),
          [...model.values()].sort((a, b) => a - b),
        );
      }),
      { numRuns: 500 },
    );
  });

  test('grows past its initial size and shrinks back, keeping every entry findable', () => {
    const table = new StringTable<number>(8);
    for (let i = 0; i < 10_000; i++) table.set(`call-${i}`, i);
    assert.equal(table.size, 10_000);
    for (let i = 0; i < 10_000; i += 2) assert.equal(table.delete(`call-${i}`), true);
    for (let i = 0; i < 10_000; i++) assert.equal(table.get(`call-${i}`), i % 2 === 0 ? undefined : i);
    for (let i = 1; i < 10_000; i += 2) table.delete(`call-${i}`);
    assert.equal(table.size, 0);
    assert.equal(table.get('call-1'), undefined);
    table.set('again', 1);
    assert.equal(table.get('again'), 1);
  });

  test('the hash depends on the seed, so remote parties cannot aim keys at one slot', () => {
    const keys = Array.from({ length: 64 }, (_, i) => `z9hG4bK${i}`);
    const a = keys.map((k) => seededHash(k, 1) & 1023);
    const b = keys.map((k) => seededHash(k, 2) & 1023);
    assert.notDeepEqual(a, b);
    // Low bits spread: 64 keys land in many of 1,024 slots, not a few.
    assert.ok(new Set(a).size > 48, `${new Set(a).size} distinct slots`);
  });
});
