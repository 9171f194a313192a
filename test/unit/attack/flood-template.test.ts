import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTemplate, SEQ_DIGITS, stamp } from '../../../src/attack/flood-template.ts';
import { Random } from '../../../src/attack/random.ts';
import { seqFromBranch } from '../../../src/attack/tally.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import { validateMessage } from '../../../src/sip/validate.ts';

const target = { address: '127.0.0.1', port: 5060 };

for (const method of ['INVITE', 'REGISTER', 'OPTIONS'] as const) {
  test(`a stamped ${method} template parses, validates and carries its number in branch, Call-ID and tag`, () => {
    const template = buildTemplate(
      { method, target, address: '127.1.0.9', port: 40001, runId: 'run1' },
      new Random(7),
    );
    assert.equal(template.offsets.length, 3);
    const seen = new Set<string>();
    for (const seq of [0, 7, 123_456, 999_999_999]) {
      const parsed = parseMessage(Buffer.from(stamp(template, seq)));
      assert.ok(parsed.ok);
      const message = parsed.message;
      assert.equal(message.kind, 'request');
      assert.deepEqual(validateMessage(message), { ok: true });
      assert.equal(seqFromBranch(message.via[0]?.branch, 'z9hG4bKrun1-'), seq);
      const padded = String(seq).padStart(SEQ_DIGITS, '0');
      assert.ok(message.callId.startsWith(padded));
      assert.ok(message.from.params.get('tag')?.startsWith(padded));
      seen.add(message.callId);
    }
    assert.equal(seen.size, 4);
  });
}

test('a fixed Call-ID is left as given: the number goes in branch and tag only', () => {
  const template = buildTemplate(
    { method: 'OPTIONS', target, address: '127.1.0.9', port: 40001, runId: 'r', callId: 'fixed' },
    new Random(1),
  );
  assert.equal(template.offsets.length, 2);
  const parsed = parseMessage(Buffer.from(stamp(template, 42)));
  assert.ok(parsed.ok);
  assert.equal(parsed.message.callId, 'fixed');
});
