import { appendHeader, prependHeader, removeFirstValue, setHeader } from '../../sip/edit.ts';
import type { SipRequest, SipResponse, SipUri } from '../../sip/message.ts';
import type { Flow, SendTarget, TransportName } from '../../transport/types.ts';
import { newBranch, statelessBranch } from '../transaction/branch.ts';
import { FlowTokenCodec } from './flow-token.ts';
import { type AdvertisedAddress, hostForUri, LocalIdentity } from './local-identity.ts';
import { isLoop, loopHash } from './loop-detection.ts';
import { withOwnVia } from './own-via.ts';
import { stampReceived } from './received.ts';
import { capRegisterExpires } from './register-expires.ts';
import { firstRouteUri } from './routes.ts';
import {
  FORGED,
  type HiddenVias,
  TopologyHiding,
  type TopologySettings,
} from './topology/topology-hiding.ts';
import type { UpstreamSelector } from './upstreams/upstream-selector.ts';

export interface RouteSettings {
  /** The protected service: every request from the untrusted side goes here and nowhere else. */
  readonly upstream: { readonly transport: TransportName; readonly address: string; readonly port: number };
  /** Addresses written in Via/Record-Route/Path, per transport, for the client side. */
  readonly clientFacing: Partial<Record<TransportName, AdvertisedAddress>>;
  /** Address written in Via/Record-Route/Path toward the upstream. */
  readonly upstreamFacing: AdvertisedAddress;
  /** Hosts and ports that are sipwarden itself (Route entries, OPTIONS health checks). */
  readonly localHosts: readonly string[];
  readonly localPorts: readonly number[];
  readonly maxForwards: number;
  readonly recordRoute: boolean;
  /** REGISTER lifetimes above this many seconds are shortened to it. */
  readonly maxRegisterExpires?: number;
  /** Signs flow tokens; random per process unless several nodes must share it. */
  readonly secret: Buffer;
  /** Several upstreams and their route table (src/core/route/upstreams); absent: `upstream` alone. */
  readonly upstreams?: UpstreamSelector;
  /** What is hidden from each side (src/core/route/topology); nothing when absent. */
  readonly topology?: TopologySettings;
}

export type Routed =
  | {
      readonly ok: true;
      readonly request: SipRequest;
      readonly target: SendTarget;
      readonly clientFlow: Flow | SendTarget;
      /** Further upstream endpoints a new request may fail over to, in order. */
      readonly alternatives?: readonly SendTarget[];
    }
  | { readonly ok: false; readonly status: number; readonly reason: string };

/** Methods that never create a dialog, so their requests are not record-routed. */
const NO_RECORD_ROUTE = new Set(['REGISTER', 'CANCEL', 'ACK', 'OPTIONS', 'MESSAGE', 'PUBLISH']);

/**
 * The route layer: where a request goes and how it is rewritten on its way (RFC 3261 16.4
 * to 16.6, 16.7 item 3 for responses). From the untrusted side: the upstream, always (not
 * an open relay). From the upstream: the client flow named by the signed token in our
 * Route entry (a dialog's Record-Route or a registration's Path), never an address merely
 * written in the message.
 *
 * Topology hiding plugs in here, in both directions: into prepareForward and prepareAck for
 * requests and into prepareResponse for responses (every response the proxy forwards, live
 * or an RFC 6026 2xx retransmission, passes it). Media (SDP rewriting of offers and answers
 * for the relay) plugs in at the same three places, on the bodies.
 */
export class Router {
  readonly #settings: RouteSettings;
  readonly #identity: LocalIdentity;
  readonly #tokens: FlowTokenCodec;
  /** Keys the stateless ACK branches: the secret as text, made once. */
  readonly #branchKey: string;
  readonly #upstreamTarget: SendTarget;
  /** Absent when nothing is hidden: the hot path pays one test. */
  readonly #topology: TopologyHiding | undefined;

  constructor(settings: RouteSettings) {
    this.#settings = settings;
    this.#identity = new LocalIdentity(settings.localHosts, settings.localPorts);
    this.#tokens = new FlowTokenCodec(settings.secret);
    this.#branchKey = settings.secret.toString('base64');
    this.#upstreamTarget = { ...settings.upstream };
    const topology = settings.topology;
    this.#topology =
      topology?.untrusted === undefined && topology?.trusted === undefined
        ? undefined
        : new TopologyHiding(topology, settings.secret, (uri) => this.#isOurUri(uri));
  }

  /** Where a request goes, with the Route entries that name us removed (RFC 3261 16.4). */
  route(request: SipRequest, fromUpstream: boolean, flow: Flow): Routed {
    let current = request;
    // Topology hiding: the route set and Request-URI sealed for the untrusted side come back.
    if (!fromUpstream && this.#topology !== undefined) {
      const restored = this.#topology.restoreRequest(request);
      if (restored === FORGED) return { ok: false, status: 403, reason: 'Invalid Route Or Contact' };
      current = restored;
    }
    let token: string | undefined;
    // Two entries name us when we double record-routed.
    for (let i = 0; i < 4; i++) {
      const uri = firstRouteUri(current);
      if (!uri || !this.#isOurUri(uri)) break;
      token ??= uri.user;
      current = removeFirstValue(current, 'route');
    }
    if (!fromUpstream) {
      const upstreams = this.#settings.upstreams;
      if (upstreams === undefined)
        return { ok: true, request: current, target: this.#upstreamTarget, clientFlow: flow };
      // Several upstreams: the route table and the endpoints' health choose (src/core/route/upstreams).
      if (request.to.params.get('tag') !== undefined) {
        const target = upstreams.forDialog(current) ?? upstreams.forNewRequest(current, flow)[0];
        if (target === undefined) return { ok: false, status: 503, reason: 'No Upstream Available' };
        return { ok: true, request: current, target, clientFlow: flow };
      }
      const targets = upstreams.forNewRequest(current, flow);
      if (targets.length === 0) return { ok: false, status: 503, reason: 'No Upstream Available' };
      return {
        ok: true,
        request: current,
        target: targets[0]!,
        clientFlow: flow,
        alternatives: targets.slice(1),
      };
    }
    if (!token) return { ok: false, status: 404, reason: 'No Route To Destination' };
    const target = this.#tokens.decode(token);
    if (!target) return { ok: false, status: 403, reason: 'Invalid Flow Token' };
    return { ok: true, request: current, target, clientFlow: target };
  }

  /** An OPTIONS (or other request) for sipwarden itself, not to be forwarded. */
  isAddressedToUs(request: SipRequest): boolean {
    const uri = request.uri;
    if (uri.scheme !== 'sip' && uri.scheme !== 'sips') return false;
    const sipUri = uri as SipUri;
    if (sipUri.user !== undefined) return false;
    if (!this.#isOurUri(sipUri)) return false;
    // Only when no Route sends it elsewhere.
    const route = firstRouteUri(request);
    return !route || this.#isOurUri(route);
  }

  /** RFC 3261 16.3 item 4: a request carrying our own Via with an unchanged hash is a loop. */
  isLoop(request: SipRequest): boolean {
    return isLoop(request, this.#identity);
  }

  /**
   * A routed request made ready to leave (RFC 3261 16.6): received/rport, Max-Forwards,
   * Record-Route, Path for a REGISTER and its capped lifetime, and our Via with a new branch.
   */
  prepareForward(
    routed: SipRequest,
    original: SipRequest,
    flow: Flow,
    target: SendTarget,
    fromUpstream: boolean,
    clientFlow: Flow | SendTarget,
  ): { message: SipRequest; branch: string } {
    let message = stampReceived(routed, flow);
    message = this.#decrementMaxForwards(message, original);

    const token = this.#tokens.encode(asFlow(clientFlow));
    const inwardFacing = fromUpstream ? this.#upstreamFacing() : this.#clientFacing(flow.transport);
    const outwardFacing = fromUpstream ? this.#clientFacing(target.transport) : this.#upstreamFacing();
    const initial = original.to.params.get('tag') === undefined;
    if (this.#settings.recordRoute && initial && !NO_RECORD_ROUTE.has(original.method)) {
      // RFC 3261 16.6 item 4, RFC 5658: the entry facing the receiver goes on top; a second
      // entry for the other interface when host, port or transport differ.
      if (!sameAddress(inwardFacing, outwardFacing)) {
        message = prependHeader(message, 'Record-Route', routeUri(token, inwardFacing));
      }
      message = prependHeader(message, 'Record-Route', routeUri(token, outwardFacing));
    }
    if (original.method === 'REGISTER' && !fromUpstream && this.#settings.maxRegisterExpires !== undefined) {
      message = capRegisterExpires(message, this.#settings.maxRegisterExpires);
    }
    if (original.method === 'REGISTER' && !fromUpstream) {
      // RFC 3327: requests for this registration come back through us, over this flow.
      message = prependHeader(message, 'Path', routeUri(token, this.#upstreamFacing(), ';ob'));
    }
    // Media (SDP offer/answer rewrite) plugs in after this, in the proxy.
    // Over the request as it leaves (our Route entries gone): a looped copy arrives with the same fields.
    const branch = newBranch(loopHash(routed));
    message = withOwnVia(message, outwardFacing, branch);
    // Topology hiding: what leaves towards a hidden side names nothing of the other.
    if (this.#topology !== undefined)
      message = this.#topology.hideRequest(message, !fromUpstream, outwardFacing);
    return { message, branch };
  }

  /**
   * An ACK for a 2xx, forwarded statelessly along the same route (RFC 3261 16.11): its
   * branch is derived from the received one, so a retransmitted ACK leaves with the same.
   */
  prepareAck(
    routed: SipRequest,
    ack: SipRequest,
    flow: Flow,
    target: SendTarget,
    fromUpstream: boolean,
  ): SipRequest {
    // Media (an ACK may carry the SDP answer) plugs in after this, in the proxy.
    const message = this.#decrementMaxForwards(stampReceived(routed, flow), ack);
    const outwardFacing = fromUpstream ? this.#clientFacing(target.transport) : this.#upstreamFacing();
    const branch = statelessBranch(this.#branchKey, ack.via[0]!.branch ?? ack.callId + ack.cseq.seq);
    const forwarded = withOwnVia(message, outwardFacing, branch);
    return this.#topology === undefined
      ? forwarded
      : this.#topology.hideRequest(forwarded, !fromUpstream, outwardFacing);
  }

  /** The Path (RFC 3327) prepareForward writes into a REGISTER that came over `flow`. */
  registrationPath(flow: Flow): string {
    return routeUri(this.#tokens.encode(flow), this.#upstreamFacing(), ';ob');
  }

  /** True when a URI names sipwarden itself (its host and port, as a Record-Route entry of ours does). */
  isOwnUri(uri: SipUri): boolean {
    return this.#isOurUri(uri);
  }

  /** The address sipwarden writes in Via towards the upstream, or towards a client over `transport`. */
  ownAddress(toUpstream: boolean, transport: TransportName): AdvertisedAddress {
    return toUpstream ? this.#upstreamFacing() : this.#clientFacing(transport);
  }

  /** Where every request for the upstream goes. */
  get upstreamTarget(): SendTarget {
    return this.#upstreamTarget;
  }

  /** RFC 3261 16.7 item 3: our Via comes off a response; undefined when none is left to send it on. */
  prepareResponse(response: SipResponse): SipResponse | undefined {
    const stripped = removeFirstValue(response, 'via');
    // Media (SDP offer/answer rewrite) plugs in after this, in the proxy; topology hiding
    // before it (restoreResponse) and after the checks of the response (hideResponse).
    return stripped.via.length === 0 ? undefined : stripped;
  }

  /** Topology hiding: the received request's Via fields its forwarded copy goes without, if any. */
  hiddenVias(received: SipRequest, towardsUpstream: boolean): HiddenVias | undefined {
    return this.#topology?.hiddenVias(received, towardsUpstream);
  }

  /** Topology hiding: a response from a hidden side gets back what its request went without. */
  restoreResponse(response: SipResponse, vias: HiddenVias | undefined, fromUpstream: boolean): SipResponse {
    return this.#topology === undefined
      ? response
      : this.#topology.restoreResponse(response, vias, fromUpstream);
  }

  /** Topology hiding: a response made ready to leave towards a hidden side, over `transport`. */
  hideResponse(response: SipResponse, towardsUpstream: boolean, transport: TransportName): SipResponse {
    if (this.#topology === undefined) return response;
    const own = towardsUpstream ? this.#upstreamFacing() : this.#clientFacing(transport);
    return this.#topology.hideResponse(response, towardsUpstream, own);
  }

  /** RFC 3261 16.6 item 3. */
  #decrementMaxForwards(message: SipRequest, original: SipRequest): SipRequest {
    const maxForwards = original.maxForwards;
    return maxForwards === undefined
      ? appendHeader(message, 'Max-Forwards', String(this.#settings.maxForwards))
      : setHeader(message, 'Max-Forwards', String(maxForwards - 1));
  }

  #isOurUri(uri: SipUri): boolean {
    return this.#identity.isLocal(uri.host, uri.port, uri.scheme === 'sips');
  }

  #clientFacing(transport: TransportName): AdvertisedAddress {
    return this.#settings.clientFacing[transport] ?? this.#settings.upstreamFacing;
  }

  #upstreamFacing(): AdvertisedAddress {
    return this.#settings.upstreamFacing;
  }
}

function routeUri(token: string, address: AdvertisedAddress, extra = ''): string {
  const transport = address.transport === 'udp' ? '' : `;transport=${address.transport}`;
  return `<sip:${token}@${hostForUri(address.host)}:${address.port}${transport};lr${extra}>`;
}

function sameAddress(a: AdvertisedAddress, b: AdvertisedAddress): boolean {
  return a.transport === b.transport && a.host === b.host && a.port === b.port;
}

function asFlow(flow: Flow | SendTarget): Flow {
  if ('remoteAddress' in flow) return flow;
  return {
    transport: flow.transport,
    remoteAddress: flow.address,
    remotePort: flow.port,
    localAddress: '',
    localPort: 0,
    ...(flow.connectionId === undefined ? {} : { connectionId: flow.connectionId }),
  };
}
