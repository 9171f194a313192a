/**
 * Users from a CSV file, for `sipwarden users import`. The header row names the columns:
 * `user` and `domain`, then either `password` or both `ha1_md5` and `ha1_sha256`, and
 * optionally `groups`, `roles`, `organisation`, `allowed_networks` (lists separated by `;`)
 * and `enabled` (true/false). Every row is checked before anything is written; the bad ones
 * are reported by line number.
 */
import type { StoredUser } from '../user-directory.ts';
import { CsvError, parseCsv } from './csv.ts';
import { splitList } from './user-fields.ts';
import { buildUser } from './user-input.ts';

/** Rows of a file at most (a header row aside). */
export const MAX_IMPORT_ROWS = 100_000;
/** Bytes of a file at most. */
export const MAX_IMPORT_BYTES = 64 * 1024 * 1024;
/** Problems reported at most; the rest are counted. */
const MAX_REPORTED = 50;

const COLUMNS = [
  'user',
  'domain',
  'password',
  'ha1_md5',
  'ha1_sha256',
  'groups',
  'roles',
  'organisation',
  'allowed_networks',
  'enabled',
] as const;
type Column = (typeof COLUMNS)[number];

export type CsvUsersResult =
  | { readonly ok: true; readonly users: readonly StoredUser[] }
  | { readonly ok: false; readonly errors: readonly string[] };

export function parseUsersCsv(text: string): CsvUsersResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_IMPORT_BYTES) {
    return { ok: false, errors: [`the file is larger than ${MAX_IMPORT_BYTES} bytes`] };
  }
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text, {
      maxRecords: MAX_IMPORT_ROWS + 1,
      maxFields: COLUMNS.length,
      maxFieldLength: 4096,
    });
  } catch (error) {
    if (error instanceof CsvError) return { ok: false, errors: [error.message] };
    throw error;
  }
  const header = records[0];
  if (header === undefined) return { ok: false, errors: ['the file is empty (a header row is needed)'] };
  const columns = headerColumns(header.fields);
  if (!columns.ok)
    return { ok: false, errors: columns.errors.map((error) => `line ${header.line}: ${error}`) };
  const index = columns.value;

  const errors: string[] = [];
  let more = 0;
  const report = (line: number, messages: readonly string[]): void => {
    for (const message of messages) {
      if (errors.length < MAX_REPORTED) errors.push(`line ${line}: ${message}`);
      else more++;
    }
  };
  const users: StoredUser[] = [];
  const seen = new Map<string, number>();
  for (const record of records.slice(1)) {
    const get = (column: Column): string | undefined => {
      const at = index.get(column);
      return at === undefined ? undefined : (record.fields[at] ?? '');
    };
    if (record.fields.length !== index.size) {
      report(record.line, [`${record.fields.length} fields where the header has ${index.size}`]);
      continue;
    }
    const password = get('password');
    const credentials =
      password !== undefined
        ? { password }
        : { ha1Md5: get('ha1_md5') ?? '', ha1Sha256: get('ha1_sha256') ?? '' };
    const list = (column: Column): string[] | undefined => {
      const value = get(column);
      return value === undefined ? undefined : splitList(value, ';');
    };
    const enabledText = get('enabled')?.trim().toLowerCase();
    let enabled: boolean | undefined;
    if (enabledText !== undefined && enabledText !== '') {
      if (enabledText === 'true' || enabledText === 'yes' || enabledText === '1') enabled = true;
      else if (enabledText === 'false' || enabledText === 'no' || enabledText === '0') enabled = false;
      else {
        report(record.line, ['enabled: must be true or false']);
        continue;
      }
    }
    const organisation = get('organisation');
    const groups = list('groups');
    const roles = list('roles');
    const allowedNetworks = list('allowed_networks');
    const built = buildUser(get('user') ?? '', get('domain') ?? '', credentials, {
      ...(groups === undefined ? {} : { groups }),
      ...(roles === undefined ? {} : { roles }),
      ...(organisation === undefined ? {} : { organisation }),
      ...(allowedNetworks === undefined ? {} : { allowedNetworks }),
      ...(enabled === undefined ? {} : { enabled }),
    });
    if (!built.ok) {
      report(record.line, built.errors);
      continue;
    }
    const key = `${built.value.user}@${built.value.domain}`;
    const first = seen.get(key);
    if (first !== undefined) {
      report(record.line, [`${key} is on line ${first} already`]);
      continue;
    }
    seen.set(key, record.line);
    users.push(built.value);
  }
  if (more > 0) errors.push(`... and ${more} more`);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, users };
}

function headerColumns(
  fields: readonly string[],
): { ok: true; value: Map<Column, number> } | { ok: false; errors: string[] } {
  const index = new Map<Column, number>();
  const errors: string[] = [];
  fields.forEach((field, at) => {
    const name = field.trim().toLowerCase();
    if (!(COLUMNS as readonly string[]).includes(name)) {
      errors.push(`unknown column ${JSON.stringify(name.slice(0, 40))} (known: ${COLUMNS.join(', ')})`);
    } else if (index.has(name as Column)) {
      errors.push(`column ${name} appears twice`);
    } else {
      index.set(name as Column, at);
    }
  });
  for (const required of ['user', 'domain'] as const) {
    if (!index.has(required)) errors.push(`the header has no ${required} column`);
  }
  const password = index.has('password');
  const ha1 = index.has('ha1_md5') || index.has('ha1_sha256');
  if (password && ha1) errors.push('the header has both password and HA1 columns: use one or the other');
  else if (!password && !(index.has('ha1_md5') && index.has('ha1_sha256'))) {
    errors.push('the header needs a password column, or both ha1_md5 and ha1_sha256');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: index };
}
