/**
 * Plain-text tables of the management API's answers, for `sipwarden blocks` and
 * `sipwarden events`. Every cell is made printable first: text that reached an event from
 * the network (a user name in a key) never reaches the terminal as control characters.
 */
import { printable } from '../events/event-bus.ts';
import type { SecurityEvent } from '../events/types.ts';
import { formatDuration } from '../util/duration.ts';
import type { BlockView, HoldView } from './views.ts';

const MAX_CELL = 80;

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers, ...rows].map((row) => row.map((cell) => printable(cell, MAX_CELL)));
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** `2026-05-01 10:00:00Z`: UTC, to the second. */
export function formatTime(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

export function blocksTable(blocks: readonly BlockView[]): string {
  return renderTable(
    ['BLOCKED', 'SCOPE', 'RULE', 'EXPIRES', 'LEFT', 'HITS', 'REASON'],
    blocks.map((block) => [
      block.key,
      block.scope,
      block.rule,
      block.expiresAt === null ? 'never' : formatTime(Date.parse(block.expiresAt)),
      block.remainingSeconds === null ? '-' : formatDuration(block.remainingSeconds * 1000),
      String(block.hits),
      block.reason,
    ]),
  );
}

export function holdsTable(holds: readonly HoldView[]): string {
  return renderTable(
    ['HELD', 'VERIFIED', 'RULE', 'SINCE', 'REFUSED', 'REASON'],
    holds.map((hold) => [
      hold.identity,
      hold.verified ? 'yes' : 'no',
      hold.rule,
      formatTime(Date.parse(hold.since)),
      String(hold.refused),
      hold.reason,
    ]),
  );
}

export function eventsTable(events: readonly SecurityEvent[]): string {
  return renderTable(
    ['LAST SEEN', 'WHAT', 'SOURCE', 'KEY', 'RULE', 'COUNT', 'FIRST SEEN', 'REASON'],
    events.map((event) => [
      formatTime(event.lastSeen),
      `${event.type} ${event.action}`,
      event.source === undefined
        ? '-'
        : `${event.source.address.includes(':') ? `[${event.source.address}]` : event.source.address}:${event.source.port}/${event.source.transport}`,
      event.key ?? '-',
      event.rule ?? event.stage,
      String(event.count),
      formatTime(event.firstSeen),
      event.reason,
    ]),
  );
}
