/**
 * The strict, bounded SDP parser (RFC 8866, which obsoletes RFC 4566). Bytes in, a typed
 * session description or a typed error out: it never throws, never builds a list beyond
 * its limits, and runs in time linear in its input (no backtracking regular expressions).
 *
 * Strict where the RFC is: the line order of RFC 8866 section 5, `v=0`, six origin fields,
 * addresses that are IPv4/IPv6 literals or domain names, ports 0..65535, RTP payload types
 * 0..127, a connection address for every media description, rtpmap and fmtp only for
 * formats of their m= line. Tolerant where real senders are harmlessly loose: LF alone as
 * a line end, no line end after the last line, trailing empty lines, an empty s= line
 * (RFC 5118 4.6), an rtpmap without a clock rate for a static payload type (RFC 4475 3.1.1.1).
 *
 * Text is handled as latin1 (one character per byte), so the model's strings give the
 * original bytes back with `Buffer.from(s, 'latin1')`, UTF-8 included.
 */
import { isFqdn, isIPv4, isIPv4Multicast, isIPv6, isIPv6Multicast } from './address.ts';
import { type SdpError, type SdpErrorCode, sdpError } from './errors.ts';
import { DEFAULT_SDP_LIMITS, type SdpLimits } from './limits.ts';
import type {
  SdpAddressType,
  SdpAttribute,
  SdpBandwidth,
  SdpConnection,
  SdpMedia,
  SdpOrigin,
  SdpRtpMap,
  SdpSession,
  SdpTiming,
} from './model.ts';

export type SdpParseResult =
  | { readonly ok: true; readonly sdp: SdpSession }
  | { readonly ok: false; readonly error: SdpError };

/**
 * Parses one session description. A string is read as latin1 (one character per byte), as
 * a Buffer's `toString('latin1')` gives it.
 */
export function parseSdp(data: Buffer | string, limits: SdpLimits = DEFAULT_SDP_LIMITS): SdpParseResult {
  try {
    return parse(data, limits);
  } catch {
    // There should be none; the boundary holds anyway.
    return fail('SW_ERR_SDP_INTERNAL', 'internal SDP parser error');
  }
}

/**
 * Checks one session description as `parseSdp` does, without building its model: the
 * error, or undefined when it is well formed. For a caller that only needs the verdict.
 */
export function checkSdp(
  data: Buffer | string,
  limits: SdpLimits = DEFAULT_SDP_LIMITS,
): SdpError | undefined {
  try {
    const r = parse(data, limits, false);
    return r.ok ? undefined : r.error;
  } catch {
    return sdpError('SW_ERR_SDP_INTERNAL', 'internal SDP parser error');
  }
}

/** The parser without its exception guard, for property tests: a throw here is a bug. */
export function parseSdpUnguarded(
  data: Buffer | string,
  limits: SdpLimits = DEFAULT_SDP_LIMITS,
): SdpParseResult {
  return parse(data, limits);
}

/** What parse returns without a model: never handed out by parseSdp. */
const CHECKED: SdpParseResult = Object.freeze({ ok: true, sdp: Object.freeze({}) as SdpSession });

function fail(code: SdpErrorCode, reason: string, line?: number): SdpParseResult {
  return { ok: false, error: sdpError(code, reason, line) };
}

/** A problem found in one line: the caller adds the line number. */
class LineProblem {
  constructor(
    readonly code: SdpErrorCode,
    readonly reason: string,
  ) {}
}

function problem(code: SdpErrorCode, reason: string): LineProblem {
  return new LineProblem(code, reason);
}

/** token-char (RFC 8866 9): %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E */
const TOKEN_CHAR = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) TOKEN_CHAR[c] = 1;
for (const c of '"(),/:;<=>?@[\\]') TOKEN_CHAR[c.charCodeAt(0)] = 0;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c > 0x7e || TOKEN_CHAR[c] === 0) return false;
  }
  return true;
}

/** 1*DIGIT of at most `max` digits. */
function isDigits(s: string, max: number): boolean {
  if (s.length === 0 || s.length > max) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** A number of at most `max` digits (at most 15: exact in a double), or -1. */
function digits(s: string, max: number): number {
  if (s.length === 0 || s.length > max) return -1;
  let n = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

/** non-ws-string = 1*(VCHAR / %x80-FF) (RFC 8866 9) */
function isNonWsString(s: string): boolean {
  if (s.length === 0) return false;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * Splits on single SP into at most `maxFields + 1` fields (so that a caller sees there were
 * too many); an empty field (two SP in a row, or at either end) yields undefined.
 */
function fields(value: string, maxFields: number): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const sp = value.indexOf(' ', start);
    const end = sp < 0 ? value.length : sp;
    if (end === start) return undefined;
    out.push(value.slice(start, end));
    if (sp < 0 || out.length > maxFields) return out;
    start = sp + 1;
  }
}

function addressType(s: string): SdpAddressType | undefined {
  return s === 'IP4' ? 'IP4' : s === 'IP6' ? 'IP6' : undefined;
}

/** unicast-address / FQDN of the given type (o=, a=rtcp). */
function isUnicastOrName(type: SdpAddressType, address: string): boolean {
  if (type === 'IP4') return isIPv4(address) ? !isIPv4Multicast(address) : isFqdn(address);
  return isIPv6(address) ? !isIPv6Multicast(address) : isFqdn(address);
}

/** c=<nettype> <addrtype> <connection-address> (RFC 8866 5.7) */
function parseConnection(value: string): SdpConnection | LineProblem {
  const f = fields(value, 3);
  if (f === undefined || f.length !== 3) return problem('SW_ERR_SDP_BAD_CONNECTION', 'c= needs three fields');
  if (f[0] !== 'IN') return problem('SW_ERR_SDP_BAD_CONNECTION', 'connection network type is not IN');
  const addrType = addressType(f[1]!);
  if (addrType === undefined)
    return problem('SW_ERR_SDP_BAD_CONNECTION', 'connection address type is not IP4 or IP6');
  const text = f[2]!;
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const suffix = slash < 0 ? [] : text.slice(slash + 1).split('/', 3);
  if (addrType === 'IP4' ? isIPv4(address) : isIPv6(address)) {
    const multicast = addrType === 'IP4' ? isIPv4Multicast(address) : isIPv6Multicast(address);
    if (!multicast) {
      if (slash >= 0) return problem('SW_ERR_SDP_BAD_CONNECTION', 'TTL or count on a unicast address');
      return { netType: 'IN', addrType, address };
    }
    if (addrType === 'IP4') {
      // RFC 8866 5.7: an IPv4 multicast address carries a TTL (0..255), then an optional count.
      if (suffix.length < 1 || suffix.length > 2)
        return problem('SW_ERR_SDP_BAD_CONNECTION', 'IPv4 multicast address without a TTL');
      const ttl = digits(suffix[0]!, 3);
      if (ttl < 0 || ttl > 255) return problem('SW_ERR_SDP_BAD_CONNECTION', 'multicast TTL out of range');
      if (suffix.length === 1) return { netType: 'IN', addrType, address, ttl };
      const count = digits(suffix[1]!, 3);
      if (count < 1 || count > 256)
        return problem('SW_ERR_SDP_BAD_CONNECTION', 'multicast address count out of range');
      return { netType: 'IN', addrType, address, ttl, count };
    }
    // RFC 8866 5.7: IPv6 multicast has no TTL, only an optional count.
    if (suffix.length === 0) return { netType: 'IN', addrType, address };
    const count = suffix.length === 1 ? digits(suffix[0]!, 3) : -1;
    if (count < 1 || count > 256)
      return problem('SW_ERR_SDP_BAD_CONNECTION', 'multicast address count out of range');
    return { netType: 'IN', addrType, address, count };
  }
  if (!isFqdn(address)) {
    // A literal of the other family, or neither a literal nor a name.
    const other = addrType === 'IP4' ? isIPv6(address) : isIPv4(address);
    return problem(
      'SW_ERR_SDP_BAD_CONNECTION',
      other ? 'connection address does not match its type' : 'bad connection address',
    );
  }
  if (slash >= 0) return problem('SW_ERR_SDP_BAD_CONNECTION', 'TTL or count on a domain name');
  return { netType: 'IN', addrType, address };
}

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 8866 5.2) */
function parseOrigin(value: string): SdpOrigin | LineProblem {
  const f = fields(value, 6);
  if (f === undefined || f.length !== 6) return problem('SW_ERR_SDP_BAD_ORIGIN', 'o= needs six fields');
  const [username, sessionId, sessionVersion, netType, type, address] = f as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!isNonWsString(username)) return problem('SW_ERR_SDP_BAD_ORIGIN', 'bad origin username');
  // sess-id and sess-version are 1*DIGIT; 64 digits is far beyond any real one.
  if (!isDigits(sessionId, 64)) return problem('SW_ERR_SDP_BAD_ORIGIN', 'origin session id is not a number');
  if (!isDigits(sessionVersion, 64))
    return problem('SW_ERR_SDP_BAD_ORIGIN', 'origin session version is not a number');
  if (netType !== 'IN') return problem('SW_ERR_SDP_BAD_ORIGIN', 'origin network type is not IN');
  const addrType = addressType(type);
  if (addrType === undefined)
    return problem('SW_ERR_SDP_BAD_ORIGIN', 'origin address type is not IP4 or IP6');
  if (!isUnicastOrName(addrType, address)) return problem('SW_ERR_SDP_BAD_ORIGIN', 'bad origin address');
  return { username, sessionId, sessionVersion, netType: 'IN', addrType, address };
}

/** b=<bwtype>:<bandwidth> (RFC 8866 5.8), bandwidth at most 2^32-1. */
function parseBandwidth(value: string): SdpBandwidth | LineProblem {
  const colon = value.indexOf(':');
  const type = colon < 0 ? '' : value.slice(0, colon);
  if (!isToken(type)) return problem('SW_ERR_SDP_BAD_BANDWIDTH', 'bad bandwidth type');
  const n = digits(value.slice(colon + 1), 10);
  if (n < 0 || n > 0xffffffff) return problem('SW_ERR_SDP_BAD_BANDWIDTH', 'bandwidth is not a number');
  return { type, value: n };
}

/** t=<start-time> <stop-time> (RFC 8866 5.9): NTP seconds, 0 for unbounded. */
function parseTiming(value: string): SdpTiming | LineProblem {
  const f = fields(value, 2);
  if (f === undefined || f.length !== 2 || !isDigits(f[0]!, 20) || !isDigits(f[1]!, 20))
    return problem('SW_ERR_SDP_BAD_TIMING', 't= needs a start and a stop time');
  return { start: f[0]!, stop: f[1]!, repeats: [] };
}

/** typed-time = 1*DIGIT [fixed-len-time-unit] (RFC 8866 9), optionally negative in z=. */
function isTypedTime(s: string, signed: boolean): boolean {
  let t = signed && s.charCodeAt(0) === 0x2d ? s.slice(1) : s;
  const last = t.charCodeAt(t.length - 1);
  if (last === 0x64 || last === 0x68 || last === 0x6d || last === 0x73) t = t.slice(0, -1); // d h m s
  return isDigits(t, 10);
}

/** r=<repeat interval> <active duration> <offsets from start-time> (RFC 8866 5.10) */
function checkRepeat(value: string): LineProblem | undefined {
  const f = fields(value, 64);
  if (f === undefined || f.length < 3 || f.length > 64 || !f.every((t) => isTypedTime(t, false)))
    return problem('SW_ERR_SDP_BAD_TIMING', 'bad r= line');
  return undefined;
}

/** z=<adjustment time> <offset> ... (RFC 8866 5.11) */
function checkZone(value: string): LineProblem | undefined {
  const f = fields(value, 64);
  if (f === undefined || f.length < 2 || f.length > 64 || f.length % 2 !== 0)
    return problem('SW_ERR_SDP_BAD_TIMING', 'bad z= line');
  for (let k = 0; k < f.length; k += 2) {
    if (!isDigits(f[k]!, 20) || !isTypedTime(f[k + 1]!, true))
      return problem('SW_ERR_SDP_BAD_TIMING', 'bad z= line');
  }
  return undefined;
}

/** A media description being built. */
interface MediaBuilder {
  type: string;
  port: number;
  portCount?: number;
  proto: string;
  formats: string[];
  information?: string;
  connections: SdpConnection[];
  bandwidths: SdpBandwidth[];
  key?: string;
  attributes: SdpAttribute[];
  rtpmaps: SdpRtpMap[];
  /** Payload types with an rtpmap already. */
  mapped: Set<number>;
  /** RTP payload types of the m= line (RTP protocols only). */
  payloadTypes: Set<number> | undefined;
  /** Line number of the m= line. */
  line: number;
}

/**
 * A media protocol's `/`-separated tokens (RFC 8866 9, proto): -1 when one is not a token,
 * 1 for the RTP profiles (a part `RTP`, any case: RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF,
 * TCP/RTP/AVP...), 0 for any other protocol.
 */
function protoKind(proto: string): -1 | 0 | 1 {
  let rtp = false;
  let start = 0;
  for (;;) {
    const slash = proto.indexOf('/', start);
    const end = slash < 0 ? proto.length : slash;
    if (end === start) return -1;
    for (let k = start; k < end; k++) {
      const c = proto.charCodeAt(k);
      if (c > 0x7e || TOKEN_CHAR[c] === 0) return -1;
    }
    // Tokens are ASCII: `| 0x20` folds exactly the letters' case here.
    if (
      end - start === 3 &&
      (proto.charCodeAt(start) | 0x20) === 0x72 &&
      (proto.charCodeAt(start + 1) | 0x20) === 0x74 &&
      (proto.charCodeAt(start + 2) | 0x20) === 0x70
    )
      rtp = true;
    if (slash < 0) return rtp ? 1 : 0;
    start = slash + 1;
  }
}

/** m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 8866 5.14) */
function parseMediaLine(value: string, line: number, limits: SdpLimits): MediaBuilder | LineProblem {
  const f = fields(value, limits.maxFormats + 3);
  if (f === undefined || f.length < 4)
    return problem('SW_ERR_SDP_BAD_MEDIA', 'm= needs media, port, protocol and formats');
  if (f.length > limits.maxFormats + 3) return problem('SW_ERR_SDP_TOO_MANY_FORMATS', 'too many formats');
  const type = f[0]!;
  if (!isToken(type)) return problem('SW_ERR_SDP_BAD_MEDIA', 'bad media type');
  const portText = f[1]!;
  const slash = portText.indexOf('/');
  const port = digits(slash < 0 ? portText : portText.slice(0, slash), 5);
  if (port < 0 || port > 65535) return problem('SW_ERR_SDP_BAD_PORT', 'media port out of range');
  let portCount: number | undefined;
  if (slash >= 0) {
    portCount = digits(portText.slice(slash + 1), 3);
    // The ports run port, port+2, ... (RTP) or port, port+1, ...: all of them must exist.
    if (portCount < 1 || port + 2 * (portCount - 1) > 65535)
      return problem('SW_ERR_SDP_BAD_PORT', 'media port count out of range');
  }
  const proto = f[2]!;
  const kind = protoKind(proto);
  if (kind < 0) return problem('SW_ERR_SDP_BAD_PROTO', 'bad media protocol');
  const formats = f.slice(3);
  let payloadTypes: Set<number> | undefined;
  if (kind === 1) {
    // RFC 3551: RTP payload types are 7 bits.
    payloadTypes = new Set();
    for (const fmt of formats) {
      const pt = digits(fmt, 3);
      if (pt < 0 || pt > 127) return problem('SW_ERR_SDP_BAD_PAYLOAD_TYPE', 'RTP payload type out of range');
      if (payloadTypes.has(pt)) return problem('SW_ERR_SDP_BAD_PAYLOAD_TYPE', 'payload type listed twice');
      payloadTypes.add(pt);
    }
  } else {
    for (const fmt of formats) if (!isToken(fmt)) return problem('SW_ERR_SDP_BAD_MEDIA', 'bad media format');
  }
  const media: MediaBuilder = {
    type,
    port,
    proto,
    formats,
    connections: [],
    bandwidths: [],
    attributes: [],
    rtpmaps: [],
    mapped: new Set(),
    payloadTypes,
    line,
  };
  if (portCount !== undefined) media.portCount = portCount;
  return media;
}

/** Is `fmt` one of the formats of the m= line? RTP payload types compare as numbers. */
function listsFormat(media: MediaBuilder, fmt: string): boolean {
  if (media.payloadTypes !== undefined) {
    const pt = digits(fmt, 3);
    return pt >= 0 && media.payloadTypes.has(pt);
  }
  return media.formats.includes(fmt);
}

/** a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] (RFC 8866 6.6) */
function parseRtpMap(value: string, media: MediaBuilder | undefined): SdpRtpMap | LineProblem {
  if (media === undefined) return problem('SW_ERR_SDP_BAD_RTPMAP', 'rtpmap outside a media description');
  const sp = value.indexOf(' ');
  const ptText = sp < 0 ? value : value.slice(0, sp);
  const pt = digits(ptText, 3);
  if (pt < 0 || pt > 127 || sp < 0) return problem('SW_ERR_SDP_BAD_RTPMAP', 'bad rtpmap payload type');
  if (!listsFormat(media, ptText))
    return problem('SW_ERR_SDP_BAD_RTPMAP', 'rtpmap for a payload type not on the m= line');
  if (media.mapped.has(pt)) return problem('SW_ERR_SDP_BAD_RTPMAP', 'second rtpmap for one payload type');
  // <encoding name>/<clock rate>[/<encoding parameters>], read without splitting.
  const first = value.indexOf('/', sp + 1);
  const second = first < 0 ? -1 : value.indexOf('/', first + 1);
  const encoding = first < 0 ? value.slice(sp + 1) : value.slice(sp + 1, first);
  if (!isToken(encoding) || (second >= 0 && value.indexOf('/', second + 1) >= 0))
    return problem('SW_ERR_SDP_BAD_RTPMAP', 'bad rtpmap encoding');
  if (first < 0) {
    // RFC 3551 6 fixes the clock rate of the static payload types (0..34): older senders omit it.
    if (pt > 34) return problem('SW_ERR_SDP_BAD_RTPMAP', 'rtpmap without a clock rate');
    return { payloadType: pt, encoding };
  }
  const clockRate = digits(second < 0 ? value.slice(first + 1) : value.slice(first + 1, second), 10);
  if (clockRate < 1 || clockRate > 0xffffffff)
    return problem('SW_ERR_SDP_BAD_RTPMAP', 'bad rtpmap clock rate');
  if (second < 0) return { payloadType: pt, encoding, clockRate };
  const channels = digits(value.slice(second + 1), 3);
  if (channels < 1) return problem('SW_ERR_SDP_BAD_RTPMAP', 'bad rtpmap encoding parameters');
  return { payloadType: pt, encoding, clockRate, channels };
}

/** Checks the value of the attributes whose grammar matters downstream (media, NAT, relay). */
function checkAttribute(
  name: string,
  value: string | undefined,
  media: MediaBuilder | undefined,
): LineProblem | undefined {
  switch (name) {
    case 'fmtp': {
      // a=fmtp:<format> <format specific parameters> (RFC 8866 6.15), media level.
      if (media === undefined) return problem('SW_ERR_SDP_BAD_FMTP', 'fmtp outside a media description');
      if (value === undefined) return problem('SW_ERR_SDP_BAD_FMTP', 'fmtp without a format');
      const sp = value.indexOf(' ');
      const fmt = sp < 0 ? value : value.slice(0, sp);
      if (!listsFormat(media, fmt))
        return problem('SW_ERR_SDP_BAD_FMTP', 'fmtp for a format not on the m= line');
      return undefined;
    }
    case 'rtcp': {
      // a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605 2.1)
      const f = value === undefined ? undefined : fields(value, 4);
      const port = f === undefined ? -1 : digits(f[0]!, 5);
      if (f === undefined || port < 0 || port > 65535 || (f.length !== 1 && f.length !== 4))
        return problem('SW_ERR_SDP_BAD_ATTRIBUTE', 'bad rtcp attribute');
      if (f.length === 4) {
        const type = addressType(f[2]!);
        if (f[1] !== 'IN' || type === undefined || !isUnicastOrName(type, f[3]!))
          return problem('SW_ERR_SDP_BAD_ATTRIBUTE', 'bad rtcp attribute address');
      }
      return undefined;
    }
    case 'ptime':
    case 'maxptime': {
      // Milliseconds; ptime may have a fraction (RFC 8866 6.4).
      const dot = value === undefined ? -1 : value.indexOf('.');
      const ok =
        value !== undefined &&
        (dot < 0
          ? isDigits(value, 6)
          : isDigits(value.slice(0, dot), 6) && isDigits(value.slice(dot + 1), 3));
      return ok ? undefined : problem('SW_ERR_SDP_BAD_ATTRIBUTE', `bad ${name} attribute`);
    }
    case 'candidate': {
      // RFC 8839 5.1: foundation component transport priority address port "typ" type ...
      const f = value === undefined ? undefined : fields(value, 64);
      const ok =
        f !== undefined &&
        f.length >= 8 &&
        f.length <= 64 &&
        isDigits(f[1]!, 3) &&
        isToken(f[2]!) &&
        isDigits(f[3]!, 10) &&
        (isIPv4(f[4]!) || isIPv6(f[4]!) || isFqdn(f[4]!)) &&
        digits(f[5]!, 5) >= 0 &&
        digits(f[5]!, 5) <= 65535 &&
        f[6] === 'typ' &&
        isToken(f[7]!);
      return ok ? undefined : problem('SW_ERR_SDP_BAD_ATTRIBUTE', 'bad candidate attribute');
    }
    default:
      return undefined;
  }
}

/**
 * Line order (RFC 8866 5): each type letter has a rank; ranks never go down within a
 * section. t= and r= share one, r= directly after t= or r=.
 */
const SESSION_RANK: Readonly<Record<string, number>> = {
  v: 0,
  o: 1,
  s: 2,
  i: 3,
  u: 4,
  e: 5,
  p: 6,
  c: 7,
  b: 8,
  t: 9,
  r: 9,
  z: 10,
  k: 11,
  a: 12,
};
const MEDIA_RANK: Readonly<Record<string, number>> = { i: 21, c: 22, b: 23, k: 24, a: 25 };
/** Lines that appear at most once per section. */
const SINGLE = 'vosiuczk';
const MEDIA_SINGLE = 'ik';
/** Every type letter RFC 8866 defines; any other makes the description unusable (RFC 8866 5). */
const KNOWN_TYPES = 'vosiuepcbtrzkam';

/** The tables above by type letter code (a..z), built once: -1 for no rank. */
const SESSION_RANK_BY_CODE = rankTable(SESSION_RANK);
const MEDIA_RANK_BY_CODE = rankTable(MEDIA_RANK);
const KNOWN_BY_CODE = letterSet(KNOWN_TYPES);
const SINGLE_BY_CODE = letterSet(SINGLE);
const MEDIA_SINGLE_BY_CODE = letterSet(MEDIA_SINGLE);

function rankTable(ranks: Readonly<Record<string, number>>): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (const [letter, rank] of Object.entries(ranks)) table[letter.charCodeAt(0)] = rank;
  return table;
}

function letterSet(letters: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const letter of letters) table[letter.charCodeAt(0)] = 1;
  return table;
}

interface SessionBuilder {
  version?: 0;
  origin?: SdpOrigin;
  name?: string;
  information?: string;
  uri?: string;
  emails: string[];
  phones: string[];
  connection?: SdpConnection;
  bandwidths: SdpBandwidth[];
  timings: { start: string; stop: string; repeats: string[] }[];
  zone?: string;
  key?: string;
  attributes: SdpAttribute[];
  media: MediaBuilder[];
}

/**
 * Where the first NUL, or CR not followed by LF, is; -1 when none. byte-string excludes
 * both (RFC 8866 9); a bare CR would hide a line end. A CR ending the text is let through.
 */
function badByteAt(s: string): number {
  const nul = s.indexOf('\0');
  for (let k = s.indexOf('\r'); k >= 0 && (nul < 0 || k < nul); k = s.indexOf('\r', k + 1)) {
    if (k + 1 < s.length && s.charCodeAt(k + 1) !== 0x0a) return k;
  }
  return nul;
}

/** 1-based line number of offset `at`. */
function lineOf(s: string, at: number): number {
  let line = 1;
  for (let k = s.indexOf('\n'); k >= 0 && k < at; k = s.indexOf('\n', k + 1)) line++;
  return line;
}

/** `model` false: the result's `sdp` is left empty (checkSdp). */
function parse(data: Buffer | string, limits: SdpLimits, model = true): SdpParseResult {
  const size = typeof data === 'string' ? data.length : data.length;
  if (size > limits.maxBytes) return fail('SW_ERR_SDP_TOO_LARGE', 'session description too large');
  const s = typeof data === 'string' ? data : data.toString('latin1');
  const n = s.length;
  // One scan of the whole text instead of one per line.
  const bad = badByteAt(s);
  if (bad >= 0) return fail('SW_ERR_SDP_BAD_CHARACTER', 'NUL or bare CR in a line', lineOf(s, bad));
  const session: SessionBuilder = {
    emails: [],
    phones: [],
    bandwidths: [],
    timings: [],
    attributes: [],
    media: [],
  };
  let media: MediaBuilder | undefined;
  let rank = -1;
  let previous = '';
  let attributes = 0;
  let lineNo = 0;
  let blankAt = 0;
  let pos = 0;

  while (pos < n) {
    const lf = s.indexOf('\n', pos);
    let end = lf < 0 ? n : lf;
    const next = lf < 0 ? n : lf + 1;
    if (end > pos && s.charCodeAt(end - 1) === 0x0d) end--; // CRLF; LF alone is tolerated
    lineNo++;
    if (lineNo > limits.maxLines) return fail('SW_ERR_SDP_TOO_MANY_LINES', 'too many lines');
    if (end === pos) {
      // Empty lines are tolerated at the end only.
      if (blankAt === 0) blankAt = lineNo;
      pos = next;
      continue;
    }
    if (blankAt !== 0) return fail('SW_ERR_SDP_BAD_LINE', 'empty line inside the description', blankAt);
    const code = s.charCodeAt(pos);
    if (s.charCodeAt(pos + 1) !== 0x3d || end - pos < 2 || code < 0x61 || code > 0x7a)
      return fail('SW_ERR_SDP_BAD_LINE', 'line is not <type>=<value>', lineNo);
    const type = s[pos]!;
    const value = s.slice(pos + 2, end);
    pos = next;
    if (KNOWN_BY_CODE[code] === 0) return fail('SW_ERR_SDP_UNKNOWN_LINE', 'unknown line type', lineNo);

    // Order and presence (RFC 8866 5).
    if (type === 'm') {
      const gap = missing(session, 13, lineNo);
      if (gap !== undefined) return gap;
      if (session.media.length >= limits.maxMedia)
        return fail('SW_ERR_SDP_TOO_MANY_MEDIA', 'too many media descriptions', lineNo);
      const parsed = parseMediaLine(value, lineNo, limits);
      if (parsed instanceof LineProblem) return fail(parsed.code, parsed.reason, lineNo);
      media = parsed;
      session.media.push(media);
      rank = 20;
      previous = type;
      continue;
    }
    const r = (media === undefined ? SESSION_RANK_BY_CODE : MEDIA_RANK_BY_CODE)[code]!;
    if (r < 0)
      return fail('SW_ERR_SDP_LINE_ORDER', `${type}= line not allowed in a media description`, lineNo);
    if (r < rank) return fail('SW_ERR_SDP_LINE_ORDER', `${type}= line out of order`, lineNo);
    if (r === rank && (media === undefined ? SINGLE_BY_CODE : MEDIA_SINGLE_BY_CODE)[code] === 1)
      return fail('SW_ERR_SDP_REPEATED_LINE', `repeated ${type}= line`, lineNo);
    if (type === 'r' && previous !== 't' && previous !== 'r')
      return fail('SW_ERR_SDP_LINE_ORDER', 'r= line not after t=', lineNo);
    if (media === undefined && r > 0) {
      const gap = missing(session, r, lineNo);
      if (gap !== undefined) return gap;
    }
    rank = r;
    previous = type;

    const found = media === undefined ? sessionLine(session, type, value) : mediaLine(media, type, value);
    if (found instanceof LineProblem) return fail(found.code, found.reason, lineNo);
    if (type === 'a' && ++attributes > limits.maxAttributes)
      return fail('SW_ERR_SDP_TOO_MANY_ATTRIBUTES', 'too many attributes', lineNo);
  }

  if (session.version === undefined) return fail('SW_ERR_SDP_EMPTY', 'empty session description');
  const gap = missing(session, 13, lineNo);
  if (gap !== undefined) return gap;
  // RFC 8866 5.7: a c= line at session level, or in every media description. A rejected
  // stream (port 0) carries no media and is not held to it.
  if (session.connection === undefined) {
    for (const m of session.media) {
      if (m.connections.length === 0 && m.port !== 0)
        return fail(
          'SW_ERR_SDP_MISSING_CONNECTION',
          'media description without a connection address',
          m.line,
        );
    }
  }
  return model ? { ok: true, sdp: build(session) } : CHECKED;
}

/** The first line a rank `r` line needs before it (v, o, s, t), as an error; undefined when none is missing. */
function missing(session: SessionBuilder, r: number, lineNo: number): SdpParseResult | undefined {
  if (session.version === undefined) return fail('SW_ERR_SDP_MISSING_LINE', 'missing v= line', lineNo);
  if (r > 1 && session.origin === undefined)
    return fail('SW_ERR_SDP_MISSING_LINE', 'missing o= line', lineNo);
  if (r > 2 && session.name === undefined) return fail('SW_ERR_SDP_MISSING_LINE', 'missing s= line', lineNo);
  if (r > 9 && session.timings.length === 0)
    return fail('SW_ERR_SDP_MISSING_LINE', 'missing t= line', lineNo);
  return undefined;
}

function nonEmpty(value: string, what: string): LineProblem | undefined {
  return value.length === 0 ? problem('SW_ERR_SDP_BAD_FIELD', `empty ${what} line`) : undefined;
}

function sessionLine(session: SessionBuilder, type: string, value: string): LineProblem | undefined {
  switch (type) {
    case 'v':
      // RFC 8866 5.1: the version is 0.
      if (value !== '0') return problem('SW_ERR_SDP_BAD_VERSION', 'version is not 0');
      session.version = 0;
      return undefined;
    case 'o': {
      const origin = parseOrigin(value);
      if (origin instanceof LineProblem) return origin;
      session.origin = origin;
      return undefined;
    }
    case 's':
      session.name = value;
      return undefined;
    case 'i':
      session.information = value;
      return nonEmpty(value, 'i=');
    case 'u':
      session.uri = value;
      return nonEmpty(value, 'u=');
    case 'e':
      session.emails.push(value);
      return nonEmpty(value, 'e=');
    case 'p':
      session.phones.push(value);
      return nonEmpty(value, 'p=');
    case 'c': {
      const c = parseConnection(value);
      if (c instanceof LineProblem) return c;
      session.connection = c;
      return undefined;
    }
    case 'b': {
      const b = parseBandwidth(value);
      if (b instanceof LineProblem) return b;
      session.bandwidths.push(b);
      return undefined;
    }
    case 't': {
      const t = parseTiming(value);
      if (t instanceof LineProblem) return t;
      session.timings.push({ start: t.start, stop: t.stop, repeats: [] });
      return undefined;
    }
    case 'r': {
      const bad = checkRepeat(value);
      if (bad !== undefined) return bad;
      session.timings[session.timings.length - 1]!.repeats.push(value);
      return undefined;
    }
    case 'z':
      session.zone = value;
      return checkZone(value);
    case 'k':
      session.key = value;
      return nonEmpty(value, 'k=');
    default: {
      const a = parseAttribute(value, undefined);
      if (a instanceof LineProblem) return a;
      session.attributes.push(a);
      return undefined;
    }
  }
}

function mediaLine(media: MediaBuilder, type: string, value: string): LineProblem | undefined {
  switch (type) {
    case 'i':
      media.information = value;
      return nonEmpty(value, 'i=');
    case 'c': {
      const c = parseConnection(value);
      if (c instanceof LineProblem) return c;
      media.connections.push(c);
      return undefined;
    }
    case 'b': {
      const b = parseBandwidth(value);
      if (b instanceof LineProblem) return b;
      media.bandwidths.push(b);
      return undefined;
    }
    case 'k':
      media.key = value;
      return nonEmpty(value, 'k=');
    default: {
      const a = parseAttribute(value, media);
      if (a instanceof LineProblem) return a;
      media.attributes.push(a);
      return undefined;
    }
  }
}

/** a=<attribute-name>[:<attribute-value>] (RFC 8866 5.13) */
function parseAttribute(text: string, media: MediaBuilder | undefined): SdpAttribute | LineProblem {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  if (!isToken(name)) return problem('SW_ERR_SDP_BAD_ATTRIBUTE', 'bad attribute name');
  if (colon < 0) {
    if (name === 'rtpmap') return problem('SW_ERR_SDP_BAD_RTPMAP', 'rtpmap without a value');
    const bad = checkAttribute(name, undefined, media);
    return bad ?? { name };
  }
  const value = text.slice(colon + 1);
  // att-value = byte-string: at least one byte.
  if (value.length === 0) return problem('SW_ERR_SDP_BAD_ATTRIBUTE', 'empty attribute value');
  if (name === 'rtpmap') {
    const map = parseRtpMap(value, media);
    if (map instanceof LineProblem) return map;
    media!.rtpmaps.push(map);
    media!.mapped.add(map.payloadType);
  } else {
    const bad = checkAttribute(name, value, media);
    if (bad !== undefined) return bad;
  }
  return { name, value };
}

function build(session: SessionBuilder): SdpSession {
  const media: SdpMedia[] = session.media.map((m) => {
    const out: {
      -readonly [K in keyof SdpMedia]: SdpMedia[K];
    } = {
      type: m.type,
      port: m.port,
      proto: m.proto,
      formats: m.formats,
      connections: m.connections,
      bandwidths: m.bandwidths,
      attributes: m.attributes,
      rtpmaps: m.rtpmaps,
    };
    if (m.portCount !== undefined) out.portCount = m.portCount;
    if (m.information !== undefined) out.information = m.information;
    if (m.key !== undefined) out.key = m.key;
    return out;
  });
  const out: { -readonly [K in keyof SdpSession]: SdpSession[K] } = {
    version: 0,
    origin: session.origin!,
    name: session.name!,
    emails: session.emails,
    phones: session.phones,
    bandwidths: session.bandwidths,
    timings: session.timings,
    attributes: session.attributes,
    media,
  };
  if (session.information !== undefined) out.information = session.information;
  if (session.uri !== undefined) out.uri = session.uri;
  if (session.connection !== undefined) out.connection = session.connection;
  if (session.zone !== undefined) out.zone = session.zone;
  if (session.key !== undefined) out.key = session.key;
  return out;
}
