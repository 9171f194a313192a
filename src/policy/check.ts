/**
 * What `check-config` (and `start`) find wrong with a policy beyond each rule's own
 * settings (those the schema checks): rules that can never match, groups and roles the
 * user store does not know, `require-authentication` without an authenticator, and rules
 * that nothing enforces. Each problem is a `path: reason` line.
 *
 * Unreachable rules: a rule B can never match when an earlier rule A decides every request
 * B would match. This is checked soundly but not completely: A covers B when A always
 * decides once it matches (allow, deny; require-authentication with `authenticated: false`;
 * require-tls with only udp or tcp in `transports`) and each condition of A holds whenever
 * B's do, judged condition by condition:
 * - lists (users, groups, roles, organisations, domains, authenticatedBy, transports,
 *   methods): B gives the
 *   same condition with a subset of A's values (`alice` in A also covers `alice@example.com`);
 * - `authenticated: true` in A is implied by any identity condition in B;
 * - networks: each of B's networks lies inside one of A's;
 * - `to.prefixes`: each of B's prefixes starts with one of A's;
 * - `to.regex` and `time`: B gives the same pattern or the same window, written the same.
 * A rule covered only by several earlier rules together, or by a wider regex or window, is
 * not reported. A rule whose own conditions contradict each other (`authenticated: false`
 * with an identity condition) is reported too.
 */
import { parseCidr } from '../state/cidr.ts';
import type { Policy, PolicyRule } from './policy.ts';
import type { PolicyMatchSettings } from './schema.ts';

export interface PolicyCheckOptions {
  /** Whether an authenticator exists (sipwarden authenticates by itself). */
  readonly hasAuthenticator: boolean;
  /** Whether the policy stage runs (security enabled and the stage in the order). */
  readonly stageRuns: boolean;
  /** The groups and roles the user store knows (any case), when it can be read. */
  readonly knownGroups?: ReadonlySet<string> | undefined;
  readonly knownRoles?: ReadonlySet<string> | undefined;
}

const IDENTITY_KEYS = ['users', 'groups', 'roles', 'organisations', 'domains', 'authenticatedBy'] as const;

export function policyIssues(policy: Policy, options: PolicyCheckOptions): string[] {
  const issues: string[] = [];
  if ((policy.rules.length > 0 || policy.defaultAction === 'deny') && !options.stageRuns) {
    issues.push(
      'policy: the policy stage does not run (security disabled, or not in security.stages): nothing would enforce these rules',
    );
  }
  policy.rules.forEach((rule, index) => {
    const path = `policy.rules[${index}]`;
    if (rule.action.kind === 'require-authentication' && !options.hasAuthenticator) {
      issues.push(
        `${path}.action: require-authentication needs sipwarden to authenticate by itself (the authenticate stage in local mode); none is configured`,
      );
    }
    const m = rule.settings.match;
    if (m.authenticated === false && hasIdentityCondition(m)) {
      issues.push(`${path}: can never match: authenticated: false with a condition on the verified identity`);
    }
    for (const [key, known, what] of [
      ['groups', options.knownGroups, 'group'],
      ['roles', options.knownRoles, 'role'],
    ] as const) {
      if (known === undefined) continue;
      // Rules match names in any case (the schema lowers them); the store keeps them as written.
      const lowered = new Set([...known].map((name) => name.toLowerCase()));
      for (const name of m[key] ?? []) {
        if (!lowered.has(name)) issues.push(`${path}.match.${key}: no user has the ${what} "${name}"`);
      }
    }
    const cover = policy.rules.slice(0, index).find((earlier) => covers(earlier, rule));
    if (cover !== undefined) {
      issues.push(
        `${path}: can never match: rule ${cover.name} (policy.rules[${cover.index}]) decides every request it matches`,
      );
    }
  });
  return issues;
}

function hasIdentityCondition(m: PolicyMatchSettings): boolean {
  return IDENTITY_KEYS.some((key) => m[key] !== undefined);
}

/** Whether a rule decides every request it matches (see the module comment). */
export function decidesWhenMatched(rule: PolicyRule): boolean {
  if (rule.final) return true;
  const m = rule.settings.match;
  if (rule.action.kind === 'require-authentication') return m.authenticated === false;
  if (rule.action.kind === 'require-tls') return m.transports !== undefined && !m.transports.includes('tls');
  return false;
}

/** Whether `a`, earlier, decides every request `b` matches. */
export function covers(a: PolicyRule, b: PolicyRule): boolean {
  if (!decidesWhenMatched(a)) return false;
  const x = a.settings.match;
  const y = b.settings.match;
  if (x.authenticated !== undefined) {
    const implied = y.authenticated ?? (hasIdentityCondition(y) ? true : undefined);
    if (implied !== x.authenticated) return false;
  }
  for (const key of [
    'groups',
    'roles',
    'organisations',
    'domains',
    'authenticatedBy',
    'transports',
    'methods',
  ] as const) {
    const wide = x[key] as readonly string[] | undefined;
    if (wide === undefined) continue;
    const narrow = y[key] as readonly string[] | undefined;
    if (narrow === undefined || !narrow.every((v) => wide.includes(v))) return false;
  }
  if (x.users !== undefined) {
    const wide = x.users;
    const inside = (user: string) => wide.includes(user) || wide.includes(user.split('@')[0]!);
    if (y.users === undefined || !y.users.every(inside)) return false;
  }
  if (x.networks !== undefined) {
    const wide = x.networks.map((n) => parseCidr(n.trim())!);
    if (y.networks === undefined) return false;
    for (const text of y.networks) {
      const n = parseCidr(text.trim())!;
      const inside = wide.some(
        (w) =>
          w.family === n.family &&
          w.prefix <= n.prefix &&
          parseCidr(`${n.text.split('/')[0]}/${w.prefix}`)?.text === w.text,
      );
      if (!inside) return false;
    }
  }
  const xp = x.to?.prefixes;
  if (xp !== undefined) {
    const yp = y.to?.prefixes;
    if (yp === undefined || !yp.every((p) => xp.some((q) => p.startsWith(q)))) return false;
  }
  if (x.to?.regex !== undefined && x.to.regex !== y.to?.regex) return false;
  if (x.time !== undefined) {
    const t = y.time;
    if (
      t === undefined ||
      t.days !== x.time.days ||
      t.hours !== x.time.hours ||
      t.timezone !== x.time.timezone
    ) {
      return false;
    }
  }
  return true;
}
