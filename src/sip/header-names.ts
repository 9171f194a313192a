/**
 * Header names: compact forms (RFC 3261 section 7.3.3 and the IANA SIP parameters registry)
 * and the canonical capitalisation used when writing a header the proxy built itself.
 */
import { CHAR, TOKEN } from './chars.ts';

/** Compact form -> lower-case long name (IANA "Header Fields" registry). */
const COMPACT: ReadonlyMap<string, string> = new Map(
  Object.entries({
    a: 'accept-contact',
    b: 'referred-by',
    c: 'content-type',
    d: 'request-disposition',
    e: 'content-encoding',
    f: 'from',
    i: 'call-id',
    j: 'reject-contact',
    k: 'supported',
    l: 'content-length',
    m: 'contact',
    n: 'identity-info',
    o: 'event',
    r: 'refer-to',
    s: 'subject',
    t: 'to',
    u: 'allow-events',
    v: 'via',
    x: 'session-expires',
    y: 'identity',
  }),
);

/** Names whose canonical spelling is not plain Word-Capitalisation. */
const SPECIAL: ReadonlyMap<string, string> = new Map(
  Object.entries({
    'call-id': 'Call-ID',
    cseq: 'CSeq',
    'www-authenticate': 'WWW-Authenticate',
    'mime-version': 'MIME-Version',
    rack: 'RAck',
    rseq: 'RSeq',
    'sip-etag': 'SIP-ETag',
    'sip-if-match': 'SIP-If-Match',
    'p-asserted-identity': 'P-Asserted-Identity',
    'p-preferred-identity': 'P-Preferred-Identity',
    'p-charging-vector': 'P-Charging-Vector',
    'p-access-network-info': 'P-Access-Network-Info',
    'p-visited-network-id': 'P-Visited-Network-ID',
    'p-called-party-id': 'P-Called-Party-ID',
    'p-associated-uri': 'P-Associated-URI',
    'p-dcs-osps': 'P-DCS-OSPS',
    'p-dcs-billing-info': 'P-DCS-Billing-Info',
    'p-dcs-laes': 'P-DCS-LAES',
    'p-dcs-redirect': 'P-DCS-Redirect',
    'p-dcs-trace-party-id': 'P-DCS-Trace-Party-ID',
    'p-user-database': 'P-User-Database',
    'p-profile-key': 'P-Profile-Key',
    'p-refused-uri-list': 'P-Refused-URI-List',
    'p-served-user': 'P-Served-User',
    'p-early-media': 'P-Early-Media',
    'p-sip-ua-info': 'P-SIP-UA-Info',
    'identity-info': 'Identity-Info',
    'target-dialog': 'Target-Dialog',
    'reject-contact': 'Reject-Contact',
    'accept-contact': 'Accept-Contact',
    'request-disposition': 'Request-Disposition',
    'max-breadth': 'Max-Breadth',
    'trigger-consent': 'Trigger-Consent',
    'geolocation-error': 'Geolocation-Error',
    'ua-info': 'UA-Info',
  }),
);

/** Names matched on bytes while the parser scans them (no string built for these). */
const COMMON = [
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'max-forwards',
  'content-length',
  'content-type',
  'route',
  'record-route',
  'expires',
  'allow',
  'supported',
  'user-agent',
  'server',
  'subject',
  'accept',
  'authorization',
  'proxy-authorization',
  'www-authenticate',
  'proxy-authenticate',
  'allow-events',
  'event',
  'require',
  'proxy-require',
  'session-expires',
  'min-se',
  'reason',
  'date',
  'timestamp',
  'organization',
  'p-asserted-identity',
  'p-preferred-identity',
  'privacy',
  'path',
  'refer-to',
  'referred-by',
  'content-disposition',
  'content-encoding',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'call-info',
  'error-info',
  'in-reply-to',
  'mime-version',
  'min-expires',
  'priority',
  'reply-to',
  'retry-after',
  'unsupported',
  'warning',
  'rseq',
  'rack',
  'identity',
  'x-asterisk-hangupcause',
];

/**
 * The known names (COMMON, then the compact forms) as flat arrays, bucketed by their first
 * two bytes: the parser compares a line's bytes against the few entries of its bucket, each
 * usually decided by its first word, instead of walking the name to its end first.
 */
const KNOWN = [...COMMON.map((name) => [name, name] as const), ...COMPACT];
/** Entry i: its lower-case long name, its length, its bytes at KNOWN_BYTES[KNOWN_OFFSET[i]]. */
const KNOWN_LONG: readonly string[] = KNOWN.map(([, long]) => long);
const KNOWN_LENGTH = Int32Array.from(KNOWN, ([spelled]) => spelled.length);
const KNOWN_OFFSET = new Int32Array(KNOWN.length);
/** The spelled names' bytes, in lower case. */
const KNOWN_BYTES = new Uint8Array(KNOWN.reduce((n, [spelled]) => n + spelled.length, 0));
/**
 * Per byte of KNOWN_BYTES, what is OR-ed into the message byte before comparing: 0x20 for a
 * letter (b | 0x20 equals a lower-case letter only for that letter in either case), 0 for
 * anything else: "-" must be "-", not CR (0x0d | 0x20 is "-").
 */
const KNOWN_CASE = new Uint8Array(KNOWN_BYTES.length);
/**
 * Entries by their first two bytes: bucket k = bucketOf(first, second) holds
 * BUCKET_ENTRIES[BUCKET_START[k], BUCKET_START[k + 1]). A compact name sits in the buckets
 * of its letter followed by ":", SP or HTAB (what can follow a name before its colon).
 * Unrelated pairs may share a bucket; every candidate is compared in full.
 */
const BUCKETS = 1024;
const BUCKET_START = new Int32Array(BUCKETS + 1);
/** Lower-cased, five bits of each byte: letters keep their identity. */
function bucketOf(first: number, second: number): number {
  return (((first | 0x20) & 0x1f) << 5) | ((second | 0x20) & 0x1f);
}
const BUCKET_ENTRIES = new Int32Array(KNOWN.reduce((n, [spelled]) => n + (spelled.length === 1 ? 3 : 1), 0));
{
  let offset = 0;
  KNOWN.forEach(([spelled], i) => {
    KNOWN_OFFSET[i] = offset;
    for (let k = 0; k < spelled.length; k++) {
      const c = spelled.charCodeAt(k);
      KNOWN_BYTES[offset + k] = c;
      KNOWN_CASE[offset + k] = c >= 0x61 && c <= 0x7a ? 0x20 : 0;
    }
    offset += spelled.length;
  });
  // (bucket, entry) pairs in KNOWN order; the stable sort by bucket keeps that order within one.
  const pairs = KNOWN.flatMap(([spelled], entry) =>
    (spelled.length === 1 ? [0x3a, 0x20, 0x09] : [spelled.charCodeAt(1)]).map(
      (second) => [bucketOf(spelled.charCodeAt(0), second), entry] as const,
    ),
  ).sort((a, b) => a[0] - b[0]);
  let n = 0;
  for (let k = 0; k < BUCKETS; k++) {
    BUCKET_START[k] = n;
    while (n < pairs.length && pairs[n]![0] === k) BUCKET_ENTRIES[n] = pairs[n++]![1];
  }
  BUCKET_START[BUCKETS] = n;
}
/**
 * The same names as 32-bit little-endian words for knownNameInWords, four bytes a compare:
 * entry i's words are KNOWN_WORD[KNOWN_WORD_AT[i], KNOWN_WORD_AT[i + 1]); a message word w
 * matches when ((w | KNOWN_WORD_CASE) & KNOWN_WORD_KEEP) === KNOWN_WORD (KEEP drops the bytes
 * past the name's end).
 */
const KNOWN_WORD_AT = new Int32Array(KNOWN.length + 1);
const KNOWN_WORD = new Int32Array(KNOWN.reduce((n, [spelled]) => n + Math.ceil(spelled.length / 4), 0));
const KNOWN_WORD_CASE = new Int32Array(KNOWN_WORD.length);
const KNOWN_WORD_KEEP = new Int32Array(KNOWN_WORD.length);
{
  let w = 0;
  KNOWN.forEach(([spelled], i) => {
    KNOWN_WORD_AT[i] = w;
    for (let k = 0; k < spelled.length; k++, w += k % 4 === 0 ? 1 : 0) {
      const shift = (k % 4) * 8;
      KNOWN_WORD[w]! |= KNOWN_BYTES[KNOWN_OFFSET[i]! + k]! << shift;
      KNOWN_WORD_CASE[w]! |= KNOWN_CASE[KNOWN_OFFSET[i]! + k]! << shift;
      KNOWN_WORD_KEEP[w]! |= 0xff << shift;
    }
    if (spelled.length % 4 !== 0) w++;
  });
  KNOWN_WORD_AT[KNOWN.length] = w;
}

/** knownNameAt's answer when the bytes start no known name. */
export const NO_KNOWN_NAME = -1;

/**
 * The known header name that b[start, end) starts with, in any case, when the byte after it
 * is not a token character (so "Via" in "Via:" or "Via :", not in "Vias:"): an entry for
 * knownNameLong and knownNameLength, or NO_KNOWN_NAME. `end` bounds the read (the line end).
 */
export function knownNameAt(b: Uint8Array, start: number, end: number): number {
  const first = b[start]! | 0x20;
  if (first < 0x61 || first > 0x7a) return NO_KNOWN_NAME;
  const room = end - start;
  const bucket = bucketOf(first, b[start + 1]!);
  for (let e = BUCKET_START[bucket]!, last = BUCKET_START[bucket + 1]!; e < last; e++) {
    const entry = BUCKET_ENTRIES[e]!;
    const len = KNOWN_LENGTH[entry]!;
    if (len >= room) continue;
    const at = KNOWN_OFFSET[entry]!;
    let k = 1;
    while (k < len && (b[start + k]! | KNOWN_CASE[at + k]!) === KNOWN_BYTES[at + k]) k++;
    if (k === len && (CHAR[b[start + len]!]! & TOKEN) === 0) return entry;
  }
  return NO_KNOWN_NAME;
}

/**
 * knownNameAt over a copy of the message in `memory` (the pre-scan's), reading the name four
 * bytes at a time: `at` is where b[start] is in it, and at least 3 bytes past `end` are
 * readable. Same answers as knownNameAt on the same bytes.
 */
export function knownNameInWords(memory: DataView, at: number, end: number): number {
  const first = memory.getUint8(at) | 0x20;
  if (first < 0x61 || first > 0x7a) return NO_KNOWN_NAME;
  const room = end - at;
  const bucket = bucketOf(first, memory.getUint8(at + 1));
  for (let e = BUCKET_START[bucket]!, last = BUCKET_START[bucket + 1]!; e < last; e++) {
    const entry = BUCKET_ENTRIES[e]!;
    const len = KNOWN_LENGTH[entry]!;
    if (len >= room) continue;
    let w = KNOWN_WORD_AT[entry]!;
    const wEnd = KNOWN_WORD_AT[entry + 1]!;
    let p = at;
    while (
      w < wEnd &&
      ((memory.getInt32(p, true) | KNOWN_WORD_CASE[w]!) & KNOWN_WORD_KEEP[w]!) === KNOWN_WORD[w]
    ) {
      w++;
      p += 4;
    }
    if (w === wEnd && (CHAR[memory.getUint8(at + len)]! & TOKEN) === 0) return entry;
  }
  return NO_KNOWN_NAME;
}

/** The lower-case long name of a knownNameAt entry (`v` -> `via`). */
export function knownNameLong(entry: number): string {
  return KNOWN_LONG[entry]!;
}

/** The length of the name as written, of a knownNameAt entry (`v` -> 1). */
export function knownNameLength(entry: number): number {
  return KNOWN_LENGTH[entry]!;
}

const LONG_CACHE_MAX = 512;
/** Raw (any case) name -> lower-case long name; bounded so hostile names cannot grow it. */
const longCache = new Map<string, string>();

/**
 * Lower-case long name of a header name given in any case or in compact form
 * (`V` -> `via`, `Call-Id` -> `call-id`).
 */
export function longName(name: string): string {
  const cached = longCache.get(name);
  if (cached !== undefined) return cached;
  const lower = name.toLowerCase();
  const long = lower.length === 1 ? (COMPACT.get(lower) ?? lower) : lower;
  if (longCache.size < LONG_CACHE_MAX) longCache.set(name, long);
  return long;
}

const canonicalCache = new Map<string, string>();

/** Canonical capitalisation of a lower-case long name (`call-id` -> `Call-ID`). */
export function canonicalName(lower: string): string {
  const special = SPECIAL.get(lower);
  if (special !== undefined) return special;
  const cached = canonicalCache.get(lower);
  if (cached !== undefined) return cached;
  let out = '';
  let up = true;
  for (let i = 0; i < lower.length; i++) {
    const ch = lower[i]!;
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  if (canonicalCache.size < LONG_CACHE_MAX) canonicalCache.set(lower, out);
  return out;
}

/** Compact form of a lower-case long name, when one exists (`via` -> `v`). */
export function compactName(lower: string): string | undefined {
  for (const [k, v] of COMPACT) if (v === lower) return k;
  return undefined;
}
