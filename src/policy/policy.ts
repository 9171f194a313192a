/**
 * Identity policy: the rules of `policy:` compiled once, at start, and the one definition of
 * what each condition and action means, which the policy stage (enforcing) and `sipwarden
 * policy explain` (describing) both follow.
 *
 * Rules are evaluated in order. A rule matches a request when every condition it gives
 * holds. The first matching rule whose action decides, decides:
 * - `allow` lets the request through, `deny` answers it (403 unless `status` says);
 * - `require-authentication` decides only for a request without a verified identity: it is
 *   challenged (the authenticate stage's Digest challenge); with one, the evaluation goes on;
 * - `require-tls` decides only for a request that did not come over TLS (403); over TLS it
 *   goes on;
 * - `require-encrypted-media` decides only for a new call (INVITE) whose offer does not key
 *   all its audio and video for SRTP with SDES keys sipwarden can use (488 Not Acceptable
 *   Here with a Warning, src/media/offer-encryption.ts); otherwise it goes on, and the policy
 *   stage holds the call to it: a later re-INVITE or UPDATE from the caller offering plain
 *   media gets the same answer;
 * - `limit` decides only for a new call (INVITE) over one of its limits (403); under them
 *   it goes on.
 * When no rule decides, `policy.default` does (allow unless configured).
 *
 * The identity conditions (users, groups, roles, organisations, domains) read only the
 * verified identity the authenticate stage set: they never match a request without one,
 * whatever its From header says. Such a request can match only `authenticated: false` and
 * the network, transport, method, destination and time conditions.
 */
import type { RequestContext } from '../core/inspector.ts';
import { identityKey, type VerifiedIdentity } from '../identity/identity.ts';
import { reasonPhrase } from '../sip/response.ts';
import { AddressSet } from '../state/cidr.ts';
import type { TransportName } from '../transport/types.ts';
import { TimeWindow } from '../util/time-window.ts';
import { dialledNumber } from './dialled-number.ts';
import { compileSafeRegex } from './safe-regex.ts';
import { DEFAULT_RULE_NAME, FINAL_ACTIONS, type PolicyRuleSettings, type PolicySettings } from './schema.ts';

/** What a rule's conditions look at: a request, or what `policy explain` describes. */
export interface PolicyRequest {
  readonly identity?: VerifiedIdentity | undefined;
  readonly address: string;
  readonly transport: TransportName;
  readonly method: string;
  /** The dialled number, normalised (dialled-number.ts); '' when none, or when no rule reads it. */
  readonly destination: string;
  readonly now: number;
}

export interface Condition {
  /** The condition as the configuration names it: `groups`, `to.prefixes`. */
  readonly key: string;
  test(request: PolicyRequest): boolean;
  /** Why it does not hold for this request (only asked when it does not). */
  miss(request: PolicyRequest): string;
}

const DEFAULT_STATUS = 403;
/** RFC 3261 21.4.26: the session description's media are not acceptable here. */
const NOT_ACCEPTABLE_HERE = 488;

export type PolicyAction =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny'; readonly status: number; readonly reason: string }
  | { readonly kind: 'require-authentication' }
  | { readonly kind: 'require-tls'; readonly status: number; readonly reason: string }
  | { readonly kind: 'require-encrypted-media'; readonly status: number; readonly reason: string }
  | {
      readonly kind: 'limit';
      readonly status: number;
      readonly reason: string;
      readonly concurrentCalls?: number | undefined;
      readonly callsPerMinute?: number | undefined;
    };

export interface PolicyRule {
  readonly name: string;
  /** Its place in `policy.rules`. */
  readonly index: number;
  readonly settings: PolicyRuleSettings;
  readonly conditions: readonly Condition[];
  readonly action: PolicyAction;
  /** allow and deny: the rule decides whenever it matches. */
  readonly final: boolean;
}

export class Policy {
  readonly rules: readonly PolicyRule[];
  readonly defaultAction: 'allow' | 'deny';
  readonly internationalPrefix: string;
  readonly settings: PolicySettings;
  /** Whether a rule reads the dialled number (otherwise requests skip working it out). */
  readonly #readsDestination: boolean;

  constructor(settings: PolicySettings) {
    this.settings = settings;
    this.defaultAction = settings.default;
    this.internationalPrefix = settings.internationalPrefix;
    this.rules = settings.rules.map((rule, index) => compileRule(rule, index));
    this.#readsDestination = settings.rules.some((rule) => rule.match.to !== undefined);
  }

  get empty(): boolean {
    return this.rules.length === 0 && this.defaultAction === 'allow';
  }

  /** The first condition of `rule` that does not hold for `request`; undefined when the rule matches. */
  firstMiss(rule: PolicyRule, request: PolicyRequest): Condition | undefined {
    for (const condition of rule.conditions) {
      if (!condition.test(request)) return condition;
    }
    return undefined;
  }

  /** What the conditions read of a request the proxy received. */
  requestOf(context: RequestContext, now: number): PolicyRequest {
    return {
      identity: context.identity,
      address: context.flow.remoteAddress,
      transport: context.flow.transport,
      method: context.request.method,
      destination: this.#readsDestination ? this.destinationOf(context) : '',
      now,
    };
  }

  /** The request's dialled number, normalised (dialled-number.ts). */
  destinationOf(context: RequestContext): string {
    return dialledNumber(context.request, this.internationalPrefix);
  }

  /** The deny answer of `policy.default: deny`. */
  get defaultDeny(): { readonly status: number; readonly reason: string; readonly rule: string } {
    return { status: DEFAULT_STATUS, reason: reasonPhrase(DEFAULT_STATUS), rule: DEFAULT_RULE_NAME };
  }
}

function compileAction(rule: PolicyRuleSettings): PolicyAction {
  const status = rule.status ?? DEFAULT_STATUS;
  const reason = rule.reason ?? reasonPhrase(status);
  switch (rule.action) {
    case 'allow':
      return { kind: 'allow' };
    case 'deny':
      return { kind: 'deny', status, reason };
    case 'require-authentication':
      return { kind: 'require-authentication' };
    case 'require-tls':
      return { kind: 'require-tls', status, reason: rule.reason ?? 'TLS Required' };
    case 'require-encrypted-media': {
      const refusal = rule.status ?? NOT_ACCEPTABLE_HERE;
      return {
        kind: 'require-encrypted-media',
        status: refusal,
        reason: rule.reason ?? reasonPhrase(refusal),
      };
    }
    case 'limit':
      return {
        kind: 'limit',
        status,
        reason,
        concurrentCalls: rule.limit?.concurrentCalls,
        callsPerMinute: rule.limit?.callsPerMinute,
      };
  }
}

function compileRule(rule: PolicyRuleSettings, index: number): PolicyRule {
  return {
    name: rule.name,
    index,
    settings: rule,
    conditions: compileConditions(rule),
    action: compileAction(rule),
    final: FINAL_ACTIONS.has(rule.action),
  };
}

const lowered = (values: readonly string[]) => values.map((v) => v.toLowerCase());
const listed = (values: readonly string[]) => values.join(', ');
const NO_IDENTITY = 'the request has no verified identity';

/** A condition on the verified identity: never true without one. */
function identityCondition(
  key: string,
  wanted: readonly string[],
  valuesOf: (identity: VerifiedIdentity) => readonly string[],
  what: string,
): Condition {
  const set = new Set(wanted);
  return {
    key,
    test: (r) => r.identity !== undefined && valuesOf(r.identity).some((v) => set.has(v.toLowerCase())),
    miss: (r) =>
      r.identity === undefined
        ? NO_IDENTITY
        : `${identityKey(r.identity)} has ${what} ${listed(valuesOf(r.identity)) || '(none)'}, not one of ${listed(wanted)}`,
  };
}

/** The conditions of a rule, in the order explain reports the first that does not hold. */
function compileConditions(rule: PolicyRuleSettings): Condition[] {
  const m = rule.match;
  const out: Condition[] = [];
  if (m.authenticated !== undefined) {
    const want = m.authenticated;
    out.push({
      key: 'authenticated',
      test: (r) => (r.identity !== undefined) === want,
      miss: (r) => (want ? NO_IDENTITY : `the request is authenticated as ${identityKey(r.identity!)}`),
    });
  }
  if (m.authenticatedBy !== undefined) {
    const methods: readonly string[] = m.authenticatedBy;
    out.push({
      key: 'authenticatedBy',
      test: (r) => r.identity !== undefined && methods.includes(r.identity.method),
      miss: (r) =>
        r.identity === undefined
          ? NO_IDENTITY
          : `${identityKey(r.identity)} was verified by ${r.identity.method}, not ${listed(methods)}`,
    });
  }
  if (m.users !== undefined) {
    // `alice` is alice in any domain; `alice@example.com` only that one.
    out.push(identityCondition('users', m.users, (id) => [id.user, identityKey(id)], 'the user name'));
  }
  if (m.domains !== undefined)
    out.push(identityCondition('domains', m.domains, (id) => [id.domain], 'the domain'));
  if (m.organisations !== undefined) {
    out.push(
      identityCondition(
        'organisations',
        m.organisations,
        (id) => (id.organisation === undefined ? [] : [id.organisation]),
        'the organisation',
      ),
    );
  }
  if (m.groups !== undefined)
    out.push(identityCondition('groups', m.groups, (id) => id.groups, 'the groups'));
  if (m.roles !== undefined) out.push(identityCondition('roles', m.roles, (id) => id.roles, 'the roles'));
  if (m.networks !== undefined) {
    const networks = m.networks;
    const set = new AddressSet(networks, 'networks');
    out.push({
      key: 'networks',
      test: (r) => set.has(r.address),
      miss: (r) => `the source ${r.address} is in none of ${listed(networks)}`,
    });
  }
  if (m.transports !== undefined) {
    const transports = new Set<string>(m.transports);
    out.push({
      key: 'transports',
      test: (r) => transports.has(r.transport),
      miss: (r) => `the transport ${r.transport} is not one of ${listed([...transports])}`,
    });
  }
  if (m.methods !== undefined) {
    // RFC 3261 7.1: methods are case-sensitive.
    const methods = new Set(m.methods);
    out.push({
      key: 'methods',
      test: (r) => methods.has(r.method),
      miss: (r) => `the method ${r.method} is not one of ${listed([...methods])}`,
    });
  }
  const prefixes = m.to?.prefixes;
  if (prefixes !== undefined) {
    const wanted = lowered(prefixes);
    out.push({
      key: 'to.prefixes',
      test: (r) => wanted.some((p) => r.destination.startsWith(p)),
      miss: (r) => `the dialled number ${shown(r.destination)} starts with none of ${listed(wanted)}`,
    });
  }
  const source = m.to?.regex;
  if (source !== undefined) {
    const check = compileSafeRegex(source);
    if (!check.ok) throw new Error(`policy.rules[${rule.name}].match.to.regex ${check.reason}`);
    const regex = check.regex;
    out.push({
      key: 'to.regex',
      test: (r) => regex.test(r.destination),
      miss: (r) => `the dialled number ${shown(r.destination)} does not match /${source}/`,
    });
  }
  if (m.time !== undefined) {
    const window = new TimeWindow(m.time);
    const spec = m.time;
    out.push({
      key: 'time',
      test: (r) => window.contains(r.now),
      miss: (r) =>
        `${new Date(r.now).toISOString()} is outside ${[spec.days ?? 'every day', spec.hours ?? 'all day', spec.timezone ?? 'UTC'].join(' ')}`,
    });
  }
  return out;
}

function shown(destination: string): string {
  return destination === '' ? '(none)' : destination;
}
