/**
 * Reloading the configuration of a running gateway (SIGHUP, `sipwarden reload`,
 * POST /api/config/reload). One reload at a time, in four steps:
 *
 *  1. read the file again (with the command line's overrides of the start) and check it
 *     fully, as `check-config` does: the same `path: reason` lines refuse it;
 *  2. compare it with the running configuration (config-changes.ts): a change to a key that
 *     needs a restart refuses the whole reload, naming the keys;
 *  3. prepare every live part aside (the new security pipeline, the certificate files read
 *     and the TLS context built); any failure refuses the reload;
 *  4. commit: the TLS context first (the one step that can still refuse), then the rest, by
 *     swapping references. Transactions, dialogs, registrations, blocks, trust and activity
 *     counters live outside what is swapped, so nothing in flight is dropped.
 *
 * The running configuration stays whenever a reload is refused. Every reload, applied or
 * refused, is logged and audited (`config.reload`).
 */
import type { AuditLog } from '../audit/audit-log.ts';
import type { SipwardenConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { configChanges } from './config-changes.ts';

/** Who asked for the reload, for the audit log. */
export interface ReloadOrigin {
  /** An account name, `local` (a signal, the unix socket) or `-`. */
  readonly actor: string;
  readonly address: string;
  readonly via: 'signal' | 'api';
}

export type ReloadResult =
  | {
      readonly ok: true;
      /** The keys applied (`tls.certificate` when only the certificate files' content changed). */
      readonly changed: readonly string[];
      /** What the operator must know: something the reload could not reach. */
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly errors: readonly string[] };

/** The configuration as the start built it: the file again with the same overrides, or its errors. */
export type ConfigSource = () =>
  | { readonly ok: true; readonly config: SipwardenConfig }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * One live part of the gateway. prepare() builds what `next` needs without touching the
 * running part and returns its commit (undefined when nothing changes for it); it throws
 * ReloadRefusedError, or any Error whose message is the line to show.
 */
export interface LivePart {
  readonly name: string;
  prepare(next: SipwardenConfig, changed: readonly string[]): PreparedChange | undefined;
}

export interface PreparedChange {
  /** Keys this change applies, for the answer and the audit. */
  readonly keys: readonly string[];
  readonly warnings?: readonly string[];
  /** Applies it. Only a part marked `mayFail` may throw, and it then changes nothing. */
  commit(): void;
  readonly mayFail?: boolean;
}

export class ReloadRefusedError extends Error {
  readonly lines: readonly string[];
  constructor(lines: readonly string[]) {
    super(lines.join('; '));
    this.name = 'ReloadRefusedError';
    this.lines = lines;
  }
}

export interface ReloaderOptions {
  readonly source: ConfigSource;
  /** The checks beyond the schema (each stage's settings, the policy): check-config's lines. */
  readonly check: (config: SipwardenConfig) => string[];
  readonly initial: SipwardenConfig;
  readonly parts: readonly LivePart[];
  readonly log: Logger;
  readonly audit?: AuditLog;
  /** The file reloaded, for the audit (`embedded defaults` without one). */
  readonly configFile?: string;
}

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: SipwardenConfig;
  #queue: Promise<unknown> = Promise.resolve();
  #reloads = 0;
  #refused = 0;

  constructor(options: ReloaderOptions) {
    this.#options = options;
    this.#running = options.initial;
  }

  /** The configuration in force. */
  get running(): SipwardenConfig {
    return this.#running;
  }

  stats(): { readonly reloads: number; readonly refused: number } {
    return { reloads: this.#reloads, refused: this.#refused };
  }

  /** Reloads after any reload under way; never rejects. */
  reload(origin: ReloadOrigin): Promise<ReloadResult> {
    const next = this.#queue.then(() => this.#reloadNow(origin));
    this.#queue = next;
    return next;
  }

  #reloadNow(origin: ReloadOrigin): ReloadResult {
    let result: ReloadResult;
    try {
      result = this.#apply();
    } catch (error) {
      result = {
        ok: false,
        errors: error instanceof ReloadRefusedError ? [...error.lines] : [messageOf(error)],
      };
    }
    const { log, audit } = this.#options;
    const target = this.#options.configFile ?? 'embedded defaults';
    if (result.ok) {
      this.#reloads += 1;
      log.info(
        {
          changed: result.changed,
          ...(result.warnings.length > 0 ? { warnings: result.warnings } : {}),
          via: origin.via,
          actor: origin.actor,
        },
        result.changed.length === 0 ? 'configuration reloaded: nothing changed' : 'configuration reloaded',
      );
      for (const warning of result.warnings)
        log.warn({ via: origin.via }, `configuration reload: ${warning}`);
    } else {
      this.#refused += 1;
      log.error(
        { errors: result.errors, via: origin.via, actor: origin.actor },
        'configuration reload refused; the running configuration stays',
      );
    }
    audit?.record({
      actor: origin.actor,
      address: origin.address,
      action: 'config.reload',
      target,
      detail: result.ok
        ? { via: origin.via, changed: result.changed, warnings: result.warnings }
        : { via: origin.via, errors: result.errors.slice(0, 20) },
      outcome: result.ok ? 'ok' : 'refused',
    });
    return result;
  }

  #apply(): ReloadResult {
    const read = this.#options.source();
    if (!read.ok) throw new ReloadRefusedError(read.errors);
    const next = read.config;
    const issues = this.#options.check(next);
    if (issues.length > 0) throw new ReloadRefusedError(issues);
    const changes = configChanges(this.#running, next);
    if (changes.restart.length > 0) {
      throw new ReloadRefusedError(
        changes.restart.map(
          (key) =>
            `${key}: changed, and it applies only at a start: restart sipwarden for it (nothing was reloaded)`,
        ),
      );
    }
    const prepared: PreparedChange[] = [];
    for (const part of this.#options.parts) {
      const change = part.prepare(next, changes.live);
      if (change !== undefined) prepared.push(change);
    }
    // The change that can still fail goes first: after it, every commit is an assignment.
    prepared.sort((a, b) => Number(b.mayFail === true) - Number(a.mayFail === true));
    for (const change of prepared) change.commit();
    this.#running = next;
    const changed = [...new Set([...changes.live, ...prepared.flatMap((change) => change.keys)])].sort();
    return { ok: true, changed, warnings: prepared.flatMap((change) => change.warnings ?? []) };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
