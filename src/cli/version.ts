import { readFileSync } from 'node:fs';

/** The version in package.json: two levels up from both src/cli and dist/cli. */
export function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed) {
      const { version } = parsed;
      if (typeof version === 'string') return version;
    }
  } catch {
    // Fall through: a missing package.json must not stop the program.
  }
  return 'unknown';
}
