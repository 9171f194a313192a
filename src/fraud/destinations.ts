/**
 * The destination table: which category (premium, international, high-risk, satellite,
 * domestic...) a dialled number belongs to, by the longest matching prefix of its E.164
 * digits. Shipped as data (data/destinations.csv, an example to edit) and loaded once at
 * start from a configurable path; the file is bounded in size and rows, and every row is
 * checked, each problem reported as `path:line: reason`.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The table shipped with sipwarden (an example: copy it and point the config at the copy). */
export const SHIPPED_DESTINATIONS = fileURLToPath(new URL('../../data/destinations.csv', import.meta.url));

/** E.164 (ITU-T E.164 section 6): at most 15 digits, country code included. */
export const MAX_E164_DIGITS = 15;
/** Largest table file read; a bigger one is refused rather than read into memory. */
export const MAX_TABLE_BYTES = 4 * 1024 * 1024;
const MAX_DESCRIPTION = 200;

const PREFIX = /^\d{1,15}$/;
export const CATEGORY = /^[a-z][a-z0-9-]{0,31}$/;

export interface Destination {
  readonly prefix: string;
  readonly category: string;
  readonly description: string;
}

export class DestinationTable {
  readonly #byPrefix: ReadonlyMap<string, Destination>;
  readonly #longest: number;

  constructor(rows: readonly Destination[]) {
    const map = new Map<string, Destination>();
    let longest = 0;
    for (const row of rows) {
      map.set(row.prefix, row);
      longest = Math.max(longest, row.prefix.length);
    }
    this.#byPrefix = map;
    this.#longest = longest;
  }

  get size(): number {
    return this.#byPrefix.size;
  }

  /** The categories the table names. */
  categories(): Set<string> {
    return new Set([...this.#byPrefix.values()].map((row) => row.category));
  }

  /** The row of the longest prefix of `digits` (E.164, no `+`); at most 15 lookups. */
  match(digits: string): Destination | undefined {
    for (let length = Math.min(this.#longest, digits.length); length > 0; length--) {
      const row = this.#byPrefix.get(digits.slice(0, length));
      if (row !== undefined) return row;
    }
    return undefined;
  }
}

export type TableResult =
  | { readonly ok: true; readonly table: DestinationTable }
  | { readonly ok: false; readonly errors: readonly string[] };

/** At most this many problems are listed; the rest are summed up in one line. */
const MAX_ERRORS = 20;

/**
 * Parses the CSV text of a table (`prefix,category,description`; `#` comments, blank lines
 * and a `prefix,category,description` header skipped). Errors name `path:line`.
 */
export function parseDestinations(text: string, path: string, maxRows: number): TableResult {
  const errors: string[] = [];
  const rows: Destination[] = [];
  const seen = new Map<string, number>();
  let skipped = 0;
  const fail = (line: number, reason: string) => {
    if (errors.length < MAX_ERRORS) errors.push(`${path}:${line}: ${reason}`);
    else skipped++;
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const number = i + 1;
    if (line === '' || line.startsWith('#')) continue;
    if (/^prefix\s*,\s*category\s*,/i.test(line) && rows.length === 0 && seen.size === 0) continue;
    const first = line.indexOf(',');
    const second = first < 0 ? -1 : line.indexOf(',', first + 1);
    if (second < 0) {
      fail(number, 'expected prefix,category,description');
      continue;
    }
    const prefix = line.slice(0, first).trim().replace(/^\+/, '');
    const category = line.slice(first + 1, second).trim();
    const description = line.slice(second + 1).trim();
    if (!PREFIX.test(prefix)) {
      fail(
        number,
        `prefix ${JSON.stringify(prefix.slice(0, 40))} must be 1 to 15 digits (E.164, country code first)`,
      );
      continue;
    }
    if (!CATEGORY.test(category)) {
      fail(
        number,
        `category ${JSON.stringify(category.slice(0, 40))} must be a lower-case word (letters, digits, dashes)`,
      );
      continue;
    }
    if (description.length > MAX_DESCRIPTION || /[^\x20-\x7e]/.test(description)) {
      fail(number, `description must be at most ${MAX_DESCRIPTION} printable ASCII characters`);
      continue;
    }
    const earlier = seen.get(prefix);
    if (earlier !== undefined) {
      fail(number, `prefix ${prefix} is listed already on line ${earlier}`);
      continue;
    }
    if (rows.length >= maxRows) {
      fail(number, `more than ${maxRows} rows (destinations.maxRows)`);
      break;
    }
    seen.set(prefix, number);
    rows.push({ prefix, category, description });
  }
  if (skipped > 0) errors.push(`${path}: ${skipped} more problems not listed`);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, table: new DestinationTable(rows) };
}

/** Reads and parses the table at `path`; a missing, unreadable or oversized file is one error naming it. */
export function loadDestinations(path: string, maxRows: number): TableResult {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_TABLE_BYTES) {
      return {
        ok: false,
        errors: [`${path}: ${size} bytes, over the ${MAX_TABLE_BYTES} bytes a table may have`],
      };
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return {
      ok: false,
      errors: [`${path}: cannot read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`],
    };
  }
  return parseDestinations(text, path, maxRows);
}
