import { nameAddrsOf } from '../../../sip/address-headers.ts';
import { firstValueEnd, removeFirstValue, withRequestUri } from '../../../sip/edit.ts';
import { isSipParseError } from '../../../sip/errors.ts';
import type { HiddenVias } from '../../../sip/hidden-vias.ts';
import type {
  HeaderField,
  NameAddr,
  SipMessage,
  SipRequest,
  SipResponse,
  SipUri,
} from '../../../sip/message.ts';
import { type AdvertisedAddress, hostForUri } from '../local-identity.ts';
import { firstRouteUri } from '../routes.ts';
import { Sealer } from './sealer.ts';

export type { HiddenVias } from '../../../sip/hidden-vias.ts';

/** What is hidden from one side in the messages that leave towards it. */
export interface HiddenSide {
  /** Only sipwarden's Via goes out; the others come back from the transaction for the response. */
  readonly via: boolean;
  /** Untrusted side only: sipwarden's Record-Route entry stands for the whole route set. */
  readonly recordRoute: boolean;
  /** Untrusted side only: Contact URIs replaced by sealed sipwarden URIs that map back. */
  readonly contact: boolean;
  /** Header fields removed (lower-case long names). */
  readonly stripHeaders: readonly string[];
  /** Server written in responses, User-Agent in requests (after stripping), when set. */
  readonly server?: string;
  readonly userAgent?: string;
}

export interface TopologySettings {
  /** Towards the untrusted side (the clients). */
  readonly untrusted?: HiddenSide;
  /** Towards the upstream: Via and header fields only (Contact and route set stay as they are). */
  readonly trusted?: HiddenSide;
}

/** Fields the core reads or routes on: never stripped. */
export const ESSENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'route',
  'record-route',
  'path',
  'max-forwards',
  'content-length',
  'content-type',
]);

/** The user part prefix of a sealed Contact URI, and the Record-Route URI parameter of a sealed route set. */
const CONTACT_PREFIX = 'ct-';
const ROUTE_PARAM = 'th';
/** Entries in a route set that can be sealed (as dialog-endpoints.ts keeps at most). */
const MAX_ROUTE_ENTRIES = 16;
/** Opened route sets kept at most; when full, the cache starts over. */
const OPENED_LISTS = 10_000;

/** A request from the untrusted side whose sealed Route or Request-URI does not open. */
export const FORGED = 'forged';

/**
 * Topology hiding (the edge's job, as Kamailio's topoh and SBCs do it): nothing that leaves
 * towards a hidden side names a host, address or port of the other side.
 *
 * - Via: a request leaves with sipwarden's Via alone; the response gets the others back from
 *   its transaction (the request it answers still holds them), as RFC 3261 16.7 item 3 expects.
 * - Record-Route: sipwarden's own entry stands for the route set; the rest of the set is sealed
 *   into a parameter of that entry's URI, which the party copies into every Route it sends
 *   (RFC 3261 12.1.1, 12.1.2), and is put back in front of the in-dialog request.
 * - Contact: each URI is sealed into the user part of a sipwarden URI; a request sent to it
 *   gets the original Request-URI back; a URI that does not open is refused.
 * - Header fields that name products, hosts or internals are stripped or set.
 *
 * The state lives in the dialog itself: in the sealed route set and Contact its parties keep,
 * and for Via in the transaction. Nothing is kept per dialog or per message here beyond the
 * sealer's bounded caches. The session description is left alone: the media relay rewrites
 * its addresses; without the relay, the media addresses in SDP still show.
 */
export class TopologyHiding {
  readonly #untrusted: PreparedSide | undefined;
  readonly #trusted: PreparedSide | undefined;
  readonly #sealer: Sealer;
  readonly #isOurUri: (uri: SipUri) => boolean;
  readonly #openedLists = new Map<string, readonly string[]>();

  constructor(settings: TopologySettings, secret: Buffer, isOurUri: (uri: SipUri) => boolean) {
    this.#untrusted = settings.untrusted && prepare(settings.untrusted);
    this.#trusted = settings.trusted && prepare(settings.trusted, true);
    this.#sealer = new Sealer(secret);
    this.#isOurUri = isOurUri;
  }

  /** Whether anything is hidden towards the clients (false) or the upstream (true). */
  hides(towardsUpstream: boolean): boolean {
    return (towardsUpstream ? this.#trusted : this.#untrusted) !== undefined;
  }

  /** The received request's Via fields that the forwarded copy does not carry, for its responses. */
  hiddenVias(received: SipRequest, towardsUpstream: boolean): HiddenVias | undefined {
    const side = towardsUpstream ? this.#trusted : this.#untrusted;
    if (side === undefined || !side.via) return undefined;
    const values: string[] = [];
    for (const header of received.headers) if (header.name === 'via') values.push(header.value);
    return { values, parsed: received.via };
  }

  /**
   * A request made ready to leave towards a hidden side, with sipwarden's Via on top as its
   * first field line (withOwnVia). `own` is sipwarden's address on that side.
   */
  hideRequest(message: SipRequest, towardsUpstream: boolean, own: AdvertisedAddress): SipRequest {
    const side = towardsUpstream ? this.#trusted : this.#untrusted;
    if (side === undefined) return message;
    let out = message;
    if (side.via) out = onlyOwnVia(out);
    if (side.recordRoute) out = this.#hideRecordRoute(out, 'request');
    if (side.contact) out = this.#sealContacts(out, own);
    return withSideHeaders(out, side, true);
  }

  /** A response made ready to leave towards a hidden side; `own` is sipwarden's address on that side. */
  hideResponse(response: SipResponse, towardsUpstream: boolean, own: AdvertisedAddress): SipResponse {
    const side = towardsUpstream ? this.#trusted : this.#untrusted;
    if (side === undefined) return response;
    let out = response;
    const register = response.cseq.method === 'REGISTER';
    if (side.recordRoute) out = this.#hideRecordRoute(out, 'response');
    // A REGISTER's 2xx lists the party's own bindings (RFC 3261 10.3 item 8), and the Path
    // the registrar stored (RFC 3327): sipwarden's own entries, of no use to the party.
    if (side.contact && !register) out = this.#sealContacts(out, own);
    if (side.recordRoute && register) out = withoutFields(out, 'path');
    return withSideHeaders(out, side, false);
  }

  /**
   * A response from a hidden side, before sipwarden's Via comes off: the Via values its
   * request was sent without, and the route set sealed in sipwarden's Record-Route entry.
   */
  restoreResponse(response: SipResponse, vias: HiddenVias | undefined, fromUpstream: boolean): SipResponse {
    let out = response;
    if (vias !== undefined && vias.values.length > 0) out = withVias(out, vias);
    if (!fromUpstream && this.#untrusted?.recordRoute) out = this.#openRecordRoute(out);
    return out;
  }

  /**
   * A request from the untrusted side before it is routed: the route set sealed in the Route
   * entry naming sipwarden goes back in front, and a sealed Contact URI in the Request-URI
   * becomes the URI it was sealed from. FORGED when either does not open.
   */
  restoreRequest(request: SipRequest): SipRequest | typeof FORGED {
    const side = this.#untrusted;
    if (side === undefined) return request;
    let out = request;
    if (side.recordRoute) {
      const first = firstRouteUri(out);
      const sealed = first && this.#isOurUri(first) ? first.params.get(ROUTE_PARAM) : undefined;
      if (sealed !== undefined) {
        const routes = sealed === null ? undefined : this.#openList(sealed);
        if (routes === undefined) return FORGED;
        out = removeFirstValue(out, 'route');
        out = withFieldsBefore(out, 'route', routes);
      }
    }
    if (side.contact) {
      const uri = out.uri;
      if (
        (uri.scheme === 'sip' || uri.scheme === 'sips') &&
        (uri as SipUri).user?.startsWith(CONTACT_PREFIX)
      ) {
        const sipUri = uri as SipUri;
        if (this.#isOurUri(sipUri)) {
          const original = this.#sealer.open(sipUri.user!.slice(CONTACT_PREFIX.length));
          if (original === undefined) return FORGED;
          try {
            out = withRequestUri(out, original);
          } catch {
            return FORGED;
          }
        }
      }
    }
    return out;
  }

  /**
   * Record-Route towards the untrusted side: sipwarden's entry alone, with the rest of the
   * set sealed in it in the order the party's Route will list them. On a request sipwarden's
   * entry is the topmost (the callee's route set is the list as it is, RFC 3261 12.1.1); on a
   * response it is the lowest (the caller's is the list reversed, 12.1.2).
   */
  #hideRecordRoute<M extends SipMessage>(message: M, kind: 'request' | 'response'): M {
    const entries = recordRouteEntries(message);
    if (entries === undefined) return withoutFields(message, 'record-route');
    if (entries.length === 0) return message;
    // On a response, entries below ours were added by proxies on the untrusted side before
    // the request reached us (a Kamailio in front of sipwarden): theirs to keep, they route on them.
    let index = 0;
    if (kind === 'response') {
      index = entries.length - 1;
      while (index > 0 && !this.#isOurs(entries[index]!)) index--;
    }
    const ours = entries[index]!;
    if (!this.#isOurs(ours)) {
      // Not record-routed by us here: nothing of the set may show, and nothing can stand for it.
      return withoutFields(message, 'record-route');
    }
    const below = kind === 'request' ? [] : entries.slice(index + 1).map((e) => entryText(e));
    const rest = kind === 'request' ? entries.slice(1) : entries.slice(0, index).reverse();
    if (rest.length === 0) return message;
    const sealed = this.#sealer.seal(JSON.stringify(rest.map((e) => entryText(e))));
    if (sealed === undefined) return withoutFields(message, 'record-route');
    return withOneField(
      message,
      'record-route',
      [entryText(ours, `;${ROUTE_PARAM}=${sealed}`), ...below].join(', '),
    );
  }

  /** Record-Route from the untrusted side: sipwarden's entry opens into the whole set. */
  #openRecordRoute(response: SipResponse): SipResponse {
    const entries = recordRouteEntries(response);
    if (entries === undefined || entries.length === 0) return response;
    // Proxies on the untrusted side that record-routed after us put their entries above ours.
    const index = entries.findIndex((entry) => this.#isOurs(entry));
    if (index === -1) return response;
    const first = entries[index]!;
    const sealed = (first.uri as SipUri).params.get(ROUTE_PARAM);
    if (sealed === undefined || sealed === null) return response;
    const rest = this.#openList(sealed);
    // One that does not open stays as it is: the upstream then routes through our entry alone.
    if (rest === undefined) return response;
    const restored = [
      ...entries.slice(0, index).map((e) => entryText(e)),
      entryText(first, '', ROUTE_PARAM),
      ...rest,
      ...entries.slice(index + 1).map((e) => entryText(e)),
    ];
    return withOneField(response, 'record-route', restored.join(', '));
  }

  /** A sealed route set opened (every in-dialog request of a dialog carries the same: kept, bounded). */
  #openList(sealed: string): readonly string[] | undefined {
    const known = this.#openedLists.get(sealed);
    if (known !== undefined) return known;
    const text = this.#sealer.open(sealed);
    if (text === undefined) return undefined;
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (!Array.isArray(list) || list.length > MAX_ROUTE_ENTRIES) return undefined;
    const routes = list.filter((v): v is string => typeof v === 'string');
    if (this.#openedLists.size >= OPENED_LISTS) this.#openedLists.clear();
    this.#openedLists.set(sealed, routes);
    return routes;
  }

  /** Every Contact URI sealed into a sipwarden URI on `own`, its header parameters kept. */
  #sealContacts<M extends SipMessage>(message: M, own: AdvertisedAddress): M {
    let changed = false;
    const headers: HeaderField[] = [];
    for (const header of message.headers) {
      if (header.name !== 'contact') {
        headers.push(header);
        continue;
      }
      changed = true;
      const list = nameAddrsOf(header);
      // '*' (a REGISTER's) names nothing; an unreadable one goes.
      if (list === '*') headers.push(header);
      if (isSipParseError(list) || list === '*') continue;
      const values: string[] = [];
      for (const entry of list) {
        const token = this.#sealer.seal(entry.uriText);
        if (token === undefined) continue;
        const transport = own.transport === 'udp' ? '' : `;transport=${own.transport}`;
        values.push(
          `<sip:${CONTACT_PREFIX}${token}@${hostForUri(own.host)}:${own.port}${transport}>${paramsText(entry)}`,
        );
      }
      if (values.length > 0) headers.push({ name: 'contact', value: values.join(', ') });
    }
    return changed ? { ...message, headers } : message;
  }

  #isOurs(entry: NameAddr): boolean {
    const uri = entry.uri;
    return (uri.scheme === 'sip' || uri.scheme === 'sips') && this.#isOurUri(uri as SipUri);
  }
}

interface PreparedSide extends HiddenSide {
  readonly strip: ReadonlySet<string>;
}

function prepare(side: HiddenSide, trusted = false): PreparedSide {
  const strip = new Set(side.stripHeaders.map((name) => name.toLowerCase()));
  for (const name of strip) {
    if (ESSENTIAL_HEADERS.has(name)) throw new RangeError(`topology hiding cannot strip ${name}`);
  }
  // Towards the upstream the route set and Contact stay: its dialogs route on them.
  return trusted ? { ...side, recordRoute: false, contact: false, strip } : { ...side, strip };
}

/** Our Via (the first field line, written by withOwnVia) and no other. */
function onlyOwnVia(message: SipRequest): SipRequest {
  if (message.via.length <= 1) return message;
  const headers = [message.headers[0]!];
  for (let i = 1; i < message.headers.length; i++) {
    const header = message.headers[i]!;
    if (header.name !== 'via') headers.push(header);
  }
  return { ...message, headers, via: message.via.slice(0, 1) };
}

/** The response's first Via value (ours), then `vias` in place of any other. */
function withVias(response: SipResponse, vias: HiddenVias): SipResponse {
  const headers: HeaderField[] = [];
  let placed = false;
  for (const header of response.headers) {
    if (header.name !== 'via') headers.push(header);
    else if (!placed) {
      placed = true;
      const own = firstValue(header.value);
      headers.push(own === header.value ? header : { name: 'via', value: own });
      for (const value of vias.values) headers.push({ name: 'via', value });
    }
  }
  if (!placed) return response;
  // Summaries: ours, then those of the request these values came from, parsed there.
  return { ...response, headers, via: [response.via[0]!, ...vias.parsed] };
}

function withSideHeaders<M extends SipMessage>(message: M, side: PreparedSide, request: boolean): M {
  const set = request ? side.userAgent : side.server;
  const setName = request ? 'user-agent' : 'server';
  if (side.strip.size === 0 && set === undefined) return message;
  let drop = false;
  for (const header of message.headers) {
    if (side.strip.has(header.name) || (set !== undefined && header.name === setName)) {
      drop = true;
      break;
    }
  }
  if (!drop && set === undefined) return message;
  const headers = drop
    ? message.headers.filter((h) => !side.strip.has(h.name) && !(set !== undefined && h.name === setName))
    : message.headers.slice();
  if (set !== undefined) headers.push({ name: setName, value: set });
  return { ...message, headers };
}

function recordRouteEntries(message: SipMessage): NameAddr[] | undefined {
  const out: NameAddr[] = [];
  for (const header of message.headers) {
    if (header.name !== 'record-route') continue;
    const list = nameAddrsOf(header);
    if (isSipParseError(list) || list === '*') return undefined;
    out.push(...list);
    if (out.length > MAX_ROUTE_ENTRIES) return undefined;
  }
  return out;
}

/** A route entry as written: its URI in angle brackets (with `extra` URI parameters) and its parameters. */
function entryText(entry: NameAddr, extra = '', without?: string): string {
  let uri = entry.uriText;
  if (without !== undefined) uri = uri.replace(new RegExp(`;${without}=[A-Za-z0-9_-]*`, 'i'), '');
  const query = uri.indexOf('?');
  uri = query < 0 ? uri + extra : uri.slice(0, query) + extra + uri.slice(query);
  return `<${uri}>${paramsText(entry)}`;
}

function paramsText(entry: NameAddr): string {
  let text = '';
  for (const [name, value] of entry.params) text += value === null ? `;${name}` : `;${name}=${value}`;
  return text;
}

function withoutFields<M extends SipMessage>(message: M, name: string): M {
  if (!message.headers.some((h) => h.name === name)) return message;
  return { ...message, headers: message.headers.filter((h) => h.name !== name) };
}

/** Every field of that name replaced by one field with `value`, at the place of the first. */
function withOneField<M extends SipMessage>(message: M, name: string, value: string): M {
  const headers: HeaderField[] = [];
  let placed = false;
  for (const header of message.headers) {
    if (header.name !== name) headers.push(header);
    else if (!placed) {
      placed = true;
      headers.push({ name, value });
    }
  }
  return { ...message, headers };
}

/** Fields with `values` inserted, in order, before the first field of that name (or at the end). */
function withFieldsBefore<M extends SipMessage>(message: M, name: string, values: readonly string[]): M {
  if (values.length === 0) return message;
  let index = message.headers.findIndex((h) => h.name === name);
  if (index < 0) index = message.headers.length;
  const headers = message.headers.slice();
  headers.splice(index, 0, ...values.map((value) => ({ name, value })));
  return { ...message, headers };
}

function firstValue(value: string): string {
  const comma = firstValueEnd(value);
  return comma < 0 ? value : value.slice(0, comma).trim();
}
