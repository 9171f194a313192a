/**
 * Character classes of the RFC 3261 section 25 grammar as one byte table of bit flags, so a
 * grammar rule is one table lookup per character. The walks built on it are the reference
 * grammar; grammar-regex.ts holds the expressions of the fast paths.
 */

export const ALPHA = 1;
export const DIGIT = 2;
/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = 4;
/** unreserved = alphanum / mark; mark = - _ . ! ~ * ' ( ) */
export const UNRESERVED = 8;
/** user: unreserved / user-unreserved (& = + $ , ; ? /) (escapes handled apart) */
export const USER = 16;
/** password: unreserved / & = + $ , */
export const PASSWORD = 32;
/** paramchar: param-unreserved ([ ] / : & + $) / unreserved */
export const PARAMCHAR = 64;
/** hname / hvalue: hnv-unreserved ([ ] / ? : + $) / unreserved */
export const HNV = 128;
/** uric: reserved (; / ? : @ & = + $ ,) / unreserved */
export const URIC = 256;
/** word (Call-ID): token chars plus ( ) < > : \ DQUOTE / [ ] ? { } */
export const WORD = 512;
export const HEX = 1024;
/** hostname characters: alphanum / "-" / "." */
export const HOSTNAME = 2048;
/** tel URI number characters: HEXDIG * # + - . ( ) */
export const PHONE = 4096;

export const CHAR = new Uint16Array(256);

function add(flag: number, chars: string): void {
  for (let i = 0; i < chars.length; i++) CHAR[chars.charCodeAt(i)]! |= flag;
}

const alpha = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const digit = '0123456789';
const alnum = alpha + digit;
add(ALPHA, alpha);
add(DIGIT, digit);
add(TOKEN, alnum + "-.!%*_+`'~");
add(UNRESERVED, alnum + "-_.!~*'()");
add(USER, alnum + "-_.!~*'()" + '&=+$,;?/');
add(PASSWORD, alnum + "-_.!~*'()" + '&=+$,');
add(PARAMCHAR, alnum + "-_.!~*'()" + '[]/:&+$');
add(HNV, alnum + "-_.!~*'()" + '[]/?:+$');
add(URIC, alnum + "-_.!~*'()" + ';/?:@&=+$,');
add(WORD, alnum + "-.!%*_+`'~" + '()<>:\\"/[]?{}');
add(HEX, digit + 'abcdefABCDEF');
add(HOSTNAME, alnum + '-.');
add(PHONE, digit + 'abcdefABCDEF' + '*#+-.()');

export function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Skips SP and HTAB (LWS after unfolding) from `i`; returns the first other index. */
export function skipWs(s: string, i: number): number {
  let c = s.charCodeAt(i);
  while (c === 0x20 || c === 0x09) c = s.charCodeAt(++i);
  return i;
}

/** Scans characters of class `flag` from `i`; returns the index after the run. */
export function scan(s: string, i: number, flag: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c > 255 || (CHAR[c]! & flag) === 0) break;
    i++;
  }
  return i;
}

/**
 * Scans characters of class `flag` or `%` HEXDIG HEXDIG escapes (RFC 3261 section 25.1
 * `escaped`) from `i`; returns the index after the run, or -1 on a broken escape.
 */
export function scanEscaped(s: string, i: number, flag: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h1 = s.charCodeAt(i + 1);
      const h2 = s.charCodeAt(i + 2);
      if (!(h1 < 256 && CHAR[h1]! & HEX) || !(h2 < 256 && CHAR[h2]! & HEX)) return -1;
      i += 3;
      continue;
    }
    if (c > 255 || (CHAR[c]! & flag) === 0) break;
    i++;
  }
  return i;
}

/** True when the whole of `s` is a non-empty token (RFC 3261 section 25.1). */
export function isToken(s: string): boolean {
  return s.length > 0 && scan(s, 0, TOKEN) === s.length;
}
