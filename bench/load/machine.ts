/** What a benchmark result needs to say about where it ran. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly sipp: string;
  readonly kamailio: string;
  readonly commit: string;
  /** Files under src/ that differ from the commit (uncommitted work in the checkout). */
  readonly sourcesChanged: number;
  readonly loadAverage: string;
}

function firstLine(command: string, args: readonly string[], pattern?: RegExp): string {
  try {
    const text = execFileSync(command, [...args], { encoding: 'latin1', timeout: 5000, stdio: 'pipe' });
    const line = text.split('\n').find((l) => (pattern ? pattern.test(l) : l.trim() !== '')) ?? '';
    return line.trim();
  } catch (error) {
    // sipp -v exits non-zero but prints its version.
    const out = (error as { stdout?: string }).stdout ?? '';
    const line = out.split('\n').find((l) => (pattern ? pattern.test(l) : l.trim() !== '')) ?? 'unknown';
    return line.trim();
  }
}

export function loadAverageText(): string {
  return loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

export function machineInfo(repoRoot: string): MachineInfo {
  let commit = 'unknown';
  let sourcesChanged = 0;
  try {
    commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'latin1',
    }).trim();
    const status = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src'], {
      encoding: 'latin1',
    });
    sourcesChanged = status.split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    // not a checkout
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    sipp: firstLine('sipp', ['-v'], /SIPp v/),
    kamailio: firstLine('kamailio', ['-v'], /^version:/),
    commit,
    sourcesChanged,
    loadAverage: loadAverageText(),
  };
}

/** Resident set size of one process, in KiB (VmRSS in /proc/PID/status). */
export function residentKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Proportional set size of a process, in KiB (/proc/PID/smaps_rollup): shared pages are
 * divided among the processes that map them, so summing over Kamailio's workers counts its
 * shared memory once.
 */
export function proportionalKiB(pid: number): number | undefined {
  try {
    const rollup = readFileSync(join('/proc', String(pid), 'smaps_rollup'), 'latin1');
    const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds dist/ from the sources (`npm run build`), so that bin/sipwarden.js runs the build,
 * as an installed package does, and not the sources through tsx (which cost more CPU per
 * message). Benchmarks call it before their first start.
 */
export function buildSipwarden(repoRoot: string): void {
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.build.json')], {
    stdio: 'inherit',
    timeout: 300_000,
  });
}
