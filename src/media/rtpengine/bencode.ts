/**
 * Bencode, the encoding of rtpengine's NG control protocol: integers `i42e`, byte strings
 * `4:spam`, lists `l...e`, dictionaries `d...e` with keys sorted. Decoding reads a reply
 * from the network: its nesting, the number of items and the input length are bounded, and
 * a malformed reply is an error, never a crash.
 */

export type BencodeValue = string | number | Buffer | readonly BencodeValue[] | BencodeDictionary;
export interface BencodeDictionary {
  readonly [key: string]: BencodeValue | undefined;
}

/** A decoded value: strings stay strings (latin1: byte for byte), never Buffers. */
export type Decoded = string | number | Decoded[] | { [key: string]: Decoded };

export class BencodeError extends Error {
  override readonly name = 'BencodeError';
}

export const DECODE_LIMITS = { maxDepth: 16, maxItems: 10_000, maxBytes: 1 << 20 } as const;

export function encode(value: BencodeValue): Buffer {
  const parts: Buffer[] = [];
  write(value, parts, 0);
  return Buffer.concat(parts);
}

function write(value: BencodeValue, parts: Buffer[], depth: number): void {
  if (depth > DECODE_LIMITS.maxDepth) throw new BencodeError('nested too deeply');
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new BencodeError('only integers are encoded');
    parts.push(Buffer.from(`i${value}e`, 'latin1'));
  } else if (typeof value === 'string' || Buffer.isBuffer(value)) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
  } else if (Array.isArray(value)) {
    parts.push(Buffer.from('l'));
    for (const item of value as readonly BencodeValue[]) write(item, parts, depth + 1);
    parts.push(Buffer.from('e'));
  } else {
    const dictionary = value as BencodeDictionary;
    parts.push(Buffer.from('d'));
    // Keys sorted as raw strings (the bencode rule).
    for (const key of Object.keys(dictionary).sort()) {
      const item = dictionary[key];
      if (item === undefined) continue;
      write(key, parts, depth + 1);
      write(item, parts, depth + 1);
    }
    parts.push(Buffer.from('e'));
  }
}

export function decode(input: Buffer, limits = DECODE_LIMITS): Decoded {
  if (input.length > limits.maxBytes) throw new BencodeError('reply too large');
  const state = { at: 0, items: 0 };
  const value = read(input, state, 0, limits);
  if (state.at !== input.length) throw new BencodeError('bytes after the value');
  return value;
}

function read(
  input: Buffer,
  state: { at: number; items: number },
  depth: number,
  limits: typeof DECODE_LIMITS,
): Decoded {
  if (depth > limits.maxDepth) throw new BencodeError('nested too deeply');
  if (++state.items > limits.maxItems) throw new BencodeError('too many items');
  const c = input[state.at];
  if (c === undefined) throw new BencodeError('truncated');
  if (c === 0x69 /* i */) {
    const end = input.indexOf(0x65 /* e */, state.at + 1);
    if (end < 0 || end - state.at > 21) throw new BencodeError('bad integer');
    const text = input.toString('latin1', state.at + 1, end);
    if (!/^(0|-?[1-9]\d*)$/.test(text)) throw new BencodeError('bad integer');
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new BencodeError('integer out of range');
    state.at = end + 1;
    return n;
  }
  if (c >= 0x30 && c <= 0x39) {
    const colon = input.indexOf(0x3a /* : */, state.at);
    if (colon < 0 || colon - state.at > 10) throw new BencodeError('bad string length');
    const lengthText = input.toString('latin1', state.at, colon);
    if (!/^(0|[1-9]\d*)$/.test(lengthText)) throw new BencodeError('bad string length');
    const length = Number(lengthText);
    const start = colon + 1;
    if (start + length > input.length) throw new BencodeError('truncated string');
    state.at = start + length;
    return input.toString('latin1', start, start + length);
  }
  if (c === 0x6c /* l */) {
    state.at++;
    const list: Decoded[] = [];
    while (input[state.at] !== 0x65) {
      if (state.at >= input.length) throw new BencodeError('truncated list');
      list.push(read(input, state, depth + 1, limits));
    }
    state.at++;
    return list;
  }
  if (c === 0x64 /* d */) {
    state.at++;
    const dictionary: { [key: string]: Decoded } = Object.create(null);
    while (input[state.at] !== 0x65) {
      if (state.at >= input.length) throw new BencodeError('truncated dictionary');
      const key = read(input, state, depth + 1, limits);
      if (typeof key !== 'string') throw new BencodeError('a dictionary key is not a string');
      dictionary[key] = read(input, state, depth + 1, limits);
    }
    state.at++;
    return dictionary;
  }
  throw new BencodeError('unknown value type');
}
