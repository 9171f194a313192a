import { randomBytes } from 'node:crypto';
import type { SipResponse } from '../../../sip/message.ts';
import { retryAfterSeconds } from '../../../sip/retry-after.ts';
import type { SendTarget, TransportName } from '../../../transport/types.ts';
import { MAGIC_COOKIE } from '../../transaction/branch.ts';
import { type AdvertisedAddress, formatHostPort, hostForUri } from '../local-identity.ts';
import type { UpstreamPool } from './upstream-pool.ts';

export interface PingSettings {
  readonly intervalMs: number;
  /** A ping unanswered after this long is a miss. */
  readonly timeoutMs: number;
}

export interface PingHost {
  send(target: SendTarget, data: Buffer): void;
  /** What sipwarden writes in Via towards the upstreams over `transport`. */
  ownAddress(transport: TransportName): AdvertisedAddress;
}

interface Pending {
  readonly target: SendTarget;
  readonly timer: NodeJS.Timeout;
}

/**
 * Health checks: an OPTIONS to every upstream endpoint each interval (at most one
 * outstanding per endpoint), sent as a small stateless client transaction of its own; any
 * response but a 503 is an answer, a 503 with Retry-After takes the endpoint down for that
 * long, silence is a miss. Its branches carry sipwarden's mark, so their responses reach
 * `onResponse` past the transaction layer (which knows no transaction for them).
 */
export class OptionsPinger {
  readonly #pool: UpstreamPool;
  readonly #settings: PingSettings;
  readonly #host: PingHost;
  readonly #pending = new Map<string, Pending>();
  readonly #outstanding = new Set<string>();
  readonly #callIdBase = randomBytes(8).toString('hex');
  readonly #tag = randomBytes(6).toString('hex');
  #cseq = 0;
  #timer: NodeJS.Timeout | undefined;
  pingsSent = 0;

  constructor(pool: UpstreamPool, settings: PingSettings, host: PingHost) {
    this.#pool = pool;
    this.#settings = settings;
    this.#host = host;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.pingAll();
    this.#timer = setInterval(() => this.pingAll(), this.#settings.intervalMs);
    this.#timer.unref();
  }

  /** One round of pings: to every endpoint without one outstanding. */
  pingAll(): void {
    for (const endpoint of this.#pool.endpoints) {
      const target = endpoint.target;
      const key = `${target.transport}|${target.address}|${target.port}`;
      if (this.#outstanding.has(key)) continue;
      this.#ping(target, key);
    }
  }

  /** A response to one of our pings: true when it was one (it goes no further). */
  onResponse(response: SipResponse, flow: { remoteAddress: string; remotePort: number }): boolean {
    const branch = response.via[0]?.branch;
    if (branch === undefined || response.cseq.method !== 'OPTIONS') return false;
    const pending = this.#pending.get(branch);
    if (pending === undefined) return false;
    // Only the endpoint pinged answers for itself.
    if (flow.remoteAddress !== pending.target.address) return false;
    if (response.status < 200) return true;
    this.#settle(branch, pending);
    if (response.status === 503) this.#pool.unavailable(pending.target, retryAfterSeconds(response));
    else this.#pool.answered(pending.target);
    return true;
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
    this.#outstanding.clear();
  }

  #ping(target: SendTarget, key: string): void {
    const branch = `${MAGIC_COOKIE}swp${randomBytes(9).toString('base64url')}`;
    const own = this.#host.ownAddress(target.transport);
    this.#cseq = (this.#cseq % 2_000_000_000) + 1;
    const seq = this.#cseq;
    const uri = `sip:${hostForUri(target.address)}:${target.port}${target.transport === 'udp' ? '' : `;transport=${target.transport}`}`;
    const message =
      `OPTIONS ${uri} SIP/2.0\r\n` +
      `Via: SIP/2.0/${target.transport.toUpperCase()} ${formatHostPort(own)};branch=${branch};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:sipwarden@${formatHostPort(own)}>;tag=${this.#tag}\r\n` +
      `To: <${uri}>\r\n` +
      `Call-ID: ${this.#callIdBase}-${seq}@sipwarden\r\n` +
      `CSeq: ${seq} OPTIONS\r\n` +
      'Accept: application/sdp\r\n' +
      'Content-Length: 0\r\n\r\n';
    const timer = setTimeout(() => {
      // After the I/O already waiting: when the process itself was busy past the timeout, an
      // answer sitting in the socket buffer is read before the ping counts as missed.
      setImmediate(() => {
        const pending = this.#pending.get(branch);
        if (pending === undefined) return;
        this.#settle(branch, pending);
        this.#pool.missed(pending.target, 'ping-timeout');
      });
    }, this.#settings.timeoutMs);
    timer.unref();
    this.#pending.set(branch, { target, timer });
    this.#outstanding.add(key);
    this.pingsSent++;
    this.#host.send(target, Buffer.from(message));
  }

  #settle(branch: string, pending: Pending): void {
    clearTimeout(pending.timer);
    this.#pending.delete(branch);
    const t = pending.target;
    this.#outstanding.delete(`${t.transport}|${t.address}|${t.port}`);
  }
}
