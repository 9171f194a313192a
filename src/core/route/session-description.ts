/**
 * Rewriting the session descriptions of offers and answers (RFC 3264) on their way
 * through the proxy, for whatever relays a media stream: each m= section is shown to the
 * handlers, which may give back a changed one (another address, port or attributes). The
 * core knows no media type: the MSRP relay is one handler, a media relay would be another.
 *
 * Offers and answers travel in INVITE, its reliable provisional and 2xx responses, ACK,
 * UPDATE and PRACK and their 2xx (RFC 3261 13.2.1, RFC 3262, RFC 3311). A body whose
 * Content-Type is application/sdp is rewritten; a multipart body and a description that
 * does not parse go on unchanged (the SDP check stage, when enabled, refuses bad ones).
 *
 * A session is the call's dialog on one leg: it lives from the first description seen to
 * the end of the dialog (BYE answered, the INVITE failed or was cancelled, the maximum
 * session length, the dialog evicted). The table of open sessions is bounded; the oldest
 * is ended first when it is full.
 */
import {
  isSdpType,
  parseMediaType,
  parseSdp,
  type SdpConnection,
  type SdpMedia,
  type SdpOrigin,
  type SdpSession,
  serializeSdp,
} from '../../sdp/index.ts';
import { withBody } from '../../sip/edit.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message.ts';
import type { Flow } from '../../transport/types.ts';
import type { Direction } from '../inspector.ts';

/** Which party of the session wrote the description. */
export type SessionParty = 'caller' | 'callee';

export interface MediaContext {
  /** The session's key: stable for the life of its dialog on this leg. */
  readonly session: string;
  /** The party that wrote the description, and where its message came from. */
  readonly from: SessionParty;
  readonly source: Flow;
  /** The side the description is forwarded to. */
  readonly toward: Direction;
  /** The m= section's position (0-based) in the description. */
  readonly index: number;
}

/** Session-level lines a handler forwards in place of the writer's (o= and c= naming a relay). */
export interface SessionLines {
  readonly origin?: SdpOrigin;
  readonly connection?: SdpConnection;
}

/** Rewrites media descriptions of one kind (MSRP, RTP...) and frees what a session held. */
export interface MediaLineHandler {
  /** Returns the section to forward: `media` itself to leave it alone. Must not throw. */
  rewrite(media: SdpMedia, description: SdpSession, context: MediaContext): SdpMedia;
  /**
   * Called once the sections are rewritten, when this handler changed at least one: the
   * o= and session c= to forward instead of the writer's. Sections no handler changed keep
   * the address the session c= gave them (written into their own c=). Must not throw.
   */
  rewriteSession?(description: SdpSession, context: Omit<MediaContext, 'index'>): SessionLines;
  /** The session ended: release its relay state. */
  ended(session: string): void;
}

/** Methods whose requests or 2xx may carry an offer or an answer. */
const SDP_METHODS = new Set(['INVITE', 'ACK', 'UPDATE', 'PRACK']);

interface OpenSession {
  readonly key: string;
  readonly callId: string;
}

export class SessionDescriptions {
  readonly #handlers: readonly MediaLineHandler[];
  readonly #maxSessions: number;
  /** Open sessions by key, in creation order (a Map keeps it) for eviction. */
  readonly #sessions = new Map<string, OpenSession>();

  constructor(handlers: readonly MediaLineHandler[], maxSessions = 100_000) {
    this.#handlers = handlers;
    this.#maxSessions = maxSessions;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A request about to be forwarded; `direction` is the side it came from. */
  request(message: SipRequest, original: SipRequest, direction: Direction, flow: Flow): SipRequest {
    if (!SDP_METHODS.has(original.method) || message.body.length === 0) return message;
    const fromTag = original.from.params.get('tag') ?? '';
    const toTag = original.to.params.get('tag') ?? undefined;
    let key: string;
    let from: SessionParty;
    if (toTag === undefined) {
      if (original.method !== 'INVITE') return message;
      key = sessionKey(original.callId, fromTag, direction);
      from = 'caller';
    } else {
      const found = this.#find(original.callId, fromTag, toTag, direction);
      if (found === undefined) return message;
      ({ key, from } = found);
    }
    return this.#rewrite(message, key, from, flow, opposite(direction), toTag === undefined);
  }

  /**
   * A response about to be forwarded to the side `direction` its request came from; `flow`
   * is where the response came from. Its From, To, Call-ID and CSeq name its request, so a
   * 2xx retransmitted after its transaction ended (RFC 6026) is rewritten the same way.
   */
  response(message: SipResponse, direction: Direction, flow: Flow): SipResponse {
    if (!SDP_METHODS.has(message.cseq.method) || message.body.length === 0) return message;
    if (message.status < 101 || message.status >= 300) return message;
    const fromTag = message.from.params.get('tag') ?? '';
    const found = this.#find(message.callId, fromTag, message.to.params.get('tag') ?? '', direction);
    if (found === undefined) {
      // An INVITE without an offer (RFC 3261 13.2.1): the callee's answer to it carries the offer.
      if (message.cseq.method !== 'INVITE') return message;
      const key = sessionKey(message.callId, fromTag, direction);
      return this.#rewrite(message, key, 'callee', flow, direction, true);
    }
    const from: SessionParty = found.from === 'caller' ? 'callee' : 'caller';
    return this.#rewrite(message, found.key, from, flow, direction, false);
  }

  /** A request's final status: a failed or cancelled INVITE out of dialog, or an answered BYE, ends its session. */
  completed(request: SipRequest, status: number, direction: Direction): void {
    if (this.#sessions.size === 0) return;
    const fromTag = request.from.params.get('tag') ?? '';
    if (request.method === 'INVITE' && request.to.params.get('tag') === undefined) {
      if (status >= 300) this.#end(sessionKey(request.callId, fromTag, direction));
    } else if (request.method === 'BYE' && status >= 200 && status < 300) {
      const found = this.#find(request.callId, fromTag, request.to.params.get('tag') ?? '', direction);
      if (found !== undefined) this.#end(found.key);
    }
  }

  /** A dialog the table ended itself (maximum session length, eviction), named by its Call-ID, caller tag and leg. */
  dialogEnded(callId: string, callerTag: string, leg: Direction): void {
    if (this.#sessions.size === 0) return;
    this.#end(sessionKey(callId, callerTag, leg));
  }

  close(): void {
    for (const key of [...this.#sessions.keys()]) this.#end(key);
  }

  /** The session a request of this dialog belongs to, and which party sent it. */
  #find(
    callId: string,
    fromTag: string,
    toTag: string,
    direction: Direction,
  ): { key: string; from: SessionParty } | undefined {
    const asCaller = sessionKey(callId, fromTag, direction);
    if (this.#sessions.has(asCaller)) return { key: asCaller, from: 'caller' };
    const asCallee = sessionKey(callId, toTag, opposite(direction));
    if (this.#sessions.has(asCallee)) return { key: asCallee, from: 'callee' };
    return undefined;
  }

  #rewrite<M extends SipMessage>(
    message: M,
    key: string,
    from: SessionParty,
    source: Flow,
    toward: Direction,
    opens: boolean,
  ): M {
    const typeText = message.headers.find((h) => h.name === 'content-type')?.value;
    const type = typeText === undefined ? undefined : parseMediaType(typeText);
    if (type === undefined || !isSdpType(type)) return message;
    const parsed = parseSdp(message.body);
    if (!parsed.ok) return message;
    if (opens && !this.#sessions.has(key)) this.#open(key, message.callId);
    if (!this.#sessions.has(key)) return message;
    let changed = false;
    const changedBy = new Set<MediaLineHandler>();
    const media = parsed.sdp.media.map((m, index) => {
      let current = m;
      for (const handler of this.#handlers) {
        const next = handler.rewrite(current, parsed.sdp, { session: key, from, source, toward, index });
        if (next !== current) changedBy.add(handler);
        current = next;
      }
      if (current !== m) changed = true;
      return current;
    });
    if (!changed) return message;
    let session: SdpSession = { ...parsed.sdp, media };
    for (const handler of changedBy) {
      if (handler.rewriteSession === undefined) continue;
      const lines = handler.rewriteSession(session, { session: key, from, source, toward });
      session = withSessionLines(session, parsed.sdp, lines);
    }
    const text = serializeSdp(session);
    return withBody(message, Buffer.from(text, 'latin1'));
  }

  #open(key: string, callId: string): void {
    if (this.#sessions.size >= this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#end(oldest);
    }
    this.#sessions.set(key, { key, callId });
  }

  #end(key: string): void {
    if (!this.#sessions.delete(key)) return;
    for (const handler of this.#handlers) handler.ended(key);
  }
}

/** The key of a call's session on one leg: its Call-ID, the caller's tag, and the side the caller is on. */
export function sessionKey(callId: string, callerTag: string, callerSide: Direction): string {
  return `${callId}|${callerTag}|${callerSide === 'client' ? 'c' : 'u'}`;
}

/**
 * The description with a handler's o= and session c=. A section that relied on the session
 * c= (none of its own) and that no handler rewrote keeps its address: it is written into
 * the section (RFC 8866 5.7), so that moving the session c= does not move it.
 */
function withSessionLines(session: SdpSession, original: SdpSession, lines: SessionLines): SdpSession {
  const connection = lines.connection;
  const kept = original.connection;
  const media =
    connection === undefined || kept === undefined
      ? session.media
      : session.media.map((m, index) =>
          m.connections.length === 0 && m === original.media[index] ? { ...m, connections: [kept] } : m,
        );
  return {
    ...session,
    ...(lines.origin === undefined ? {} : { origin: lines.origin }),
    ...(connection === undefined ? {} : { connection }),
    media,
  };
}

function opposite(direction: Direction): Direction {
  return direction === 'client' ? 'upstream' : 'client';
}
