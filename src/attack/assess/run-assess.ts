/**
 * `sipwarden assess`: runs the battery of attacks against one target, one after the other,
 * each from addresses of its own (so a ban earned by one does not spoil the next), with
 * legitimate calls placed meanwhile from yet another address, and the target's liveness
 * checked after each. With the target's events API, detection and blocks are read from
 * it; without, a block is inferred from the target going silent.
 *
 * The callee: with --uas, our own (a small PBX: users 100-159 with passwords, calls
 * answered) listens where the target forwards calls; without, the target itself answers
 * (a PBX or a bare SIP service).
 */
import { isIPv4 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AddressRange, ipv4ToNumber, isLoopbackAddress, parseAddressRange } from '../address-range.ts';
import type { CommonOptions } from '../context.ts';
import { attackError } from '../errors.ts';
import { runByeSpoof } from '../kinds/bye-spoof.ts';
import { runCrack } from '../kinds/crack.ts';
import { runEnumerate } from '../kinds/enumerate.ts';
import { runFlood } from '../kinds/flood.ts';
import { runMalformed } from '../kinds/malformed.ts';
import { runResponseInject } from '../kinds/response-inject.ts';
import { runScan } from '../kinds/scan.ts';
import { runSpit } from '../kinds/spit.ts';
import { runTcpExhaust } from '../kinds/tcp-exhaust.ts';
import { parseUserList } from '../options.ts';
import type { AttackKind, AttackReport } from '../report.ts';
import { round } from '../tally.ts';
import { type Endpoint, formatEndpoint } from '../target.ts';
import { Callee } from '../ua/callee.ts';
import { SipEndpoint } from '../ua/endpoint.ts';
import { COMMON_PASSWORDS } from '../wordlist.ts';
import { BackgroundCalls, type CallCount } from './background-calls.ts';
import { type ApiEvent, addressInKey, type EventsApi, STOPPING_ACTIONS } from './events-api.ts';
import { isAlive } from './liveness.ts';
import type { Blocked, Scorecard, ScorecardRow, Verdict } from './scorecard.ts';

export interface AssessOptions {
  readonly target: Endpoint;
  readonly api?: EventsApi;
  readonly apiText?: string;
  /** Our own callee's address (the target forwards calls there). */
  readonly uas?: Endpoint;
  /** Run only these kinds (in battery order). */
  readonly only?: readonly AttackKind[];
  /** Called with each row as it is done (progress). */
  readonly onRow?: (row: ScorecardRow) => void;
  readonly signal?: AbortSignal;
}

/** The password of user 100 on our own callee: in the crack list, at position 25 of 30. */
export const ASSESS_PASSWORD = 'qwerty123';
export const ASSESS_USERS = '100-159';

/** How long to wait for late events when an attack has none yet. */
const EVENTS_FLUSH_WAIT_MS = 1500;

export function assessWordlist(): string[] {
  const words = COMMON_PASSWORDS.filter((w) => w !== ASSESS_PASSWORD).slice(0, 29);
  words.splice(24, 0, ASSESS_PASSWORD);
  return words;
}

interface Plan {
  readonly name: string;
  readonly kind: AttackKind;
  /** The attacker's addresses, to match events and blocks. */
  readonly sources: AddressRange;
  /**
   * A pause after the attack before the next one: a defence against a distributed attack
   * acts on no address but on everyone unknown while its window lasts, and must not be
   * what refuses the next attack's calls.
   */
  readonly settleMs?: number;
  run(common: CommonOptions): Promise<AttackReport>;
}

function inRange(range: AddressRange, address: string): boolean {
  if (range.family === 6 || !isIPv4(address)) return range.at(0) === address;
  const n = ipv4ToNumber(address);
  return n >= ipv4ToNumber(range.at(0)) && n <= ipv4ToNumber(range.at(range.size - 1));
}

/** The attack's own addresses (loopback IPv4: one per attack), or the default source for other targets. */
function addressesFor(target: Endpoint): {
  one(i: number): AddressRange;
  pool(i: number): AddressRange;
  legit: string;
  observer: string;
} {
  if (isIPv4(target.address) && isLoopbackAddress(target.address)) {
    return {
      one: (i) => parseAddressRange(`127.0.0.${10 + i}`),
      pool: (i) => parseAddressRange(`127.${i}.1.0/24`),
      legit: '127.0.0.2',
      observer: '127.0.0.3',
    };
  }
  const any = target.address.includes(':') ? (isLoopbackAddress(target.address) ? '::1' : '::') : '0.0.0.0';
  const range = parseAddressRange(any === '::' ? '::' : any);
  return { one: () => range, pool: () => range, legit: any, observer: any };
}

function plans(target: Endpoint, callee: Callee | undefined): Plan[] {
  const at = addressesFor(target);
  const users = parseUserList(ASSESS_USERS);
  const withCallee = callee === undefined ? {} : { callee };
  const ports = [-2, -1, 0, 1, 2].map((d) => target.port + d).filter((p) => p >= 1 && p <= 65535);
  const limits = (count: number, rate: number, durationMs = 10_000) => ({ count, rate, durationMs });
  return [
    {
      name: 'scan',
      kind: 'scan',
      sources: at.one(0),
      run: (c) =>
        runScan({
          ...c,
          scan: { range: parseAddressRange(target.address), ports },
          limits: limits(ports.length, 50),
        }),
    },
    {
      name: 'options-flood',
      kind: 'options-flood',
      sources: at.one(1),
      run: (c) => runFlood({ ...c, ...withCallee, method: 'OPTIONS', limits: limits(300, 300) }),
    },
    {
      name: 'register-flood',
      kind: 'register-flood',
      sources: at.one(2),
      run: (c) => runFlood({ ...c, ...withCallee, method: 'REGISTER', limits: limits(300, 300) }),
    },
    {
      name: 'invite-flood (254 sources)',
      kind: 'invite-flood',
      sources: at.pool(1),
      // sipwarden's invite-distributed counts over 10 s, sliding: twice that.
      settleMs: 20_000,
      run: (c) => runFlood({ ...c, ...withCallee, method: 'INVITE', limits: limits(300, 300) }),
    },
    {
      name: 'enumerate (REGISTER)',
      kind: 'enumerate',
      sources: at.one(3),
      run: (c) => runEnumerate({ ...c, method: 'REGISTER', users, limits: limits(users.length, 60) }),
    },
    {
      name: 'crack (user 100)',
      kind: 'crack',
      sources: at.one(4),
      run: (c) => {
        const words = assessWordlist();
        return runCrack({ ...c, user: '100', words, limits: limits(words.length, 20) });
      },
    },
    {
      name: 'spit',
      kind: 'spit',
      sources: at.one(5),
      run: (c) =>
        runSpit({ ...c, ...withCallee, users, holdMs: 300, concurrency: 10, limits: limits(30, 10) }),
    },
    {
      name: 'bye-spoof',
      kind: 'bye-spoof',
      sources: forger(at, '127.0.0.66'),
      run: (c) =>
        runByeSpoof({
          ...c,
          ...withCallee,
          ...spoof(at, '127.0.0.66'),
          sources: at.one(6),
          limits: limits(3, 0),
        }),
    },
    {
      name: 'response-inject',
      kind: 'response-inject',
      sources: forger(at, '127.0.0.67'),
      run: (c) =>
        runResponseInject({
          ...c,
          ...withCallee,
          ...spoof(at, '127.0.0.67'),
          sources: at.one(7),
          limits: limits(10, 0),
        }),
    },
    {
      name: 'tcp-exhaust',
      kind: 'tcp-exhaust',
      sources: at.one(8),
      run: (c) =>
        runTcpExhaust({
          ...c,
          connections: 150,
          intervalMs: 1000,
          legitSource: at.legit,
          limits: limits(100, 50, 4000),
        }),
    },
    {
      name: 'malformed',
      kind: 'malformed',
      sources: at.one(9),
      run: (c) => runMalformed({ ...c, ...withCallee, batch: 20, limits: limits(200, 200) }),
    },
  ];
}

type Addresses = ReturnType<typeof addressesFor>;

/** The forger of bye-spoof and response-inject: a loopback address of its own when there is one. */
function spoof(at: Addresses, address: string): { spoofSource?: string } {
  return at.legit.startsWith('127.') ? { spoofSource: address } : {};
}

/** The forger's address as a range, to match the target's events against (whose is the forgery). */
function forger(at: Addresses, address: string): AddressRange {
  return parseAddressRange(at.legit.startsWith('127.') ? address : at.legit);
}

function eventMatches(event: ApiEvent, sources: AddressRange): boolean {
  if (event.sourceAddress !== undefined && inRange(sources, event.sourceAddress)) return true;
  const keyed = event.key === undefined ? undefined : addressInKey(event.key);
  return keyed !== undefined && inRange(sources, keyed);
}

function verdictOf(report: AttackReport, alive: boolean): Verdict {
  if (!report.applicable) return alive ? 'not-applicable' : 'succeeded';
  return report.succeeded || !alive ? 'succeeded' : 'stopped';
}

export async function runAssess(options: AssessOptions): Promise<Scorecard> {
  const { target } = options;
  const at = addressesFor(target);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const callee =
    options.uas === undefined
      ? undefined
      : await Callee.start(options.uas.address, options.uas.port, {
          users: new Map(
            parseUserList(ASSESS_USERS).map((u) => [
              u,
              u === '100' ? ASSESS_PASSWORD : `Strong-${u}-${Math.random().toString(36).slice(2)}`,
            ]),
          ),
          realm: 'sipwarden.assess',
        });
  const closers: (() => void)[] = [() => callee?.close()];
  try {
    const observer = await SipEndpoint.bind(at.observer);
    closers.push(() => observer.close());
    if (!(await isAlive(observer, target))) {
      throw attackError(
        'SW_ERR_ATTACK_TARGET',
        `${formatEndpoint(target)} does not answer OPTIONS: nothing to assess`,
      );
    }
    const background = await BackgroundCalls.open({ target, source: at.legit, user: '100' });
    closers.push(() => background.close());
    const rows: ScorecardRow[] = [];
    const battery = plans(target, callee).filter(
      (p) => options.only === undefined || options.only.includes(p.kind),
    );
    for (const plan of battery) {
      if (options.signal?.aborted) break;
      const row = await runOne(plan, options, background, observer);
      rows.push(row);
      options.onRow?.(row);
      await sleep(plan.settleMs ?? 300);
    }
    const aliveAtEnd = await isAlive(observer, target);
    const count = (v: Verdict) => rows.filter((r) => r.verdict === v).length;
    return {
      target: formatEndpoint(target),
      api: options.apiText ?? null,
      callee: callee ? `${callee.address}:${callee.port} (ours)` : 'the target',
      startedAt,
      seconds: round((performance.now() - started) / 1000, 1),
      rows,
      summary: {
        attacks: rows.length,
        succeeded: count('succeeded'),
        stopped: count('stopped'),
        notApplicable: count('not-applicable'),
        errors: count('error'),
        aliveAtEnd,
      },
    };
  } finally {
    for (const close of closers.reverse()) close();
  }
}

async function runOne(
  plan: Plan,
  options: AssessOptions,
  background: BackgroundCalls,
  observer: SipEndpoint,
): Promise<ScorecardRow> {
  const startEpoch = Date.now();
  const started = performance.now();
  const common: CommonOptions = {
    target: options.target,
    limits: { count: 100, durationMs: 10_000, rate: 100 },
    sources: plan.sources,
    answerWaitMs: 1000,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  background.start();
  let report: AttackReport | undefined;
  let failure: string | undefined;
  try {
    report = await plan.run(common);
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  const legitCalls: CallCount = await background.stop();
  const alive = await isAlive(observer, options.target);
  let detected: boolean | null = null;
  let detectedAfterSeconds: number | null = null;
  let apiBlockSeconds: number | null = null;
  let apiBlocked = false;
  const api = options.api;
  if (api) {
    try {
      const read = async () =>
        (await api.events(startEpoch - 100)).filter((e) => eventMatches(e, plan.sources));
      let events = await read();
      // A target may write its events in batches (sipwarden's bus flushes every second):
      // what it decided at the end of the attack can take that long to show.
      if (events.length === 0) {
        await sleep(EVENTS_FLUSH_WAIT_MS);
        events = await read();
      }
      detected = events.length > 0;
      const first = Math.min(...events.map((e) => e.firstSeen ?? Number.POSITIVE_INFINITY));
      if (Number.isFinite(first)) detectedAfterSeconds = round(Math.max(0, first - startEpoch) / 1000);
      const stopping = events.filter((e) => STOPPING_ACTIONS.has(e.action));
      const firstStop = Math.min(...stopping.map((e) => e.firstSeen ?? Number.POSITIVE_INFINITY));
      apiBlocked = stopping.length > 0;
      if (Number.isFinite(firstStop)) apiBlockSeconds = round(Math.max(0, firstStop - startEpoch) / 1000);
      const blocks = await api.blocks();
      if (blocks.some((b) => inRange(plan.sources, addressInKey(b) ?? b))) apiBlocked = true;
    } catch (error) {
      failure ??= `events API: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (report === undefined) {
    return {
      attack: plan.name,
      kind: plan.kind,
      verdict: 'error',
      detected,
      detectedAfterSeconds,
      blocked: null,
      legitCalls,
      alive,
      seconds: round((performance.now() - started) / 1000, 1),
      outcome: `the attack could not run: ${failure ?? 'unknown error'}`,
    };
  }
  const silence = report.answers.blockedAfter;
  let blocked: Blocked | null = null;
  if (silence)
    blocked = {
      messages: silence.messages,
      seconds: apiBlockSeconds ?? silence.seconds,
      by: apiBlocked ? 'api' : 'silence',
    };
  else if (apiBlocked) blocked = { messages: null, seconds: apiBlockSeconds, by: 'api' };
  const verdict = verdictOf(report, alive);
  return {
    attack: plan.name,
    kind: plan.kind,
    verdict,
    detected,
    detectedAfterSeconds,
    blocked,
    legitCalls,
    alive,
    seconds: round((performance.now() - started) / 1000, 1),
    outcome: `${report.outcome}${alive ? '' : '; the target stopped answering OPTIONS'}${failure ? ` (${failure})` : ''}`,
    report,
  };
}
