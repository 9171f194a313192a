import type { SipRequest, SipUri } from '../../../sip/message.ts';
import { parseAddress } from '../../../state/ip.ts';
import type { Flow, SendTarget } from '../../../transport/types.ts';
import { firstRouteUri } from '../routes.ts';
import type { RouteTable } from './route-table.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/**
 * Where a request from the untrusted side goes when there are several upstreams. A new
 * request: the endpoints of the upstreams its route names, in the order to try them. A
 * request inside a dialog: the upstream endpoint it names as its next hop (the next Route
 * entry, else its Request-URI), compared as a numeric address with the known endpoints and
 * never resolved; else the first endpoint a new request would get.
 */
export class UpstreamSelector {
  readonly #pool: UpstreamPool;
  readonly #routes: RouteTable;

  constructor(pool: UpstreamPool, routes: RouteTable) {
    this.#pool = pool;
    this.#routes = routes;
  }

  get pool(): UpstreamPool {
    return this.#pool;
  }

  /** The endpoints to try for a new request, best first; empty when none of its route's is up. */
  forNewRequest(request: SipRequest, flow: Flow): SendTarget[] {
    return this.#pool.select(this.#routes.match(request, flow));
  }

  /** The upstream endpoint a request inside a dialog names, with our Route entries already removed. */
  forDialog(request: SipRequest): SendTarget | undefined {
    const next = firstRouteUri(request) ?? (isSipUri(request.uri) ? request.uri : undefined);
    if (next === undefined) return undefined;
    const host = next.host.startsWith('[') ? next.host.slice(1, -1) : next.host;
    if (parseAddress(host) === undefined) return undefined;
    return this.#pool.endpointAt(host, next.port ?? (next.scheme === 'sips' ? 5061 : 5060));
  }
}

function isSipUri(uri: SipRequest['uri']): uri is SipUri {
  return uri.scheme === 'sip' || uri.scheme === 'sips';
}
