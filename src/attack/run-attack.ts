/**
 * From the command line's option strings to a running attack: every value parsed and
 * bounded here (so the CLI file stays thin and the checks are unit-tested), the target
 * resolved and held to loopback unless --allow-remote, then the kind's runner.
 */
import { type AddressRange, isLoopbackRange, parseAddressRange } from './address-range.ts';
import type { CommonOptions } from './context.ts';
import { attackError } from './errors.ts';
import { runByeSpoof } from './kinds/bye-spoof.ts';
import { runCrack } from './kinds/crack.ts';
import { type EnumerateMethod, runEnumerate } from './kinds/enumerate.ts';
import { type FloodMethod, runFlood } from './kinds/flood.ts';
import { MAX_FLOOD_WORKERS, runFloodWorkers } from './kinds/flood-workers.ts';
import { runMalformed } from './kinds/malformed.ts';
import { runResponseInject } from './kinds/response-inject.ts';
import { runScan } from './kinds/scan.ts';
import { runSpit } from './kinds/spit.ts';
import { runTcpExhaust } from './kinds/tcp-exhaust.ts';
import type { ThirdPartyOptions } from './kinds/third-party.ts';
import {
  DEFAULT_COUNT,
  DEFAULT_DURATION_MS,
  DEFAULT_RATE,
  type Limits,
  parseCount,
  parseDuration,
  parseRate,
  parseUserList,
} from './options.ts';
import type { AttackKind, AttackReport } from './report.ts';
import { parsePortList, resolveScanTarget, resolveTarget } from './target.ts';
import { defaultWords, readWordlist, wordsOf } from './wordlist.ts';

/** The options as the command line gives them: strings, all optional. */
export interface AttackArguments {
  readonly target?: string;
  readonly count?: string;
  readonly duration?: string;
  readonly rate?: string;
  readonly wait?: string;
  readonly allowRemote?: boolean;
  readonly source?: string;
  readonly sources?: string;
  readonly maxSources?: string;
  readonly user?: string;
  readonly users?: string;
  readonly callId?: string;
  readonly userAgent?: string;
  readonly seed?: string;
  readonly ports?: string;
  readonly method?: string;
  readonly wordlist?: string;
  readonly passwords?: string;
  readonly batch?: string;
  readonly uas?: string;
  readonly spoofSource?: string;
  readonly hold?: string;
  readonly concurrency?: string;
  readonly connections?: string;
  readonly interval?: string;
  readonly workers?: string;
}

export function limitsOf(args: AttackArguments, defaults: Partial<Limits> = {}): Limits {
  return {
    count: args.count === undefined ? (defaults.count ?? DEFAULT_COUNT) : parseCount(args.count),
    durationMs:
      args.duration === undefined
        ? (defaults.durationMs ?? DEFAULT_DURATION_MS)
        : parseDuration(args.duration),
    rate: args.rate === undefined ? (defaults.rate ?? DEFAULT_RATE) : parseRate(args.rate),
  };
}

/** --source ADDR or --sources RANGE (not both), held to loopback like the target. */
export function sourceRangeOf(args: AttackArguments): AddressRange | undefined {
  if (args.source !== undefined && args.sources !== undefined) {
    throw attackError('SW_ERR_ATTACK_OPTION', 'give --source or --sources, not both');
  }
  const text = args.sources ?? args.source;
  if (text === undefined) return undefined;
  const range = parseAddressRange(text);
  if (!args.allowRemote && !isLoopbackRange(range)) {
    throw attackError(
      'SW_ERR_ATTACK_REMOTE_REFUSED',
      `source ${text} is not loopback: pools of source addresses are for loopback tests (127.0.0.0/8) unless --allow-remote`,
    );
  }
  return range;
}

function choice<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
  name: string,
): T {
  if (value === undefined) return fallback;
  const upper = value.toUpperCase();
  const found = allowed.find((a) => a.toUpperCase() === upper);
  if (found === undefined)
    throw attackError('SW_ERR_ATTACK_OPTION', `${name} ${value}: must be one of ${allowed.join(', ')}`);
  return found;
}

function requireTarget(args: AttackArguments): string {
  if (args.target === undefined) throw attackError('SW_ERR_ATTACK_OPTION', '--target HOST:PORT is required');
  return args.target;
}

async function commonOf(args: AttackArguments, defaults: Partial<Limits> = {}): Promise<CommonOptions> {
  const target = await resolveTarget(requireTarget(args), args.allowRemote === true);
  const sources = sourceRangeOf(args);
  return {
    target,
    limits: limitsOf(args, defaults),
    ...(args.wait === undefined ? {} : { answerWaitMs: parseDuration(args.wait, '--wait', 60_000) }),
    ...(sources === undefined ? {} : { sources }),
    ...(args.maxSources === undefined
      ? {}
      : { maxSources: parseCount(args.maxSources, '--max-sources', 65_536) }),
    ...(args.userAgent === undefined ? {} : { userAgent: args.userAgent }),
    ...(args.seed === undefined ? {} : { seed: parseCount(args.seed, '--seed', 0x7fffffff) }),
  };
}

const FLOOD_METHODS: Readonly<Partial<Record<AttackKind, FloodMethod>>> = {
  'invite-flood': 'INVITE',
  'register-flood': 'REGISTER',
  'options-flood': 'OPTIONS',
};

export async function runAttack(
  kind: AttackKind,
  args: AttackArguments,
  signal?: AbortSignal,
): Promise<AttackReport> {
  const withSignal = <T extends object>(options: T): T => (signal ? { ...options, signal } : options);
  const floodMethod = FLOOD_METHODS[kind];
  if (floodMethod !== undefined) {
    const common = await commonOf(args);
    const options = withSignal({
      ...common,
      method: floodMethod,
      ...(args.user === undefined ? {} : { user: args.user }),
      ...(args.callId === undefined ? {} : { callId: args.callId }),
    });
    if (args.workers === undefined) return runFlood(options);
    // Several threads: for the highest rates, unpaced floods need a large send buffer.
    return runFloodWorkers({
      ...options,
      workers: parseCount(args.workers, '--workers', MAX_FLOOD_WORKERS),
      ...(options.limits.rate === 0 ? { sendBufferBytes: 4 * 1024 * 1024 } : {}),
    });
  }
  switch (kind) {
    case 'scan': {
      const ports = args.ports === undefined ? undefined : parsePortList(args.ports);
      const scan = resolveScanTarget(requireTarget(args), ports, args.allowRemote === true);
      const sources = sourceRangeOf(args);
      return runScan(
        withSignal({
          scan,
          limits: limitsOf(args, { count: 65_536 }),
          ...(args.wait === undefined ? {} : { answerWaitMs: parseDuration(args.wait, '--wait', 60_000) }),
          ...(sources === undefined ? {} : { sources }),
          ...(args.userAgent === undefined ? {} : { userAgent: args.userAgent }),
          ...(args.seed === undefined ? {} : { seed: parseCount(args.seed, '--seed', 0x7fffffff) }),
        }),
      );
    }
    case 'enumerate': {
      const users = parseUserList(args.users ?? '100-199');
      const common = await commonOf(args, { count: users.length });
      const method = choice<EnumerateMethod>(
        args.method,
        ['REGISTER', 'INVITE', 'OPTIONS'],
        'REGISTER',
        '--method',
      );
      return runEnumerate(withSignal({ ...common, method, users }));
    }
    case 'crack': {
      if (args.user === undefined)
        throw attackError('SW_ERR_ATTACK_OPTION', 'crack needs --user NAME (the account to guess)');
      if (args.wordlist !== undefined && args.passwords !== undefined) {
        throw attackError('SW_ERR_ATTACK_OPTION', 'give --wordlist or --passwords, not both');
      }
      const words =
        args.wordlist !== undefined
          ? readWordlist(args.wordlist)
          : args.passwords !== undefined
            ? wordsOf(args.passwords.split(','), '--passwords')
            : defaultWords(args.user);
      const common = await commonOf(args, { count: words.length, rate: 20 });
      return runCrack(withSignal({ ...common, user: args.user, words }));
    }
    case 'bye-spoof':
      return runByeSpoof(withSignal(await thirdPartyOf(args, { count: 3 })));
    case 'response-inject':
      return runResponseInject(withSignal(await thirdPartyOf(args, { count: 10 })));
    case 'spit': {
      const users = parseUserList(args.users ?? '100-199');
      const common = await thirdPartyOf(args, { count: 50, rate: 10 });
      return runSpit(
        withSignal({
          ...common,
          users,
          holdMs: args.hold === undefined ? 500 : parseDuration(args.hold, '--hold', 60_000),
          concurrency:
            args.concurrency === undefined ? 20 : parseCount(args.concurrency, '--concurrency', 1000),
        }),
      );
    }
    case 'malformed': {
      const common = await thirdPartyOf(args, { rate: 200 });
      return runMalformed(
        withSignal({
          ...common,
          batch: args.batch === undefined ? 20 : parseCount(args.batch, '--batch', 100_000),
        }),
      );
    }
    case 'tcp-exhaust': {
      const common = await commonOf(args, { rate: 50 });
      return runTcpExhaust(
        withSignal({
          ...common,
          connections:
            args.connections === undefined ? 100 : parseCount(args.connections, '--connections', 10_000),
          intervalMs: args.interval === undefined ? 1000 : parseDuration(args.interval, '--interval', 60_000),
        }),
      );
    }
    default:
      throw attackError('SW_ERR_ATTACK_OPTION', `${kind}: not available yet`);
  }
}

/** The caller, our own callee (--uas) and the forger's address, each held to loopback. */
async function thirdPartyOf(args: AttackArguments, defaults: Partial<Limits>): Promise<ThirdPartyOptions> {
  const common = await commonOf(args, defaults);
  const uas = args.uas === undefined ? undefined : await resolveTarget(args.uas, args.allowRemote === true);
  let spoofSource: string | undefined;
  if (args.spoofSource !== undefined) {
    const range = parseAddressRange(args.spoofSource);
    if (range.size !== 1) throw attackError('SW_ERR_ATTACK_OPTION', '--spoof-source takes one address');
    if (!args.allowRemote && !isLoopbackRange(range)) {
      throw attackError('SW_ERR_ATTACK_REMOTE_REFUSED', `--spoof-source ${args.spoofSource} is not loopback`);
    }
    spoofSource = range.at(0);
  }
  return {
    ...common,
    ...(uas === undefined ? {} : { uas }),
    ...(spoofSource === undefined ? {} : { spoofSource }),
  };
}
