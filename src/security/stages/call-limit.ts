import { z } from 'zod';
import type { RequestContext } from '../../core/inspector.ts';
import { eventFor } from '../event-input.ts';
import { integer, parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';

/**
 * At most N concurrent calls per caller identity, counted from the dialogs the proxy
 * holds: a stolen account cannot run up a bill with a hundred parallel calls.
 */
const settingsSchema = z.strictObject({
  maxConcurrentCalls: integer(1, 100_000).default(5),
});

export function createCallLimitStage(raw: unknown, _deps: StageDependencies): Stage {
  const settings = parseStageSettings(settingsSchema, raw);
  function request(context: RequestContext): StageVerdict {
    const active = context.activeDialogs;
    if (active === undefined || active < settings.maxConcurrentCalls) return STAGE_PASS;
    return {
      action: 'reject',
      status: 403,
      reason: 'Too Many Concurrent Calls',
      event: eventFor(context.flow, {
        type: 'policy',
        stage: 'call-limit',
        rule: 'max-concurrent-calls',
        action: 'reject',
        status: 403,
        reason: 'caller identity over its concurrent call limit',
        details: { active, limit: settings.maxConcurrentCalls },
      }),
    };
  }
  return { name: 'call-limit', phase: 'policy', failMode: 'open', request };
}
