import { nameAddrsOf } from '../../../sip/address-headers.ts';
import { isSipParseError } from '../../../sip/errors.ts';
import type { NameAddr, SipMessage, SipRequest, SipResponse, SipUri } from '../../../sip/message.ts';
import type { AnsweredContact } from './flow-table.ts';

/** Contacts read from one REGISTER or its answer at most: more are ignored. */
const MAX_CONTACTS = 32;
/** A lifetime the answer does not state (RFC 3261 10.2.1.1 default). */
const DEFAULT_EXPIRES_S = 3600;
/** Longest lifetime believed: a registrar's typo must not pin a flow for years. */
const MAX_EXPIRES_S = 7 * 24 * 3600;

/**
 * The phone's bindings in a 2xx to its REGISTER (RFC 3261 10.3 item 8: the registrar lists
 * every current binding of the address of record with its `expires`). Only the Contacts the
 * phone itself sent count: other devices of the same address of record registered elsewhere.
 * A phone's Contact the answer does not list, or lists with expires 0, is removed (0).
 */
export function answeredContacts(request: SipRequest, response: SipResponse): AnsweredContact[] {
  const asked = contactsOf(request);
  if (asked === '*' || asked.length === 0) return [];
  const listed = contactsOf(response);
  if (listed === '*') return [];
  const headerExpires = expiresHeader(response) ?? DEFAULT_EXPIRES_S;
  const out: AnsweredContact[] = [];
  for (const mine of asked) {
    const answered = listed.find((entry) => sameUri(entry, mine));
    if (answered === undefined) continue;
    const param = answered.params.get('expires');
    const expires = param === undefined || param === null ? headerExpires : toSeconds(param);
    out.push({ uri: answered.uriText, expiresS: Math.min(expires ?? 0, MAX_EXPIRES_S) });
  }
  return out;
}

/** The address of record a REGISTER names (its To URI), compared without case in the host. */
export function addressOfRecord(request: SipRequest): string {
  const uri = request.to.uri;
  if (uri.scheme === 'sip' || uri.scheme === 'sips') {
    const sip = uri as SipUri;
    return `${sip.scheme}:${sip.user ?? ''}@${sip.host.toLowerCase()}`;
  }
  return request.to.uriText;
}

function contactsOf(message: SipMessage): readonly NameAddr[] | '*' {
  const out: NameAddr[] = [];
  for (const header of message.headers) {
    if (header.name !== 'contact') continue;
    const values = nameAddrsOf(header);
    if (isSipParseError(values)) continue;
    if (values === '*') return '*';
    for (const value of values) {
      if (out.length >= MAX_CONTACTS) return out;
      out.push(value);
    }
  }
  return out;
}

function expiresHeader(message: SipMessage): number | undefined {
  const header = message.headers.find((h) => h.name === 'expires');
  return header === undefined ? undefined : toSeconds(header.value.trim());
}

function toSeconds(text: string): number | undefined {
  return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
}

/** RFC 3261 10.3 item 6 compares Contacts by URI: user, host and port, scheme and transport. */
function sameUri(a: NameAddr, b: NameAddr): boolean {
  if (a.uriText === b.uriText) return true;
  const x = a.uri;
  const y = b.uri;
  if ((x.scheme !== 'sip' && x.scheme !== 'sips') || x.scheme !== y.scheme) return false;
  const u = x as SipUri;
  const v = y as SipUri;
  return (
    u.user === v.user &&
    u.host.toLowerCase() === v.host.toLowerCase() &&
    (u.port ?? 5060) === (v.port ?? 5060) &&
    String(u.params.get('transport') ?? 'udp').toLowerCase() ===
      String(v.params.get('transport') ?? 'udp').toLowerCase()
  );
}
