/**
 * The scorecard assess prints: one row per attack with its verdict, whether the target
 * detected it (from its events API), after how many messages and seconds it was blocked,
 * how legitimate calls fared meanwhile, and whether the target was still alive after it.
 */
import type { AttackKind, AttackReport } from '../report.ts';
import type { CallCount } from './background-calls.ts';

export interface Blocked {
  readonly messages: number | null;
  readonly seconds: number | null;
  /** How it is known: the target went silent, or its API reported a block. */
  readonly by: 'silence' | 'api';
}

export type Verdict = 'succeeded' | 'stopped' | 'not-applicable' | 'error';

export interface ScorecardRow {
  /** Name in the table: the kind and its variant. */
  readonly attack: string;
  readonly kind: AttackKind;
  readonly verdict: Verdict;
  /** From the events API: null when no API was given. */
  readonly detected: boolean | null;
  readonly detectedAfterSeconds: number | null;
  readonly blocked: Blocked | null;
  readonly legitCalls: CallCount;
  readonly alive: boolean;
  /** How long the attack ran, legitimate calls and liveness check included. */
  readonly seconds: number;
  readonly outcome: string;
  /** The attack's own report (JSON output only). */
  readonly report?: AttackReport;
}

export interface Scorecard {
  readonly target: string;
  readonly api: string | null;
  readonly callee: string;
  readonly startedAt: string;
  readonly seconds: number;
  readonly rows: readonly ScorecardRow[];
  readonly summary: {
    readonly attacks: number;
    readonly succeeded: number;
    readonly stopped: number;
    readonly notApplicable: number;
    readonly errors: number;
    readonly aliveAtEnd: boolean;
  };
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function blockedText(blocked: Blocked | null): string {
  if (blocked === null) return 'no';
  const parts: string[] = [];
  if (blocked.messages !== null) parts.push(`${blocked.messages} msgs`);
  if (blocked.seconds !== null) parts.push(`${blocked.seconds} s`);
  return `${parts.join(', ') || 'yes'}${blocked.by === 'api' ? ' (api)' : ''}`;
}

const VERDICT_TEXT: Readonly<Record<Verdict, string>> = {
  succeeded: 'SUCCEEDED',
  stopped: 'stopped',
  'not-applicable': 'n/a',
  error: 'ERROR',
};

/** The scorecard as a table for a terminal, with the outcome of each attack under it. */
export function formatScorecard(card: Scorecard): string {
  const header = ['attack', 'result', 'detected', 'blocked after', 'legit calls', 'alive', 'time'];
  const widths = [28, 9, 9, 22, 11, 5, 6];
  const rows = card.rows.map((row) => [
    row.attack,
    VERDICT_TEXT[row.verdict],
    row.detected === null
      ? '-'
      : row.detected
        ? `yes${row.detectedAfterSeconds === null ? '' : ` ${row.detectedAfterSeconds}s`}`
        : 'no',
    blockedText(row.blocked),
    row.legitCalls.attempted === 0 ? '-' : `${row.legitCalls.succeeded}/${row.legitCalls.attempted}`,
    row.alive ? 'yes' : 'NO',
    `${row.seconds}s`,
  ]);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => pad(cell, widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [
    `sipwarden assess -> ${card.target} (callee: ${card.callee}; events API: ${card.api ?? 'none, blocks inferred from silence'})`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    ...card.rows.map((row) => `${pad(`${row.attack}:`, 29)} ${row.outcome}`),
    '',
    `${card.summary.attacks} attacks: ${card.summary.stopped} stopped, ${card.summary.succeeded} succeeded, ` +
      `${card.summary.notApplicable} not applicable${card.summary.errors > 0 ? `, ${card.summary.errors} errors` : ''}; ` +
      `target alive at the end: ${card.summary.aliveAtEnd ? 'yes' : 'NO'}; ${card.seconds} s`,
  ];
  return `${out.join('\n')}\n`;
}
