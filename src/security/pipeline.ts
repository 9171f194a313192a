import {
  type CoreRefusal,
  DROP,
  type MessageInspector,
  type OutcomeContext,
  PASS,
  type PacketContext,
  type RequestContext,
  type Verdict,
} from '../core/inspector.ts';
import type { EventEmitter, EventInput } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import type { SipParseError } from '../sip/errors.ts';
import type { SipResponse } from '../sip/message.ts';
import type { BlockTable } from '../state/types.ts';
import { eventFor } from './event-input.ts';
import { STAGE_PASS, type Stage, type StageVerdict } from './stage.ts';

/** Counts per stage and verdict, read by the metrics. */
export interface PipelineObserver {
  decision(stage: string, verdict: StageVerdict['action']): void;
}

export interface PipelineOptions {
  /** Stages in the order messages meet them. */
  readonly stages: readonly Stage[];
  readonly blocks: BlockTable;
  readonly events: EventEmitter;
  readonly log: Logger;
  /** Sources never blocked, dropped or shed by detection: trunks, offices. */
  readonly isAllowlisted: (address: string) => boolean;
  readonly now?: () => number;
  readonly observer?: PipelineObserver;
  /**
   * Dry run: every decision is evaluated and recorded as an event, but only validation
   * refusals are carried out. For tuning rules before enforcing them.
   */
  readonly dryRun?: boolean;
}

type Hook = 'admit' | 'malformed' | 'request' | 'response' | 'outcome';

/**
 * Runs the configured stages in order and carries out their verdicts: alerts become
 * events and the message goes on; reject, drop, block and tarpit end its way here. A
 * block is written to the block table, so the next message from that source costs one
 * lookup in the gate. Synchronous stages cost no promise: the runner awaits only when a
 * stage returns one (as fastify does for hooks).
 */
export class SecurityPipeline implements MessageInspector {
  readonly #options: PipelineOptions;
  readonly #now: () => number;
  readonly #admitStages: readonly Stage[];
  readonly #malformedStages: readonly Stage[];
  readonly #requestStages: readonly Stage[];
  readonly #responseStages: readonly Stage[];
  readonly #outcomeStages: readonly Stage[];

  constructor(options: PipelineOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const having = (hook: Hook) => options.stages.filter((stage) => typeof stage[hook] === 'function');
    this.#admitStages = having('admit');
    this.#malformedStages = having('malformed');
    this.#requestStages = having('request');
    this.#responseStages = having('response');
    this.#outcomeStages = having('outcome');
  }

  get stages(): readonly Stage[] {
    return this.#options.stages;
  }

  admit(packet: PacketContext): Verdict {
    const now = this.#now();
    const stages = this.#admitStages;
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!;
      let verdict: StageVerdict;
      // Inline rather than through a closure: this runs for every packet and every stage.
      try {
        verdict = stage.admit!(packet, now);
      } catch (error) {
        verdict = this.#stageFailed(stage, error);
      }
      if (verdict === STAGE_PASS) {
        this.#options.observer?.decision(stage.name, 'pass');
        continue;
      }
      const result = this.#apply(stage, verdict, packet.flow.remoteAddress, now);
      if (result) return result;
    }
    return PASS;
  }

  malformed(packet: PacketContext, error: Pick<SipParseError, 'code' | 'status' | 'reason'>): Verdict {
    const now = this.#now();
    this.#options.events.emit(
      eventFor(packet.flow, {
        type: 'malformed',
        stage: 'parse',
        rule: error.code,
        action: 'reject',
        reason: error.reason,
        status: error.status,
      }),
      now,
    );
    for (const stage of this.#malformedStages) {
      const verdict = this.#call(stage, () => stage.malformed!(packet, error, now));
      const result = this.#apply(stage, verdict, packet.flow.remoteAddress, now);
      if (result) return result;
    }
    return PASS;
  }

  inspectRequest(context: RequestContext): Verdict | Promise<Verdict> {
    const now = this.#now();
    const stages = this.#requestStages;
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!;
      let verdict: StageVerdict | Promise<StageVerdict>;
      try {
        verdict = stage.request!(context, now);
      } catch (error) {
        verdict = this.#stageFailed(stage, error);
      }
      if (verdict === STAGE_PASS) {
        this.#options.observer?.decision(stage.name, 'pass');
        continue;
      }
      if (verdict instanceof Promise) {
        const pending = verdict.catch((error: unknown) => this.#stageFailed(stage, error));
        return this.#continueAsync(context, now, i, pending);
      }
      const result = this.#apply(stage, verdict, context.flow.remoteAddress, now);
      if (result) return result;
    }
    return PASS;
  }

  async #continueAsync(
    context: RequestContext,
    now: number,
    index: number,
    pending: Promise<StageVerdict>,
  ): Promise<Verdict> {
    const stages = this.#requestStages;
    let verdict = await pending;
    for (let i = index; i < stages.length; i++) {
      const stage = stages[i]!;
      if (i > index) verdict = await this.#callMaybeAsync(stage, () => stage.request!(context, now));
      const result = this.#apply(stage, verdict, context.flow.remoteAddress, now);
      if (result) return result;
    }
    return PASS;
  }

  inspectResponse(context: RequestContext, response: SipResponse): Verdict {
    const now = this.#now();
    const stages = this.#responseStages;
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!;
      let verdict: StageVerdict;
      try {
        verdict = stage.response!(context, response, now);
      } catch (error) {
        verdict = this.#stageFailed(stage, error);
      }
      if (verdict === STAGE_PASS) {
        this.#options.observer?.decision(stage.name, 'pass');
        continue;
      }
      const result = this.#apply(stage, verdict, context.flow.remoteAddress, now);
      // A response is never answered: any refusal drops it.
      if (result) return DROP;
    }
    return PASS;
  }

  outcome(context: OutcomeContext): void {
    const now = this.#now();
    const stages = this.#outcomeStages;
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i]!;
      let verdict: StageVerdict;
      try {
        verdict = stage.outcome!(context, now);
      } catch (error) {
        verdict = this.#stageFailed(stage, error);
      }
      if (verdict === STAGE_PASS) {
        this.#options.observer?.decision(stage.name, 'pass');
        continue;
      }
      // The transaction is over: a verdict here acts on what comes next (a block, say).
      this.#apply(stage, verdict, context.flow.remoteAddress, now);
    }
  }

  refused(refusal: CoreRefusal): void {
    this.#options.events.emit(
      eventFor(refusal.flow, {
        type: refusal.kind,
        stage: 'state',
        rule: refusal.code,
        action: refusal.status === undefined ? 'drop' : 'reject',
        reason: refusal.reason,
        ...(refusal.key === undefined ? {} : { key: refusal.key }),
        ...(refusal.status === undefined ? {} : { status: refusal.status }),
        ...(refusal.method ? { details: { method: refusal.method } } : {}),
      }),
      this.#now(),
    );
  }

  /** A stage that throws fails open or closed as it declared; the process never sees it. */
  #call(stage: Stage, run: () => StageVerdict): StageVerdict {
    try {
      return run();
    } catch (error) {
      return this.#stageFailed(stage, error);
    }
  }

  #callMaybeAsync(
    stage: Stage,
    run: () => StageVerdict | Promise<StageVerdict>,
  ): StageVerdict | Promise<StageVerdict> {
    try {
      const verdict = run();
      if (verdict instanceof Promise)
        return verdict.catch((error: unknown) => this.#stageFailed(stage, error));
      return verdict;
    } catch (error) {
      return this.#stageFailed(stage, error);
    }
  }

  #stageFailed(stage: Stage, error: unknown): StageVerdict {
    this.#options.log.error({ err: error, stage: stage.name }, 'security stage failed');
    if (stage.failMode === 'open') return { action: 'pass' };
    return {
      action: 'reject',
      status: 500,
      reason: 'Server Internal Error',
      event: { type: 'policy', stage: stage.name, action: 'reject', reason: 'stage failed closed' },
    };
  }

  /** Carries out a stage's verdict; undefined means go on to the next stage. */
  #apply(stage: Stage, verdict: StageVerdict, address: string, now: number): Verdict | undefined {
    const action = verdict.action;
    this.#options.observer?.decision(stage.name, action);
    if (action === 'pass') return undefined;
    const options = this.#options;
    let event: EventInput = verdict.event;
    const enforced = !options.dryRun || stage.phase === 'validate';
    // Detection never acts on an allowlisted source: it is reported, not refused.
    const exempt = stage.phase !== 'validate' && action !== 'alert' && options.isAllowlisted(address);
    if (action === 'alert' || exempt || !enforced) {
      if (action !== 'alert') {
        // Reported as an alert: when its aggregate is open, counted without building the reworded event.
        const key = event.key ?? event.source?.address ?? '';
        if (options.events.bump?.(event.type, event.rule ?? event.stage, key, 'alert', now) === true)
          return undefined;
        event = {
          ...event,
          action: 'alert',
          reason: `${event.reason} (${exempt ? 'allowlisted' : 'dry run'}: would ${action})`,
        };
      }
      options.events.emit(event, now);
      return undefined;
    }
    options.events.emit(event, now);
    switch (action) {
      case 'reject':
        return {
          action: 'reject',
          status: verdict.status,
          reason: verdict.reason,
          ...(verdict.headers ? { headers: verdict.headers } : {}),
        };
      case 'block': {
        options.blocks.block({
          key: verdict.key,
          scope: verdict.scope,
          reason: event.reason,
          rule: event.rule ?? stage.name,
          createdAt: now,
          expiresAt: now + verdict.durationMs,
        });
        if (verdict.status !== undefined) {
          return { action: 'reject', status: verdict.status, reason: event.reason };
        }
        return DROP;
      }
      case 'drop':
      case 'tarpit':
        // A tarpit holds no state here: the answer is simply never sent, which costs a scanner its timeout.
        return DROP;
    }
  }
}
