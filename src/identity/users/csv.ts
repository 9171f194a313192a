/**
 * A small CSV reader (RFC 4180: comma-separated fields, double-quoted fields may hold
 * commas, line breaks and "" for a quote; CRLF or LF line ends), bounded in records and
 * fields, that remembers the line each record starts on so errors can name it.
 */

export interface CsvRecord {
  /** 1-based line of the file where the record starts. */
  readonly line: number;
  readonly fields: readonly string[];
}

export interface CsvLimits {
  readonly maxRecords: number;
  readonly maxFields: number;
  readonly maxFieldLength: number;
}

export class CsvError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
    this.line = line;
  }
}

/** The records of the text, blank lines skipped. Throws CsvError on a malformed file or a limit passed. */
export function parseCsv(text: string, limits: CsvLimits): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark some spreadsheets write
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let ended = false;
    while (!ended) {
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new CsvError(start, 'a quoted field is not closed');
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
          if (field.length > limits.maxFieldLength) throw new CsvError(start, 'a field is too long');
        }
        const after = text[i];
        if (after !== undefined && after !== ',' && after !== '\n' && after !== '\r') {
          throw new CsvError(line, 'text after a closing quote');
        }
      }
      while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        if (text[i] === '"') throw new CsvError(line, 'a quote inside an unquoted field');
        field += text[i];
        i++;
        if (field.length > limits.maxFieldLength) throw new CsvError(start, 'a field is too long');
      }
      fields.push(field);
      field = '';
      if (fields.length > limits.maxFields) throw new CsvError(start, `more than ${limits.maxFields} fields`);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      ended = true;
    }
    if (fields.length === 1 && fields[0]!.trim() === '') continue;
    if (records.length >= limits.maxRecords)
      throw new CsvError(start, `more than ${limits.maxRecords} records`);
    records.push({ line: start, fields });
  }
  return records;
}
