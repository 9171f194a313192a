/** Test helpers for identity policies: a policy from YAML-like objects, identities, requests. */
import assert from 'node:assert/strict';
import { formatIssues, genericMessage } from '../../../src/config/format-issues.ts';
import type { VerifiedIdentity } from '../../../src/identity/identity.ts';
import { Policy, type PolicyRequest } from '../../../src/policy/policy.ts';
import { policySchema } from '../../../src/policy/schema.ts';

/** A Monday, 10:00 UTC. */
export const MONDAY_10H = Date.parse('2026-03-02T10:00:00Z');

export function policyOf(settings: unknown): Policy {
  const result = policySchema.safeParse(settings, { error: genericMessage });
  assert.ok(result.success, result.success ? '' : formatIssues(result.error.issues, policySchema).join('\n'));
  return new Policy(result.data);
}

/** The `path: reason` lines the schema gives for `settings` (paths under `policy`). */
export function schemaIssues(settings: unknown): string[] {
  const result = policySchema.safeParse(settings, { error: genericMessage });
  return result.success ? [] : formatIssues(result.error.issues, policySchema);
}

export function identity(
  user: string,
  domain = 'example.com',
  more: Partial<VerifiedIdentity> = {},
): VerifiedIdentity {
  return { user, domain, groups: [], roles: [], method: 'digest', ...more };
}

export function req(more: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    address: '192.0.2.10',
    transport: 'udp',
    method: 'INVITE',
    destination: '2001',
    now: MONDAY_10H,
    ...more,
  };
}

/** The name of the first rule that matches (conditions only), or undefined. */
export function firstMatch(policy: Policy, request: PolicyRequest): string | undefined {
  return policy.rules.find((rule) => policy.firstMiss(rule, request) === undefined)?.name;
}
