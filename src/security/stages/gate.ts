import { z } from 'zod';
import type { PacketContext, RequestContext } from '../../core/inspector.ts';
import type { BlockEntry } from '../../state/types.ts';
import { requestKeys, sourceKey } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { integer, oneOf, parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';

/**
 * The gate: the first and cheapest stage (DESIGN.md, pipeline step 1). Before any parsing
 * it drops what comes from a blocked source (one table lookup), then holds each untrusted
 * source to a packet budget. After parsing it refuses requests naming a blocked key
 * (block-keys.ts: the account, From or To user, User-Agent; whichever stage or operator
 * blocked it; a blocked account stays open to that user's known-good sources) and, when the whole gateway is over its load budget, sheds new
 * unauthenticated out-of-dialog requests first: in-dialog requests, the upstream, and
 * known-good sources keep going.
 */

const settingsSchema = z.strictObject({
  /** Datagrams or stream messages per second from one untrusted source address. */
  packetsPerSecond: integer(1, 1_000_000).default(1000),
  /** Known-good sources (they authenticated) get this many times the budget. */
  trustedMultiplier: integer(1, 1000).default(10),
  overload: z
    .strictObject({
      /** Messages per second, all sources together, above which shedding starts. */
      messagesPerSecond: integer(1, 10_000_000).default(20_000),
      /** Shed with `503 Service Unavailable` and Retry-After, or silently. */
      action: oneOf(['reject', 'drop']).default('reject'),
      retryAfterSeconds: integer(1, 3600).default(5),
    })
    .prefault({}),
});

export type GateSettings = z.output<typeof settingsSchema>;

const SECOND = 1000;
const TOTAL_KEY = 'gate|total';

export function createGateStage(raw: unknown, deps: StageDependencies): Stage {
  const settings = parseStageSettings(settingsSchema, raw);
  const { blocks, store, trust, challenges } = deps;

  function admit(packet: PacketContext, now: number): StageVerdict {
    const address = packet.flow.remoteAddress;
    // The upstream is the protected service itself: a block that happens to cover its
    // address (an operator's typo, a scanner sharing its host) must never cut it off.
    if (packet.direction === 'upstream') {
      store.hit(TOTAL_KEY, SECOND, now);
      return STAGE_PASS;
    }
    // The table counts the hit (BlockEntry.hits): once per refused packet.
    const block =
      blocks.match(address, now) ??
      (blocks.hasKeyBlocks() ? blocks.matchKey(sourceKey(address), now) : undefined);
    if (block) {
      return {
        action: 'drop',
        event: eventFor(packet.flow, {
          type: 'blocked',
          stage: 'gate',
          rule: block.rule,
          action: 'drop',
          key: block.key,
          reason: `source blocked: ${block.reason}`,
        }),
      };
    }
    const total = store.hit(TOTAL_KEY, SECOND, now);
    const budget = trust.isTrusted(address, now)
      ? settings.packetsPerSecond * settings.trustedMultiplier
      : settings.packetsPerSecond;
    const count = store.hit(`gate|src|${address}`, SECOND, now);
    if (count > budget) {
      return {
        action: 'drop',
        event: eventFor(packet.flow, {
          type: 'flood',
          stage: 'gate',
          rule: 'packet-budget',
          action: 'drop',
          key: sourceKey(address),
          reason: 'source over its packet budget',
          details: { count, budget, windowMs: SECOND, total },
        }),
      };
    }
    return STAGE_PASS;
  }

  /**
   * The block on one of the request's keys, if any. A blocked account (password guessing
   * spread over many sources) stays open to the sources where that user authenticated
   * before: an attacker must not lock the user out.
   */
  function keyBlock(context: RequestContext, now: number): BlockEntry | undefined {
    const source = context.flow.remoteAddress;
    for (const k of requestKeys(context.request)) {
      if (k.kind === 'user' && trust.isKnownFor(source, k.value, now)) continue;
      const block = blocks.matchKey(k.key, now);
      if (block) return block;
    }
    return undefined;
  }

  function request(context: RequestContext, now: number): StageVerdict {
    if (context.direction === 'upstream') return STAGE_PASS;
    const { request: message, flow } = context;
    // A key block refuses new requests; a dialog admitted before it goes on to its BYE.
    if (context.inDialog) return STAGE_PASS;
    // Most of the time no key is blocked at all: then no key is built.
    const block = blocks.hasKeyBlocks() ? keyBlock(context, now) : undefined;
    if (block) {
      return {
        action: 'drop',
        event: eventFor(flow, {
          type: 'blocked',
          stage: 'gate',
          rule: block.rule,
          action: 'drop',
          key: block.key,
          reason: `key blocked: ${block.reason}`,
        }),
      };
    }
    const total = store.peek(TOTAL_KEY, SECOND, now);
    const overload = settings.overload;
    if (total <= overload.messagesPerSecond) return STAGE_PASS;
    // RFC 3261 21.5.4: 503 with Retry-After. Known-good sources go on, and so does the answer
    // to a challenge the upstream issued to this source (its registration or call is half
    // done); a made-up Authorization header is no such answer.
    if (trust.isTrusted(flow.remoteAddress, now)) return STAGE_PASS;
    if (challenges?.answersChallenge(flow.remoteAddress, message, now)) return STAGE_PASS;
    // So does the answer to sipwarden's own challenge (a nonce it signed for this source):
    // the authenticate stage verifies it next.
    if (deps.authenticator?.ownsCredentials(message, flow.remoteAddress)) return STAGE_PASS;
    const event = eventFor(flow, {
      type: 'overload',
      stage: 'gate',
      rule: 'overload',
      action: overload.action,
      key: 'total',
      reason: 'gateway over its load budget: new unauthenticated requests shed',
      details: { total, budget: overload.messagesPerSecond },
    });
    if (overload.action === 'drop') return { action: 'drop', event };
    return {
      action: 'reject',
      status: 503,
      reason: 'Service Unavailable',
      headers: [{ name: 'Retry-After', value: String(overload.retryAfterSeconds) }],
      event: { ...event, status: 503 },
    };
  }

  return { name: 'gate', phase: 'gate', failMode: 'open', admit, request };
}
