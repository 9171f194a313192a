/**
 * Flood detection: rules that count messages (or distinct values of an attribute) per key
 * over a sliding window, and act when the count goes above a threshold; and baselines, that
 * compare a global rate with what was learnt to be normal.
 *
 * A rule counts on any combination of attributes (`['source']`, `['toUser']`,
 * `['userAgent', 'method']`, `[]` for one global counter); its counters live in the activity
 * store under `flood:<rule>|<attribute>=<value>|...`, which is also the event's key and, for
 * a `key`-scope block, the key blocked. A rule with `match.status` counts outcomes (the final
 * status of forwarded requests) instead of requests.
 *
 * Trust: a source that authenticated successfully lately (the trust table) is allowed
 * `trustedMultiplier` times the threshold of rules keyed on the source, so that an office
 * behind one NAT address is not taken for a flood. Rules not keyed on the source spare
 * trusted sources their action; rules counting distinct sources do not count them at all:
 * an authenticated address is not one of a distributed attack's many sources.
 *
 * register-distributed: a REGISTER flood spread over many sources, each sending a few
 * requests with random users, Call-IDs and User-Agents, stays under every per-source and
 * per-key rule. What tells its sources from phones is what they do with a digest challenge
 * (RFC 3261 22.2): a phone answers its 401 within a round trip, a flood tool never does.
 * While credential-less REGISTERs from untrusted sources surge (over `factor` x their learnt
 * rate and over `floor`), an untrusted source that ignored most of the challenges it was sent
 * (at least `ignoredChallenges`, each left unanswered for `graceMs`) is blocked. See
 * REGISTER_DISTRIBUTED for why these figures.
 */
import { z } from 'zod';
import type { OutcomeContext, RequestContext } from '../../core/inspector.ts';
import { type Attribute, MessageAttributes } from '../attributes.ts';
import { BaselineRate, type BaselineReading } from '../baseline-rate.ts';
import { floodKeyPrefix, sourceKey } from '../block-keys.ts';
import { credentialsOf } from '../credentials.ts';
import { eventFor } from '../event-input.ts';
import {
  type ActionSpec,
  actionFields,
  attribute,
  blockSpec,
  boolean,
  decimal,
  integer,
  method,
  oneOf,
  oneOrMany,
  parseStageSettings,
  rejectStatus,
  ruleName,
  tarpitMs,
  threshold,
  trustedMultiplier,
  uniqueList,
  windowMs,
} from '../rule-schema.ts';
import {
  STAGE_PASS,
  type Stage,
  type StageDependencies,
  type StageFactory,
  type StageVerdict,
} from '../stage.ts';
import { actionSeverity, actsOnSource, severity, verdictFor } from '../verdicts.ts';
import { INVITE_DISTRIBUTED, InviteDistributed, inviteDistributedSchema } from './invite-distributed.ts';

const STAGE = 'detect:flood';
/** A flood answered with `reject` gets 503 unless the rule says otherwise (RFC 3261 21.5.4). */
const DEFAULT_REJECT_STATUS = 503;

const direction = oneOf(['client', 'upstream', 'any']);

const match = z
  .strictObject({
    method: oneOrMany(method, 32).optional(),
    /** Which side's messages the rule counts; the trusted side only when asked. */
    direction: direction.default('client'),
    /** Final statuses: makes the rule count outcomes rather than requests. */
    status: oneOrMany(integer(200, 699, 'must be a final SIP status from 200 to 699'), 32).optional(),
    /** Only requests in a dialog the proxy knows (true) or only out of dialog (false). */
    inDialog: boolean.optional(),
  })
  .prefault({});

const ruleSchema = z
  .strictObject({
    name: ruleName,
    match,
    key: uniqueList(attribute, 4),
    threshold: z.strictObject({
      count: threshold,
      windowMs,
      /** Count distinct values of this attribute per key instead of messages. */
      distinct: attribute.optional(),
    }),
    ...actionFields,
    action: actionFields.action.default('alert'),
  })
  .superRefine((rule, ctx) => {
    const outcome = rule.match.status !== undefined;
    const usesStatus = rule.key.includes('status') || rule.threshold.distinct === 'status';
    if (usesStatus && !outcome) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: 'status is only known to outcome rules: set match.status',
      });
    }
    const distinct = rule.threshold.distinct;
    if (distinct !== undefined && rule.key.includes(distinct)) {
      ctx.addIssue({
        code: 'custom',
        path: ['threshold', 'distinct'],
        message: `must not be one of the key attributes (${distinct} is always 1 per key)`,
      });
    }
    if (rule.block !== undefined && rule.action !== 'block') {
      ctx.addIssue({ code: 'custom', path: ['block'], message: 'only applies when action is block' });
    }
    if (
      rule.status !== undefined &&
      rule.action !== 'reject' &&
      rule.action !== 'block' &&
      rule.action !== 'tarpit'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['status'],
        message: 'only applies when action is reject, block or tarpit',
      });
    }
    if (rule.action === 'block' && rule.block?.scope === 'key' && rule.key.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['block', 'scope'],
        message:
          'a rule with an empty key counts everything: blocking its key would refuse all matching traffic',
      });
    }
  });

const baselineSchema = z
  .strictObject({
    name: ruleName,
    match: z
      .strictObject({
        method: oneOrMany(method, 32).optional(),
        direction: direction.default('client'),
        inDialog: boolean.optional(),
      })
      .prefault({}),
    windowMs: windowMs.default(10_000),
    /** Over factor x baseline (and over floor) is a flood. */
    factor: decimal(1.1, 1000).default(5),
    /** Never a flood below this count per window, however quiet it was. */
    floor: threshold,
    /** Weight of each closed window in the learnt average. */
    smoothing: decimal(0.001, 1).default(0.1),
    /** A global rate has no source to block: it alerts, or sheds untrusted traffic while over. */
    action: oneOf(['alert', 'reject', 'drop', 'tarpit']).default('alert'),
    status: rejectStatus.optional(),
    tarpitMs: tarpitMs.default(5000),
  })
  .superRefine((rule, ctx) => {
    if (rule.status !== undefined && rule.action !== 'reject' && rule.action !== 'tarpit') {
      ctx.addIssue({
        code: 'custom',
        path: ['status'],
        message: 'only applies when action is reject or tarpit',
      });
    }
  });

const registerDistributedSchema = z
  .strictObject({
    /** `block` the sources that ignore challenges during a surge, or only `alert`. */
    action: oneOf(['block', 'alert']).default('block'),
    block: blockSpec.default({ scope: 'address', durationMs: 10 * 60 * 1000 }),
    /** Unanswered challenges a source must have had (and answered fewer than half of them). */
    ignoredChallenges: integer(1, 1000).default(3),
    /** The window over which challenges and answers are counted per source. */
    windowMs: windowMs.default(60_000),
    /** A challenge counts as unanswered only this long after it was sent: a round trip and more. */
    graceMs: integer(100, 60_000, 'must be a delay in milliseconds from 100 to 60000').default(2000),
    /** The surge: credential-less REGISTERs from untrusted sources against their learnt rate. */
    surge: z
      .strictObject({
        windowMs: windowMs.default(10_000),
        factor: decimal(1.1, 1000).default(5),
        floor: threshold.default(1000),
        smoothing: decimal(0.001, 1).default(0.1),
      })
      .prefault({}),
  })
  .superRefine((r, ctx) => {
    if (r.block.scope === 'key') {
      ctx.addIssue({
        code: 'custom',
        path: ['block', 'scope'],
        message: 'must be address or network: the rule blocks the sources that ignore challenges',
      });
    }
  })
  .prefault({});

type RuleInput = z.input<typeof ruleSchema>;
type BaselineInput = z.input<typeof baselineSchema>;

/*
 * The default rules, and why these figures. They must stop a flood, and must never block
 * the traffic this product exists to let through:
 *
 * - A trunk: 20 new calls/s at its busy hour, maybe each challenged once by the PBX (so 40
 *   INVITEs/s), OPTIONS keep-alives every 30 s. A trunk authenticates by address, so it
 *   never earns trust: it must pass on the base thresholds.
 * - An office of up to 500 phones behind one NAT address, after an outage: every phone
 *   re-registers at once (a REGISTER, a 401 challenge, a REGISTER with credentials: 1000
 *   REGISTERs), then people call (a few hundred INVITEs, each challenged, over seconds).
 *   The first successful registration makes the address trusted (x10).
 * - The activity store's sliding window estimate can read up to the count of two windows
 *   after a burst at a window's end: each figure leaves at least that margin.
 *
 * invite-flood, 200 per 2 s (100/s sustained): a trunk at 40 INVITEs/s reads 80 (160 at
 *   worst), an office placing 200 challenged calls over 10 s the same; an INVITE flood
 *   runs at hundreds to thousands per second and is stopped within a fraction of a second.
 * register-flood, 2000 per 10 s: 500 phones x 2 REGISTERs in one burst is 1000, so twice
 *   that; a REGISTER flood without credentials costs the registrar a 401 each, and password
 *   guessing has its own, much lower, threshold (password-guessing stage).
 * options-flood, 1000 per 10 s: 500 phones sending OPTIONS keep-alives every 15 s is 333
 *   per 10 s, a trunk 1 per 30 s; an OPTIONS flood or fast sweep is far above.
 * request-flood, 10000 per 10 s, any method: the backstop for methods without their own
 *   rule (MESSAGE, SUBSCRIBE, INFO, junk methods). A trunk at 20 calls/s sends about 5
 *   requests per call (100/s); 500 phones subscribing to 10 lamps each, challenged, send
 *   10000 once they have registered, by when the address is trusted (x10).
 * invite-target-distributed, 50 distinct untrusted sources calling one user in 10 s: no
 *   office, trunk or customer base calls one extension from 50 unknown addresses in 10 s
 *   (a trunk is one source, authenticated phones are not counted); while over, every
 *   untrusted source calling that user is blocked.
 * user-agent-distributed and from-domain-distributed: the same User-Agent or From domain
 *   from many untrusted sources is also what a provider sees when thousands of customers'
 *   phones of one model re-register after a restart: they only alert.
 * Baselines (alert only): INVITE, REGISTER and OPTIONS rates against 5x their learnt
 *   normal, with floors (500, 5000, 2000 per 10 s) under which nothing is reported.
 * spit-fanout, 20 distinct users rung by one From identity in 60 s: a phone user does not
 *   call 20 different people in a minute; a robocaller does. Its new calls from untrusted
 *   sources are refused (403) while it stays over; the source is not blocked.
 * register-distributed (settings `registerDistributed`), blocks: see below.
 * invite-distributed (settings `inviteDistributed`), refuses unknown sources' new calls
 *   with 503 while more than 100 of them place calls in 10 s: see invite-distributed.ts.
 */
const DEFAULT_BLOCK = { scope: 'address', durationMs: 10 * 60 * 1000 } as const;

export const DEFAULT_FLOOD_RULES: readonly RuleInput[] = [
  {
    name: 'invite-flood',
    match: { method: 'INVITE', inDialog: false },
    key: ['source'],
    threshold: { count: 200, windowMs: 2000 },
    action: 'block',
    block: DEFAULT_BLOCK,
  },
  {
    name: 'register-flood',
    match: { method: 'REGISTER' },
    key: ['source'],
    threshold: { count: 2000, windowMs: 10_000 },
    action: 'block',
    block: DEFAULT_BLOCK,
  },
  {
    name: 'options-flood',
    match: { method: 'OPTIONS' },
    key: ['source'],
    threshold: { count: 1000, windowMs: 10_000 },
    action: 'block',
    block: DEFAULT_BLOCK,
  },
  {
    name: 'request-flood',
    key: ['source'],
    threshold: { count: 10_000, windowMs: 10_000 },
    action: 'block',
    block: DEFAULT_BLOCK,
  },
  {
    name: 'invite-target-distributed',
    match: { method: 'INVITE', inDialog: false },
    key: ['toUser'],
    threshold: { distinct: 'source', count: 50, windowMs: 10_000 },
    action: 'block',
    block: DEFAULT_BLOCK,
  },
  {
    name: 'user-agent-distributed',
    match: { inDialog: false },
    key: ['userAgent'],
    threshold: { distinct: 'source', count: 200, windowMs: 60_000 },
    action: 'alert',
  },
  {
    // SPIT: one caller identity ringing many different users. While over, that identity's
    // new calls from untrusted sources are refused (403); its source is not blocked (a
    // trunk carries other callers too), and trusted (authenticated) and allowlisted sources
    // are spared. A trunk that sends every call with one From identity to many numbers and
    // never authenticates goes in the allowlist (or gets this rule raised or disabled).
    name: 'spit-fanout',
    match: { method: 'INVITE', inDialog: false },
    key: ['fromUser'],
    threshold: { distinct: 'toUser', count: 20, windowMs: 60_000 },
    action: 'reject',
    status: 403,
  },
  {
    name: 'from-domain-distributed',
    match: { method: 'INVITE', inDialog: false },
    key: ['fromDomain'],
    threshold: { distinct: 'source', count: 100, windowMs: 10_000 },
    action: 'alert',
  },
];

export const DEFAULT_FLOOD_BASELINES: readonly BaselineInput[] = [
  { name: 'invite-baseline', match: { method: 'INVITE', inDialog: false }, floor: 500 },
  { name: 'register-baseline', match: { method: 'REGISTER' }, floor: 5000 },
  { name: 'options-baseline', match: { method: 'OPTIONS' }, floor: 2000 },
];

/**
 * register-distributed, and why these figures. A distributed REGISTER flood's sources are
 * indistinguishable from phones by count: an office of 200 phones behind one NAT address
 * sends 200 credential-less REGISTERs after an outage, a flood source may send 10. They
 * differ in what they do with the 401: every phone answers it (with its password, right or
 * wrong: wrong ones are the password-guessing stage's), a flood tool ignores it.
 *
 * - Only during a surge: credential-less REGISTERs from untrusted sources over 5 x their
 *   learnt rate and over 1000 per 10 s. Outside one, a source ignoring challenges (a phone
 *   without a password, retrying every 30 s) is left alone. Normally such REGISTERs are
 *   rare: a phone's address earns trust at its first successful registration (24 h, renewed
 *   by each one), and trusted sources are not counted.
 * - Only untrusted sources: a trusted one is neither counted nor blocked.
 * - A challenge counts as ignored 2 s after it was sent (the 401 must reach the phone and
 *   its answer come back: a round trip, however slow the link), and a source is blocked
 *   only when it has had at least 3 such challenges in 60 s and answered fewer than half
 *   of all its challenges: a NAT office whose phones answer is never taken for one, even
 *   when its registrar is slow and every phone's first REGISTER came before any answer.
 * - After a restart of sipwarden, trust (in memory) is gone: a re-registration storm of the
 *   whole customer base may make a surge, but its phones answer their challenges and are
 *   not blocked; at worst the overload gate sheds new credential-less requests with 503 and
 *   Retry-After, and lets requests with credentials through.
 * - A trunk sends INVITEs, not REGISTERs, and authenticates by address: it is not concerned.
 *   INVITE floods are not treated this way for that reason: a trunk never earns trust.
 * - Not caught: a flood that answers challenges with made-up credentials. Those answers
 *   fail (401/403), and the password-guessing stage blocks a source past 5 failures.
 * - When the registrar does not challenge at all (it answers 200 or nothing), there is no
 *   challenge to ignore: the baselines and user-agent-distributed alert, the per-source
 *   rules and the overload gate remain.
 */
export const REGISTER_DISTRIBUTED = 'register-distributed';

const DEFAULT_NAMES = new Set([
  ...[...DEFAULT_FLOOD_RULES, ...DEFAULT_FLOOD_BASELINES].map((r) => r.name),
  REGISTER_DISTRIBUTED,
  INVITE_DISTRIBUTED,
]);

const settingsSchema = z
  .strictObject({
    /** Start from the built-in rules (a rule of the same name below replaces one). */
    defaults: boolean.default(true),
    /** Built-in rules to leave out, by name. */
    disabled: uniqueList(ruleName, 64).default([]),
    trustedMultiplier: trustedMultiplier.default(10),
    rules: z.array(ruleSchema).max(256, { error: 'must list at most 256 rules' }).default([]),
    baselines: z.array(baselineSchema).max(32, { error: 'must list at most 32 baselines' }).default([]),
    /** The built-in register-distributed rule's settings. */
    registerDistributed: registerDistributedSchema,
    /** The built-in invite-distributed rule's settings (invite-distributed.ts). */
    inviteDistributed: inviteDistributedSchema,
  })
  .superRefine((s, ctx) => {
    s.disabled.forEach((name, i) => {
      if (!DEFAULT_NAMES.has(name)) {
        ctx.addIssue({ code: 'custom', path: ['disabled', i], message: `${name} is not a built-in rule` });
      }
    });
    const seen = new Set<string>();
    const check = (list: readonly { name: string }[], field: string) => {
      list.forEach((r, i) => {
        if (seen.has(r.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [field, i, 'name'],
            message:
              r.name === REGISTER_DISTRIBUTED
                ? `${r.name} is a built-in rule set under registerDistributed`
                : r.name === INVITE_DISTRIBUTED
                  ? `${r.name} is a built-in rule set under inviteDistributed`
                  : `repeats the rule name ${r.name}`,
          });
        }
        seen.add(r.name);
      });
    };
    seen.add(REGISTER_DISTRIBUTED);
    seen.add(INVITE_DISTRIBUTED);
    check(s.rules, 'rules');
    check(s.baselines, 'baselines');
  });

export type FloodSettings = z.input<typeof settingsSchema>;

type Direction = 'client' | 'upstream' | 'any';

interface Matcher {
  readonly methods: ReadonlySet<string> | undefined;
  readonly direction: Direction;
  readonly inDialog: boolean | undefined;
}

interface CompiledRule extends Matcher, ActionSpec {
  readonly name: string;
  readonly statuses: ReadonlySet<number> | undefined;
  readonly key: readonly Attribute[];
  readonly prefix: string;
  readonly perSource: boolean;
  readonly distinct: Attribute | undefined;
  /** Counts distinct sources: trusted ones are left out. */
  readonly distinctSources: boolean;
  readonly count: number;
  readonly windowMs: number;
  readonly keyBlock: boolean;
  readonly actsOnSource: boolean;
  /** The severity of the verdict the rule gives when it fires. */
  readonly severity: number;
}

interface CompiledBaseline extends Matcher, ActionSpec {
  readonly name: string;
  readonly key: string;
  readonly rate: BaselineRate;
  readonly severity: number;
}

function matches(m: Matcher, dir: 'client' | 'upstream', methodName: string, inDialog: boolean): boolean {
  return (
    (m.direction === 'any' || m.direction === dir) &&
    (m.methods === undefined || m.methods.has(methodName)) &&
    (m.inDialog === undefined || m.inDialog === inDialog)
  );
}

function compileRule(rule: z.output<typeof ruleSchema>): CompiledRule {
  const distinct = rule.threshold.distinct;
  return {
    name: rule.name,
    methods: rule.match.method === undefined ? undefined : new Set(rule.match.method),
    direction: rule.match.direction,
    inDialog: rule.match.inDialog,
    statuses: rule.match.status === undefined ? undefined : new Set(rule.match.status),
    key: rule.key,
    prefix: floodKeyPrefix(rule.name),
    perSource: rule.key.includes('source'),
    distinct,
    distinctSources: distinct === 'source' || distinct === 'network',
    count: rule.threshold.count,
    windowMs: rule.threshold.windowMs,
    action: rule.action,
    status: rule.status,
    block: rule.block,
    tarpitMs: rule.tarpitMs,
    keyBlock: rule.action === 'block' && rule.block?.scope === 'key',
    actsOnSource: actsOnSource(rule),
    severity: actionSeverity(rule.action),
  };
}

function compileBaseline(b: z.output<typeof baselineSchema>): CompiledBaseline {
  return {
    name: b.name,
    methods: b.match.method === undefined ? undefined : new Set(b.match.method),
    direction: b.match.direction,
    inDialog: b.match.inDialog,
    key: `${floodKeyPrefix(b.name)}*`,
    rate: new BaselineRate({
      windowMs: b.windowMs,
      factor: b.factor,
      floor: b.floor,
      smoothing: b.smoothing,
    }),
    action: b.action,
    status: b.status,
    tarpitMs: b.tarpitMs,
    severity: actionSeverity(b.action),
  };
}

/**
 * The rules that may match a request, by method, in their configured order: those naming
 * the method and those naming none. Computed once, at start, so that a message meets only
 * the rules that can count it.
 */
class RulesByMethod<R extends Matcher> {
  readonly #byMethod = new Map<string, readonly R[]>();
  readonly #anyMethod: readonly R[];

  constructor(rules: readonly R[]) {
    this.#anyMethod = rules.filter((r) => r.methods === undefined);
    const named = new Set<string>();
    for (const r of rules) if (r.methods !== undefined) for (const m of r.methods) named.add(m);
    for (const m of named) {
      this.#byMethod.set(
        m,
        rules.filter((r) => r.methods === undefined || r.methods.has(m)),
      );
    }
  }

  for(method: string): readonly R[] {
    return this.#byMethod.get(method) ?? this.#anyMethod;
  }
}

/** Merges the built-in rules with the configured ones: same name replaces, `disabled` removes. */
function effective<T extends { name: string }>(
  defaults: readonly T[],
  configured: readonly T[],
  s: { defaults: boolean; disabled: readonly string[] },
): T[] {
  const byName = new Map<string, T>();
  if (s.defaults) for (const r of defaults) if (!s.disabled.includes(r.name)) byName.set(r.name, r);
  for (const r of configured) byName.set(r.name, r);
  return [...byName.values()];
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Challenges waiting for their grace period; past this many, newer ones are not counted. */
const MAX_PENDING_CHALLENGES = 65_536;

/**
 * Digest challenges sent to untrusted sources, counted per source once they are `graceMs`
 * old: a FIFO ring of (source, sent at), drained in order of time. Bounded: when full, a
 * new challenge is not counted (the rule then errs towards not blocking).
 */
class PendingChallenges {
  readonly #sources: (string | undefined)[] = new Array(MAX_PENDING_CHALLENGES);
  readonly #times = new Float64Array(MAX_PENDING_CHALLENGES);
  #head = 0;
  #size = 0;

  add(source: string, now: number): void {
    if (this.#size === MAX_PENDING_CHALLENGES) return;
    const slot = (this.#head + this.#size) % MAX_PENDING_CHALLENGES;
    this.#sources[slot] = source;
    this.#times[slot] = now;
    this.#size++;
  }

  /** Hands each challenge sent at or before `until` to `matured`, oldest first. */
  drain(until: number, matured: (source: string) => void): void {
    while (this.#size > 0 && this.#times[this.#head]! <= until) {
      const source = this.#sources[this.#head]!;
      this.#sources[this.#head] = undefined;
      this.#head = (this.#head + 1) % MAX_PENDING_CHALLENGES;
      this.#size--;
      matured(source);
    }
  }
}

export const createFloodStage: StageFactory = (settings: unknown, deps: StageDependencies): Stage => {
  const s = parseStageSettings(settingsSchema, settings);
  const defaultRules = DEFAULT_FLOOD_RULES.map((r) => ruleSchema.parse(r));
  const defaultBaselines = DEFAULT_FLOOD_BASELINES.map((b) => baselineSchema.parse(b));
  const rules = effective(defaultRules, s.rules, s).map(compileRule);
  const baselines = effective(defaultBaselines, s.baselines, s).map(compileBaseline);
  const requestRules = new RulesByMethod(rules.filter((r) => r.statuses === undefined));
  const baselinesByMethod = new RulesByMethod(baselines);
  const outcomeRules = rules.filter((r) => r.statuses !== undefined);
  const multiplier = s.trustedMultiplier;
  const { store, blocks, trust } = deps;
  const rd = s.registerDistributed;
  const registerDistributed = s.defaults && !s.disabled.includes(REGISTER_DISTRIBUTED);
  const inviteDistributed =
    s.defaults && !s.disabled.includes(INVITE_DISTRIBUTED)
      ? new InviteDistributed(s.inviteDistributed, store, trust, STAGE)
      : undefined;
  const surge = new BaselineRate(rd.surge);
  const pending = new PendingChallenges();
  const rdSpec: ActionSpec = { action: rd.action, block: rd.block, tarpitMs: 0 };
  const challengedPrefix = `${floodKeyPrefix(REGISTER_DISTRIBUTED)}challenged|${sourceKey('')}`;
  const answeredPrefix = `${floodKeyPrefix(REGISTER_DISTRIBUTED)}answered|${sourceKey('')}`;
  /** The surge holds until this time: to the end of the window after the last reading over its threshold. */
  let surgeUntil = Number.NEGATIVE_INFINITY;
  let lastSurge: BaselineReading | undefined;
  const matured = (source: string, now: number) => store.hit(challengedPrefix + source, rd.windowMs, now);

  /** The rule's verdict for this message, or undefined when it does not fire. */
  /**
   * The rule's verdict for this message, or undefined when it does not fire or when its
   * verdict could not be stronger than `beat` (the strongest so far): the message is
   * counted all the same, only the verdict that would be thrown away is not built.
   */
  function evaluate(
    rule: CompiledRule,
    attrs: MessageAttributes,
    now: number,
    beat: number,
  ): StageVerdict | undefined {
    let key = rule.prefix;
    if (rule.key.length === 0) key += '*';
    for (let i = 0; i < rule.key.length; i++) {
      const part = attrs.part(rule.key[i]!);
      // A message without the attribute is not counted: 200 phones' OPTIONS to the bare
      // server URI are not 200 calls to one user named ''.
      if (part === '') return undefined;
      key += i === 0 ? part : `|${part}`;
    }
    const flow = attrs.flow;
    const source = flow.remoteAddress;
    if (rule.keyBlock) {
      const entry = blocks.matchKey(key, now);
      if (entry !== undefined) {
        return {
          action: 'drop',
          event: eventFor(flow, {
            type: 'flood',
            stage: STAGE,
            rule: rule.name,
            action: 'drop',
            key,
            reason: `${rule.name}: key blocked`,
            details: { blockedUntil: entry.expiresAt },
          }),
        };
      }
    }
    let trusted: boolean | undefined;
    let n: number;
    if (rule.distinct !== undefined) {
      const value = attrs.get(rule.distinct);
      if (value === '') return undefined;
      if (rule.distinctSources) {
        trusted = trust.isTrusted(source, now);
        if (trusted) return undefined;
      }
      n = store.distinct(key, value, rule.windowMs, now);
    } else {
      n = store.hit(key, rule.windowMs, now);
    }
    if (n <= rule.count || rule.severity <= beat) return undefined;
    let limit = rule.count;
    if (rule.perSource) {
      trusted ??= trust.isTrusted(source, now);
      if (trusted) {
        limit = rule.count * multiplier;
        if (n <= limit) return undefined;
      }
    } else if (rule.actsOnSource) {
      trusted ??= trust.isTrusted(source, now);
      if (trusted) return undefined;
    }
    const counted = rule.distinct === undefined ? 'messages' : `distinct ${rule.distinct} values`;
    const details: Record<string, string | number> = {
      count: round(n),
      threshold: limit,
      windowMs: rule.windowMs,
    };
    if (rule.distinct !== undefined) details.distinct = rule.distinct;
    if (limit !== rule.count) details.trustedMultiplier = multiplier;
    return verdictFor(rule, flow, {
      type: 'flood',
      stage: STAGE,
      rule: rule.name,
      key,
      reason: `${rule.name}: ${Math.round(n)} ${counted} in ${rule.windowMs} ms, over ${limit}`,
      details,
      defaultStatus: DEFAULT_REJECT_STATUS,
    });
  }

  function evaluateBaseline(
    b: CompiledBaseline,
    attrs: MessageAttributes,
    now: number,
    beat: number,
  ): StageVerdict | undefined {
    const reading = b.rate.add(now);
    if (reading.count <= reading.threshold || b.severity <= beat) return undefined;
    const flow = attrs.flow;
    if (b.action !== 'alert' && trust.isTrusted(flow.remoteAddress, now)) return undefined;
    return verdictFor(b, flow, {
      type: 'flood',
      stage: STAGE,
      rule: b.name,
      key: b.key,
      reason: `${b.name}: ${reading.count} messages in this ${b.rate.settings.windowMs} ms window, over ${round(
        reading.threshold,
      )} (${b.rate.settings.factor} x baseline ${round(reading.baseline)}, floor ${b.rate.settings.floor})`,
      details: {
        count: reading.count,
        baseline: round(reading.baseline),
        factor: b.rate.settings.factor,
        floor: b.rate.settings.floor,
        threshold: round(reading.threshold),
        windowMs: b.rate.settings.windowMs,
      },
      defaultStatus: DEFAULT_REJECT_STATUS,
    });
  }

  /**
   * register-distributed for a client REGISTER: counts answers and the surge, and blocks an
   * untrusted source that ignores its challenges while the surge lasts.
   */
  function evaluateRegisterDistributed(context: RequestContext, now: number): StageVerdict | undefined {
    pending.drain(now - rd.graceMs, (source) => matured(source, now));
    const source = context.flow.remoteAddress;
    if (trust.isTrusted(source, now)) return undefined;
    if (credentialsOf(context.request) !== undefined) {
      store.hit(answeredPrefix + source, rd.windowMs, now);
      return undefined;
    }
    const reading = surge.add(now);
    if (reading.count > reading.threshold) {
      surgeUntil = (Math.floor(now / rd.surge.windowMs) + 2) * rd.surge.windowMs;
      lastSurge = reading;
    }
    if (now >= surgeUntil || lastSurge === undefined) return undefined;
    const challenged = store.peek(challengedPrefix + source, rd.windowMs, now);
    if (challenged < rd.ignoredChallenges) return undefined;
    const answered = store.peek(answeredPrefix + source, rd.windowMs, now);
    if (answered * 2 >= challenged) return undefined;
    return verdictFor(rdSpec, context.flow, {
      type: 'flood',
      stage: STAGE,
      rule: REGISTER_DISTRIBUTED,
      key: floodKeyPrefix(REGISTER_DISTRIBUTED) + sourceKey(source),
      reason: `${REGISTER_DISTRIBUTED}: ignored ${Math.round(challenged - answered)} of ${Math.round(
        challenged,
      )} digest challenges in ${rd.windowMs} ms while credential-less REGISTERs surge (${
        lastSurge.count
      } in a ${rd.surge.windowMs} ms window, over ${round(lastSurge.threshold)})`,
      details: {
        challenged: round(challenged),
        answered: round(answered),
        threshold: rd.ignoredChallenges,
        windowMs: rd.windowMs,
        graceMs: rd.graceMs,
        surgeCount: lastSurge.count,
        surgeThreshold: round(lastSurge.threshold),
        surgeBaseline: round(lastSurge.baseline),
        surgeWindowMs: rd.surge.windowMs,
      },
      defaultStatus: DEFAULT_REJECT_STATUS,
    });
  }

  /** A 401/407 to an untrusted source's credential-less REGISTER: a challenge it should answer. */
  function noteChallenge(context: OutcomeContext, now: number): void {
    const { request, status } = context;
    if (status !== 401 && status !== 407) return;
    if (credentialsOf(request) !== undefined) return;
    const source = context.flow.remoteAddress;
    if (trust.isTrusted(source, now)) return;
    pending.add(source, now);
  }

  return {
    name: 'flood',
    phase: 'detect',
    // A detector that fails must not stop calls: the gate's budgets still hold.
    failMode: 'open',

    request(context: RequestContext, now: number): StageVerdict {
      const { request, direction: dir, inDialog } = context;
      let attrs: MessageAttributes | undefined;
      let best: StageVerdict = STAGE_PASS;
      let bestSeverity = 0;
      // Every matching rule counts the message, even after one has fired: each counter must
      // see all the traffic it is meant to, whatever the other rules decided.
      const rules = requestRules.for(request.method);
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (!matches(rule, dir, request.method, inDialog)) continue;
        attrs ??= new MessageAttributes(context.flow, request);
        const verdict = evaluate(rule, attrs, now, bestSeverity);
        if (verdict !== undefined && severity(verdict) > bestSeverity) {
          best = verdict;
          bestSeverity = severity(verdict);
        }
      }
      const rates = baselinesByMethod.for(request.method);
      for (let i = 0; i < rates.length; i++) {
        const b = rates[i]!;
        if (!matches(b, dir, request.method, inDialog)) continue;
        attrs ??= new MessageAttributes(context.flow, request);
        const verdict = evaluateBaseline(b, attrs, now, bestSeverity);
        if (verdict !== undefined && severity(verdict) > bestSeverity) {
          best = verdict;
          bestSeverity = severity(verdict);
        }
      }
      if (registerDistributed && dir === 'client' && request.method === 'REGISTER') {
        // On a tie (two alerts) the source's own verdict says more than a global rate's.
        const verdict = evaluateRegisterDistributed(context, now);
        if (verdict !== undefined && severity(verdict) >= bestSeverity) best = verdict;
      }
      if (inviteDistributed && dir === 'client' && request.method === 'INVITE' && !inDialog) {
        const verdict = inviteDistributed.request(context, now);
        if (verdict !== undefined && severity(verdict) > bestSeverity) best = verdict;
      }
      return best;
    },

    outcome(context: OutcomeContext, now: number): StageVerdict {
      const { request, direction: dir, status } = context;
      if (registerDistributed && dir === 'client' && request.method === 'REGISTER') {
        noteChallenge(context, now);
      }
      if (inviteDistributed && dir === 'client' && request.method === 'INVITE') {
        inviteDistributed.outcome(context, now);
      }
      if (outcomeRules.length === 0) return STAGE_PASS;
      let attrs: MessageAttributes | undefined;
      let best: StageVerdict = STAGE_PASS;
      let bestSeverity = 0;
      for (const rule of outcomeRules) {
        // The outcome context does not say whether the request was in a dialog: a To tag does.
        const inDialog = request.to.params.has('tag');
        if (!rule.statuses!.has(status) || !matches(rule, dir, request.method, inDialog)) continue;
        attrs ??= new MessageAttributes(context.flow, request, status);
        const verdict = evaluate(rule, attrs, now, bestSeverity);
        if (verdict !== undefined && severity(verdict) > bestSeverity) {
          best = verdict;
          bestSeverity = severity(verdict);
        }
      }
      return best;
    },
  };
};
