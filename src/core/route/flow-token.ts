import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Flow, SendTarget, TransportName } from '../../transport/types.ts';

/**
 * A flow token names the connection or address pair a client reached us on (RFC 5626
 * section 5.2). We write it in the user part of our Path and Record-Route URIs; when the
 * upstream later sends a request back through us, the token says where it goes.
 *
 * It is signed with a secret (the cluster's, src/state/cluster-secret.ts: every node of a
 * cluster reads the others' tokens), so nobody can write a token that sends our traffic to
 * an address of their choosing: sipwarden is not a reflector.
 */

const TAG_BYTES = 10;
const CACHE_ENTRIES = 10_000;
const TRANSPORT_CODES: Record<TransportName, number> = { udp: 1, tcp: 2, tls: 3 };
const TRANSPORTS: readonly (TransportName | undefined)[] = [undefined, 'udp', 'tcp', 'tls'];

export class FlowTokenCodec {
  readonly #secret: Buffer;
  readonly #cache = new Map<string, string>();

  constructor(secret: Buffer) {
    if (secret.length < 16) throw new RangeError('flow token secret must be at least 16 bytes');
    this.#secret = secret;
  }

  encode(flow: Flow): string {
    const payload = `${TRANSPORT_CODES[flow.transport]}|${flow.remoteAddress}|${flow.remotePort}|${flow.connectionId ?? 0}`;
    // A client sends many requests over one flow: its token is computed once, not per request.
    const cached = this.#cache.get(payload);
    if (cached !== undefined) return cached;
    const body = Buffer.from(payload, 'latin1');
    const token = Buffer.concat([this.#tag(body), body]).toString('base64url');
    // Bounded: when full, start over (a flood of new flows costs the HMAC, nothing more).
    if (this.#cache.size >= CACHE_ENTRIES) this.#cache.clear();
    this.#cache.set(payload, token);
    return token;
  }

  /** The target a token names, or undefined when it is malformed or its signature does not verify. */
  decode(token: string): SendTarget | undefined {
    if (token.length < 16 || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= TAG_BYTES) return undefined;
    const tag = raw.subarray(0, TAG_BYTES);
    const body = raw.subarray(TAG_BYTES);
    if (!timingSafeEqual(tag, this.#tag(body))) return undefined;
    const [code, address, port, connection] = body.toString('latin1').split('|');
    const transport = TRANSPORTS[Number(code)];
    if (!transport || !address || !port || connection === undefined) return undefined;
    const connectionId = Number(connection);
    return {
      transport,
      address,
      port: Number(port),
      ...(connectionId > 0 ? { connectionId } : {}),
    };
  }

  #tag(body: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(body).digest().subarray(0, TAG_BYTES);
  }
}
