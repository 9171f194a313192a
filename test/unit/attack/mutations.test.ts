import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeExcerpt, isMalformed, seedMessage } from '../../../src/attack/kinds/malformed.ts';
import { MAX_MUTATED_BYTES, MUTATIONS } from '../../../src/attack/mutations.ts';
import { Random } from '../../../src/attack/random.ts';

const target = { address: '127.0.0.1', port: 5060 };
const via = { host: '127.0.0.1', port: 40000, branch: 'z9hG4bKseed-1' };

test('every seed is a valid request before it is broken', () => {
  for (const method of ['OPTIONS', 'INVITE', 'REGISTER', 'MESSAGE', 'BYE']) {
    const seed = seedMessage(method, target, via, new Random(1));
    assert.equal(isMalformed(Buffer.from(seed, 'latin1')), false, method);
  }
});

for (const mutation of MUTATIONS) {
  test(`mutation ${mutation.name} breaks most seeds the parser would take and stays within the datagram limit`, () => {
    const random = new Random(42);
    let refused = 0;
    const runs = 40;
    for (let i = 0; i < runs; i++) {
      const seed = seedMessage(random.pick(['OPTIONS', 'INVITE', 'REGISTER']), target, via, random);
      const broken = mutation.apply(seed, random);
      assert.ok(broken.length <= MAX_MUTATED_BYTES + 100, `${broken.length} bytes`);
      if (isMalformed(Buffer.from(broken, 'latin1'))) refused++;
    }
    assert.ok(refused >= runs / 2, `${refused} of ${runs} refused`);
  });
}

test('the same seed gives the same mutated messages', () => {
  const run = (seed: number) => {
    const random = new Random(seed);
    return MUTATIONS.map((m) => m.apply(seedMessage('INVITE', target, via, random), random));
  };
  assert.deepEqual(run(9), run(9));
  assert.notDeepEqual(run(9), run(10));
});

test('excerpts escape control and non-ASCII bytes and are bounded', () => {
  assert.equal(escapeExcerpt('A\r\n\x00\xff\\'), 'A\\r\\n\\x00\\xff\\x5c');
  assert.equal(escapeExcerpt('x'.repeat(500), 10), `${'x'.repeat(10)}...`);
});
