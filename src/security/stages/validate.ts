/**
 * The `validate` stage: RFC 3261 semantics of one message beyond what the core already
 * refused (src/sip parseMessage and validateMessage run before any stage: mandatory
 * headers Via/From/To/Call-ID/CSeq, repeated From/To/Call-ID/CSeq/Max-Forwards/
 * Content-Length/Content-Type/Expires, CSeq method, Content-Length, the Request-URI and
 * From/To/Contact/Route/Record-Route/Path grammar, Max-Forwards 0..255, Expires and
 * Contact expires up to 2^32-1, Contact "*", Proxy-Require). This stage adds:
 *
 * - bounds on how many Via, Route/Record-Route/Path, Contact values and fields of any one
 *   header a message may carry;
 * - single-valued headers of RFC 3261 and its extensions not repeated (Subject, Refer-To...);
 * - every URI a proxy or a UA acts on (Request-URI, From, To, Contact, Route, Record-Route,
 *   Path, Service-Route, Refer-To, Referred-By, P-Asserted-Identity...) well formed, with
 *   ports 1..65535 and a valid maddr host; Via sent-by ports 1..65535;
 * - Expires and Contact expires within the configured maximum; Min-Expires,
 *   Session-Expires, Min-SE and Retry-After numbers within 2^32-1;
 * - Require, Proxy-Require, Supported, Unsupported as option-tag lists, Accept as
 *   media ranges, Content-Type as a media type, present whenever there is a body;
 * - the headers a method cannot do without (Contact in an INVITE or SUBSCRIBE, Event in a
 *   SUBSCRIBE or NOTIFY, Refer-To in a REFER, RAck in a PRACK...);
 * - every session description (Content-Type application/sdp, or an application/sdp part
 *   of a multipart body) well formed by the strict parser of src/sdp.
 *
 * A request that fails gets 400 with a reason phrase and a Warning (RFC 3261 20.43) naming
 * the problem in our own words; a response that fails is dropped. Each is an event.
 */
import { z } from 'zod';
import type { RequestContext } from '../../core/inspector.ts';
import { findSdpBodies, isSdpType, type MediaType, parseMediaType } from '../../sdp/body.ts';
import type { SdpError, SdpErrorCode } from '../../sdp/errors.ts';
import type { SdpLimits } from '../../sdp/limits.ts';
import { checkSdp } from '../../sdp/parse.ts';
import { type NameAddrField, nameAddrsOf } from '../../sip/address-headers.ts';
import { ERROR_STATUS, type SipErrorCode, SipParseError } from '../../sip/errors.ts';
import { isAcceptList } from '../../sip/headers/accept.ts';
import { isEvent } from '../../sip/headers/event.ts';
import { parseNameAddr, parseNameAddrList } from '../../sip/headers/name-addr.ts';
import { isOptionTagList } from '../../sip/headers/option-tags.ts';
import { isLeadingDeltaSeconds, parseDigits } from '../../sip/headers/scalar.ts';
import { scanHost } from '../../sip/host.ts';
import type { NameAddr, SipMessage, SipResponse, SipUri, Uri } from '../../sip/message.ts';
import { warningHeader } from '../../sip/warning.ts';
import { detach } from '../../util/detach.ts';
import { eventFor } from '../event-input.ts';
import { boolean, integer, parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';

const count = (min: number, max: number, fallback: number) =>
  integer(min, max, `must be an integer ${min}..${max}`).default(fallback);

const settingsSchema = z.strictObject({
  /** Via values (all Via fields together); RFC 4475 3.1.1.7 has 34. The parser stops at 64. */
  maxVia: count(1, 64, 40),
  /** Values of each of Route, Record-Route, Path and Service-Route. */
  maxRoute: count(1, 256, 16),
  /** Contact values (a registrar's 200 OK lists every binding). */
  maxContact: count(1, 256, 16),
  /** Fields of any one header name other than those bounded above. */
  maxHeaderFields: count(1, 256, 32),
  /**
   * Largest Expires and Contact expires accepted. Registrations above the registrar's
   * maximum are shortened by the proxy core, not refused: keep this far above it. The
   * default is the RFC 3261 bound, 2^32-1.
   */
  maxExpires: count(0, 0xffffffff, 0xffffffff),
  /** Check session descriptions. */
  checkSdp: boolean.default(true),
  sdp: z
    .strictObject({
      maxBytes: count(64, 65535, 4000),
      maxLines: count(8, 4096, 256),
      maxMedia: count(1, 64, 16),
      maxAttributes: count(1, 4096, 256),
      maxFormats: count(1, 128, 64),
    })
    .prefault({}),
});

export type ValidateSettings = z.infer<typeof settingsSchema>;

/** One failed check: a stable code (the event's rule), our own words for it, and its SIP status. */
interface Problem {
  readonly code: SipErrorCode | SdpErrorCode;
  readonly reason: string;
  readonly status: number;
  readonly headers?: readonly { readonly name: string; readonly value: string }[];
}

/** A problem with the status the error registry (src/sip/errors.ts) gives its code. */
function problem(code: SipErrorCode, reason: string): Problem {
  return { code, reason, status: ERROR_STATUS[code] };
}

/** A session description the strict parser refused: 400 (RFC 3261 21.4.1). */
function sdpProblem(error: SdpError, reason: string): Problem {
  return { code: error.code, reason: `${reason}: ${error.reason}`, status: 400 };
}

/** RFC 3261 7.3.1: a header repeated only when its grammar is a comma-separated list. */
const SINGLE_VALUED: readonly string[] = [
  'content-disposition', // RFC 3261 20.11
  'date', // 20.17
  'mime-version', // 20.24
  'min-expires', // 20.23
  'organization', // 20.25
  'priority', // 20.26
  'reply-to', // 20.31
  'retry-after', // 20.33
  'server', // 20.35
  'subject', // 20.36
  'timestamp', // 20.38
  'user-agent', // 20.41
  'refer-to', // RFC 3515 2.1
  'referred-by', // RFC 3892 3
  'replaces', // RFC 3891 6.1
  'session-expires', // RFC 4028 4
  'min-se', // RFC 4028 5
  'rseq', // RFC 3262 7.1
  'rack', // RFC 3262 7.2
  'event', // RFC 6665 8.2.1
  'subscription-state', // RFC 6665 8.2.3
  'sip-etag', // RFC 3903 11.3.1
  'sip-if-match', // RFC 3903 11.3.2
  'privacy', // RFC 3323 4.2
  'max-breadth', // RFC 5393 5.8
  'target-dialog', // RFC 4538 7
  'p-called-party-id', // RFC 7315 4.2
];
/** Each single-valued name -> its bit in a 32-bit mask of names seen. */
const SINGLE_BIT: ReadonlyMap<string, number> = new Map(SINGLE_VALUED.map((name, k) => [name, 1 << k]));

/** Header names whose spelling in a reason is not plain Capitalised-Words. */
const DISPLAY: Readonly<Record<string, string>> = {
  'mime-version': 'MIME-Version',
  rseq: 'RSeq',
  rack: 'RAck',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'min-se': 'Min-SE',
  'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity',
  'p-associated-uri': 'P-Associated-URI',
  'p-called-party-id': 'P-Called-Party-ID',
};

/** `record-route` -> `Record-Route`, for names from our own tables only. */
function display(name: string): string {
  return (
    DISPLAY[name] ?? name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())
  );
}

/** URI schemes allowed in the headers whose URIs a proxy routes on or asserts. */
const SIP_ONLY: ReadonlySet<string> = new Set(['sip', 'sips']);
const SIP_OR_TEL: ReadonlySet<string> = new Set(['sip', 'sips', 'tel']);

/** Comma-separated name-addr headers this stage checks, with the schemes each allows. */
const URI_LISTS: ReadonlyMap<string, ReadonlySet<string> | undefined> = new Map([
  ['route', SIP_ONLY], // RFC 3261 20.34
  ['record-route', SIP_ONLY], // RFC 3261 20.30
  ['path', SIP_ONLY], // RFC 3327 4
  ['service-route', SIP_ONLY], // RFC 3608 5
  ['p-asserted-identity', SIP_OR_TEL], // RFC 3325 9.1
  ['p-preferred-identity', SIP_OR_TEL], // RFC 3325 9.2
  ['p-associated-uri', undefined], // RFC 7315 4.1
  ['history-info', undefined], // RFC 7044 4
  ['diversion', undefined], // RFC 5806 4
]);
/** Single name-addr headers: any scheme. */
const URI_SINGLES: ReadonlySet<string> = new Set([
  'refer-to',
  'referred-by',
  'reply-to',
  'p-called-party-id',
]);
const ROUTE_SETS: ReadonlySet<string> = new Set(['route', 'record-route', 'path', 'service-route']);

/** Headers that are delta-seconds, possibly followed by a comment or parameters. */
const DELTA_SECONDS: ReadonlySet<string> = new Set([
  'min-expires',
  'session-expires',
  'min-se',
  'retry-after',
]);

/** A port of 0 or a bad maddr in a SIP URI, as the part that is wrong; undefined when fine. */
function sipUriFault(uri: Uri): 'port' | 'maddr' | undefined {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return undefined;
  const sip = uri as SipUri;
  // RFC 3261 19.1.1 and 25.1: port = 1*DIGIT; nothing listens on port 0.
  if (sip.port === 0) return 'port';
  const maddr = sip.params.get('maddr');
  // maddr = host (RFC 3261 19.1.1)
  if (maddr !== undefined && (maddr === null || scanHost(maddr, 0) !== maddr.length)) return 'maddr';
  return undefined;
}

/** `where`: a header name as in our tables (`record-route`), or already for display (`Request-URI`). */
function uriProblem(where: string, uri: Uri, schemes?: ReadonlySet<string>): Problem | undefined {
  if (schemes !== undefined && !schemes.has(uri.scheme))
    return problem('SW_ERR_BAD_HEADER_URI', `${display(where)} URI scheme not allowed`);
  const fault = sipUriFault(uri);
  if (fault === 'port') return problem('SW_ERR_BAD_PORT', `${display(where)} URI port out of range`);
  if (fault === 'maddr') return problem('SW_ERR_BAD_HEADER_URI', `${display(where)} URI maddr is not a host`);
  return undefined;
}

/** Accept (RFC 3261 20.1): each accept-range a media range, `*` allowed, by the Content-Type grammar. */
function isMediaRange(range: string): boolean {
  return parseMediaType(range) !== undefined;
}

/** What the header walk learns for the checks that follow it. */
interface Walk {
  contentType?: MediaType;
  contentEncoding?: string;
  contacts: number;
  hasContact: boolean;
  hasEvent: boolean;
  hasSubscriptionState: boolean;
  hasRAck: boolean;
  referTo: number;
}

/**
 * What one header value of name-addrs came to: unparsable (`problem` then says why), or
 * how many values it holds and the first problem among them, if any.
 */
interface ValueOutcome {
  readonly parsed: boolean;
  readonly values: number;
  readonly problem: Problem | undefined;
}

/** Longest header value remembered, and how many per cache. */
const MAX_CACHED_VALUE_LENGTH = 512;
const MAX_CACHED_VALUES = 1024;

/**
 * Outcomes of the name-addr checks by header value. A phone sends the same Contact in every
 * request and every dialog carries the same route set, so most values were checked before;
 * a check is a pure function of the value (and the stage's settings), so its outcome is
 * remembered rather than the value parsed again. Bounded: long values are not kept, and a
 * full cache starts over (values an attacker makes up cost what they cost uncached); at
 * most MAX_CACHED_VALUES x MAX_CACHED_VALUE_LENGTH characters per header name.
 */
class OutcomeCache {
  readonly #outcomes = new Map<string, ValueOutcome>();

  get(value: string): ValueOutcome | undefined {
    return this.#outcomes.get(value);
  }

  set(value: string, outcome: ValueOutcome): ValueOutcome {
    if (value.length > MAX_CACHED_VALUE_LENGTH) return outcome;
    if (this.#outcomes.size >= MAX_CACHED_VALUES) this.#outcomes.clear();
    // A header value is a slice of its whole message's text, which keeping the slice would
    // keep alive: the key is a copy.
    this.#outcomes.set(detach(value), outcome);
    return outcome;
  }
}

/** One Contact field: `*` (RFC 3261 10.2.2) counts as one value and is never over the bound on its own. */
function contactFieldProblem(list: NameAddrField, s: ValidateSettings, walk: Walk): Problem | undefined {
  if (list instanceof SipParseError) return problem('SW_ERR_BAD_HEADER_URI', 'bad Contact header');
  if (list === '*') {
    walk.contacts++;
    return undefined;
  }
  walk.contacts += list.length;
  if (walk.contacts > s.maxContact) return problem('SW_ERR_TOO_MANY_CONTACT', 'too many Contact values');
  for (const c of list) {
    const bad = contactProblem(c, s);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** The first value of a name-addr list whose URI is wrong for header `name`, if any. */
function firstUriProblem(name: string, list: readonly NameAddr[]): Problem | undefined {
  const schemes = URI_LISTS.get(name);
  for (const v of list) {
    const bad = uriProblem(name, v.uri, schemes);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** One value of a comma-separated name-addr header (Route, P-Asserted-Identity...). */
function uriListOutcome(name: string, value: string): ValueOutcome {
  const list = parseNameAddrList(value);
  if (list instanceof SipParseError || list === '*')
    return {
      parsed: false,
      values: 0,
      problem: problem('SW_ERR_BAD_HEADER_URI', `bad ${display(name)} header`),
    };
  return { parsed: true, values: list.length, problem: firstUriProblem(name, list) };
}

/** One single name-addr header (Refer-To, Referred-By...). */
function uriSingleOutcome(name: string, value: string): ValueOutcome {
  const one = parseNameAddr(value);
  if (one instanceof SipParseError)
    return {
      parsed: false,
      values: 0,
      problem: problem('SW_ERR_BAD_HEADER_URI', `bad ${display(name)} header`),
    };
  return { parsed: true, values: 1, problem: uriProblem(name, one.uri) };
}

/**
 * The stage's caches of name-addr outcomes, one per header name other than Contact, Route,
 * Record-Route and Path (those are parsed once per field: src/sip/address-headers.ts).
 */
interface OutcomeCaches {
  readonly byName: Map<string, OutcomeCache>;
}

function cacheFor(caches: OutcomeCaches, name: string): OutcomeCache {
  let cache = caches.byName.get(name);
  if (cache === undefined) {
    cache = new OutcomeCache();
    caches.byName.set(name, cache);
  }
  return cache;
}

/** What the header walk does with a header name (those it has nothing to do with are absent). */
const CONTACT = 1;
const EXPIRES = 2;
const OPTION_TAGS = 3;
const OPTION_TAGS_OR_EMPTY = 4;
const ACCEPT = 5;
const CONTENT_TYPE = 6;
const CONTENT_ENCODING = 7;
const EVENT = 8;
const SUBSCRIPTION_STATE = 9;
const RACK = 10;
const DELTA = 11;
const URI_SINGLE = 12;
const URI_LIST = 13;
/** Route, Record-Route and Path: from the values parsed once per field. */
const ROUTE_LIST = 14;

interface HeaderCheck {
  readonly kind: number;
  /** Its bit among the single-valued names; 0 when it may repeat. */
  readonly bit: number;
  /** For Route, Record-Route, Path and Service-Route: which count (0..3); -1 otherwise. */
  readonly routeSet: number;
}

/**
 * Every name the walk checks, with what it checks: one lookup per header field, and none
 * of the rest for the many fields (Via, Call-ID, CSeq...) it leaves to src/sip.
 */
const HEADER_CHECKS: ReadonlyMap<string, HeaderCheck> = (() => {
  const kinds = new Map<string, number>([
    ['contact', CONTACT],
    ['expires', EXPIRES],
    ['require', OPTION_TAGS],
    ['proxy-require', OPTION_TAGS],
    ['supported', OPTION_TAGS_OR_EMPTY],
    ['unsupported', OPTION_TAGS_OR_EMPTY],
    ['accept', ACCEPT],
    ['content-type', CONTENT_TYPE],
    ['content-encoding', CONTENT_ENCODING],
    ['event', EVENT],
    ['subscription-state', SUBSCRIPTION_STATE],
    ['rack', RACK],
  ]);
  for (const name of DELTA_SECONDS) kinds.set(name, DELTA);
  for (const name of URI_SINGLES) kinds.set(name, URI_SINGLE);
  for (const name of URI_LISTS.keys()) kinds.set(name, URI_LIST);
  for (const name of ['route', 'record-route', 'path']) kinds.set(name, ROUTE_LIST);
  const routeSets = [...ROUTE_SETS];
  const checks = new Map<string, HeaderCheck>();
  for (const name of new Set([...kinds.keys(), ...SINGLE_BIT.keys()])) {
    checks.set(name, {
      kind: kinds.get(name) ?? 0,
      bit: SINGLE_BIT.get(name) ?? 0,
      routeSet: routeSets.indexOf(name),
    });
  }
  return checks;
})();

function walkHeaders(
  m: SipMessage,
  s: ValidateSettings,
  walk: Walk,
  caches: OutcomeCaches,
): Problem | undefined {
  let seen = 0;
  // Values counted per route set: Route, Record-Route, Path, Service-Route.
  let routes = 0;
  let recordRoutes = 0;
  let paths = 0;
  let serviceRoutes = 0;
  const headers = m.headers;
  for (let k = 0; k < headers.length; k++) {
    const h = headers[k]!;
    const check = HEADER_CHECKS.get(h.name);
    if (check === undefined) continue;
    if (check.bit !== 0) {
      if ((seen & check.bit) !== 0)
        return problem('SW_ERR_DUPLICATE_HEADER', `repeated ${display(h.name)} header`);
      seen |= check.bit;
    }
    switch (check.kind) {
      case CONTACT: {
        walk.hasContact = true;
        const bad = contactFieldProblem(nameAddrsOf(h), s, walk);
        if (bad !== undefined) return bad;
        break;
      }
      case EXPIRES:
        // src/sip checked 1*DIGIT up to 2^32-1; the configured bound may be lower.
        if (parseDigits(h.value, 10) > s.maxExpires)
          return problem('SW_ERR_EXPIRES_RANGE', 'Expires too large');
        break;
      case OPTION_TAGS:
        if (!isOptionTagList(h.value, false))
          return problem('SW_ERR_BAD_OPTION_TAGS', `bad ${display(h.name)} option tags`);
        break;
      case OPTION_TAGS_OR_EMPTY:
        if (!isOptionTagList(h.value, true))
          return problem('SW_ERR_BAD_OPTION_TAGS', `bad ${display(h.name)} option tags`);
        break;
      case ACCEPT:
        if (!isAcceptList(h.value, isMediaRange))
          return problem('SW_ERR_BAD_ACCEPT', 'bad Accept media range');
        break;
      case CONTENT_TYPE: {
        const t = parseMediaType(h.value);
        if (t === undefined) return problem('SW_ERR_BAD_CONTENT_TYPE', 'bad Content-Type');
        walk.contentType = t;
        break;
      }
      case CONTENT_ENCODING:
        walk.contentEncoding =
          walk.contentEncoding === undefined ? h.value : `${walk.contentEncoding},${h.value}`;
        break;
      case EVENT:
        walk.hasEvent = true;
        if (!isEvent(h.value)) return problem('SW_ERR_BAD_EVENT', 'bad Event package');
        break;
      case SUBSCRIPTION_STATE:
        walk.hasSubscriptionState = true;
        break;
      case RACK:
        walk.hasRAck = true;
        break;
      case DELTA:
        if (!isLeadingDeltaSeconds(h.value))
          return problem('SW_ERR_BAD_DELTA_SECONDS', `${display(h.name)} is not a number of seconds`);
        break;
      case URI_SINGLE: {
        if (h.name === 'refer-to') walk.referTo++;
        const cache = cacheFor(caches, h.name);
        const outcome = cache.get(h.value) ?? cache.set(h.value, uriSingleOutcome(h.name, h.value));
        if (outcome.problem !== undefined) return outcome.problem;
        break;
      }
      case URI_LIST: {
        const cache = cacheFor(caches, h.name);
        const outcome = cache.get(h.value) ?? cache.set(h.value, uriListOutcome(h.name, h.value));
        if (!outcome.parsed) return outcome.problem;
        // Service-Route is the one route set among these names (RFC 3608 5).
        if (check.routeSet >= 0) {
          serviceRoutes += outcome.values;
          if (serviceRoutes > s.maxRoute)
            return problem('SW_ERR_TOO_MANY_ROUTE', `too many ${display(h.name)} values`);
        }
        if (outcome.problem !== undefined) return outcome.problem;
        break;
      }
      case ROUTE_LIST: {
        const list = nameAddrsOf(h);
        if (list instanceof SipParseError || list === '*')
          return problem('SW_ERR_BAD_HEADER_URI', `bad ${display(h.name)} header`);
        let n: number;
        if (check.routeSet === 0) n = routes += list.length;
        else if (check.routeSet === 1) n = recordRoutes += list.length;
        else n = paths += list.length;
        if (n > s.maxRoute) return problem('SW_ERR_TOO_MANY_ROUTE', `too many ${display(h.name)} values`);
        const bad = firstUriProblem(h.name, list);
        if (bad !== undefined) return bad;
        break;
      }
    }
  }
  return undefined;
}

function contactProblem(c: NameAddr, s: ValidateSettings): Problem | undefined {
  const bad = uriProblem('Contact', c.uri);
  if (bad !== undefined) return bad;
  const expires = c.params.get('expires');
  // src/sip checked the value is delta-seconds up to 2^32-1; the configured bound may be lower.
  if (typeof expires === 'string' && parseDigits(expires, 10) > s.maxExpires)
    return problem('SW_ERR_EXPIRES_RANGE', 'Contact expires too large');
  return undefined;
}

/** Names with a bound of their own (on values, which are at least as many as fields). */
const OWN_BOUND: ReadonlySet<string> = new Set(['via', 'contact', ...ROUTE_SETS]);

/** A header whose fields occur more often than `maxHeaderFields`, if any. */
function crowdedHeader(m: SipMessage, max: number): string | undefined {
  // Fewer fields than the bound: no name can exceed it, and nothing is counted.
  if (m.headers.length <= max) return undefined;
  const counts = new Map<string, number>();
  for (const h of m.headers) {
    if (OWN_BOUND.has(h.name)) continue;
    const n = (counts.get(h.name) ?? 0) + 1;
    if (n > max) return h.name;
    counts.set(h.name, n);
  }
  return undefined;
}

/** RFC 3261 8.1.1.7: the magic cookie marks a branch built by an RFC 3261 client. */
const MAGIC_COOKIE = 'z9hG4bK';

/** The headers a request method cannot do without, beyond the five every request has. */
function missingForMethod(method: string, walk: Walk, m: SipMessage): Problem | undefined {
  switch (method) {
    case 'INVITE':
      // RFC 3261 8.1.1.8; an RFC 2543 client (no magic cookie) may omit it (RFC 4475 3.1.1.13).
      if (!walk.hasContact && m.via[0]?.branch?.startsWith(MAGIC_COOKIE))
        return problem('SW_ERR_MISSING_HEADER', 'INVITE without Contact');
      return undefined;
    case 'SUBSCRIBE':
      if (!walk.hasEvent) return problem('SW_ERR_MISSING_HEADER', 'SUBSCRIBE without Event'); // RFC 6665 8.2.1
      if (!walk.hasContact) return problem('SW_ERR_MISSING_HEADER', 'SUBSCRIBE without Contact'); // RFC 6665 4.1.1
      return undefined;
    case 'NOTIFY':
      if (!walk.hasEvent) return problem('SW_ERR_MISSING_HEADER', 'NOTIFY without Event'); // RFC 6665 8.2.1
      if (!walk.hasSubscriptionState)
        return problem('SW_ERR_MISSING_HEADER', 'NOTIFY without Subscription-State'); // RFC 6665 4.1.3
      return undefined;
    case 'REFER':
      // RFC 3515 2.4.1: exactly one Refer-To value (the single-valued check caught two fields).
      if (walk.referTo === 0) return problem('SW_ERR_MISSING_HEADER', 'REFER without Refer-To');
      return undefined;
    case 'PRACK':
      if (!walk.hasRAck) return problem('SW_ERR_MISSING_HEADER', 'PRACK without RAck'); // RFC 3262 7.2
      return undefined;
    default:
      return undefined;
  }
}

/** True when the body holds something other than CR, LF, SP and HTAB. */
function hasContent(body: Buffer): boolean {
  for (let k = 0; k < body.length; k++) {
    const c = body[k]!;
    if (c !== 0x0d && c !== 0x0a && c !== 0x20 && c !== 0x09) return true;
  }
  return false;
}

const UNSUPPORTED_ENCODING: Problem = {
  ...problem('SW_ERR_UNSUPPORTED_CONTENT_ENCODING', 'encoded session description'),
  // RFC 3261 21.4.13: 415 lists what the server accepts.
  headers: [{ name: 'Accept-Encoding', value: 'identity' }],
};

function bodyProblem(
  m: SipMessage,
  walk: Walk,
  s: ValidateSettings,
  sdpLimits: SdpLimits,
): Problem | undefined {
  if (m.body.length === 0) return undefined;
  const type = walk.contentType;
  // RFC 3261 20.15: Content-Type MUST be present when the body is not empty.
  if (type === undefined)
    return hasContent(m.body)
      ? problem('SW_ERR_MISSING_CONTENT_TYPE', 'body without Content-Type')
      : undefined;
  if (!s.checkSdp || (!isSdpType(type) && type.type !== 'multipart')) return undefined;
  // A compressed body cannot be checked, nor rewritten for the media relay (RFC 3261 20.12).
  const encoding = walk.contentEncoding?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== 'identity' && encoding !== '') return UNSUPPORTED_ENCODING;
  const found = findSdpBodies(type, m.body);
  if (!found.ok) {
    if (found.error.code === 'SW_ERR_SDP_UNSUPPORTED_ENCODING') return UNSUPPORTED_ENCODING;
    return sdpProblem(found.error, 'bad multipart body');
  }
  for (const sdp of found.sdp) {
    const error = checkSdp(sdp, sdpLimits);
    if (error !== undefined) return sdpProblem(error, 'bad SDP');
  }
  return undefined;
}

/** Every check, cheapest first; undefined when the message passes. */
function check(
  m: SipMessage,
  s: ValidateSettings,
  sdpLimits: SdpLimits,
  caches: OutcomeCaches,
): Problem | undefined {
  if (m.via.length > s.maxVia) return problem('SW_ERR_TOO_MANY_VIA', 'too many Via values');
  const crowded = crowdedHeader(m, s.maxHeaderFields);
  if (crowded !== undefined) return problem('SW_ERR_TOO_MANY_HEADER_FIELDS', 'too many fields of one header');
  // RFC 3261 18.2.2: responses go back to the sent-by port; port 0 reaches no one.
  for (const v of m.via) if (v.port === 0) return problem('SW_ERR_BAD_PORT', 'Via sent-by port out of range');
  if (m.kind === 'request') {
    const bad = uriProblem('Request-URI', m.uri);
    if (bad !== undefined) return bad;
  }
  const from = uriProblem('From', m.from.uri);
  if (from !== undefined) return from;
  const to = uriProblem('To', m.to.uri);
  if (to !== undefined) return to;

  const walk: Walk = {
    contacts: 0,
    hasContact: false,
    hasEvent: false,
    hasSubscriptionState: false,
    hasRAck: false,
    referTo: 0,
  };
  const bad = walkHeaders(m, s, walk, caches);
  if (bad !== undefined) return bad;
  if (m.kind === 'request') {
    const gap = missingForMethod(m.method, walk, m);
    if (gap !== undefined) return gap;
  }
  // The session description last: the costliest check.
  return bodyProblem(m, walk, s, sdpLimits);
}

export function createValidateStage(settings: unknown, _deps: StageDependencies): Stage {
  const s = parseStageSettings(settingsSchema, settings);
  const sdpLimits: SdpLimits = Object.freeze({ ...s.sdp });
  const caches: OutcomeCaches = { byName: new Map() };

  return {
    name: 'validate',
    phase: 'validate',
    // A stage that cannot tell whether a message is sound lets nothing through.
    failMode: 'closed',

    request(context: RequestContext): StageVerdict {
      const { request, flow } = context;
      const found = check(request, s, sdpLimits, caches);
      if (found === undefined) return STAGE_PASS;
      // An ACK is never answered (RFC 3261 17.2.3): it is dropped.
      if (request.method === 'ACK')
        return {
          action: 'drop',
          event: eventFor(flow, {
            type: 'invalid',
            stage: 'validate',
            action: 'drop',
            reason: found.reason,
            rule: found.code,
          }),
        };
      const status = found.status;
      return {
        action: 'reject',
        status,
        reason: found.reason,
        headers: [warningHeader(found.reason), ...(found.headers ?? [])],
        event: eventFor(flow, {
          type: 'invalid',
          stage: 'validate',
          action: 'reject',
          reason: found.reason,
          rule: found.code,
          status,
        }),
      };
    },

    response(context: RequestContext, response: SipResponse): StageVerdict {
      const found = check(response, s, sdpLimits, caches);
      if (found === undefined) return STAGE_PASS;
      return {
        action: 'drop',
        event: eventFor(context.flow, {
          type: 'invalid',
          stage: 'validate',
          action: 'drop',
          reason: `response: ${found.reason}`,
          rule: found.code,
          details: { status: response.status },
        }),
      };
    },
  };
}
