/**
 * fast-check generators of valid SIP text: URIs (IPv6 included), Via values, name-addrs
 * with quoted display names, parameters, header lists, folding and bodies. Each generator
 * yields wire text built from the RFC 3261 grammar.
 */
import fc from 'fast-check';

const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGIT = '0123456789';
const TOKEN_CHARS = `${ALPHA}${DIGIT}-.!%*_+\`'~`;
const UNRESERVED = `${ALPHA}${DIGIT}-_.!~*'()`;

const chars = (set: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...set.split('')), minLength: min, maxLength: max });

export const token = chars(TOKEN_CHARS, 1, 12);
const alnum = chars(ALPHA + DIGIT, 1, 1);
const escaped = fc.tuple(chars('0123456789abcdefABCDEF', 2, 2)).map(([h]) => `%${h}`);

export const label = fc
  .tuple(chars(ALPHA, 1, 1), chars(`${ALPHA}${DIGIT}-`, 0, 8), alnum)
  .map(([a, mid, z]) => a + mid + z);
export const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
export const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const hex4 = fc.nat(0xffff).map((n) => n.toString(16));
/** IPv6 addresses in full, compressed ("::") and IPv4-suffixed forms. */
export const ipv6 = fc.oneof(
  fc.array(hex4, { minLength: 8, maxLength: 8 }).map((g) => g.join(':')),
  fc
    .tuple(fc.array(hex4, { maxLength: 3 }), fc.array(hex4, { maxLength: 3 }))
    .map(([a, b]) => `${a.join(':')}::${b.join(':')}`),
  fc.tuple(fc.array(hex4, { maxLength: 4 }), ipv4).map(([a, v4]) => `${a.join(':')}::${v4}`),
);
export const host = fc.oneof(
  domain,
  ipv4,
  ipv6.map((a) => `[${a}]`),
);
export const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });

const user = fc
  .array(fc.oneof(chars(`${UNRESERVED}&=+$,;?/`, 1, 6), escaped), { minLength: 1, maxLength: 3 })
  .map((p) => p.join(''));
const paramchar = fc
  .array(fc.oneof(chars(`${UNRESERVED}[]/:&+$`, 1, 6), escaped), { minLength: 1, maxLength: 2 })
  .map((p) => p.join(''));

/** uri-parameters with distinct names. */
const uriParams = fc
  .uniqueArray(fc.tuple(paramchar, fc.option(paramchar, { nil: undefined })), {
    maxLength: 3,
    selector: ([n]) => n.toLowerCase(),
  })
  .map((ps) => ps.map(([n, v]) => (v === undefined ? `;${n}` : `;${n}=${v}`)).join(''));

export const sipUri = fc
  .record({
    scheme: fc.constantFrom('sip', 'sips'),
    user: fc.option(user, { nil: undefined }),
    host,
    port,
    params: uriParams,
  })
  .map(
    (u) =>
      `${u.scheme}:${u.user === undefined ? '' : `${u.user}@`}${u.host}${u.port === undefined ? '' : `:${u.port}`}${u.params}`,
  );

/** Header parameters (generic-param) with distinct names, spaced per SEMI / EQUAL. */
const quoted = fc
  .array(
    fc.oneof(
      chars(`${ALPHA}${DIGIT} ,;:<>@=/`, 1, 6),
      fc.constantFrom('\\"', '\\\\'),
      fc.constantFrom('\u00c3\u00a9', '\u00e2\u0082\u00ac'),
    ),
    { maxLength: 4 },
  )
  .map((p) => `"${p.join('')}"`);
const genValue = fc.oneof(
  token,
  quoted,
  ipv6.map((a) => `[${a}]`),
);
const sp = fc.constantFrom('', '', '', ' ', '  ', '\t');
export const headerParams = fc
  .uniqueArray(fc.tuple(token, fc.option(genValue, { nil: undefined }), sp, sp), {
    maxLength: 3,
    selector: ([n]) => n.toLowerCase(),
  })
  .map((ps) =>
    ps.map(([n, v, a, b]) => (v === undefined ? `${a};${b}${n}` : `${a};${b}${n}${a}=${b}${v}`)).join(''),
  );

const displayName = fc.oneof(
  quoted.map((q) => `${q} `),
  quoted,
  fc.array(token, { minLength: 1, maxLength: 3 }).map((ts) => `${ts.join(' ')} `),
  fc.constant(''),
);
/** A name-addr (always in <>) or, without display name, sometimes an addr-spec. */
export const nameAddr = fc
  .tuple(displayName, sipUri, headerParams, fc.boolean())
  .map(([d, uri, params, bare]) =>
    bare && d === '' && !/[;,?]/.test(uri) ? `${uri}${params}` : `${d}<${uri}>${params}`,
  );

const viaParams = fc
  .tuple(
    token,
    fc.option(ipv4, { nil: undefined }),
    fc.boolean(),
    fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  )
  .map(
    ([branch, received, rport, ttl]) =>
      `;branch=z9hG4bK${branch}` +
      (received === undefined ? '' : `;received=${received}`) +
      (rport ? ';rport' : '') +
      (ttl === undefined ? '' : `;ttl=${ttl}`),
  );
export const via = fc
  .tuple(fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS'), host, port, viaParams)
  .map(([t, h, p, params]) => `SIP/2.0/${t} ${h}${p === undefined ? '' : `:${p}`}${params}`);

export const method = fc.oneof(
  fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY'),
  token,
);

const headerCase = (name: string): fc.Arbitrary<string> =>
  fc.constantFrom(name, name.toLowerCase(), name.toUpperCase());

export interface GeneratedMessage {
  readonly text: string;
  readonly kind: 'request' | 'response';
  readonly method: string;
  readonly vias: readonly string[];
  readonly callId: string;
  readonly seq: number;
  readonly body: string;
}

/** Folds a header value at a space now and then: "a b" -> "a\r\n b". */
function fold(value: string, at: number): string {
  const i = value.indexOf(' ', at % Math.max(1, value.length));
  return at % 3 === 0 && i > 0 ? `${value.slice(0, i)}\r\n${value.slice(i)}` : value;
}

export const message: fc.Arbitrary<GeneratedMessage> = fc
  .record({
    isRequest: fc.boolean(),
    method,
    ruri: sipUri,
    status: fc.integer({ min: 100, max: 699 }),
    reason: chars(`${ALPHA}${DIGIT} -.`, 0, 20),
    vias: fc.array(fc.array(via, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 3 }),
    from: nameAddr,
    to: nameAddr,
    callId: fc
      .tuple(token, fc.option(domain, { nil: undefined }))
      .map(([a, b]) => (b === undefined ? a : `${a}@${b}`)),
    seq: fc.nat(0xffffffff),
    maxForwards: fc.option(fc.nat(255), { nil: undefined }),
    contacts: fc.array(nameAddr, { maxLength: 3 }),
    extra: fc.array(
      fc.tuple(
        token.map((t) => `X-${t}`),
        chars(`${ALPHA}${DIGIT} ,;=:/`, 0, 30),
      ),
      { maxLength: 3 },
    ),
    body: fc.oneof(fc.constant(''), chars(`${ALPHA}${DIGIT} =\r\n`, 1, 80)),
    names: fc.tuple(headerCase('Via'), headerCase('From'), headerCase('To'), headerCase('CSeq')),
    compact: fc.boolean(),
    foldAt: fc.nat(1000),
  })
  .map((g) => {
    const lines: string[] = [];
    lines.push(g.isRequest ? `${g.method} ${g.ruri} SIP/2.0` : `SIP/2.0 ${g.status} ${g.reason}`);
    for (const group of g.vias)
      lines.push(`${g.compact ? 'v' : g.names[0]}: ${fold(group.join(', '), g.foldAt)}`);
    lines.push(`${g.compact ? 'f' : g.names[1]}: ${g.from}`);
    lines.push(`${g.compact ? 't' : g.names[2]}: ${fold(g.to, g.foldAt + 1)}`);
    lines.push(`${g.compact ? 'i' : 'Call-ID'}: ${g.callId}`);
    lines.push(`${g.names[3]}: ${g.seq} ${g.isRequest ? g.method : 'INVITE'}`);
    if (g.maxForwards !== undefined) lines.push(`Max-Forwards: ${g.maxForwards}`);
    if (g.contacts.length > 0) lines.push(`${g.compact ? 'm' : 'Contact'}: ${g.contacts.join(' , ')}`);
    for (const [name, value] of g.extra) lines.push(`${name}: ${fold(value.trim(), g.foldAt)}`.trimEnd());
    if (g.body !== '') lines.push('Content-Type: text/plain');
    lines.push(`${g.compact ? 'l' : 'Content-Length'}: ${g.body.length}`);
    return {
      text: `${lines.join('\r\n')}\r\n\r\n${g.body}`,
      kind: g.isRequest ? 'request' : 'response',
      method: g.isRequest ? g.method : 'INVITE',
      vias: g.vias.flat(),
      callId: g.callId,
      seq: g.seq,
      body: g.body,
    };
  });
