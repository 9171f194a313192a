/**
 * Header names: compact forms (RFC 3261 section 7.3.3 and the IANA SIP parameters registry)
 * and the canonical capitalisation used when writing a header the proxy built itself.
 */

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
 * One step of the case-insensitive name hash: `h = nameHashStep(h, charCode)`. Kept within
 * 28 bits so it stays a small integer (no heap number per step).
 */
export function nameHashStep(h: number, c: number): number {
  return (Math.imul(h, 31) + (c | 0x20)) & 0xfffffff;
}

/** A name as spelled in lower case and the long name it stands for. */
export interface KnownName {
  readonly hash: number;
  readonly spelled: string;
  /** `spelled` as bytes, for the byte comparison of knownNameBytes. */
  readonly bytes: Uint8Array;
  readonly long: string;
}

function hashOf(lower: string): number {
  let h = 0;
  for (let i = 0; i < lower.length; i++) h = nameHashStep(h, lower.charCodeAt(i));
  return h;
}

/** Open-addressed table of the common and compact names, indexed by hash & TABLE_MASK. */
const TABLE_MASK = 511;
const TABLE: (KnownName | undefined)[] = (() => {
  const table: (KnownName | undefined)[] = new Array(TABLE_MASK + 1).fill(undefined);
  const add = (spelled: string, long: string): void => {
    const hash = hashOf(spelled);
    let i = hash & TABLE_MASK;
    while (table[i] !== undefined) {
      if (table[i]!.spelled === spelled) return;
      i = (i + 1) & TABLE_MASK;
    }
    table[i] = { hash, spelled, bytes: Buffer.from(spelled, 'latin1'), long };
  };
  for (const name of COMMON) add(name, name);
  for (const [compact, long] of COMPACT) add(compact, long);
  return table;
})();

/**
 * The lower-case long name of the header name at b[start, end) of a message buffer when
 * `hash` (built with nameHashStep over those bytes) names a common header; undefined
 * otherwise. Typed-array reads are cheaper than charCodeAt in the parser's per-line loop.
 */
export function knownNameBytes(b: Uint8Array, start: number, end: number, hash: number): string | undefined {
  const len = end - start;
  let i = hash & TABLE_MASK;
  for (;;) {
    const known = TABLE[i];
    if (known === undefined) return undefined;
    if (known.hash === hash && known.spelled.length === len) {
      const spelled = known.bytes;
      let k = 0;
      // b | 0x20 equals a lower-case letter only for that letter in either case.
      while (k < len && (b[start + k]! | 0x20) === spelled[k]) k++;
      if (k === len) return known.long;
    }
    i = (i + 1) & TABLE_MASK;
  }
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
