/** What the micro-benchmarks share: their numeric flags and where their report goes. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The number after `--name` on the command line, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/**
 * Prints the report and, unless `--no-write`, keeps it as bench/results/FILE. `sink` is the
 * value the measured loops accumulated: printing it when it cannot happen (negative) keeps
 * the loops from being optimised away.
 */
export function publish(report: string, file: string, sink: number): void {
  process.stdout.write(report);
  if (!process.argv.includes('--no-write'))
    writeFileSync(join(import.meta.dirname, '..', 'results', file), report);
  if (sink < 0) process.stdout.write(String(sink));
}
