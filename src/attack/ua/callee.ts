/**
 * The answering side (UAS, RFC 3261 sections 8.2, 12, 13.3, 15, and a registrar after
 * section 10.3 with digest challenges after 22.4): the "service" behind the target in
 * assess and in the tests. It answers INVITE with 180 then, after `ringMs`, 200 (resent
 * until the ACK), takes CANCEL (487) and BYE, answers OPTIONS and MESSAGE, and registers
 * known users after a digest challenge (unknown ones: 404; no users configured: anyone).
 * It records what reached it, so an attack can tell whether a forged BYE or CANCEL, or a
 * malformed message, got through the target.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RemoteInfo } from 'node:dgram';
import type { SipRequest } from '../../sip/message.ts';
import { createResponse } from '../../sip/response.ts';
import { serializeMessage } from '../../sip/serialize.ts';
import { isSipUri } from '../../sip/uri.ts';
import { validateMessage } from '../../sip/validate.ts';
import { type DigestAlgorithm, digestResponse, parseAuthParams } from '../digest.ts';
import { headerValue, toTag } from '../sip-text.ts';
import { SipEndpoint, T1_MS } from './endpoint.ts';

/** Marker in the Via branch of forged requests; the callee spots them below a proxy's Via. */
export const FORGED_MARKER = 'forged';

export interface CalleeOptions {
  /** Time between 180 and 200; default 0. */
  readonly ringMs?: number;
  /** Known users and their passwords; absent: every user exists and registers without a password. */
  readonly users?: ReadonlyMap<string, string>;
  readonly realm?: string;
  readonly algorithm?: DigestAlgorithm;
}

interface Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly inviteBranch: string;
  answered: boolean;
  established: boolean;
  ended: boolean;
  answerTimer?: NodeJS.Timeout;
  retransmitTimer?: NodeJS.Timeout;
  lastResponse?: Buffer;
  lastResponseTo?: RemoteInfo;
  request: SipRequest;
}

export interface ReceivedRequest {
  readonly method: string;
  readonly callId: string;
  /** A Via of the request carries the forged marker. */
  readonly forged: boolean;
  readonly at: number;
}

export interface CalleeStats {
  invites: number;
  answered: number;
  cancelled: number;
  byes: number;
  registers: number;
  registered: number;
  options: number;
  /** Datagrams that did not parse, and parsed messages that failed validation. */
  malformed: number;
}

/** Requests kept in the log. */
const MAX_LOG = 10_000;
const MAX_DIALOGS = 10_000;
const MAX_NONCES = 10_000;

export class Callee {
  readonly stats: CalleeStats = {
    invites: 0,
    answered: 0,
    cancelled: 0,
    byes: 0,
    registers: 0,
    registered: 0,
    options: 0,
    malformed: 0,
  };
  readonly log: ReceivedRequest[] = [];
  readonly #dialogs = new Map<string, Dialog>();
  readonly #nonces = new Set<string>();
  readonly #options: CalleeOptions;
  /** Who watches the requests that reach us (an attack telling its own apart); a few at most. */
  readonly #watchers = new Set<(request: SipRequest) => void>();
  /** Time between 180 and 200 for calls from now on (kinds that need a ringing call raise it). */
  ringMs: number;

  private constructor(
    readonly endpoint: SipEndpoint,
    options: CalleeOptions,
  ) {
    this.#options = options;
    this.ringMs = options.ringMs ?? 0;
    endpoint.onRequest = (request, from) => this.#onRequest(request, from);
  }

  static async start(address: string, port: number, options: CalleeOptions = {}): Promise<Callee> {
    return new Callee(await SipEndpoint.bind(address, port), options);
  }

  get address(): string {
    return this.endpoint.address;
  }

  get port(): number {
    return this.endpoint.port;
  }

  /** Malformed messages that reached us: unparsable datagrams plus invalid parsed ones. */
  get malformed(): number {
    return this.stats.malformed + this.endpoint.unreadable;
  }

  /** True while the call with this Call-ID is set up and not ended. */
  isUp(callId: string): boolean {
    const dialog = this.#dialogs.get(callId);
    return dialog !== undefined && !dialog.ended && dialog.established;
  }

  /** The INVITE that set up this call, as it reached us (with the target's Via on top). */
  inviteFor(callId: string): { request: SipRequest; from: RemoteInfo } | undefined {
    const dialog = this.#dialogs.get(callId);
    return dialog?.lastResponseTo ? { request: dialog.request, from: dialog.lastResponseTo } : undefined;
  }

  /** Calls `watcher` with every valid request that reaches us until the returned function is called. */
  watch(watcher: (request: SipRequest) => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  /** Requests received for this Call-ID. */
  requestsFor(callId: string): ReceivedRequest[] {
    return this.log.filter((r) => r.callId === callId);
  }

  #reply(
    request: SipRequest,
    to: RemoteInfo,
    status: number,
    toTag?: string,
    extra?: { name: string; value: string }[],
    body?: string,
  ): Buffer {
    const response = createResponse(request, status, undefined, {
      ...(toTag === undefined ? {} : { toTag }),
      ...(extra === undefined ? {} : { headers: extra }),
      ...(body === undefined ? {} : { body: Buffer.from(body, 'latin1'), contentType: 'application/sdp' }),
    });
    const bytes = serializeMessage(response);
    this.endpoint.send(bytes, { address: to.address, port: to.port });
    return bytes;
  }

  #onRequest(request: SipRequest, from: RemoteInfo): void {
    if (!validateMessage(request).ok) {
      this.stats.malformed++;
      return;
    }
    for (const watcher of this.#watchers) watcher(request);
    if (this.log.length < MAX_LOG) {
      this.log.push({
        method: request.method,
        callId: request.callId,
        forged: request.via.some((v) => (v.branch ?? '').includes(FORGED_MARKER)),
        at: performance.now(),
      });
    }
    switch (request.method) {
      case 'INVITE':
        return this.#onInvite(request, from);
      case 'ACK':
        return this.#onAck(request);
      case 'CANCEL':
        return this.#onCancel(request, from);
      case 'BYE':
        return this.#onBye(request, from);
      case 'OPTIONS':
        this.stats.options++;
        this.#reply(request, from, 200, randomTag(), [
          { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE' },
        ]);
        return;
      case 'REGISTER':
        return this.#onRegister(request, from);
      case 'MESSAGE':
        this.#reply(request, from, 200, randomTag());
        return;
      default:
        this.#reply(request, from, 501, randomTag());
    }
  }

  #userKnown(user: string | undefined): boolean {
    const users = this.#options.users;
    return users === undefined || (user !== undefined && users.has(user));
  }

  #onInvite(request: SipRequest, from: RemoteInfo): void {
    const existing = this.#dialogs.get(request.callId);
    if (existing) {
      // A retransmission (same branch): the last response again (RFC 3261 17.2.1).
      if (
        existing.inviteBranch === request.via[0]?.branch &&
        existing.lastResponse &&
        !existing.established
      ) {
        this.endpoint.send(existing.lastResponse, { address: from.address, port: from.port });
      } else if (toTag(request) !== undefined && !existing.ended) {
        // A re-INVITE in the dialog: accepted as it is.
        this.#reply(request, from, 200, undefined, undefined, sdp(this.address, this.port));
      }
      return;
    }
    if (toTag(request) !== undefined) {
      this.#reply(request, from, 481);
      return;
    }
    this.stats.invites++;
    const user = isSipUri(request.uri) ? request.uri.user : undefined;
    if (!this.#userKnown(user)) {
      this.#reply(request, from, 404, randomTag());
      return;
    }
    if (this.#dialogs.size >= MAX_DIALOGS) {
      this.#reply(request, from, 503, randomTag());
      return;
    }
    const dialog: Dialog = {
      callId: request.callId,
      localTag: randomTag(),
      inviteBranch: request.via[0]?.branch ?? '',
      answered: false,
      established: false,
      ended: false,
      request,
    };
    this.#dialogs.set(request.callId, dialog);
    dialog.lastResponse = this.#reply(request, from, 180, dialog.localTag, [this.#contact()]);
    dialog.lastResponseTo = from;
    const answer = () => {
      if (dialog.ended) return;
      dialog.answered = true;
      this.stats.answered++;
      const bytes = this.#reply(
        request,
        from,
        200,
        dialog.localTag,
        [this.#contact(), ...recordRoute(request)],
        sdp(this.address, this.port),
      );
      dialog.lastResponse = bytes;
      // RFC 3261 13.3.1.4: resend the 2xx, T1 doubling to T2, until the ACK.
      let interval = T1_MS;
      let tries = 0;
      const again = () => {
        if (dialog.established || dialog.ended || tries >= 7) return;
        tries++;
        this.endpoint.send(bytes, { address: from.address, port: from.port });
        interval = Math.min(interval * 2, 4000);
        dialog.retransmitTimer = setTimeout(again, interval);
      };
      dialog.retransmitTimer = setTimeout(again, interval);
    };
    const ringMs = this.ringMs;
    if (ringMs > 0) dialog.answerTimer = setTimeout(answer, ringMs);
    else answer();
  }

  #contact(): { name: string; value: string } {
    return {
      name: 'Contact',
      value: `<sip:callee@${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.port}>`,
    };
  }

  #onAck(request: SipRequest): void {
    const dialog = this.#dialogs.get(request.callId);
    if (!dialog) return;
    dialog.established = !dialog.ended;
    clearTimeout(dialog.retransmitTimer);
  }

  #onCancel(request: SipRequest, from: RemoteInfo): void {
    const dialog = this.#dialogs.get(request.callId);
    // RFC 3261 9.2: CANCEL matches the INVITE transaction by branch.
    if (!dialog || dialog.inviteBranch !== request.via[0]?.branch) {
      this.#reply(request, from, 481);
      return;
    }
    this.#reply(request, from, 200, dialog.localTag);
    // RFC 3261 9.2: a CANCEL after the final response has no effect.
    if (dialog.answered || dialog.ended) return;
    clearTimeout(dialog.answerTimer);
    dialog.ended = true;
    this.stats.cancelled++;
    this.#reply(dialog.request, dialog.lastResponseTo ?? from, 487, dialog.localTag);
  }

  #onBye(request: SipRequest, from: RemoteInfo): void {
    const dialog = this.#dialogs.get(request.callId);
    if (!dialog || dialog.ended || toTag(request) !== dialog.localTag) {
      this.#reply(request, from, 481);
      return;
    }
    this.stats.byes++;
    dialog.ended = true;
    clearTimeout(dialog.answerTimer);
    clearTimeout(dialog.retransmitTimer);
    this.#reply(request, from, 200);
    // Keep the ended dialog a while: a retransmitted BYE is answered 481 rather than re-ending it.
    setTimeout(() => this.#dialogs.delete(dialog.callId), 8000).unref();
  }

  #onRegister(request: SipRequest, from: RemoteInfo): void {
    this.stats.registers++;
    const user = isSipUri(request.to.uri) ? request.to.uri.user : undefined;
    const users = this.#options.users;
    const contact = headerValue(request, 'contact');
    const ok = () => {
      this.stats.registered++;
      this.#reply(
        request,
        from,
        200,
        randomTag(),
        contact === undefined ? [] : [{ name: 'Contact', value: `${contact};expires=3600` }],
      );
    };
    if (users === undefined) return ok();
    if (user === undefined || !users.has(user)) {
      this.#reply(request, from, 404, randomTag());
      return;
    }
    const authorization = headerValue(request, 'authorization');
    if (authorization === undefined) return this.#challenge(request, from);
    const verdict = this.#verify(authorization, users.get(user)!, user, request.method);
    if (verdict === 'ok') return ok();
    if (verdict === 'stale') return this.#challenge(request, from);
    this.#reply(request, from, 403, randomTag());
  }

  #challenge(request: SipRequest, from: RemoteInfo): void {
    const nonce = randomBytes(16).toString('hex');
    if (this.#nonces.size >= MAX_NONCES) this.#nonces.clear();
    this.#nonces.add(nonce);
    const realm = this.#options.realm ?? 'sipwarden.assess';
    const algorithm = this.#options.algorithm ?? 'MD5';
    this.#reply(request, from, 401, randomTag(), [
      {
        name: 'WWW-Authenticate',
        value: `Digest realm="${realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"`,
      },
    ]);
  }

  /** Checks a Digest response against the known password (RFC 7616 3.4.1). */
  #verify(value: string, password: string, user: string, method: string): 'ok' | 'stale' | 'bad' {
    const params = parseAuthParams(value);
    if (!params) return 'bad';
    const nonce = params.get('nonce') ?? '';
    if (!this.#nonces.has(nonce)) return 'stale';
    if (params.get('username') !== user) return 'bad';
    const expected = digestResponse(
      {
        realm: this.#options.realm ?? 'sipwarden.assess',
        nonce,
        algorithm: this.#options.algorithm ?? 'MD5',
        ...(params.get('qop') === 'auth' ? { qop: 'auth' as const } : {}),
        stale: false,
      },
      {
        username: user,
        password,
        method,
        uri: params.get('uri') ?? '',
        cnonce: params.get('cnonce') ?? '',
        nc: Number.parseInt(params.get('nc') ?? '1', 16),
      },
    );
    const given = Buffer.from(params.get('response') ?? '', 'latin1');
    const wanted = Buffer.from(expected, 'latin1');
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? 'ok' : 'bad';
  }

  close(): void {
    for (const dialog of this.#dialogs.values()) {
      clearTimeout(dialog.answerTimer);
      clearTimeout(dialog.retransmitTimer);
    }
    this.#dialogs.clear();
    this.endpoint.close();
  }
}

function randomTag(): string {
  return randomBytes(5).toString('hex');
}

/** RFC 3261 12.1.1: the UAS copies Record-Route into its 2xx. */
function recordRoute(request: SipRequest): { name: string; value: string }[] {
  return request.headers
    .filter((h) => h.name === 'record-route')
    .map((h) => ({ name: 'Record-Route', value: h.value }));
}

function sdp(address: string, port: number): string {
  const family = address.includes(':') ? 'IP6' : 'IP4';
  return `v=0\r\no=- 1 1 IN ${family} ${address}\r\ns=-\r\nc=IN ${family} ${address}\r\nt=0 0\r\nm=audio ${port + 2} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
}
