/**
 * Mutation fuzzer for the SIP parser: takes the torture and benchmark corpus, mutates it
 * (bit flips, byte inserts and deletes, chunk duplication, truncation, header repetition,
 * splices of two messages) and runs parse, validate, serialize and the partial-answer path
 * for a bounded time. Any exception is a bug: the input is printed as hex and the run fails.
 *
 *   node --import tsx test/fuzz/parser-fuzz.ts [--seconds 10] [--seed N]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_STREAM_LIMITS, DEFAULT_UDP_LIMITS } from '../../src/sip/limits.ts';
import { type ParseResult, parseMessageUnguarded, parseMessageWalk } from '../../src/sip/parse.ts';
import { createResponse, createResponseFromPartial } from '../../src/sip/response.ts';
import { serializeMessage } from '../../src/sip/serialize.ts';
import { validateMessage } from '../../src/sip/validate.ts';

export interface FuzzResult {
  readonly messages: number;
  readonly parsed: number;
  readonly seed: number;
  /** The input that threw, with the error, when one did. */
  readonly failure?: { readonly input: Buffer; readonly error: unknown };
}

/** xorshift32: reproducible from the printed seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function loadCorpus(): Buffer[] {
  const root = join(import.meta.dirname, '..', '..');
  const dirs = [
    'test/fixtures/conformance/rfc4475/valid',
    'test/fixtures/conformance/rfc4475/invalid',
    'test/fixtures/conformance/rfc5118/valid',
    'test/fixtures/conformance/rfc5118/invalid',
    'bench/micro/corpus',
  ];
  const out: Buffer[] = [];
  for (const dir of dirs)
    for (const f of readdirSync(join(root, dir)).sort()) out.push(readFileSync(join(root, dir, f)));
  return out;
}

const INTERESTING = [
  '\r\n',
  '\r\n ',
  ';',
  ',',
  ':',
  '"',
  '\\',
  '<',
  '>',
  '[',
  ']',
  '%',
  '@',
  '=',
  ' ',
  '\t',
  '\x00',
].map((s) => Buffer.from(s, 'latin1'));

function mutate(input: Buffer, corpus: readonly Buffer[], next: () => number): Buffer {
  let b = input;
  const rounds = 1 + (next() % 4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : next() % (b.length + 1);
    switch (next() % 8) {
      case 0: {
        if (b.length === 0) break;
        b = Buffer.from(b);
        const i = next() % b.length;
        b[i] = b[i]! ^ (1 << (next() % 8));
        break;
      }
      case 1:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([next() & 0xff]), b.subarray(at)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (next() % 32))]);
        break;
      case 3: {
        const len = 1 + (next() % 256);
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        break;
      }
      case 4:
        b = b.subarray(0, at);
        break;
      case 5: {
        // Repeat one header line several times.
        const text = b.toString('latin1');
        const lineStart = text.indexOf('\r\n', at) + 2;
        const lineEnd = text.indexOf('\r\n', lineStart);
        if (lineStart < 2 || lineEnd < 0) break;
        const line = b.subarray(lineStart, lineEnd + 2);
        const copies = Array.from({ length: 1 + (next() % 40) }, () => line);
        b = Buffer.concat([b.subarray(0, lineStart), ...copies, b.subarray(lineStart)]);
        break;
      }
      case 6: {
        const other = corpus[next() % corpus.length]!;
        const cut = next() % (other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(cut)]);
        break;
      }
      default: {
        const piece = INTERESTING[next() % INTERESTING.length]!;
        b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
      }
    }
  }
  return b;
}

/** What a caller can see of a parse result (the URI parts are read through their getters). */
function seen(r: ParseResult): unknown {
  return JSON.parse(
    JSON.stringify(r.ok ? r : { error: r.error, partial: r.partial }, (_k, v: unknown) =>
      v instanceof Map ? [...v] : v,
    ),
  );
}

/** Everything a caller does with a parse result; any throw is a failure. */
function exercise(input: Buffer, stream: boolean): boolean {
  const limits = stream ? DEFAULT_STREAM_LIMITS : DEFAULT_UDP_LIMITS;
  const r = parseMessageUnguarded(input, limits);
  // The SIMD pre-scan only finds line ends and vouches for clean sections: the walks alone
  // must come to the same result.
  if (!isDeepStrictEqual(seen(r), seen(parseMessageWalk(input, limits))))
    throw new Error('parseMessage and parseMessageWalk disagree');
  if (!r.ok) {
    if (r.partial !== undefined)
      createResponseFromPartial(r.partial, r.error.status, r.error.reason, { toTag: 't' });
    return false;
  }
  validateMessage(r.message);
  serializeMessage(r.message);
  if (r.message.kind === 'request' && r.message.method !== 'ACK') {
    serializeMessage(createResponse(r.message, 400, 'x', { toTag: 't' }));
  }
  return true;
}

export function runFuzz(options: { readonly seconds: number; readonly seed?: number }): FuzzResult {
  const seed = options.seed ?? (Date.now() ^ (process.pid << 8)) >>> 0;
  const next = rng(seed);
  const corpus = loadCorpus();
  const deadline = Date.now() + options.seconds * 1000;
  let messages = 0;
  let parsed = 0;
  while (Date.now() < deadline) {
    for (let k = 0; k < 200; k++) {
      const input = mutate(corpus[next() % corpus.length]!, corpus, next);
      messages++;
      try {
        if (exercise(input, (next() & 7) === 0)) parsed++;
      } catch (error) {
        return { messages, parsed, seed, failure: { input, error } };
      }
    }
  }
  return { messages, parsed, seed };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const seconds = Number(arg('seconds') ?? 10);
  const seedArg = arg('seed');
  const result = runFuzz({ seconds, ...(seedArg === undefined ? {} : { seed: Number(seedArg) }) });
  process.stdout.write(
    `parser fuzz: seed ${result.seed}, ${result.messages} messages in ${seconds} s, ${result.parsed} parsed\n`,
  );
  if (result.failure !== undefined) {
    process.stdout.write(`FAILURE: ${String(result.failure.error)}\n`);
    if (result.failure.error instanceof Error) process.stdout.write(`${result.failure.error.stack}\n`);
    process.stdout.write(`input (hex): ${result.failure.input.toString('hex')}\n`);
    process.exit(1);
  }
}
