import type { EventEmitter } from '../events/types.ts';
import type { Logger } from '../log/logger.ts';
import { AddressSet } from '../state/cidr.ts';
import { ChallengeProof } from './challenge-proof.ts';
import { type PipelineObserver, SecurityPipeline } from './pipeline.ts';
import {
  AuthFailures,
  type Stage,
  StageConfigError,
  type StageDependencies,
  type StageFactory,
} from './stage.ts';
import { buildAuthenticator, createAuthenticateStage } from './stages/authenticate.ts';
import { createCallLimitStage } from './stages/call-limit.ts';
import { createContentStage } from './stages/content.ts';
import { createEnumerationStage } from './stages/enumeration.ts';
import { createFloodStage } from './stages/flood.ts';
import { createFraudStage } from './stages/fraud.ts';
import { createGateStage } from './stages/gate.ts';
import { createMalformedRateStage } from './stages/malformed-rate.ts';
import { createPasswordGuessingStage } from './stages/password-guessing.ts';
import { createPolicyStage } from './stages/policy.ts';
import { createScannerStage } from './stages/scanner.ts';
import { createValidateStage } from './stages/validate.ts';
import { type TrunkSettings, TrunkTable, trustWithTrunks } from './trunks.ts';

/** Every stage sipwarden knows, by the name used in `security.stages` and `security.settings`. */
export const STAGE_FACTORIES: Readonly<Record<string, StageFactory>> = Object.freeze({
  gate: createGateStage,
  validate: createValidateStage,
  authenticate: createAuthenticateStage,
  scanner: createScannerStage,
  flood: createFloodStage,
  enumeration: createEnumerationStage,
  'password-guessing': createPasswordGuessingStage,
  'malformed-rate': createMalformedRateStage,
  'call-limit': createCallLimitStage,
  fraud: createFraudStage,
  policy: createPolicyStage,
  content: createContentStage,
});

/**
 * The default order, as Kamailio's default config orders its checks: the gate first (a
 * blocked source costs a lookup), then the cheap detectors (scanner fingerprints, flood
 * counters), then the costlier full validation, then policy. Detectors that only count
 * outcomes come last since they never stop the message at hand. Content scanning, the
 * costliest (a round trip to clamd), comes after every stage that can refuse for less.
 */
export const DEFAULT_STAGE_ORDER: readonly string[] = Object.freeze([
  'gate',
  'scanner',
  'flood',
  'validate',
  'authenticate',
  'policy',
  'call-limit',
  'fraud',
  'content',
  'enumeration',
  'password-guessing',
  'malformed-rate',
]);

export interface SecuritySettings {
  readonly enabled: boolean;
  readonly stages?: readonly string[] | undefined;
  readonly allowlist: readonly string[];
  /** Declared trunks: their own call limits, trusted by address (trunks.ts). */
  readonly trunks?: readonly TrunkSettings[];
  readonly settings: Readonly<Record<string, unknown>>;
  readonly dryRun?: boolean;
}

/** Builds the stages from the config; every problem in one error, as `security.…: reason` lines. */
export function buildStages(security: SecuritySettings, deps: StageDependencies): Stage[] {
  const order = security.stages ?? DEFAULT_STAGE_ORDER;
  const issues: string[] = [];
  const stages: Stage[] = [];
  order.forEach((name, index) => {
    const factory = STAGE_FACTORIES[name];
    if (!factory) {
      issues.push(
        `security.stages[${index}]: unknown stage "${name}" (known: ${Object.keys(STAGE_FACTORIES).join(', ')})`,
      );
      return;
    }
    try {
      stages.push(factory(security.settings[name], deps));
    } catch (error) {
      if (!(error instanceof StageConfigError)) throw error;
      for (const issue of error.issues) issues.push(`security.settings.${name}.${issue}`);
    }
  });
  for (const name of Object.keys(security.settings)) {
    if (!STAGE_FACTORIES[name]) issues.push(`security.settings.${name}: unknown stage`);
  }
  if (issues.length > 0) throw new StageConfigError(issues);
  return stages;
}

export function buildAllowlist(entries: readonly string[]): AddressSet {
  try {
    return new AddressSet(entries, 'security.allowlist');
  } catch (error) {
    throw new StageConfigError([(error as Error).message]);
  }
}

export function buildTrunks(trunks: readonly TrunkSettings[] = []): TrunkTable {
  try {
    return new TrunkTable(trunks);
  } catch (error) {
    throw new StageConfigError([(error as Error).message]);
  }
}

/** The stages' dependencies with the declared trunks: theirs to limit, and trusted by address. */
export function withTrunks(security: SecuritySettings, deps: StageDependencies): StageDependencies {
  const trunks = buildTrunks(security.trunks);
  const trust = trustWithTrunks(deps.trust, trunks);
  const authFailures = deps.authFailures ?? new AuthFailures();
  const shared = {
    ...deps,
    trunks,
    trust,
    challenges: deps.challenges ?? new ChallengeProof(),
    authFailures,
  };
  const authenticator = deps.authenticator ?? sharedAuthenticator(security, shared);
  return authenticator === undefined ? shared : { ...shared, authenticator };
}

/**
 * The one authenticator every stage shares (the authenticate stage verifies what the policy
 * stage challenged for): built from the authenticate stage's settings when that stage runs
 * and can verify (a user store, or `mode: local`). Bad settings build none here; the stage's
 * factory reports them.
 */
function sharedAuthenticator(security: SecuritySettings, deps: StageDependencies) {
  if (!(security.stages ?? DEFAULT_STAGE_ORDER).includes('authenticate')) return undefined;
  const settings = security.settings.authenticate;
  const local = (settings as { mode?: unknown } | undefined)?.mode === 'local';
  if (deps.users === undefined && !local) return undefined;
  try {
    return buildAuthenticator(settings, deps);
  } catch (error) {
    if (error instanceof StageConfigError) return undefined;
    throw error;
  }
}

export function buildPipeline(
  security: SecuritySettings,
  deps: StageDependencies,
  events: EventEmitter,
  log: Logger,
  observer?: PipelineObserver,
): SecurityPipeline {
  const allowlist = buildAllowlist(security.allowlist);
  return new SecurityPipeline({
    stages: buildStages(security, withTrunks(security, deps)),
    blocks: deps.blocks,
    events,
    log,
    isAllowlisted: (address) => allowlist.has(address),
    ...(security.dryRun ? { dryRun: true } : {}),
    ...(observer ? { observer } : {}),
  });
}

/**
 * Checks `security` the way the gateway will build it (every stage's own settings, the
 * allowlist, the trunks), without starting anything: for `sipwarden check-config`. Returns the
 * problems as `path: reason` lines.
 */
export function checkSecuritySettings(security: SecuritySettings, deps: StageDependencies): string[] {
  const issues: string[] = [];
  for (const check of [
    () => buildAllowlist(security.allowlist),
    () => buildStages(security, withTrunks(security, deps)),
  ]) {
    try {
      check();
    } catch (error) {
      if (!(error instanceof StageConfigError)) throw error;
      issues.push(...error.issues);
    }
  }
  return issues;
}
