/**
 * Runs one RFC 4475 / RFC 5118 torture message against the parser and validator and checks
 * the verdict the project pins for it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMessage } from '../../src/sip/parse.ts';
import { createResponseFromPartial } from '../../src/sip/response.ts';
import { serializeMessage } from '../../src/sip/serialize.ts';
import { validateMessage } from '../../src/sip/validate.ts';

export interface ManifestEntry {
  readonly id: string;
  readonly rfc: string;
  readonly section: string;
  readonly title: string;
  readonly file: string;
  readonly kind: 'request' | 'response';
  readonly expect: 'accept' | 'reject' | 'lenient' | 'response';
  readonly transport: string;
  readonly codes?: readonly number[];
  readonly drop_ok?: boolean;
  readonly bytes: number;
  readonly sha256: string;
  readonly note?: string;
}

/** The project's verdict on one message. */
export type Verdict =
  | { readonly verdict: 'accept'; readonly trailingBytes?: number; readonly why?: string }
  | { readonly verdict: 'reject'; readonly code: string; readonly status: number; readonly why?: string }
  | { readonly verdict: 'todo'; readonly why: string };

const root = join(import.meta.dirname, '..', 'fixtures', 'conformance');

export function manifest(rfc: string): ManifestEntry[] {
  const all = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as { messages: ManifestEntry[] };
  return all.messages.filter((m) => m.rfc === rfc);
}

export function runConformance(rfc: string, verdicts: Readonly<Record<string, Verdict>>): void {
  const entries = manifest(rfc);
  test(`every ${rfc} manifest entry has a verdict and every verdict an entry`, () => {
    assert.deepEqual(Object.keys(verdicts).sort(), entries.map((e) => e.id).sort());
  });
  for (const entry of entries) {
    const verdict = verdicts[entry.id];
    const name = `${entry.id}: ${entry.title} (${entry.rfc} ${entry.section}, ${entry.expect})`;
    if (verdict === undefined) {
      test(name, { todo: 'no verdict recorded' }, () => {});
      continue;
    }
    if (verdict.verdict === 'todo') {
      test(name, { todo: verdict.why }, () => {});
      continue;
    }
    test(name, () => {
      const data = readFileSync(join(root, entry.file));
      assert.equal(data.length, entry.bytes);
      assert.equal(createHash('sha256').update(data).digest('hex'), entry.sha256);
      const parsed = parseMessage(data);
      if (verdict.verdict === 'accept') {
        assert.ok(
          parsed.ok,
          parsed.ok ? '' : `parse refused it: ${parsed.error.code} ${parsed.error.reason}`,
        );
        assert.equal(parsed.message.kind, entry.kind);
        const validated = validateMessage(parsed.message);
        assert.ok(
          validated.ok,
          validated.ok ? '' : `validate refused it: ${validated.code} ${validated.reason}`,
        );
        assert.equal(parsed.trailingBytes, verdict.trailingBytes ?? 0);
        // Byte-exact round trip of the message (UDP trailing bytes are not part of it).
        const out = serializeMessage(parsed.message);
        assert.deepEqual(out, data.subarray(0, data.length - parsed.trailingBytes));
        return;
      }
      // A refusal: by the parser or, for a well-formed message, by the validator.
      let code: string;
      let status: number;
      if (parsed.ok) {
        const validated = validateMessage(parsed.message);
        assert.equal(validated.ok, false, 'expected a refusal, got a valid message');
        if (validated.ok) return;
        code = validated.code;
        status = validated.status;
      } else {
        code = parsed.error.code;
        status = parsed.error.status;
        assert.match(parsed.error.reason, /^[\x20-\x7e]{1,200}$/);
        if (entry.kind === 'request' && parsed.partial !== undefined) {
          // Answering from the readable fields never crashes; when it answers, it is SIP.
          const answer = createResponseFromPartial(parsed.partial, status, parsed.error.reason);
          if (answer !== undefined)
            assert.match(answer.toString('latin1'), new RegExp(`^SIP/2\\.0 ${status} `));
        }
      }
      assert.equal(code, verdict.code);
      assert.equal(status, verdict.status);
      if (entry.expect === 'reject')
        assert.ok(entry.codes?.includes(status), `status ${status} not in manifest`);
    });
  }
}
