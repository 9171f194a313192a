import {
  type CoreRefusal,
  DROP,
  type MalformedError,
  type MessageInspector,
  type OutcomeContext,
  PASS,
  type PacketContext,
  type RequestContext,
  type Verdict,
} from '../core/inspector.ts';
import type { EventEmitter, EventInput } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import type { SipResponse } from '../sip/message.ts';
import type { BlockTable } from '../state/types.ts';
import { eventFor } from './event-input.ts';
import { type Phase, STAGE_PASS, type Stage, type StageVerdict } from './stage.ts';

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

/** The phases whose refusals an allowlisted source is spared (`security.allowlist`). */
const DETECTION: ReadonlySet<Phase> = new Set<Phase>(['gate', 'detect']);

type Hook = 'admit' | 'malformed' | 'request' | 'response' | 'outcome';

/**
 * How the runner calls one hook of a stage, with the hook's arguments (`b` unused by the
 * one-argument hooks). One function per hook, built once at load: a call allocates nothing.
 */
type HookCall<A, B, R extends StageVerdict | Promise<StageVerdict>> = (
  stage: Stage,
  a: A,
  b: B,
  now: number,
) => R;
type SyncHookCall<A, B> = HookCall<A, B, StageVerdict>;
type AnyHookCall<A, B> = HookCall<A, B, StageVerdict | Promise<StageVerdict>>;

const callAdmit: SyncHookCall<PacketContext, undefined> = (stage, packet, _b, now) =>
  stage.admit!(packet, now);
const callMalformed: SyncHookCall<PacketContext, MalformedError> = (stage, packet, error, now) =>
  stage.malformed!(packet, error, now);
const callRequest: AnyHookCall<RequestContext, undefined> = (stage, context, _b, now) =>
  stage.request!(context, now);
const callResponse: SyncHookCall<RequestContext, SipResponse> = (stage, context, response, now) =>
  stage.response!(context, response, now);
const callOutcome: SyncHookCall<OutcomeContext, undefined> = (stage, context, _b, now) =>
  stage.outcome!(context, now);

/**
 * Runs the configured stages in order and carries out their verdicts: alerts become
 * events and the message goes on; reject, drop, block and tarpit end its way here. A
 * block is written to the block table, so the next message from that source costs one
 * lookup in the gate. Every hook goes through one runner (#run); synchronous stages cost
 * no promise: it awaits only when a stage returns one (as fastify does for hooks).
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
    return this.#run(this.#admitStages, callAdmit, packet, undefined, packet.flow.remoteAddress, now, false);
  }

  malformed(packet: PacketContext, error: MalformedError, answerable: boolean): Verdict {
    const now = this.#now();
    const result = this.#run(
      this.#malformedStages,
      callMalformed,
      packet,
      error,
      packet.flow.remoteAddress,
      now,
      false,
    );
    // The event says what happens to the message: answered with the error's status, or
    // dropped (nothing to build an answer from, or a stage dropped it).
    const answered = answerable && result.action !== 'drop';
    this.#options.events.emit(
      eventFor(packet.flow, {
        type: 'malformed',
        stage: 'parse',
        rule: error.code,
        action: answered ? 'reject' : 'drop',
        reason: error.reason,
        ...(answered ? { status: error.status } : {}),
      }),
      now,
    );
    return result;
  }

  inspectRequest(context: RequestContext): Verdict | Promise<Verdict> {
    const now = this.#now();
    return this.#run(
      this.#requestStages,
      callRequest,
      context,
      undefined,
      context.flow.remoteAddress,
      now,
      false,
    );
  }

  inspectResponse(context: RequestContext, response: SipResponse): Verdict {
    const now = this.#now();
    const verdict = this.#run(
      this.#responseStages,
      callResponse,
      context,
      response,
      context.flow.remoteAddress,
      now,
      false,
    );
    // A response is never answered: any refusal drops it.
    return verdict === PASS ? PASS : DROP;
  }

  outcome(context: OutcomeContext): void {
    const now = this.#now();
    // The transaction is over: a verdict here acts on what comes next (a block, say), and
    // every stage sees the outcome.
    this.#run(this.#outcomeStages, callOutcome, context, undefined, context.flow.remoteAddress, now, true);
  }

  /**
   * The hook runner: calls `call` on each stage from `from` on and carries out its verdict.
   * Returns the first verdict that ends the message's way (with `toEnd`, every stage runs
   * and their refusals only act on what comes next), PASS when none does. A stage that
   * passes with the shared STAGE_PASS costs no allocation; a promise is awaited only when
   * a stage returns one, and the stages after it run when it settles.
   */
  #run<A, B>(
    stages: readonly Stage[],
    call: SyncHookCall<A, B>,
    a: A,
    b: B,
    address: string,
    now: number,
    toEnd: boolean,
    from?: number,
  ): Verdict;
  #run<A, B>(
    stages: readonly Stage[],
    call: AnyHookCall<A, B>,
    a: A,
    b: B,
    address: string,
    now: number,
    toEnd: boolean,
    from?: number,
  ): Verdict | Promise<Verdict>;
  #run<A, B>(
    stages: readonly Stage[],
    call: AnyHookCall<A, B>,
    a: A,
    b: B,
    address: string,
    now: number,
    toEnd: boolean,
    from = 0,
  ): Verdict | Promise<Verdict> {
    for (let i = from; i < stages.length; i++) {
      const stage = stages[i]!;
      let verdict: StageVerdict | Promise<StageVerdict>;
      // A stage that throws fails open or closed as it declared; the process never sees it.
      try {
        verdict = call(stage, a, b, now);
      } catch (error) {
        verdict = this.#stageFailed(stage, error);
      }
      if (verdict === STAGE_PASS) {
        this.#options.observer?.decision(stage.name, 'pass');
        continue;
      }
      if (verdict instanceof Promise) {
        const pending = verdict.catch((error: unknown) => this.#stageFailed(stage, error));
        return this.#resume(stages, call, a, b, address, now, toEnd, i, pending);
      }
      const result = this.#apply(stage, verdict, address, now);
      if (result && !toEnd) return result;
    }
    return PASS;
  }

  /** #run after a stage returned a promise: its verdict once settled, then the stages after it. */
  async #resume<A, B>(
    stages: readonly Stage[],
    call: AnyHookCall<A, B>,
    a: A,
    b: B,
    address: string,
    now: number,
    toEnd: boolean,
    index: number,
    pending: Promise<StageVerdict>,
  ): Promise<Verdict> {
    const result = this.#apply(stages[index]!, await pending, address, now);
    if (result && !toEnd) return result;
    return this.#run(stages, call, a, b, address, now, toEnd, index + 1);
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

  /**
   * An `answer` (a Digest challenge, a refused authentication): always sent, unless the
   * detection verdict it carries ends the message's way first (an enforced block).
   */
  #answer(verdict: Extract<StageVerdict, { action: 'answer' }>, address: string, now: number): Verdict {
    if (verdict.event !== undefined) this.#options.events.emit(verdict.event, now);
    const detection = verdict.detection;
    if (detection !== undefined) {
      const result = this.#apply(detection.stage, detection.verdict, address, now);
      if (result !== undefined) return result;
    }
    return {
      action: 'reject',
      status: verdict.status,
      reason: verdict.reason,
      ...(verdict.headers ? { headers: verdict.headers } : {}),
    };
  }

  /** Carries out a stage's verdict; undefined means go on to the next stage. */
  #apply(stage: Stage, verdict: StageVerdict, address: string, now: number): Verdict | undefined {
    const action = verdict.action;
    this.#options.observer?.decision(stage.name, action);
    if (action === 'pass') return undefined;
    if (action === 'answer') return this.#answer(verdict, address, now);
    const options = this.#options;
    let event: EventInput = verdict.event;
    const enforced = !options.dryRun || stage.phase === 'validate';
    // Detection never acts on an allowlisted source: it is reported, not refused. Who the
    // sender is (authentication) and what it may do (policy) hold for every address.
    const exempt = DETECTION.has(stage.phase) && action !== 'alert' && options.isAllowlisted(address);
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
          return { action: 'reject', status: verdict.status, reason: verdict.reason ?? event.reason };
        }
        return DROP;
      }
      case 'drop':
        return DROP;
      case 'tarpit':
        // The core holds the answer back (bounded) and sends it late.
        return { action: 'reject', status: verdict.status, reason: verdict.reason, delayMs: verdict.delayMs };
    }
  }
}
