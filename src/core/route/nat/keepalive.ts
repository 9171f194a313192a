import { randomBytes } from 'node:crypto';
import type { SipResponse } from '../../../sip/message.ts';
import type { SendTarget } from '../../../transport/types.ts';
import { MAGIC_COOKIE } from '../../transaction/branch.ts';
import { type AdvertisedAddress, formatHostPort } from '../local-identity.ts';
import type { NatFlow, NatFlowTable } from './flow-table.ts';

export interface KeepaliveSettings {
  /** An OPTIONS to each registered UDP flow this often; unanswered by the next one, a miss. */
  readonly intervalMs: number;
  /** Misses in a row after which the flow is dead. */
  readonly maxMisses: number;
}

export interface KeepaliveHost {
  send(target: SendTarget, data: Buffer): void;
  /** sipwarden's address towards the clients over UDP (its Via and From). */
  ownAddress(): AdvertisedAddress;
  /** A flow missed `maxMisses` keepalives in a row. */
  dead(flow: NatFlow): void;
}

/** The mark of keepalive branches: their answers reach onResponse past the transaction layer. */
export const KEEPALIVE_BRANCH = `${MAGIC_COOKIE}swk`;

/**
 * OPTIONS keepalives to phones registered over UDP (what operators use to keep a NAT binding
 * open: phones answer OPTIONS, few answer STUN on their SIP port). Each flow gets one every
 * interval from the socket its REGISTER came to, at most one outstanding; any answer (even
 * 404 or 405) shows the binding open and the phone there. A flow that has answered and then
 * misses `maxMisses` in a row is dead; one that never answered is not judged by silence (the
 * phone may ignore OPTIONS), only pinged. Flows are pinged on their own
 * schedule, from their registration on, so pings spread over the interval.
 *
 * Driven by `tick(now)` (a timer in production, a fake clock in tests): it sends what is
 * due, counts misses and ends bindings past their expiry; nothing else reads the time.
 */
export class NatKeepalive {
  readonly #table: NatFlowTable;
  readonly #settings: KeepaliveSettings;
  readonly #host: KeepaliveHost;
  /** Outstanding pings by branch: at most one per flow, so bounded by the table. */
  readonly #pending = new Map<string, NatFlow>();
  readonly #callIdBase = randomBytes(8).toString('hex');
  readonly #tag = randomBytes(6).toString('hex');
  #cseq = 0;
  pingsSent = 0;
  answers = 0;
  misses = 0;

  constructor(table: NatFlowTable, settings: KeepaliveSettings, host: KeepaliveHost) {
    this.#table = table;
    this.#settings = settings;
    this.#host = host;
  }

  /** When a newly registered flow gets its first ping. */
  firstPingAt(now: number): number {
    return now + this.#settings.intervalMs;
  }

  tick(now: number): void {
    for (const flow of this.#table.values()) {
      if (flow.dead || flow.target.transport !== 'udp') continue;
      if (flow.pingBranch !== undefined && now - flow.pingSentAt >= this.#settings.intervalMs) {
        this.#pending.delete(flow.pingBranch);
        flow.pingBranch = undefined;
        flow.misses++;
        this.misses++;
        // A phone that never answered may just ignore OPTIONS: it is pinged on (the pings
        // still refresh its NAT mapping), never declared dead by silence.
        if (flow.misses >= this.#settings.maxMisses && flow.answered) {
          this.#host.dead(flow);
          continue;
        }
      }
      if (flow.pingBranch === undefined && now >= flow.nextPingAt) this.#ping(flow, now);
    }
  }

  /** An answer to one of our pings: true when it was one (it goes no further). */
  onResponse(response: SipResponse, from: { remoteAddress: string; remotePort: number }): boolean {
    const branch = response.via[0]?.branch;
    if (branch === undefined || !branch.startsWith(KEEPALIVE_BRANCH)) return false;
    if (response.status < 200) return true;
    const flow = this.#pending.get(branch);
    // Only the flow pinged answers for itself: an answer from elsewhere is dropped.
    if (flow === undefined || flow.pingBranch !== branch) return true;
    if (from.remoteAddress !== flow.target.address || from.remotePort !== flow.target.port) return true;
    this.#pending.delete(branch);
    flow.pingBranch = undefined;
    flow.misses = 0;
    flow.answered = true;
    this.answers++;
    return true;
  }

  /** A flow left the table or died: its outstanding ping is forgotten. */
  forget(flow: NatFlow): void {
    if (flow.pingBranch !== undefined) this.#pending.delete(flow.pingBranch);
    flow.pingBranch = undefined;
  }

  /** Outstanding pings whose flow is gone (expired, replaced) are dropped. */
  sweep(): void {
    for (const [branch, flow] of this.#pending) {
      if (this.#table.get(flow.target) !== flow || flow.dead) this.#pending.delete(branch);
    }
  }

  close(): void {
    this.#pending.clear();
  }

  #ping(flow: NatFlow, now: number): void {
    const first = flow.bindings.values().next().value;
    if (first === undefined) return;
    const branch = `${KEEPALIVE_BRANCH}${randomBytes(9).toString('base64url')}`;
    const own = formatHostPort(this.#host.ownAddress());
    this.#cseq = (this.#cseq % 2_000_000_000) + 1;
    const seq = this.#cseq;
    // To the Contact the phone registered, over the flow it registered on.
    const message =
      `OPTIONS ${first.contact} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${own};branch=${branch};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:keepalive@${own}>;tag=${this.#tag}\r\n` +
      `To: <${first.contact}>\r\n` +
      `Call-ID: ${this.#callIdBase}-${seq}@sipwarden\r\n` +
      `CSeq: ${seq} OPTIONS\r\n` +
      'Content-Length: 0\r\n\r\n';
    flow.pingBranch = branch;
    flow.pingSentAt = now;
    flow.nextPingAt = now + this.#settings.intervalMs;
    this.#pending.set(branch, flow);
    this.pingsSent++;
    this.#host.send(flow.target, Buffer.from(message));
  }
}
