import type { Flow, TransportName } from '../../transport/types.ts';
import type { Direction } from '../inspector.ts';

/** Which side a flow is on: the upstream's (the protected service) or the untrusted clients'. */
export class FlowDirection {
  readonly #upstream: { readonly transport: TransportName; readonly address: string; readonly port: number };
  readonly #upstreamSources: ReadonlySet<string>;
  /** Several upstreams: a flow from any of their endpoints is from the trusted side. */
  readonly #pool: { isUpstreamFlow(flow: Flow): boolean } | undefined;

  constructor(
    upstream: { readonly transport: TransportName; readonly address: string; readonly port: number },
    upstreamSources: readonly string[] = [],
    pool?: { isUpstreamFlow(flow: Flow): boolean },
  ) {
    this.#upstream = upstream;
    this.#upstreamSources = new Set(upstreamSources);
    this.#pool = pool;
  }

  of(flow: Flow): Direction {
    return this.isFromUpstream(flow) ? 'upstream' : 'client';
  }

  isFromUpstream(flow: Flow): boolean {
    const up = this.#upstream;
    if (flow.remoteAddress === up.address) {
      if (flow.remotePort === up.port) return true;
      // Over TCP and TLS the upstream sends its requests (calls to phones, along the Path) on
      // a connection it opens itself, from a port of its choosing (RFC 3261 18.1.1): from
      // its address, a stream is the upstream's when we reach it over a stream too.
      if (flow.transport !== 'udp' && up.transport !== 'udp') return true;
    }
    return this.#upstreamSources.has(flow.remoteAddress) || this.#pool?.isUpstreamFlow(flow) === true;
  }
}
