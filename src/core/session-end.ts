import type { SipResponse } from '../sip/message.ts';
import type { Flow, SendTarget, TransportName } from '../transport/types.ts';
import type { Dialog, DialogParty } from './dialog/dialog-table.ts';
import { type AdvertisedAddress, formatHostPort } from './route/local-identity.ts';
import { computeLoopHash, newBranch } from './transaction/branch.ts';
import { sixtyFourT1, type TimerSettings } from './transaction/timers.ts';

/** What the session end needs of the proxy: where to send, and what to write in Via. */
export interface SessionEndHost {
  readonly timers: TimerSettings;
  send(target: SendTarget, data: Buffer): void;
  ownAddress(toUpstream: boolean, transport: TransportName): AdvertisedAddress;
  readonly upstreamTarget: SendTarget;
}

/** BYEs awaiting their answer at most; beyond it the oldest stops being retransmitted. */
const MAX_PENDING_BYES = 100_000;

interface PendingBye {
  readonly target: SendTarget;
  readonly bytes: Buffer;
  interval: number;
  readonly deadline: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Ends a call at its maximum session length: a BYE to each party (RFC 3261 15.1.1), built
 * from that party's side of the dialog as its peer would build it (12.2.1.1): Request-URI
 * its remote target, Route the entries between sipwarden and it, From and To the peer's and
 * its own values with their tags, the Call-ID, and a CSeq above the last the peer sent.
 * Each BYE is a small client transaction of its own: over UDP it is retransmitted (Timer E)
 * until answered or for 64*T1 (Timer F); its answer, matched by its random branch, goes no
 * further.
 *
 * A call that passed sipwarden twice (phone -> sipwarden -> PBX -> sipwarden -> phone) ends
 * on both legs at once, and only its two phones get a BYE: the PBX in the middle proxied the
 * dialog and holds no session of its own to end (a PBX that does is a back-to-back agent,
 * and then there is no spiral: its two calls are each one leg).
 */
export class SessionEnd {
  readonly #host: SessionEndHost;
  readonly #pending = new Map<string, PendingBye>();
  byesSent = 0;

  constructor(host: SessionEndHost) {
    this.#host = host;
  }

  /** Sends the BYEs that end a timed-out call: to both parties, or to each leg's client-side party. */
  end(dialog: Dialog, otherLeg?: Dialog): void {
    if (dialog.method !== 'INVITE' || dialog.endpoints === undefined) return;
    if (otherLeg === undefined) {
      this.#bye(dialog, true);
      this.#bye(dialog, false);
      return;
    }
    this.#bye(dialog, dialog.caller.direction === 'client');
    if (otherLeg.endpoints !== undefined) this.#bye(otherLeg, otherLeg.caller.direction === 'client');
  }

  /** A response to one of our BYEs ends its retransmissions; true when it was one (it goes no further). */
  onResponse(response: SipResponse, flow: Flow): boolean {
    const branch = response.via[0]?.branch;
    if (branch === undefined) return false;
    const pending = this.#pending.get(branch);
    if (pending === undefined) return false;
    // Only the party it was sent to answers it; anything else is a stray.
    if (flow.remoteAddress !== pending.target.address) return false;
    if (response.status >= 200) this.#settle(branch, pending);
    return true;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  close(): void {
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
  }

  /** A BYE to the caller (from the callee's side of the dialog) or to the callee. */
  #bye(dialog: Dialog, toCaller: boolean): void {
    const ends = dialog.endpoints!;
    const party = toCaller ? dialog.caller : dialog.callee;
    const target = this.#targetOf(party);
    const via = this.#host.ownAddress(party.direction === 'upstream', target.transport);
    const requestUri = toCaller ? ends.callerTarget : ends.calleeTarget;
    // RFC 3261 12.2.1.1: one above the last CSeq the sending side used in this dialog.
    const cseq = (toCaller ? dialog.calleeCSeq : dialog.callerCSeq) + 1;
    const branch = newBranch(
      computeLoopHash([requestUri, dialog.callId, String(cseq), toCaller ? 'r' : 'e']),
    );
    const lines = [
      `BYE ${requestUri} SIP/2.0`,
      `Via: SIP/2.0/${via.transport.toUpperCase()} ${formatHostPort(via)};branch=${branch};rport`,
      ...(toCaller ? ends.routeToCaller : ends.routeToCallee).map((route) => `Route: ${route}`),
      'Max-Forwards: 70',
      `From: ${toCaller ? ends.calleeAddress : ends.callerAddress}`,
      `To: ${toCaller ? ends.callerAddress : ends.calleeAddress}`,
      `Call-ID: ${dialog.callId}`,
      `CSeq: ${cseq} BYE`,
      // RFC 3326: why the call ends, for the parties' logs (Q.850 102: recovery on timer expiry).
      'Reason: Q.850;cause=102;text="maximum session length reached"',
      'Content-Length: 0',
      '',
      '',
    ];
    const bytes = Buffer.from(lines.join('\r\n'), 'latin1');
    this.#host.send(target, bytes);
    this.byesSent++;
    if (target.transport !== 'udp') return;
    // Timer E over UDP, bounded by Timer F and by the table.
    if (this.#pending.size >= MAX_PENDING_BYES) {
      const [oldestBranch, oldest] = this.#pending.entries().next().value!;
      this.#settle(oldestBranch, oldest);
    }
    const timers = this.#host.timers;
    const pending: PendingBye = {
      target,
      bytes,
      interval: timers.T1,
      deadline: Date.now() + sixtyFourT1(timers),
      timer: undefined,
    };
    pending.timer = setTimeout(() => this.#retransmit(branch, pending), pending.interval);
    pending.timer.unref();
    this.#pending.set(branch, pending);
  }

  #retransmit(branch: string, pending: PendingBye): void {
    if (Date.now() >= pending.deadline) {
      this.#settle(branch, pending);
      return;
    }
    this.#host.send(pending.target, pending.bytes);
    pending.interval = Math.min(pending.interval * 2, this.#host.timers.T2);
    pending.timer = setTimeout(() => this.#retransmit(branch, pending), pending.interval);
    pending.timer.unref();
  }

  #settle(branch: string, pending: PendingBye): void {
    clearTimeout(pending.timer);
    this.#pending.delete(branch);
  }

  /** A client-side party over the flow it used; the upstream where every upstream request goes. */
  #targetOf(party: DialogParty): SendTarget {
    if (party.direction === 'upstream') return this.#host.upstreamTarget;
    return {
      transport: party.transport,
      address: party.address,
      port: party.port,
      ...(party.connectionId === undefined ? {} : { connectionId: party.connectionId }),
    };
  }
}
