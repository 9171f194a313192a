import type { TransportName } from '../../transport/types.ts';

/** An address sipwarden writes into messages (Via, Record-Route, Path) for one side. */
export interface AdvertisedAddress {
  readonly transport: TransportName;
  readonly host: string;
  readonly port: number;
}

/** IPv6 literals go in brackets in URIs and Via (RFC 3261 section 25.1, RFC 5118). */
export function hostForUri(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function normaliseHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase();
}

/**
 * Which hosts and ports are sipwarden itself: a Route entry or Request-URI naming one of
 * them is addressed to us (RFC 3261 section 16.4).
 */
export class LocalIdentity {
  readonly #hosts: ReadonlySet<string>;
  readonly #ports: ReadonlySet<number>;

  constructor(hosts: readonly string[], ports: readonly number[]) {
    this.#hosts = new Set(hosts.map(normaliseHost));
    this.#ports = new Set(ports);
  }

  /** A URI host and optional port name us; an absent port means 5060 (5061 for sips). */
  isLocal(host: string, port: number | undefined, secure = false): boolean {
    if (!this.#hosts.has(normaliseHost(host))) return false;
    return this.#ports.has(port ?? (secure ? 5061 : 5060));
  }
}

export function formatHostPort(address: { host: string; port: number }): string {
  return `${hostForUri(address.host)}:${address.port}`;
}
