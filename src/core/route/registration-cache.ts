import { nameAddrsOf } from '../../sip/address-headers.ts';
import { isSipParseError } from '../../sip/errors.ts';
import { formatNameAddr } from '../../sip/headers/name-addr.ts';
import type { HeaderField, NameAddr, SipRequest, SipResponse } from '../../sip/message.ts';
import { createResponse } from '../../sip/response.ts';
import { formatUri } from '../../sip/uri.ts';
import type { Flow } from '../../transport/types.ts';

/**
 * Registration caching (the registration-storm protection): sipwarden answers a phone's
 * re-REGISTER itself, from the 200 the PBX gave the same registration, while the binding the
 * PBX granted has enough time left, and forwards a refresh only when it runs low.
 *
 * The rule (README "Registration caching"): a re-REGISTER is answered from the cache only
 * when every one of these holds, and is forwarded otherwise:
 * - an entry exists for its Call-ID, made from a 2xx the PBX gave a REGISTER that came on
 *   the same flow (transport, local and remote address and port, and for TCP/TLS the same
 *   connection), and the PBX's binding for the phone's Contacts has not run out;
 * - the same Request-URI, From and To URIs and the same set of Contacts (everything but their
 *   `expires`), none asking for 0 (an unregistration) and no `Contact: *`;
 * - a CSeq above the last one seen (an equal CSeq with the same branch is a retransmission
 *   and gets the same answer again);
 * - when sipwarden verified the accepted REGISTER's Digest itself (authenticate mode local),
 *   this one too was verified, for the same user: the cache is consulted after the security
 *   pipeline, so an unverified REGISTER was challenged before it gets here;
 * - the PBX's binding has at least `refreshBelowPercent` of its granted lifetime left.
 *
 * Why that is safe: a cached answer changes nothing at the PBX. It never extends a binding
 * (the answer gives the time the PBX has left, never more), never adds, moves or removes
 * one, and comes only to the flow the PBX's own 200 went to, so a sender who never proved
 * the password gains no binding from it; a changed Contact or a new flow goes to the PBX,
 * which challenges it as always. Cached answers earn no trust in the security stages (no
 * outcome is reported for them).
 */
export interface RegistrationCacheSettings {
  /** Registrations kept at most; beyond it the one used least recently goes. */
  readonly maxEntries: number;
  /** A re-REGISTER is forwarded once the PBX's binding has less than this share of its lifetime left. */
  readonly refreshBelowPercent: number;
}

/** Why a REGISTER from a phone went to the PBX rather than being answered from the cache. */
export type ForwardReason =
  | 'no-entry'
  | 'unregister'
  | 'query'
  | 'other-flow'
  | 'changed'
  | 'unverified'
  | 'cseq'
  | 'refresh';

export interface RegistrationCacheStats {
  answered: number;
  forwarded: Record<ForwardReason, number>;
  /** Registrations stored from the PBX's 2xx (new or refreshed). */
  stored: number;
  /** Entries dropped to stay within maxEntries. */
  evicted: number;
}

interface CachedContact {
  readonly contact: NameAddr;
  readonly expiresAt: number;
  /** One of the phone's own Contacts (those its REGISTER listed). */
  readonly own: boolean;
}

interface Entry {
  readonly flowKey: string;
  readonly fingerprint: string;
  /** `user@domain` sipwarden verified the accepted REGISTER for; absent when it verified none. */
  readonly identity: string | undefined;
  readonly toTag: string | undefined;
  /** The PBX's 2xx header fields repeated in a cached answer (Path, Service-Route...). */
  readonly headers: readonly HeaderField[];
  readonly contacts: readonly CachedContact[];
  readonly hasDate: boolean;
  readonly hasExpires: boolean;
  readonly grantedMs: number;
  /** When the phone's binding at the PBX runs out (the earliest of its own Contacts). */
  readonly expiresAt: number;
  lastCseq: number;
  /** The branch of the last request answered from the cache (its retransmissions get the same answer). */
  lastBranch: string | undefined;
}

/** A REGISTER on its way to the PBX: what its 2xx is stored with. */
interface Pending {
  readonly identity: string | undefined;
}

/** RFC 3261 10.2.1.1: a REGISTER with neither an Expires header nor an `expires` parameter asks for 3600 s. */
const DEFAULT_EXPIRES_S = 3600;
/** Contacts of one AOR repeated in a cached answer at most (the PBX's 2xx lists every binding). */
const MAX_CONTACTS = 32;
/** Header fields of the PBX's 2xx kept per entry at most. */
const MAX_HEADERS = 16;
/** Fields of the PBX's 2xx not repeated as they were: rebuilt from the new request or now. */
const REBUILT = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'content-length',
  'content-type',
  'contact',
  'expires',
  'date',
  'authentication-info',
]);

export function newRegistrationCacheStats(): RegistrationCacheStats {
  return {
    answered: 0,
    forwarded: {
      'no-entry': 0,
      unregister: 0,
      query: 0,
      'other-flow': 0,
      changed: 0,
      unverified: 0,
      cseq: 0,
      refresh: 0,
    },
    stored: 0,
    evicted: 0,
  };
}

export class RegistrationCache {
  readonly #settings: RegistrationCacheSettings;
  readonly #now: () => number;
  /** By Call-ID; a Map keeps insertion order, and a hit re-inserts: the first key is the least used. */
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Pending>();
  readonly stats: RegistrationCacheStats = newRegistrationCacheStats();

  constructor(settings: RegistrationCacheSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The answer to a REGISTER from the client side, from the cache, or undefined when it must
   * go to the PBX (counted by reason). `identity` is the user sipwarden verified it for, if any.
   */
  answer(request: SipRequest, flow: Flow, identity: string | undefined): SipResponse | undefined {
    const reason = this.#check(request, flow, identity);
    if (typeof reason === 'string') {
      this.stats.forwarded[reason]++;
      return undefined;
    }
    this.stats.answered++;
    return reason;
  }

  /** A REGISTER from the client side forwarded to the PBX: its 2xx may be stored. */
  forwarded(request: SipRequest, flow: Flow, identity: string | undefined): void {
    const key = pendingKey(request, flow);
    this.#pending.delete(key);
    // Bounded as the table is: a REGISTER never answered leaves its slot to be reused.
    while (this.#pending.size >= this.#settings.maxEntries) {
      const oldest = this.#pending.keys().next().value;
      if (oldest === undefined) break;
      this.#pending.delete(oldest);
    }
    this.#pending.set(key, { identity });
  }

  /** The final response to a forwarded REGISTER, as it goes back to the phone over `flow`. */
  answered(request: SipRequest, flow: Flow, response: SipResponse): void {
    if (response.status < 200) return;
    const key = pendingKey(request, flow);
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    const fk = flowKey(flow);
    if (pending === undefined) return;
    const existing = this.#entries.get(request.callId);
    // Only the flow that holds an entry may end it: a REGISTER from elsewhere with the same
    // Call-ID, refused by the PBX, must not undo the phone's.
    const mayReplace = existing === undefined || existing.flowKey === fk || response.status < 300;
    if (!mayReplace) return;
    this.#entries.delete(request.callId);
    if (response.status >= 300) return;
    const entry = this.#entryFrom(request, fk, pending.identity, response);
    if (entry === undefined) return;
    while (this.#entries.size >= this.#settings.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
      this.stats.evicted++;
    }
    this.#entries.set(request.callId, entry);
    this.stats.stored++;
  }

  clear(): void {
    this.#entries.clear();
    this.#pending.clear();
  }

  #check(request: SipRequest, flow: Flow, identity: string | undefined): SipResponse | ForwardReason {
    const contacts = requestContacts(request);
    if (contacts === 'unregister') return 'unregister';
    if (contacts === undefined || contacts.length === 0) return 'query';
    const entry = this.#entries.get(request.callId);
    if (entry === undefined) return 'no-entry';
    const now = this.#now();
    if (entry.expiresAt <= now) {
      this.#entries.delete(request.callId);
      return 'no-entry';
    }
    if (entry.flowKey !== flowKey(flow)) return 'other-flow';
    if (entry.fingerprint !== fingerprint(request, contacts)) return 'changed';
    if (entry.identity !== undefined && entry.identity !== identity) return 'unverified';
    const seq = request.cseq.seq;
    const branch = request.via[0]?.branch;
    const retransmission = seq === entry.lastCseq && branch !== undefined && branch === entry.lastBranch;
    if (!retransmission && seq <= entry.lastCseq) return 'cseq';
    const left = entry.expiresAt - now;
    if (left * 100 < entry.grantedMs * this.#settings.refreshBelowPercent) return 'refresh';
    entry.lastCseq = seq;
    entry.lastBranch = branch;
    // Used: it goes to the end of the eviction order.
    this.#entries.delete(request.callId);
    this.#entries.set(request.callId, entry);
    return this.#build(request, entry, contacts, now);
  }

  #build(request: SipRequest, entry: Entry, asked: readonly RequestContact[], now: number): SipResponse {
    const headers: { name: string; value: string }[] = [...entry.headers];
    const values: string[] = [];
    let ownS = Number.POSITIVE_INFINITY;
    for (const cached of entry.contacts) {
      let seconds = Math.floor((cached.expiresAt - now) / 1000);
      if (seconds <= 0) continue;
      if (cached.own) {
        // Never more than the phone asked for now, nor than the PBX has left.
        const mine = asked.find((c) => c.uri === uriKey(cached.contact));
        if (mine !== undefined) seconds = Math.min(seconds, mine.expiresS);
        ownS = Math.min(ownS, seconds);
      }
      const params = new Map(cached.contact.params);
      params.set('expires', String(seconds));
      values.push(formatNameAddr({ ...cached.contact, params }));
    }
    if (values.length > 0) headers.push({ name: 'Contact', value: values.join(', ') });
    if (entry.hasExpires && Number.isFinite(ownS)) headers.push({ name: 'Expires', value: String(ownS) });
    if (entry.hasDate) headers.push({ name: 'Date', value: new Date(now).toUTCString() });
    return createResponse(request, 200, 'OK', {
      ...(entry.toTag === undefined ? {} : { toTag: entry.toTag }),
      headers,
    });
  }

  #entryFrom(
    request: SipRequest,
    flowKeyText: string,
    identity: string | undefined,
    response: SipResponse,
  ): Entry | undefined {
    const asked = requestContacts(request);
    if (asked === undefined || asked === 'unregister' || asked.length === 0) return undefined;
    const askedUris = new Set(asked.map((c) => c.uri));
    const now = this.#now();
    const headerExpires = numberOf(response.headers.find((h) => h.name === 'expires')?.value);
    const contacts: CachedContact[] = [];
    let ownExpiresS = Number.POSITIVE_INFINITY;
    for (const field of response.headers) {
      if (field.name !== 'contact') continue;
      const list = nameAddrsOf(field);
      if (isSipParseError(list) || list === '*') return undefined;
      for (const contact of list) {
        const expiresS = numberOf(contact.params.get('expires') ?? undefined) ?? headerExpires;
        if (expiresS === undefined) return undefined;
        const own = askedUris.has(uriKey(contact));
        if (own) ownExpiresS = Math.min(ownExpiresS, expiresS);
        if (contacts.length < MAX_CONTACTS) contacts.push({ contact, expiresAt: now + expiresS * 1000, own });
      }
    }
    // The PBX must list every Contact the phone registered (RFC 3261 10.3 item 8), with time left.
    const listed = new Set(contacts.filter((c) => c.own).map((c) => uriKey(c.contact)));
    if (listed.size !== askedUris.size || !Number.isFinite(ownExpiresS) || ownExpiresS <= 0) return undefined;
    const headers: HeaderField[] = [];
    for (const field of response.headers) {
      if (REBUILT.has(field.name) || headers.length >= MAX_HEADERS) continue;
      headers.push({ name: field.name, value: field.value });
    }
    const toTag = response.to.params.get('tag');
    return {
      flowKey: flowKeyText,
      fingerprint: fingerprint(request, asked),
      identity,
      toTag: toTag === null || toTag === undefined ? undefined : toTag,
      headers,
      contacts,
      hasDate: response.headers.some((h) => h.name === 'date'),
      hasExpires: headerExpires !== undefined,
      grantedMs: ownExpiresS * 1000,
      expiresAt: now + ownExpiresS * 1000,
      lastCseq: request.cseq.seq,
      lastBranch: undefined,
    };
  }
}

interface RequestContact {
  /** The Contact without its `expires`, as compared. */
  readonly text: string;
  readonly uri: string;
  readonly expiresS: number;
}

/** The Contacts a REGISTER lists, 'unregister' for `*` or any asking for 0, undefined when unreadable. */
function requestContacts(request: SipRequest): RequestContact[] | 'unregister' | undefined {
  const headerExpires = numberOf(request.headers.find((h) => h.name === 'expires')?.value);
  const out: RequestContact[] = [];
  for (const field of request.headers) {
    if (field.name !== 'contact') continue;
    const list = nameAddrsOf(field);
    if (list === '*') return 'unregister';
    if (isSipParseError(list)) return undefined;
    for (const contact of list) {
      const raw = contact.params.get('expires');
      const expiresS = raw === undefined ? (headerExpires ?? DEFAULT_EXPIRES_S) : numberOf(raw ?? undefined);
      if (expiresS === undefined) return undefined;
      if (expiresS === 0) return 'unregister';
      const params = new Map(contact.params);
      params.delete('expires');
      out.push({ text: formatNameAddr({ ...contact, params }), uri: uriKey(contact), expiresS });
      if (out.length > MAX_CONTACTS) return undefined;
    }
  }
  return out;
}

/** What must not change for a re-REGISTER to be answered from the cache. */
function fingerprint(request: SipRequest, contacts: readonly RequestContact[]): string {
  const sorted = contacts.map((c) => c.text).sort();
  return [request.uriText, request.from.uriText, request.to.uriText, ...sorted].join('\n');
}

function uriKey(contact: NameAddr): string {
  return contact.uriText || formatUri(contact.uri);
}

function flowKey(flow: Flow): string {
  return `${flow.transport}|${flow.localAddress}|${flow.localPort}|${flow.remoteAddress}|${flow.remotePort}|${flow.connectionId ?? ''}`;
}

/** Per flow too: the same Call-ID and CSeq from elsewhere cannot take the phone's slot. */
function pendingKey(request: SipRequest, flow: Flow): string {
  return `${request.callId}\n${request.cseq.seq}\n${flowKey(flow)}`;
}

function numberOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}
