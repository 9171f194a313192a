/**
 * Temporary directories for daemons' configs, pid files and traces: all under one root per
 * test process, removed when the process exits (set SW_KEEP_TMP=1 to keep them for a look).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | undefined;

function ensureRoot(): string {
  if (root) return root;
  root = mkdtempSync(join(tmpdir(), `sw-interop-${process.pid}-`));
  const created = root;
  process.on('exit', () => {
    if (process.env.SW_KEEP_TMP === '1') return;
    rmSync(created, { recursive: true, force: true });
  });
  return created;
}

/** A new empty directory, `prefix` in its name, under this process's temporary root. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(ensureRoot(), `${prefix}-`));
  mkdirSync(dir, { recursive: true });
  return dir;
}
