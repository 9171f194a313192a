/**
 * The configuration errors that only the security stages can find (each stage owns the
 * schema of its settings): built once with throwaway stores, as the gateway will build
 * them, so that `check-config` and `start` refuse the same files with the same lines.
 */
import type { SipwardenConfig } from '../config/schema.ts';
import { silentLogger } from '../log/logger.ts';
import { policyIssues } from '../policy/check.ts';
import { Policy } from '../policy/policy.ts';
import { checkSecuritySettings, DEFAULT_STAGE_ORDER, withTrunks } from '../security/build-pipeline.ts';
import type { StageDependencies } from '../security/stage.ts';
import { createMemoryActivityStore } from '../state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../state/memory-block-table.ts';
import { createMemoryTrustTable } from '../state/memory-trust-table.ts';

/** What the policy check needs that only the running site knows. */
export interface SecurityIssueOptions {
  /** The groups and roles of the user store, when it can be read (unknown names are errors). */
  readonly knownGroups?: ReadonlySet<string> | undefined;
  readonly knownRoles?: ReadonlySet<string> | undefined;
}

/** `path: reason` lines; empty when every stage accepts its settings and the policy holds together. */
export function securityIssues(config: SipwardenConfig, options: SecurityIssueOptions = {}): string[] {
  const policy = new Policy(config.policy);
  const deps: StageDependencies = {
    store: createMemoryActivityStore({ maxKeys: 1000 }),
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    trust: createMemoryTrustTable({ maxEntries: 100 }),
    log: silentLogger,
    policy,
  };
  const stages = config.security.stages ?? DEFAULT_STAGE_ORDER;
  return [
    ...checkSecuritySettings(config.security, deps),
    ...policyIssues(policy, {
      // The stages see the dependencies with the shared services added, the authenticator among them.
      hasAuthenticator: withTrunks(config.security, deps).authenticator !== undefined,
      stageRuns: config.security.enabled && stages.includes('policy'),
      knownGroups: options.knownGroups,
      knownRoles: options.knownRoles,
    }),
  ];
}
