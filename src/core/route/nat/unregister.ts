import { randomBytes } from 'node:crypto';
import type { SipResponse } from '../../../sip/message.ts';
import type { SendTarget } from '../../../transport/types.ts';
import { MAGIC_COOKIE } from '../../transaction/branch.ts';
import { type AdvertisedAddress, formatHostPort } from '../local-identity.ts';
import type { NatBinding } from './flow-table.ts';

export interface UnregisterHost {
  send(target: SendTarget, data: Buffer): void;
  /** sipwarden's address towards the upstream over `transport`. */
  ownAddress(transport: SendTarget['transport']): AdvertisedAddress;
  /** The registrar's final answer (0: none came after every retransmission). */
  answered(binding: NatBinding, status: number): void;
}

/** The mark of unregistration branches: their answers reach onResponse past the transaction layer. */
export const UNREGISTER_BRANCH = `${MAGIC_COOKIE}swu`;
/** Unregistrations in flight at most; beyond, a dead flow's bindings just expire. */
const MAX_PENDING = 256;
/** Waits after each send over UDP (RFC 3261 17.1.2.2, T1 = 500 ms, T2 = 4 s); then it is given up. */
const RETRANSMIT_MS = [500, 1000, 2000, 4000, 4000];

interface Pending {
  readonly binding: NatBinding;
  readonly bytes: Buffer;
  timer: NodeJS.Timeout | undefined;
  sent: number;
}

/**
 * Removes the binding of a phone whose flow died at the registrar: a REGISTER for the same
 * address of record and Contact with Expires: 0 (RFC 3261 10.2.2), carrying the phone's Path,
 * sent to where the phone's REGISTER went. Its Call-ID is new: a registrar removes a binding
 * of another Call-ID when the expiry is zero (RFC 3261 10.3 item 7), whatever its CSeq.
 *
 * It carries no credentials: a registrar that challenges it (401/407) keeps the binding until
 * it expires, and requests for the phone meanwhile get 430 from sipwarden.
 */
export class Unregistration {
  readonly #host: UnregisterHost;
  readonly #pending = new Map<string, Pending>();
  readonly #tag = randomBytes(6).toString('hex');
  readonly #callIdBase = randomBytes(8).toString('hex');
  #seq = 0;
  sent = 0;
  skipped = 0;

  constructor(host: UnregisterHost) {
    this.#host = host;
  }

  /** Sends the unregistration; false when too many are in flight. */
  unregister(binding: NatBinding, path: string): boolean {
    if (this.#pending.size >= MAX_PENDING) {
      this.skipped++;
      return false;
    }
    const branch = `${UNREGISTER_BRANCH}${randomBytes(9).toString('base64url')}`;
    const target = binding.upstream;
    const own = this.#host.ownAddress(target.transport);
    this.#seq = (this.#seq % 2_000_000_000) + 1;
    const message =
      `REGISTER ${binding.registrar} SIP/2.0\r\n` +
      `Via: SIP/2.0/${target.transport.toUpperCase()} ${formatHostPort(own)};branch=${branch};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <${binding.aorUri}>;tag=${this.#tag}\r\n` +
      `To: <${binding.aorUri}>\r\n` +
      `Call-ID: ${this.#callIdBase}-${this.#seq}@sipwarden\r\n` +
      'CSeq: 1 REGISTER\r\n' +
      `Contact: <${binding.contact}>;expires=0\r\n` +
      `Path: ${path}\r\n` +
      'Expires: 0\r\n' +
      'Content-Length: 0\r\n\r\n';
    const pending: Pending = { binding, bytes: Buffer.from(message), timer: undefined, sent: 0 };
    this.#pending.set(branch, pending);
    this.#send(branch, pending);
    this.sent++;
    return true;
  }

  /** An answer to one of ours: true when it was one (it goes no further). */
  onResponse(response: SipResponse, from: { remoteAddress: string }): boolean {
    const branch = response.via[0]?.branch;
    if (branch === undefined || !branch.startsWith(UNREGISTER_BRANCH)) return false;
    const pending = this.#pending.get(branch);
    if (pending === undefined || from.remoteAddress !== pending.binding.upstream.address) return true;
    // A provisional answer: the final one is still to come.
    if (response.status < 200) return true;
    this.#stop(pending);
    this.#pending.delete(branch);
    this.#host.answered(pending.binding, response.status);
    return true;
  }

  close(): void {
    for (const pending of this.#pending.values()) this.#stop(pending);
    this.#pending.clear();
  }

  #send(branch: string, pending: Pending): void {
    const target = pending.binding.upstream;
    this.#host.send(target, pending.bytes);
    pending.sent++;
    // Streams are reliable: one send, then the whole wait for an answer.
    const udp = target.transport === 'udp';
    const delay = udp ? RETRANSMIT_MS[pending.sent - 1]! : RETRANSMIT_MS.reduce((a, b) => a + b);
    pending.timer = setTimeout(() => {
      pending.timer = undefined;
      if (this.#pending.get(branch) !== pending) return;
      if (udp && pending.sent < RETRANSMIT_MS.length) {
        this.#send(branch, pending);
        return;
      }
      this.#pending.delete(branch);
      this.#host.answered(pending.binding, 0);
    }, delay);
    pending.timer.unref();
  }

  #stop(pending: Pending): void {
    if (pending.timer !== undefined) clearTimeout(pending.timer);
    pending.timer = undefined;
  }
}
