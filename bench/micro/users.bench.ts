/**
 * User store micro-benchmark: lookups per second of SqliteUserStore.find (one prepared
 * statement against the database file per lookup, so that a user the `sipwarden users`
 * command writes is seen at once), with 10,000 users in a WAL file, against a Map of the
 * same users as the baseline taken in the same run (what a cache could at best give).
 * Interleaved rounds, medians. Writes bench/results/users.md.
 *
 *   node --import tsx bench/micro/users.bench.ts [--rounds 7] [--ms 150] [--no-write]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredUser } from '../../src/identity/user-directory.ts';
import { computeHa1s } from '../../src/identity/users/ha1.ts';
import { openUserStore } from '../../src/identity/users/user-store.ts';
import { median } from '../stats.ts';
import { numberArg, publish } from './cli.ts';

const rounds = numberArg('rounds', 7);
const msPerRun = numberArg('ms', 150);
const N = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'sipwarden-users-bench-'));
const store = openUserStore({ database: join(dir, 'events.db') });
const ha1s = computeHa1s('user', 'example.com', 'password');
const all: StoredUser[] = Array.from({ length: N }, (_, i) => ({
  user: `user${i}`,
  domain: 'example.com',
  ...ha1s,
  groups: ['staff', 'sales'],
  roles: ['caller'],
  organisation: 'ACME',
  allowedNetworks: ['10.0.0.0/8'],
  enabled: true,
}));
store.importUsers(all);
const map = new Map(all.map((u) => [`${u.user}@${u.domain}`, u]));
const names = all.map((u) => u.user);
const missing = all.map((_, i) => `nobody${i}`);

interface Candidate {
  readonly name: string;
  run(): number;
}

let cursor = 0;
let sink = 0;
const batch =
  (f: (i: number) => number): (() => number) =>
  () => {
    const start = cursor;
    cursor = (cursor + 100) % N;
    for (let i = start; i < start + 100; i++) sink += f(i);
    return 100;
  };

const candidates: Candidate[] = [
  {
    name: 'baseline: Map get',
    run: batch((i) => (map.get(`${names[i]!}@example.com`) === undefined ? 0 : 1)),
  },
  {
    name: 'find, known user',
    run: batch((i) => (store.find(names[i]!, 'example.com') === undefined ? 0 : 1)),
  },
  {
    name: 'find, unknown user',
    run: batch((i) => (store.find(missing[i]!, 'example.com') === undefined ? 0 : 1)),
  },
];

function measure(c: Candidate): number {
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(msPerRun * 1e6);
  let t = start;
  while (t < deadline) {
    for (let k = 0; k < 10; k++) ops += c.run();
    t = process.hrtime.bigint();
  }
  return ops / (Number(t - start) / 1e9);
}

const loadAtStart = loadavg()[0]!.toFixed(1);
for (const c of candidates) measure(c);
const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < candidates.length; k++) {
    const c = candidates[(k + r) % candidates.length]!;
    samples.get(c.name)!.push(measure(c));
  }
}
store.close();
rmSync(dir, { recursive: true, force: true });

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
const base = median(samples.get(candidates[0]!.name)!);
const rows = candidates.map((c) => {
  const xs = samples.get(c.name)!;
  const m = median(xs);
  return `| ${c.name} | ${fmt(m)} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} | ${(m / base).toFixed(3)}x | ${(1e9 / m).toFixed(0)} |`;
});
const report = [
  '# User store micro-benchmark',
  '',
  `${N.toLocaleString('en-US')} users in a SQLite file (WAL); ${rounds} interleaved rounds of about ${msPerRun} ms per`,
  'operation; lookups per second, median and range over the rounds.',
  `Machine: ${cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores, load ${loadAtStart} at start; Node ${process.version}.`,
  '',
  '| operation | lookups/s (median) | range | vs baseline | ns/lookup |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
publish(report, 'users.md', sink);
