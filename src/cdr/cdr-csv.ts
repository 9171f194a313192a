/**
 * Call detail records as CSV (RFC 4180): a header row of the column names, one row per
 * record, CRLF line ends, times as ISO 8601 UTC, empty fields for absent values. A field
 * that starts like a spreadsheet formula (= + - @) is quoted with a leading apostrophe,
 * since signalled user names come from the network.
 */
import { type CallDetailRecord, CDR_COLUMNS } from './cdr.ts';

const TIME_COLUMNS = new Set<string>(['startTime', 'answerTime', 'endTime']);

export function cdrCsv(records: readonly CallDetailRecord[]): string {
  const lines = [CDR_COLUMNS.join(',')];
  for (const record of records) {
    lines.push(CDR_COLUMNS.map((column) => field(column, record[column])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function field(column: string, value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number')
    return TIME_COLUMNS.has(column) ? new Date(value).toISOString() : String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
