import type { SendTarget } from '../../../transport/types.ts';

/**
 * The flows phones registered over through sipwarden (RFC 5626 section 5.2: the edge proxy
 * keeps the flow a registration came on), learned from the 2xx answers to REGISTERs that
 * passed through, with the bindings each carries. Keepalives go to these flows, and a flow
 * found dead is remembered here so that the PBX's requests for it get 430 at once.
 *
 * Bounded: at most `maxFlows` flows and `maxBindingsPerFlow` bindings on each; when full, a
 * new flow is not tracked (counted), so a burst of registrations cannot push out the phones
 * already known. Bindings end at the expiry the registrar gave, or when a later 2xx for the
 * same address of record no longer lists them (Expires: 0, `Contact: *`, a replacement).
 * The clock is the caller's (milliseconds, any origin): the table never reads time itself.
 */

export interface NatBinding {
  /** The address of record (To of the REGISTER), normalised: the key with `contact`. */
  readonly aor: string;
  /** The To URI as the phone wrote it, for an unregistration. */
  readonly aorUri: string;
  /** The Contact URI as the registrar listed it in its 2xx. */
  readonly contact: string;
  /** The REGISTER's Request-URI (the registrar's domain). */
  readonly registrar: string;
  /** Where the REGISTER went: where an unregistration goes. */
  readonly upstream: SendTarget;
  expiresAt: number;
}

export interface NatFlow {
  /** `transport|address|port|connection`: what a flow token decodes to. */
  readonly key: string;
  readonly target: SendTarget;
  /** The Path sipwarden wrote into this flow's REGISTERs (RFC 3327), for an unregistration. */
  path: string;
  dead: boolean;
  /** Why it died, once dead. */
  deathCause?: 'closed' | 'keepalive';
  /** By `aor contact`. */
  readonly bindings: Map<string, NatBinding>;
  /** UDP keepalive state (keepalive.ts). */
  nextPingAt: number;
  pingBranch: string | undefined;
  pingSentAt: number;
  misses: number;
  /** It answered a keepalive once: only then can silence mean it is gone. */
  answered: boolean;
}

/** One binding of a 2xx to a REGISTER: a Contact the registrar listed for the phone's own. */
export interface AnsweredContact {
  readonly uri: string;
  readonly expiresS: number;
}

export interface RegistrationAnswer {
  readonly aor: string;
  readonly aorUri: string;
  readonly registrar: string;
  readonly upstream: SendTarget;
  readonly path: string;
  /** The phone's Contacts that the registrar still lists, with their lifetime (0: removed). */
  readonly contacts: readonly AnsweredContact[];
}

export interface FlowTableLimits {
  readonly maxFlows: number;
  readonly maxBindingsPerFlow: number;
}

export interface FlowTableStats {
  /** New flows not tracked because the table was full. */
  refused: number;
  /** Bindings not kept because their flow had the most it may. */
  bindingsRefused: number;
}

export function flowKey(target: SendTarget): string {
  return `${target.transport}|${target.address}|${target.port}|${target.connectionId ?? 0}`;
}

export class NatFlowTable {
  readonly #limits: FlowTableLimits;
  readonly #flows = new Map<string, NatFlow>();
  /** `aor contact` -> the key of the flow that holds it: one flow per binding. */
  readonly #bindingFlow = new Map<string, string>();
  readonly stats: FlowTableStats = { refused: 0, bindingsRefused: 0 };

  constructor(limits: FlowTableLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#flows.size;
  }

  /** Flows marked dead and still held (their bindings not expired yet). */
  get deadCount(): number {
    let dead = 0;
    for (const flow of this.#flows.values()) if (flow.dead) dead++;
    return dead;
  }

  get(target: SendTarget): NatFlow | undefined {
    return this.#flows.get(flowKey(target));
  }

  values(): IterableIterator<NatFlow> {
    return this.#flows.values();
  }

  /**
   * A 2xx to a REGISTER that came over `target`: its bindings for that address of record
   * become those the registrar listed. A flow a REGISTER was answered on is alive. Returns
   * the flow, or undefined when it holds no binding (or could not be tracked).
   */
  registered(
    target: SendTarget,
    answer: RegistrationAnswer,
    now: number,
    firstPingAt: number,
  ): NatFlow | undefined {
    const key = flowKey(target);
    let flow = this.#flows.get(key);
    const live = answer.contacts.filter((c) => c.expiresS > 0);
    if (flow === undefined) {
      if (live.length === 0) return undefined;
      if (this.#flows.size >= this.#limits.maxFlows) {
        this.stats.refused++;
        return undefined;
      }
      flow = {
        key,
        target,
        path: answer.path,
        dead: false,
        bindings: new Map(),
        nextPingAt: firstPingAt,
        pingBranch: undefined,
        pingSentAt: 0,
        misses: 0,
        answered: false,
      };
      this.#flows.set(key, flow);
    }
    flow.path = answer.path;
    flow.dead = false;
    delete flow.deathCause;
    flow.misses = 0;
    // What this address of record had on this flow is replaced by what the registrar lists.
    for (const [bindingKey, binding] of flow.bindings) {
      if (binding.aor === answer.aor) this.#unindex(flow, bindingKey);
    }
    for (const contact of live) {
      const bindingKey = `${answer.aor} ${contact.uri}`;
      // The same binding on another flow (the phone's NAT mapping changed): it moved here.
      const previous = this.#bindingFlow.get(bindingKey);
      if (previous !== undefined && previous !== key) {
        const other = this.#flows.get(previous);
        if (other !== undefined) {
          this.#unindex(other, bindingKey);
          if (other.bindings.size === 0) this.#flows.delete(previous);
        }
      }
      if (flow.bindings.size >= this.#limits.maxBindingsPerFlow) {
        this.stats.bindingsRefused++;
        continue;
      }
      flow.bindings.set(bindingKey, {
        aor: answer.aor,
        aorUri: answer.aorUri,
        contact: contact.uri,
        registrar: answer.registrar,
        upstream: answer.upstream,
        expiresAt: now + contact.expiresS * 1000,
      });
      this.#bindingFlow.set(bindingKey, key);
    }
    if (flow.bindings.size === 0) {
      this.#flows.delete(key);
      return undefined;
    }
    return flow;
  }

  /** Bindings past their expiry go, and flows left without any. */
  expire(now: number): void {
    for (const [key, flow] of this.#flows) {
      for (const [bindingKey, binding] of flow.bindings) {
        if (binding.expiresAt <= now) this.#unindex(flow, bindingKey);
      }
      if (flow.bindings.size === 0) this.#flows.delete(key);
    }
  }

  /** The flow is dead: held (so requests for it get 430) until its bindings expire. */
  markDead(flow: NatFlow, cause: 'closed' | 'keepalive'): void {
    flow.dead = true;
    flow.deathCause = cause;
    flow.pingBranch = undefined;
  }

  /** Forgets a flow and its bindings (after they were removed at the registrar). */
  remove(flow: NatFlow): void {
    for (const bindingKey of [...flow.bindings.keys()]) this.#unindex(flow, bindingKey);
    if (this.#flows.get(flow.key) === flow) this.#flows.delete(flow.key);
  }

  #unindex(flow: NatFlow, bindingKey: string): void {
    flow.bindings.delete(bindingKey);
    if (this.#bindingFlow.get(bindingKey) === flow.key) this.#bindingFlow.delete(bindingKey);
  }
}
