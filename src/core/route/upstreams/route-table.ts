import type { SipRequest, SipUri, TelUri } from '../../../sip/message.ts';
import { type Cidr, cidrContains, parseCidr } from '../../../state/cidr.ts';
import type { Flow } from '../../../transport/types.ts';

/** One route as configured: what it matches (every given field must) and where it sends. */
export interface UpstreamRouteDefinition {
  /** The Request-URI's host: `pbx.example.com`, or `*.example.com` for it and every subdomain. */
  readonly domain?: string;
  /** The start of the Request-URI's user part (`+`, `00`, `1`). */
  readonly userPrefix?: string;
  /** Source addresses or networks of the request. */
  readonly source?: readonly string[];
  /** Upstreams, by name, that serve what it matches. */
  readonly upstreams: readonly string[];
}

interface CompiledRoute {
  readonly exactDomain: string | undefined;
  readonly domainSuffix: string | undefined;
  readonly userPrefix: string | undefined;
  readonly sources: readonly Cidr[] | undefined;
  readonly upstreams: readonly string[];
}

/**
 * The route table: the first route whose every condition holds names the upstreams of a
 * new request from the untrusted side. It only compares the Request-URI and the source
 * with configured values (string and network comparisons); nothing in a message is ever
 * resolved here.
 */
export class RouteTable {
  readonly #routes: readonly CompiledRoute[];

  constructor(routes: readonly UpstreamRouteDefinition[]) {
    this.#routes = routes.map((route) => {
      const domain = route.domain?.toLowerCase();
      const sources = route.source?.map((text) => {
        const cidr = parseCidr(text);
        if (cidr === undefined) throw new Error(`route source ${text} is not an address or network`);
        return cidr;
      });
      return {
        exactDomain: domain !== undefined && !domain.startsWith('*.') ? domain : undefined,
        domainSuffix: domain?.startsWith('*.') ? domain.slice(1) : undefined,
        userPrefix: route.userPrefix,
        sources,
        upstreams: route.upstreams,
      };
    });
  }

  get size(): number {
    return this.#routes.length;
  }

  /** The upstream names of the first matching route; undefined when none matches. */
  match(request: SipRequest, flow: Flow): readonly string[] | undefined {
    const scheme = request.uri.scheme;
    const sip = scheme === 'sip' || scheme === 'sips' ? (request.uri as SipUri) : undefined;
    const host = sip?.host.toLowerCase();
    // A tel: URI has no host; its number is what a user prefix is compared with.
    const user = scheme === 'tel' ? (request.uri as TelUri).number : sip?.user;
    for (const route of this.#routes) {
      if (route.exactDomain !== undefined && host !== route.exactDomain) continue;
      if (route.domainSuffix !== undefined) {
        if (host === undefined) continue;
        if (!host.endsWith(route.domainSuffix) && host !== route.domainSuffix.slice(1)) continue;
      }
      if (route.userPrefix !== undefined && (user === undefined || !user.startsWith(route.userPrefix)))
        continue;
      if (
        route.sources !== undefined &&
        !route.sources.some((cidr) => cidrContains(cidr, flow.remoteAddress))
      )
        continue;
      return route.upstreams;
    }
    return undefined;
  }
}
