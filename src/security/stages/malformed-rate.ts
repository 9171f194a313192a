/**
 * Malformed messages per source. One bad message is answered (400) or dropped by the core
 * and costs nothing more; a stream of them is a fuzzer, a scanner probing parsers, or an
 * attack tool, and past `count` in `windowMs` the source is blocked. A phone with a bug
 * that sends one bad message per registration stays far below; a trusted source (one that
 * authenticated lately) is allowed `trustedMultiplier` times as many.
 *
 * Only the client side is counted by default: the upstream sending garbage is a fault to
 * log, and blocking it would cut every call.
 */
import { z } from 'zod';
import type { MalformedError, PacketContext } from '../../core/inspector.ts';
import { sourceKey } from '../block-keys.ts';
import {
  actionFields,
  blockSpec,
  oneOf,
  parseStageSettings,
  threshold,
  trustedMultiplier,
  windowMs,
} from '../rule-schema.ts';
import {
  STAGE_PASS,
  type Stage,
  type StageDependencies,
  type StageFactory,
  type StageVerdict,
} from '../stage.ts';
import { verdictFor } from '../verdicts.ts';

const STAGE = 'detect:malformed-rate';

const settingsSchema = z
  .strictObject({
    count: threshold.default(20),
    windowMs: windowMs.default(10_000),
    trustedMultiplier: trustedMultiplier.default(10),
    direction: oneOf(['client', 'upstream', 'any']).default('client'),
    ...actionFields,
    // No tarpit: the answer to a malformed message is the parser's, sent at once.
    action: oneOf(['alert', 'reject', 'drop', 'block']).default('block'),
    block: blockSpec.default({ scope: 'address', durationMs: 10 * 60 * 1000 }),
  })
  .superRefine((s, ctx) => {
    if (s.status !== undefined && s.action !== 'reject' && s.action !== 'block') {
      ctx.addIssue({
        code: 'custom',
        path: ['status'],
        message: 'only applies when action is reject or block',
      });
    }
  });

export type MalformedRateSettings = z.input<typeof settingsSchema>;

export const createMalformedRateStage: StageFactory = (settings: unknown, deps: StageDependencies): Stage => {
  const s = parseStageSettings(settingsSchema, settings);
  const { store, trust } = deps;

  return {
    name: 'malformed-rate',
    phase: 'detect',
    failMode: 'open',

    malformed(packet: PacketContext, error: MalformedError, now: number): StageVerdict {
      if (s.direction !== 'any' && s.direction !== packet.direction) return STAGE_PASS;
      const source = packet.flow.remoteAddress;
      const n = store.hit(`malformed|${source}`, s.windowMs, now);
      if (n <= s.count) return STAGE_PASS;
      const max = trust.isTrusted(source, now) ? s.count * s.trustedMultiplier : s.count;
      if (n <= max) return STAGE_PASS;
      return verdictFor(s, packet.flow, {
        type: 'malformed',
        stage: STAGE,
        rule: 'malformed-rate',
        key: sourceKey(source),
        reason: `${Math.round(n)} malformed messages in ${s.windowMs} ms, over ${max} (last: ${error.code})`,
        details: { count: Math.round(n), threshold: max, windowMs: s.windowMs, lastError: error.code },
        defaultStatus: 400,
      });
    },
  };
};
