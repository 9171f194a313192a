import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import {
  HEAD_NOT_SCANNED,
  HEAD_SCAN_WASM,
  headLfs,
  MAX_SCAN_BYTES,
  scanHead,
  scanHeadReference,
} from '../../../src/sip/head-scan.ts';
import { DEFAULT_STREAM_LIMITS, DEFAULT_UDP_LIMITS, type ParserLimits } from '../../../src/sip/limits.ts';
import { type ParseResult, parseMessage, parseMessageWalk } from '../../../src/sip/parse.ts';
import { message } from './arbitraries.ts';
import { bytes, invite, plain } from './helpers.ts';

const runs = (n: number): number => (process.env.CI ? n * 5 : n);
const root = join(import.meta.dirname, '..', '..', '..');

/** What a caller can see of a parse result, lazy URIs cut. */
function seen(r: ParseResult): unknown {
  return r.ok
    ? { ok: true, message: plain(r.message), trailing: r.trailingBytes }
    : { ok: false, code: r.error.code, reason: r.error.reason, partial: plain(r.partial) };
}

function assertSameAsWalk(data: Buffer, limits: ParserLimits = DEFAULT_UDP_LIMITS): void {
  const scanned = seen(parseMessage(data, limits));
  const walked = seen(parseMessageWalk(data, limits));
  assert.ok(isDeepStrictEqual(scanned, walked), JSON.stringify(data.toString('latin1')));
}

/** Header-section text made of the pieces the scan decides on. */
const pieces = fc.constantFrom(
  '\r\n',
  '\r\n\r\n',
  '\r',
  '\n',
  '\n\r\n',
  ' ',
  '\t',
  '\x00',
  '\x1f',
  '\x7f',
  '\x0b',
  '\xe9',
  'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
  'X-A: b',
  'a'.repeat(17),
);
const section = fc.array(fc.oneof(pieces, fc.constant('X-Header: some value\r\n')), { maxLength: 40 });

test('the WebAssembly scan is the one that runs here', () => {
  const data = bytes(invite());
  const r = scanHead(data, 0, data.length);
  assert.notEqual(r, HEAD_NOT_SCANNED);
  assert.equal(r & 1, 1, 'a well-formed INVITE is clean');
  const lfs: number[] = [];
  assert.equal(scanHeadReference(data, 0, data.length, lfs), r);
  assert.deepEqual([...headLfs.subarray(0, r >> 1)], lfs);
  assert.equal(data[lfs.at(-1)! - 1], 0x0d);
  assert.equal(data.indexOf('\r\n\r\n') + 3, lfs.at(-1));
});

test('the scan gives the byte-by-byte reference result for any section', () => {
  // A long message first leaves its bytes in the module's memory: the scan must not read
  // them as part of the next, shorter one.
  const stale = Buffer.alloc(4000, '\r\n\x00\x7f'.repeat(1000), 'latin1');
  fc.assert(
    fc.property(section, fc.nat(3), fc.nat(40), (parts, from, cut) => {
      scanHead(stale, 0, stale.length);
      const data = bytes(parts.join(''));
      const to = Math.max(from, data.length - (cut % 4 === 0 ? cut : 0));
      const lfs: number[] = [];
      const expected = scanHeadReference(data, from, to, lfs);
      const r = scanHead(data, from, to);
      if (from >= to) return assert.equal(r, HEAD_NOT_SCANNED);
      assert.equal(r, expected, JSON.stringify(data.toString('latin1')));
      if (r !== HEAD_NOT_SCANNED) assert.deepEqual([...headLfs.subarray(0, r >> 1)], lfs);
    }),
    { numRuns: runs(3000) },
  );
});

test('the parser gives the same result with the scan as with its walks alone', () => {
  const controls = fc.constantFrom('\x00', '\x01', '\x0b', '\x1f', '\x7f', '\r', '\n', '\t', '\r\n', '\r\n ');
  fc.assert(
    fc.property(message, fc.array(fc.tuple(fc.nat(), controls), { maxLength: 3 }), (g, inserts) => {
      let text = g.text;
      for (const [at, c] of inserts) {
        const i = at % (text.length + 1);
        text = text.slice(0, i) + c + text.slice(i);
      }
      assertSameAsWalk(bytes(text));
      assertSameAsWalk(bytes(text), DEFAULT_STREAM_LIMITS);
    }),
    { numRuns: runs(1500) },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500, size: 'large' }), (a) => assertSameAsWalk(Buffer.from(a))),
    { numRuns: runs(500) },
  );
});

test('a message the scan does not take is parsed by the walks alone, with the same result', () => {
  // More than 1024 line ends before the empty line.
  const many = invite('X-Line: 1\r\n'.repeat(1100));
  const data = bytes(many);
  assert.equal(scanHead(data, 0, data.length), HEAD_NOT_SCANNED);
  const limits = { ...DEFAULT_STREAM_LIMITS, maxHeaderLines: 2000, maxMessageBytes: 200_000 };
  const r = parseMessage(data, limits);
  assert.ok(r.ok, r.ok ? '' : r.error.reason);
  assert.equal(r.message.headers.length, 1108);
  assertSameAsWalk(data, limits);
  // Larger than the module's memory.
  const big = bytes(invite(`X-Big: ${'b'.repeat(1000)}\r\n`.repeat(MAX_SCAN_BYTES / 1000)));
  assert.ok(big.length > MAX_SCAN_BYTES);
  assert.equal(scanHead(big, 0, big.length), HEAD_NOT_SCANNED);
  assert.ok(parseMessage(big, limits).ok);
  assertSameAsWalk(big, limits);
});

test('a control character is refused with or without the scan', () => {
  for (const c of ['\x00', '\x7f', '\x0b', '\r']) {
    const data = bytes(invite(`Subject: a${c}b\r\n`));
    const r = parseMessage(data);
    assert.equal(r.ok, false, JSON.stringify(c));
    if (!r.ok) assert.equal(r.error.code, 'SW_ERR_BAD_HEADER');
    assertSameAsWalk(data);
  }
});

test('the shipped WebAssembly bytes are the assembly of head-scan.wat', (t) => {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'sipwarden-wat-'));
    const out = join(dir, 'head-scan.wasm');
    try {
      execFileSync('wat2wasm', [join(root, 'src/sip/head-scan.wat'), '-o', out], { stdio: 'pipe' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        t.skip('wat2wasm is not installed (scripts/install-test-deps.sh installs wabt)');
        return;
      }
      throw e;
    }
    assert.equal(
      readFileSync(out).toString('base64'),
      HEAD_SCAN_WASM,
      'run scripts/build-head-scan.sh after editing head-scan.wat',
    );
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
});
