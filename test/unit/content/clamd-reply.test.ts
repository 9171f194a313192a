import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInstreamReply } from '../../../src/content/clamd-scanner.ts';

test('clamd INSTREAM replies: OK, FOUND, size limit, ERROR, anything else', () => {
  assert.deepEqual(parseInstreamReply('stream: OK'), { verdict: 'clean' });
  assert.deepEqual(parseInstreamReply('stream: Eicar-Test-Signature FOUND'), {
    verdict: 'infected',
    signature: 'Eicar-Test-Signature',
  });
  assert.deepEqual(parseInstreamReply('stream: Win.Test.EICAR_HDB-1 FOUND\n'), {
    verdict: 'infected',
    signature: 'Win.Test.EICAR_HDB-1',
  });
  assert.deepEqual(parseInstreamReply('INSTREAM size limit exceeded. ERROR'), {
    verdict: 'error',
    reason: 'content larger than clamd accepts (StreamMaxLength)',
  });
  assert.deepEqual(parseInstreamReply("stream: Can't allocate memory ERROR"), {
    verdict: 'error',
    reason: "clamd: stream: Can't allocate memory ERROR",
  });
  const odd = parseInstreamReply('PONG');
  assert.equal(odd.verdict, 'error');
  // Not "clean": a reply that is neither OK nor FOUND is never taken as clean.
  assert.equal(parseInstreamReply('stream: OK FOUND').verdict, 'infected');
  assert.equal(parseInstreamReply('stream: OKAY').verdict, 'error');
});
