/**
 * The calling side of a call (UAC, RFC 3261 sections 12, 13, 15): INVITE, ACK on the final
 * answer (hop by hop for a failure, end to end along the route set for a 2xx), BYE,
 * CANCEL. Every request goes to the one target address (the first hop), as sipp does,
 * whatever the Request-URI and Route say. Used for legitimate background calls, spit, and
 * as the victim of bye-spoof and response-inject.
 */
import type { RemoteInfo } from 'node:dgram';
import type { SipResponse } from '../../sip/message.ts';
import type { Random } from '../random.ts';
import {
  ackForFailure,
  headerValue,
  headerValues,
  MAGIC_COOKIE,
  requestText,
  sdpOffer,
  sipUri,
  toTag,
} from '../sip-text.ts';
import type { Endpoint } from '../target.ts';
import type { Exchange, SipEndpoint } from './endpoint.ts';

export interface DialogState {
  readonly remoteTag: string;
  /** The callee's Contact URI: the Request-URI of in-dialog requests (RFC 3261 12.2.1.1). */
  readonly remoteTarget: string;
  /** Record-Route reversed: the Route set of in-dialog requests. */
  readonly routeSet: readonly string[];
}

export interface CallSpec {
  readonly user: string;
  readonly fromUser: string;
  /** Host written in the Request-URI and To; default the target's address. */
  readonly domain?: string;
  readonly userAgent?: string;
}

/** Branch marker of our legitimate requests (forged ones use another, see forged.ts). */
export const CALL_BRANCH = `${MAGIC_COOKIE}call`;

export class OutgoingCall {
  readonly callId: string;
  readonly fromTag: string;
  readonly inviteBranch: string;
  readonly requestUri: string;
  readonly from: string;
  readonly to: string;
  readonly inviteText: string;
  #cseq = 1;
  dialog: DialogState | undefined;
  /** Every response any request of this call got, in order (bounded). */
  readonly responses: SipResponse[] = [];
  #acked = false;

  constructor(
    readonly endpoint: SipEndpoint,
    readonly target: Endpoint,
    readonly spec: CallSpec,
    readonly random: Random,
  ) {
    const domain = spec.domain ?? target.address;
    this.callId = `${random.token(20)}@${endpoint.address}`;
    this.fromTag = random.token(10);
    this.inviteBranch = `${CALL_BRANCH}${random.token(16)}`;
    this.requestUri = sipUri(spec.user, domain, target.port);
    this.from = sipUri(spec.fromUser, domain);
    this.to = sipUri(spec.user, domain);
    this.inviteText = requestText({
      method: 'INVITE',
      requestUri: this.requestUri,
      via: { host: endpoint.address, port: endpoint.port, branch: this.inviteBranch },
      from: this.from,
      fromTag: this.fromTag,
      to: this.to,
      callId: this.callId,
      cseq: 1,
      contact: sipUri(spec.fromUser, endpoint.address, endpoint.port),
      ...(spec.userAgent === undefined ? {} : { userAgent: spec.userAgent }),
      body: sdpOffer(endpoint.address, 20000 + 2 * random.int(10000), 1 + random.int(1_000_000)),
    });
  }

  #keep(response: SipResponse): void {
    if (this.responses.length < 64) this.responses.push(response);
  }

  /** Sends the INVITE; on a 2xx sets up the dialog and acknowledges it; on a failure, acknowledges it. */
  async invite(
    timeoutMs: number,
    onProvisional?: (response: SipResponse, from: RemoteInfo) => void,
  ): Promise<Exchange> {
    const exchange = await this.endpoint.request(this.inviteText, this.target, {
      branch: this.inviteBranch,
      method: 'INVITE',
      timeoutMs,
      onResponse: (response) => this.#keep(response),
      ...(onProvisional ? { onProvisional } : {}),
    });
    const final = exchange.final;
    if (final === undefined) return exchange;
    if (final.status >= 300) {
      this.endpoint.send(ackForFailure(final, this.target, this.requestUri), this.target);
    } else if (final.status >= 200) {
      this.#setDialog(final);
      this.ack();
    }
    return exchange;
  }

  #setDialog(response: SipResponse): void {
    const remoteTag = toTag(response) ?? '';
    const contact = headerValue(response, 'contact');
    const remoteTarget = contact === undefined ? this.requestUri : uriOf(contact);
    const routeSet = headerValues(response, 'record-route').reverse();
    this.dialog = { remoteTag, remoteTarget, routeSet };
  }

  /** The text of an in-dialog request (ACK, BYE...) with the given Via branch and sent-by. */
  inDialogText(
    method: string,
    cseq: number,
    via: { host: string; port: number; branch: string },
    extra?: readonly string[],
  ): string {
    const dialog = this.dialog;
    return requestText({
      method,
      requestUri: dialog?.remoteTarget ?? this.requestUri,
      via,
      route: dialog?.routeSet ?? [],
      from: this.from,
      fromTag: this.fromTag,
      to: this.to,
      ...(dialog ? { toTag: dialog.remoteTag } : {}),
      callId: this.callId,
      cseq,
      ...(extra ? { extra } : {}),
    });
  }

  /** ACK for the 2xx (RFC 3261 13.2.2.4): a new branch, the INVITE's CSeq number. */
  ack(): void {
    this.#acked = true;
    const branch = `${CALL_BRANCH}${this.random.token(16)}`;
    this.endpoint.send(
      this.inDialogText('ACK', 1, { host: this.endpoint.address, port: this.endpoint.port, branch }),
      this.target,
    );
  }

  /** A retransmitted 2xx after our ACK: acknowledge again (RFC 3261 13.2.2.4). */
  onRetransmitted2xx(response: SipResponse): void {
    if (!this.#acked || response.cseq.method !== 'INVITE' || response.status < 200 || response.status >= 300)
      return;
    this.ack();
  }

  nextCseq(): number {
    this.#cseq++;
    return this.#cseq;
  }

  /** Ends the call with BYE; resolves with its answer. */
  bye(timeoutMs: number): Promise<Exchange> {
    const branch = `${CALL_BRANCH}${this.random.token(16)}`;
    const text = this.inDialogText('BYE', this.nextCseq(), {
      host: this.endpoint.address,
      port: this.endpoint.port,
      branch,
    });
    return this.endpoint.request(text, this.target, {
      branch,
      method: 'BYE',
      timeoutMs,
      onResponse: (response) => this.#keep(response),
    });
  }

  /** CANCEL for the INVITE (RFC 3261 9.1: same branch, Call-ID, From, To, CSeq number). */
  cancelText(via: { host: string; port: number; branch: string }): string {
    return requestText({
      method: 'CANCEL',
      requestUri: this.requestUri,
      via,
      from: this.from,
      fromTag: this.fromTag,
      to: this.to,
      callId: this.callId,
      cseq: 1,
    });
  }

  cancel(timeoutMs: number): Promise<Exchange> {
    const via = { host: this.endpoint.address, port: this.endpoint.port, branch: this.inviteBranch };
    return this.endpoint.request(this.cancelText(via), this.target, {
      branch: this.inviteBranch,
      method: 'CANCEL',
      timeoutMs,
    });
  }
}

/** The URI inside a name-addr (`<sip:x>;p` -> `sip:x`), or the addr-spec itself. */
export function uriOf(nameAddr: string): string {
  const open = nameAddr.indexOf('<');
  const close = nameAddr.indexOf('>', open + 1);
  if (open >= 0 && close > open) return nameAddr.slice(open + 1, close);
  const semicolon = nameAddr.indexOf(';');
  return (semicolon < 0 ? nameAddr : nameAddr.slice(0, semicolon)).trim();
}

export interface CallOutcome {
  /** Final status of the INVITE; 0 when none came. */
  readonly inviteStatus: number;
  /** Final status of the BYE; 0 when none came or no BYE was sent. */
  readonly byeStatus: number;
  /** Answered (2xx) and ended cleanly (2xx to the BYE). */
  readonly ok: boolean;
  readonly setupMs: number;
}

/**
 * One whole call: INVITE, ACK, hold, BYE. `ok` only when the call was answered and the BYE
 * answered 2xx.
 */
export async function makeCall(call: OutgoingCall, holdMs: number, timeoutMs = 8000): Promise<CallOutcome> {
  const invited = await call.invite(timeoutMs);
  const inviteStatus = invited.final?.status ?? 0;
  if (inviteStatus < 200 || inviteStatus >= 300) {
    return { inviteStatus, byeStatus: 0, ok: false, setupMs: invited.ms };
  }
  if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
  const bye = await call.bye(timeoutMs);
  const byeStatus = bye.final?.status ?? 0;
  return { inviteStatus, byeStatus, ok: byeStatus >= 200 && byeStatus < 300, setupMs: invited.ms };
}

/** Calls open at once on one phone. */
const MAX_CALLS = 10_000;

/**
 * A caller's endpoint with its calls: retransmitted 2xx answers (after our ACK) are
 * matched to their call by Call-ID and acknowledged again.
 */
export class Phone {
  readonly #calls = new Map<string, OutgoingCall>();

  constructor(
    readonly endpoint: SipEndpoint,
    readonly target: Endpoint,
    readonly random: Random,
  ) {
    const previous = endpoint.onStray;
    endpoint.onStray = (response, from) => {
      this.#calls.get(response.callId)?.onRetransmitted2xx(response);
      previous?.(response, from);
    };
  }

  newCall(spec: CallSpec): OutgoingCall {
    const call = new OutgoingCall(this.endpoint, this.target, spec, this.random);
    if (this.#calls.size >= MAX_CALLS) {
      const oldest = this.#calls.keys().next().value;
      if (oldest !== undefined) this.#calls.delete(oldest);
    }
    this.#calls.set(call.callId, call);
    return call;
  }

  /** Drops a finished call after a while, so late 2xx retransmissions still get their ACK. */
  forget(call: OutgoingCall, afterMs = 4000): void {
    setTimeout(() => this.#calls.delete(call.callId), afterMs).unref();
  }
}
