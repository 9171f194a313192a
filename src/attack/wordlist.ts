/**
 * Password candidates for `crack`: a file (one per line), a comma list, or the built-in
 * list of passwords seen in SIP brute-force campaigns. Bounded in lines and line length.
 */
import { readFileSync } from 'node:fs';
import { attackError } from './errors.ts';

export const MAX_WORDS = 1_000_000;
const MAX_WORD_BYTES = 256;
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Common weak SIP passwords; the user name and simple variants are added at run time. */
export const COMMON_PASSWORDS: readonly string[] = [
  '1234',
  '12345',
  '123456',
  '1234567',
  '12345678',
  '123456789',
  '0000',
  '1111',
  '111111',
  'password',
  'Password1',
  'pass',
  'secret',
  'sip',
  'voip',
  'asterisk',
  'admin',
  'qwerty',
  'abc123',
  'letmein',
  'welcome',
  '654321',
  '000000',
  '9999',
  'changeme',
  'default',
  'test',
  'phone',
  'freepbx',
  'pbx',
];

export function readWordlist(path: string): string[] {
  let text: string;
  try {
    const data = readFileSync(path);
    if (data.length > MAX_FILE_BYTES) {
      throw attackError('SW_ERR_ATTACK_WORDLIST', `${path}: larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
    }
    text = data.toString('utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'SW_ERR_ATTACK_WORDLIST') throw error;
    throw attackError('SW_ERR_ATTACK_WORDLIST', `${path}: cannot read the word list`);
  }
  return wordsOf(text.split(/\r?\n/), path);
}

export function wordsOf(lines: readonly string[], what: string): string[] {
  const words: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if (Buffer.byteLength(line) > MAX_WORD_BYTES) continue;
    words.push(line);
    if (words.length >= MAX_WORDS) break;
  }
  if (words.length === 0) throw attackError('SW_ERR_ATTACK_WORDLIST', `${what}: no password in the list`);
  return words;
}

/** The built-in list for one user: the user name and variants first, then the common ones. */
export function defaultWords(user: string): string[] {
  const variants = [user, `${user}${user}`, [...user].reverse().join(''), `${user}1`, `${user}123`];
  return [...new Set([...variants, ...COMMON_PASSWORDS])];
}
