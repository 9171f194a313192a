/**
 * Parser micro-benchmark: messages per second of sipwarden's parser against the npm SIP
 * parsers `jssip` (Parser.parseMessage) and `sip` (sip.parse) on a fixed corpus of realistic
 * messages, in interleaved rounds in one process. Reports medians and the ratio of sipwarden
 * to the faster of the two, and writes bench/results/parser.md.
 *
 *   node --import tsx bench/micro/parser.bench.ts [--rounds 31] [--ms 60] [--no-write]
 *
 * The baselines get their input as a ready string (their API), sipwarden gets the Buffer a
 * socket delivers, so sipwarden's time includes the byte-to-text step theirs does not.
 *
 * sipwarden is measured as it ships: the script first builds dist/ with tsc
 * (tsconfig.build.json, what `npm run build` and `npm ci` run; bin/sipwarden.js runs that
 * build) and imports the parser from there, not the sources through tsx.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../stats.ts';
import { numberArg, publish } from './cli.ts';

const repoRoot = join(import.meta.dirname, '..', '..');
try {
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.build.json')], {
    stdio: 'inherit',
    timeout: 300_000,
  });
} catch {
  // tsc still writes every file when it reports type errors (noEmitOnError is off), so an
  // error elsewhere in the tree leaves the parser's build current; say so and go on.
  process.stderr.write('parser bench: tsc reported errors; measuring the files it emitted\n');
}
/** A module of the build, typed as its source. */
async function built<T>(module: string): Promise<T> {
  return (await import(pathToFileURL(join(repoRoot, 'dist', 'sip', module)).href)) as T;
}
const { parseMessage } = await built<typeof import('../../src/sip/parse.ts')>('parse.js');
const { serializeMessage } = await built<typeof import('../../src/sip/serialize.ts')>('serialize.js');
const { validateMessage } = await built<typeof import('../../src/sip/validate.ts')>('validate.js');

const require = createRequire(import.meta.url);
const jssipParser = require('jssip/lib/Parser') as {
  parseMessage(data: string, ua: object): object | undefined;
};
const sipLib = require('sip') as { parse(data: string): object | undefined };

const rounds = numberArg('rounds', 31);
const msPerRun = numberArg('ms', 60);

const loadAtStart = loadavg();
const corpusDir = join(import.meta.dirname, 'corpus');
const files = readdirSync(corpusDir)
  .filter((f) => f.endsWith('.sip'))
  .sort();
const buffers = files.map((f) => readFileSync(join(corpusDir, f)));
const strings = buffers.map((b) => b.toString('utf8'));
const ua = {};

let sink = 0;
interface Candidate {
  readonly name: string;
  readonly baseline: boolean;
  /** Parses every corpus message once; returns how many parsed. */
  readonly run: () => number;
}

const candidates: Candidate[] = [
  {
    name: 'sipwarden parseMessage',
    baseline: false,
    run: () => {
      let n = 0;
      for (const b of buffers) if (parseMessage(b).ok) n++;
      return n;
    },
  },
  {
    name: 'sipwarden parse + validate',
    baseline: false,
    run: () => {
      let n = 0;
      for (const b of buffers) {
        const r = parseMessage(b);
        if (r.ok && validateMessage(r.message).ok) n++;
      }
      return n;
    },
  },
  {
    name: 'sipwarden parse + serialize',
    baseline: false,
    run: () => {
      let n = 0;
      for (const b of buffers) {
        const r = parseMessage(b);
        if (r.ok) {
          sink += serializeMessage(r.message).length;
          n++;
        }
      }
      return n;
    },
  },
  {
    name: 'jssip Parser.parseMessage',
    baseline: true,
    run: () => {
      let n = 0;
      for (const s of strings) if (jssipParser.parseMessage(s, ua) !== undefined) n++;
      return n;
    },
  },
  {
    name: 'sip (npm) parse',
    baseline: true,
    run: () => {
      let n = 0;
      for (const s of strings) if (sipLib.parse(s) !== undefined) n++;
      return n;
    },
  },
];

// Every parser must understand every corpus message, or the comparison means nothing.
for (const c of candidates) {
  const n = c.run();
  if (n !== files.length) throw new Error(`${c.name} parsed ${n} of ${files.length} corpus messages`);
}

/** Runs `c` for about msPerRun milliseconds; returns messages per second. */
function measure(c: Candidate): number {
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(msPerRun * 1e6);
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 20; k++) c.run();
    iterations += 20;
    now = process.hrtime.bigint();
  }
  return (iterations * files.length) / (Number(now - start) / 1e9);
}

// Warm up every candidate, then interleave: each round runs each candidate once, in a
// rotating order so none always runs first or last.
for (const c of candidates) measure(c);
const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < candidates.length; k++) {
    const c = candidates[(k + r) % candidates.length]!;
    samples.get(c.name)!.push(measure(c));
  }
}

const medians = new Map(candidates.map((c) => [c.name, median(samples.get(c.name)!)]));
const baselines = candidates.filter((c) => c.baseline);
const fastestBaseline = Math.max(...baselines.map((c) => medians.get(c.name)!));
const fastestBaselineName = baselines.find((c) => medians.get(c.name) === fastestBaseline)!.name;

/** Per round, each parser against the faster baseline of that same round; the median of those. */
function pairedRatio(name: string): number {
  const ours = samples.get(name)!;
  const ratios = ours.map((v, r) => v / Math.max(...baselines.map((b) => samples.get(b.name)![r]!)));
  return median(ratios);
}

const fmtLoad = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ');
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const rows = candidates.map((c) => {
  const xs = samples.get(c.name)!;
  const ratio = c.baseline ? medians.get(c.name)! / fastestBaseline : pairedRatio(c.name);
  return `| ${c.name} | ${fmt(medians.get(c.name)!)} | ${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))} | ${ratio.toFixed(2)}x |`;
});
const ratio = pairedRatio('sipwarden parseMessage');
/** The per-round ratios of parseMessage to the faster baseline: their range. */
const roundRatios = samples
  .get('sipwarden parseMessage')!
  .map((v, r) => v / Math.max(...baselines.map((b) => samples.get(b.name)![r]!)));
const date = new Date().toISOString();
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const report = [
  '# Parser micro-benchmark',
  '',
  `Run: ${date}, node ${process.version}, nproc ${availableParallelism()}, ${cpu}, load average`,
  `${fmtLoad(loadAtStart)} at the start and ${fmtLoad(loadavg())} at the end (other work shares the`,
  'machine: absolute figures are noisy, the interleaved ratios less so).',
  `Corpus: ${files.join(', ')} (bench/micro/corpus). ${rounds} interleaved rounds of about ${msPerRun} ms`,
  'per parser; figures are messages per second, median and range over the rounds. The ratio of a',
  'sipwarden row is the median over rounds of its rate divided by the faster baseline in that round.',
  'Baselines: `jssip` 3.13.8 (`lib/Parser.parseMessage`) and `sip` 0.0.6 (`sip.parse`), given',
  'ready-made strings; sipwarden parses the Buffer (its time includes decoding the bytes).',
  'sipwarden runs as it ships: the tsc build in dist/ (tsconfig.build.json, what `npm run build`',
  'and `npm ci` produce and bin/sipwarden.js runs), built by the script before it measures.',
  '',
  '| parser | msg/s (median) | range | vs faster baseline |',
  '| --- | ---: | ---: | ---: |',
  ...rows,
  '',
  `sipwarden parseMessage / ${fastestBaselineName}: **${ratio.toFixed(2)}x** (per-round range ` +
    `${Math.min(...roundRatios).toFixed(2)}x – ${Math.max(...roundRatios).toFixed(2)}x; target: at least 3x).`,
  '',
  'Reproduce: `node --import tsx bench/micro/parser.bench.ts`.',
  '',
].join('\n');

publish(report, 'parser.md', sink);
