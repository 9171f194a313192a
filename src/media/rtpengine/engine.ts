/**
 * The media plane handed to rtpengine (`media.engine: rtpengine`): every offer and answer
 * with an RTP stream goes to rtpengine over NG (offer, answer, delete), and what rtpengine
 * gives back replaces the description, so each party sees only rtpengine's addresses and
 * rtpengine relays (and, with the protocol settings, encrypts or decrypts) the media.
 * sipwarden keeps the signalling policy; rtpengine forwards packets, in the kernel when
 * its module is loaded.
 *
 * Which description is an offer (RFC 3264, RFC 3261 13.2.1): one in an INVITE or UPDATE; one
 * in a 1xx/2xx to a request that had none (a late offer), whose answer then comes in the ACK
 * or PRACK. Calls are tracked in a bounded table (the oldest deleted first) so that a failed
 * INVITE, an answered BYE or a dialog the proxy ended deletes the call in rtpengine.
 *
 * Descriptions carry SDES keys: they are never logged, nor is anything of them.
 */
import type { Direction } from '../../core/inspector.ts';
import type { MediaEngine } from '../../core/route/media-engine.ts';
import type { Logger } from '../../log/logger.ts';
import { isSdpType, parseMediaType } from '../../sdp/index.ts';
import { withBody } from '../../sip/edit.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../sip/message.ts';
import type { RtpengineSettings } from './config.ts';
import { type NgClient, NgError } from './ng-client.ts';

/** An m= line of an RTP profile: RTP/AVP, RTP/SAVP(F), UDP/TLS/RTP/SAVP(F). */
const RTP_MEDIA = /^m=[a-z]+ \d+(?:\/\d+)? (?:RTP|UDP\/TLS\/RTP)\//m;
const OFFER_METHODS = new Set(['INVITE', 'UPDATE']);
const ANSWER_METHODS = new Set(['ACK', 'PRACK']);

interface CallState {
  /**
   * The request that carried the last offer, as `CSeq number, From tag` (its responses carry
   * both; the tag tells the two parties' CSeq spaces apart); undefined when it came in a response.
   */
  offer: string | undefined;
}

export interface RtpengineStats {
  offers: number;
  answers: number;
  deletes: number;
  /** Commands that failed (timeout, refused, overloaded): offers refused 503, answers forwarded unchanged. */
  failures: number;
}

export class RtpengineMediaEngine implements MediaEngine {
  readonly #client: NgClient;
  readonly #settings: RtpengineSettings;
  readonly #log: Logger;
  readonly #maxCalls: number;
  /** Calls given to rtpengine, by Call-ID, in creation order for eviction. */
  readonly #calls = new Map<string, CallState>();
  readonly stats: RtpengineStats = { offers: 0, answers: 0, deletes: 0, failures: 0 };

  constructor(client: NgClient, settings: RtpengineSettings, log: Logger, maxCalls: number) {
    this.#client = client;
    this.#settings = settings;
    this.#log = log;
    this.#maxCalls = maxCalls;
  }

  get calls(): number {
    return this.#calls.size;
  }

  handles(message: SipMessage): boolean {
    if (message.body.length === 0) return false;
    if (message.kind === 'request') {
      if (!OFFER_METHODS.has(message.method) && !ANSWER_METHODS.has(message.method)) return false;
    } else if (message.status < 101 || message.status >= 300 || !OFFER_METHODS.has(message.cseq.method)) {
      // PRACK's 2xx carries an answer only to an offer in the PRACK itself: rare, left as it is.
      return false;
    }
    const typeText = message.headers.find((h) => h.name === 'content-type')?.value;
    const type = typeText === undefined ? undefined : parseMediaType(typeText);
    if (type === undefined || !isSdpType(type)) return false;
    return RTP_MEDIA.test(message.body.toString('latin1'));
  }

  async request(
    message: SipRequest,
    original: SipRequest,
    direction: Direction,
  ): Promise<SipRequest | undefined> {
    const callId = original.callId;
    const fromTag = original.from.params.get('tag') ?? '';
    const toTag = original.to.params.get('tag') ?? undefined;
    const sdp = message.body.toString('latin1');
    if (OFFER_METHODS.has(original.method)) {
      const rewritten = await this.#offer(callId, fromTag, toTag, sdp, direction);
      if (rewritten === undefined) return undefined;
      this.#remember(callId).offer = `${original.cseq.seq} ${fromTag}`;
      return withBody(message, Buffer.from(rewritten, 'latin1'));
    }
    // An answer (ACK, PRACK) to an offer a response carried: never refused, forwarded as it is on
    // failure. rtpengine names the offerer by from-tag: here the request's To tag (the callee).
    const rewritten = await this.#answer(callId, toTag ?? '', fromTag, sdp);
    return rewritten === undefined ? message : withBody(message, Buffer.from(rewritten, 'latin1'));
  }

  async response(message: SipResponse, direction: Direction): Promise<SipResponse> {
    const callId = message.callId;
    const fromTag = message.from.params.get('tag') ?? '';
    const toTag = message.to.params.get('tag') ?? '';
    const sdp = message.body.toString('latin1');
    const call = this.#calls.get(callId);
    let rewritten: string | undefined;
    if (call !== undefined && call.offer === `${message.cseq.seq} ${fromTag}`) {
      rewritten = await this.#answer(callId, fromTag, toTag, sdp);
    } else {
      // A late offer: the callee offers in its response, towards `direction`, the caller's side.
      rewritten = await this.#offer(callId, toTag, fromTag, sdp, opposite(direction));
      if (rewritten !== undefined) this.#remember(callId).offer = undefined;
    }
    return rewritten === undefined ? message : withBody(message, Buffer.from(rewritten, 'latin1'));
  }

  completed(request: SipRequest, status: number, _direction: Direction): void {
    if (this.#calls.size === 0) return;
    const initialInvite = request.method === 'INVITE' && request.to.params.get('tag') === undefined;
    if ((initialInvite && status >= 300) || (request.method === 'BYE' && status >= 200 && status < 300)) {
      this.#delete(request.callId);
    }
  }

  dialogEnded(callId: string, _callerTag: string, _leg: Direction): void {
    if (this.#calls.size === 0) return;
    this.#delete(callId);
  }

  close(): void {
    this.#calls.clear();
    void this.#client.close();
  }

  /** An offer from the side `from`: rtpengine's rewritten SDP, or undefined on failure. */
  async #offer(
    callId: string,
    fromTag: string,
    toTag: string | undefined,
    sdp: string,
    from: Direction,
  ): Promise<string | undefined> {
    const toward = opposite(from);
    const protocol = toward === 'upstream' ? this.#settings.upstreamProtocol : this.#settings.clientProtocol;
    const interfaces = this.#settings.interfaces;
    try {
      const reply = await this.#client.command('offer', {
        'call-id': callId,
        'from-tag': fromTag,
        ...(toTag === undefined ? {} : { 'to-tag': toTag }),
        sdp,
        // Nothing of the party's own address stays in what the other side sees.
        replace: ['origin', 'session-connection'],
        ICE: 'remove',
        ...(protocol === 'as-offered' ? {} : { 'transport-protocol': protocol }),
        ...(interfaces === undefined ? {} : { direction: [interfaces[from], interfaces[toward]] }),
      });
      this.stats.offers++;
      return this.#sdpOf(reply.sdp, 'offer');
    } catch (error) {
      return this.#failed('offer', error);
    }
  }

  async #answer(callId: string, fromTag: string, toTag: string, sdp: string): Promise<string | undefined> {
    try {
      const reply = await this.#client.command('answer', {
        'call-id': callId,
        'from-tag': fromTag,
        'to-tag': toTag,
        sdp,
        replace: ['origin', 'session-connection'],
        ICE: 'remove',
      });
      this.stats.answers++;
      return this.#sdpOf(reply.sdp, 'answer');
    } catch (error) {
      return this.#failed('answer', error);
    }
  }

  #sdpOf(sdp: unknown, command: string): string | undefined {
    if (typeof sdp === 'string' && sdp.length > 0) return sdp;
    this.stats.failures++;
    this.#log.warn({ command }, 'rtpengine answered without a description');
    return undefined;
  }

  #failed(command: string, error: unknown): undefined {
    this.stats.failures++;
    const reason = error instanceof NgError ? error.message : String(error);
    this.#log.warn({ command, reason }, 'rtpengine command failed');
    return undefined;
  }

  #remember(callId: string): CallState {
    let call = this.#calls.get(callId);
    if (call === undefined) {
      if (this.#calls.size >= this.#maxCalls) {
        const oldest = this.#calls.keys().next().value;
        if (oldest !== undefined) this.#delete(oldest);
      }
      call = { offer: undefined };
      this.#calls.set(callId, call);
    }
    return call;
  }

  #delete(callId: string): void {
    if (!this.#calls.delete(callId)) return;
    // The whole call, every leg and fork of it: no from-tag.
    this.#client.command('delete', { 'call-id': callId }).then(
      () => {
        this.stats.deletes++;
      },
      (error: unknown) => this.#failed('delete', error),
    );
  }
}

function opposite(direction: Direction): Direction {
  return direction === 'client' ? 'upstream' : 'client';
}
