/** Shared pieces of the attack interop tests: the bare sipp UAS and the CLI. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../harness/ports.ts';
import { type SippRun, startSipp } from '../harness/sipp.ts';
import { REPO_ROOT, SIPWARDEN_BIN } from '../harness/sipwarden.ts';

export const BARE_UAS_SCENARIO = join(import.meta.dirname, 'scenarios', 'uas-bare.xml');

/** sipp answering everything, with no defence: what an undefended PBX looks like. */
export async function startBareUas(timeoutS = 120): Promise<{ run: SippRun; port: number }> {
  const port = await freePort();
  const run = await startSipp({
    scenario: BARE_UAS_SCENARIO,
    localPort: port,
    timeoutS,
    name: 'sipp-bare-uas',
  });
  await run.ready();
  return { run, port };
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node bin/sipwarden.js ...args` to completion. */
export function sipwarden(args: readonly string[], timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SIPWARDEN_BIN, ...args],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
