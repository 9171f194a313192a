/**
 * What every attack reports: what it sent, from how many addresses, what came back, whether
 * the target went silent (blocked it) and after how much, and whether the attack achieved
 * what it came for. Printed for people, or as JSON for CI.
 */
import type { AnswerSummary } from './tally.ts';

export const ATTACK_KINDS = [
  'invite-flood',
  'register-flood',
  'options-flood',
  'scan',
  'enumerate',
  'crack',
  'malformed',
  'bye-spoof',
  'response-inject',
  'tcp-exhaust',
  'spit',
] as const;

export type AttackKind = (typeof ATTACK_KINDS)[number];

export function isAttackKind(value: string): value is AttackKind {
  return (ATTACK_KINDS as readonly string[]).includes(value);
}

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

export interface SourceSummary {
  /** Distinct source addresses the run sent from. */
  readonly count: number;
  readonly first: string;
  readonly last: string;
}

export interface AttackReport {
  readonly kind: AttackKind;
  /** `127.0.0.1:5060`, or the swept range for a scan. */
  readonly target: string;
  readonly transport: 'udp' | 'tcp';
  readonly startedAt: string;
  /** Seconds from the first send to the end of the wait for answers. */
  readonly seconds: number;
  /** What one unit of `sent` is: `INVITE`, `probe`, `guess`, `call`, `connection`... */
  readonly unit: string;
  readonly rate: { readonly asked: number; readonly achieved: number };
  readonly sources: SourceSummary;
  readonly sendErrors: number;
  readonly answers: AnswerSummary;
  /** True when the attack got what it came for (the target did not stop it). */
  readonly succeeded: boolean;
  /** Whether the verdict applies: false when the target offers nothing this kind can attack. */
  readonly applicable: boolean;
  /** One sentence: the verdict and why. */
  readonly outcome: string;
  /** Kind-specific findings, for JSON. */
  readonly details: { readonly [key: string]: JsonValue };
  /** Kind-specific findings, for people: one line each. */
  readonly notes: readonly string[];
}

/** `INVITE` -> `INVITEs`, `guess` -> `guesses`. */
export function plural(unit: string, n: number): string {
  if (n === 1) return unit;
  // SIP methods stay as they are ("20 OPTIONS"), or take a plain s ("20 INVITEs").
  if (unit === unit.toUpperCase()) return unit.endsWith('S') ? unit : `${unit}s`;
  return /(s|x|ch|sh)$/.test(unit) ? `${unit}es` : `${unit}s`;
}

function formatStatuses(byStatus: Readonly<Record<string, number>>): string {
  const entries = Object.entries(byStatus).sort(([a], [b]) => Number(a) - Number(b));
  return entries.length === 0 ? 'none' : entries.map(([status, n]) => `${status}x${n}`).join(' ');
}

/** The report as lines for a terminal. */
export function formatReport(report: AttackReport): string {
  const a = report.answers;
  const sources =
    report.sources.count === 1
      ? `from ${report.sources.first}`
      : `from ${report.sources.count} source addresses (${report.sources.first} .. ${report.sources.last})`;
  const rate = report.rate.asked > 0 ? `${report.rate.asked}/s asked` : 'unpaced';
  const lines = [
    `${report.kind} -> ${report.target} (${report.transport})`,
    `  sent      ${a.sent} ${plural(report.unit, a.sent)} in ${report.seconds} s ` +
      `(${report.rate.achieved}/s, ${rate}) ${sources}` +
      (report.sendErrors > 0 ? `, ${report.sendErrors} send errors` : ''),
    `  answers   ${a.answered} answered (final: ${formatStatuses(a.byStatus)}` +
      `${a.provisionalOnly > 0 ? `; provisional only: ${a.provisionalOnly}` : ''}), ${a.silent} silent, ` +
      `${a.responses} responses in all${a.unmatched > 0 ? ` (${a.unmatched} unmatched)` : ''}`,
    `  blocked   ${
      a.blockedAfter
        ? `after ${a.blockedAfter.messages} ${plural(report.unit, a.blockedAfter.messages)}, ${a.blockedAfter.seconds} s (silent from then on)`
        : a.answered === 0 && a.sent > 0
          ? 'no answer at all'
          : 'no'
    }`,
  ];
  for (const note of report.notes) lines.push(`  ${note}`);
  const verdict = !report.applicable ? 'NOT APPLICABLE' : report.succeeded ? 'SUCCEEDED' : 'STOPPED';
  lines.push(`  result    ${verdict}: ${report.outcome}`);
  return `${lines.join('\n')}\n`;
}

export function sourceSummary(addresses: readonly string[]): SourceSummary {
  return {
    count: addresses.length,
    first: addresses[0] ?? '-',
    last: addresses.at(-1) ?? '-',
  };
}
