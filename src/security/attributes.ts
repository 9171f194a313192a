/**
 * Rule attributes: the few values of a message that detection rules count on (the source,
 * its network, the method, the users, the User-Agent...). Read lazily, each at most once per
 * message, from the summaries the parser already made; only `userAgent` scans the header
 * list. Every value is bounded and printable, so that it can go into a store key, an event
 * and a log line as it is.
 */
import type { SipRequest, Uri } from '../sip/message.ts';
import { safeReason } from '../sip/response.ts';
import { isSipUri, isTelUri } from '../sip/uri.ts';
import { networkOf } from '../state/cidr.ts';
import { parseAddress } from '../state/ip.ts';
import type { Flow } from '../transport/types.ts';
import { attributeKey } from './block-keys.ts';

export const ATTRIBUTES = [
  'source',
  'network',
  'sourcePort',
  'transport',
  'method',
  'fromUser',
  'fromDomain',
  'toUser',
  'ruriUser',
  'userAgent',
  'status',
] as const;

export type Attribute = (typeof ATTRIBUTES)[number];

/** Attributes known before parsing (from the flow alone): what a `malformed` rule may use. */
export const PACKET_ATTRIBUTES: ReadonlySet<Attribute> = new Set([
  'source',
  'network',
  'sourcePort',
  'transport',
]);

/** Longest attribute value kept; longer ones are cut (a User-Agent of 4 kB counts as its first 128 characters). */
export const MAX_ATTRIBUTE_LENGTH = 128;

/** The networks a `network` attribute and a `network` block use: as the block table's default. */
export const NETWORK_PREFIX_V4 = 24;
export const NETWORK_PREFIX_V6 = 64;

const INDEX: Readonly<Record<Attribute, number>> = Object.fromEntries(
  ATTRIBUTES.map((a, i) => [a, i]),
) as Record<Attribute, number>;

const UNPRINTABLE = /[^\x20-\x7e]/;

/** Cut to MAX_ATTRIBUTE_LENGTH and made printable ASCII (anything else becomes `?`). */
export function boundedText(text: string): string {
  const cut = text.length > MAX_ATTRIBUTE_LENGTH ? text.slice(0, MAX_ATTRIBUTE_LENGTH) : text;
  return UNPRINTABLE.test(cut) ? safeReason(cut) : cut;
}

/** The user part of a URI, lower-cased and still %-escaped as written; a tel URI's number; '' when none. */
export function userOf(uri: Uri): string {
  if (isSipUri(uri)) return uri.user === undefined ? '' : boundedText(uri.user.toLowerCase());
  if (isTelUri(uri)) return boundedText(uri.number.toLowerCase());
  return '';
}

/** The host of a SIP URI, lower-cased; '' for other schemes. */
export function domainOf(uri: Uri): string {
  return isSipUri(uri) ? boundedText(uri.host.toLowerCase()) : '';
}

/** The /24 (IPv4) or /64 (IPv6) network of an address in CIDR text; the address itself when it is not an IP address. */
export function networkText(address: string): string {
  const parsed = parseAddress(address);
  if (parsed === undefined) return boundedText(address);
  return networkOf(parsed, parsed.family === 4 ? NETWORK_PREFIX_V4 : NETWORK_PREFIX_V6).text;
}

/** The first value of a header by its canonical lower-case long name. */
export function headerValue(request: SipRequest, name: string): string | undefined {
  for (const h of request.headers) if (h.name === name) return h.value;
  return undefined;
}

/**
 * One message's attributes, read on first use. `request` is absent for a packet that did not
 * parse (only the flow's attributes are known then); `status` only for an outcome.
 */
export class MessageAttributes {
  readonly flow: Flow;
  readonly request: SipRequest | undefined;
  readonly status: number | undefined;
  readonly #values: (string | undefined)[] = [];
  /** `name=value` per attribute, as counter keys spell it. */
  readonly #parts: (string | undefined)[] = [];

  constructor(flow: Flow, request?: SipRequest, status?: number) {
    this.flow = flow;
    this.request = request;
    this.status = status;
  }

  /** The value, or '' when the message has none (no user part, no User-Agent...). */
  get(name: Attribute): string {
    const i = INDEX[name];
    const cached = this.#values[i];
    if (cached !== undefined) return cached;
    const value = this.#read(name);
    this.#values[i] = value;
    return value;
  }

  /**
   * `name=value`, the attribute as a counter key spells it; '' when the message has none.
   * Made once per message, however many rules count on the attribute.
   */
  part(name: Attribute): string {
    const i = INDEX[name];
    const cached = this.#parts[i];
    if (cached !== undefined) return cached;
    const value = this.get(name);
    const part = value === '' ? '' : attributeKey(name, value);
    this.#parts[i] = part;
    return part;
  }

  #read(name: Attribute): string {
    const flow = this.flow;
    switch (name) {
      case 'source':
        return flow.remoteAddress;
      case 'network':
        return networkText(flow.remoteAddress);
      case 'sourcePort':
        return String(flow.remotePort);
      case 'transport':
        return flow.transport;
      case 'status':
        return this.status === undefined ? '' : String(this.status);
      default:
        break;
    }
    const request = this.request;
    if (request === undefined) return '';
    switch (name) {
      case 'method':
        return boundedText(request.method);
      case 'fromUser':
        return userOf(request.from.uri);
      case 'fromDomain':
        return domainOf(request.from.uri);
      case 'toUser':
        return userOf(request.to.uri);
      case 'ruriUser':
        return userOf(request.uri);
      case 'userAgent': {
        const ua = headerValue(request, 'user-agent');
        return ua === undefined ? '' : boundedText(ua);
      }
      default:
        return '';
    }
  }
}
