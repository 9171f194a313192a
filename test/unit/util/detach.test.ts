import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { detach } from '../../../src/util/detach.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const PARENTS = 1000;
// Below the size at which Node makes an external string, so the text is on the V8 heap.
const PARENT_BYTES = 64 << 10;

/** Heap growth while `keep` holds one short key cut from each of 1,000 messages of 64 KiB. */
function retainedBytes(keep: (key: string) => string): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const keys: string[] = [];
  for (let i = 0; i < PARENTS; i++) {
    const text = Buffer.alloc(PARENT_BYTES, `z9hG4bK-${i}-`).toString('latin1');
    keys.push(keep(`${text.slice(0, 40)}|127.0.0.1:5060|INVITE`));
  }
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.equal(keys.length, PARENTS);
  return grown;
}

test('a key cut from a message keeps the whole message alive unless detached', () => {
  // Without the copy V8 keeps every parent (64 MiB): the check below could not pass by accident.
  assert.ok(retainedBytes((key) => key) > 500 * PARENT_BYTES);
  assert.ok(retainedBytes(detach) < 50 * PARENT_BYTES);
});

test('the copy is the same text, latin1 or not', () => {
  for (const text of [
    'z9hG4bK776asdhds|pc33.example.com:5060|INVITE',
    'caf\u00e9',
    'Ω ≠ ω',
    '',
    '\u{1F600}',
  ]) {
    assert.equal(detach(text), text);
  }
});
