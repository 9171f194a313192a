/**
 * Profiles sipwarden under a sipp call load: starts a sipp UAS, sipwarden (pipeline on or off,
 * or on with topology hiding towards both sides: the targets of bench/load/targets.ts)
 * with V8's CPU profiler, runs one bounded sipp UAC batch, stops sipwarden and prints where
 * the profile says its time went (self time by function, top entries).
 *
 *   node --import tsx bench/load/profile-run.ts [--mode off|on|hiding] [--calls 20000] [--rate 2000]
 *     [--dir DIR] [--warm-up CALLS] [--cpu-only | --perf | --trace-gc | --node-flag=FLAG...]
 *
 * Loopback only; the batch is bounded in count and time.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { runSipp, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { tempDir } from '../../test/interop/harness/workdir.ts';
import { cpuTimes } from './cpu.ts';
import { buildSipwarden } from './machine.ts';
import { SIPWARDEN_CONFIGS } from './targets.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'off' },
    calls: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '2000' },
    dir: { type: 'string' },
    top: { type: 'string', default: '40' },
    'cpu-only': { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
    // Calls run before the measured batch (and before perf attaches): a warm process, compiled.
    'warm-up': { type: 'string', default: '0' },
    // Flags for sipwarden's node, e.g. --node-flag=--trace-deopt (output counted below).
    'node-flag': { type: 'string', multiple: true, default: [] },
  },
});
const HOST = '127.0.0.1';
const dir = values.dir ?? tempDir('profile');
mkdirSync(dir, { recursive: true });

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
}

// The build, as an installed sipwarden runs (bin/sipwarden.js would run the sources while they are newer).
buildSipwarden(REPO_ROOT);
const uasPort = await freePort();
const uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, timeoutS: 300 });
await uas.ready();
const port = await freePort();
const config =
  SIPWARDEN_CONFIGS[
    values.mode === 'on' ? 'sipwarden' : values.mode === 'hiding' ? 'sipwarden-hiding' : 'sipwarden-plain'
  ];
const sipwarden = await startSipwarden({
  port,
  upstream: { host: HOST, port: uasPort },
  config,
  extraArgs: ['--log-level', 'error'],
  bin: join(REPO_ROOT, 'dist', 'cli', 'main.js'),
  outputLimit: 8 * 1024 * 1024,
  nodeArgs:
    values['node-flag'].length > 0
      ? values['node-flag']
      : values['trace-gc']
        ? ['--trace-gc']
        : values.perf
          ? ['--perf-basic-prof']
          : !values['cpu-only']
            ? ['--cpu-prof', `--cpu-prof-dir=${dir}`]
            : [],
});
try {
  const warmUp = Number(values['warm-up']);
  if (warmUp > 0) {
    await runSipp({
      scenario: 'uac-call.xml',
      localPort: await freePort(),
      remote: { host: HOST, port },
      calls: warmUp,
      rate: Number(values.rate),
      timeoutS: Math.ceil(warmUp / Number(values.rate)) + 60,
    });
  }
  const before = cpuTimes(sipwarden.pid);
  // Linux perf sees native and kernel frames that V8's sampler misattributes (--perf-basic-prof names the JIT code).
  const perf = values.perf
    ? spawn(
        'perf',
        ['record', '-F', '1999', '-g', '-p', String(sipwarden.pid), '-o', join(dir, 'perf.data')],
        {
          stdio: 'ignore',
        },
      )
    : undefined;
  const calls = Number(values.calls);
  const result = await runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: HOST, port },
    calls,
    rate: Number(values.rate),
    timeoutS: Math.ceil(calls / Number(values.rate)) + 60,
  });
  const after = cpuTimes(sipwarden.pid);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
  }
  const perCall = (seconds: number) => ((seconds * 1e6) / calls).toFixed(0);
  console.log(
    `calls: ${result.successful} ok, ${result.failed} failed; sipwarden CPU per call: user ${perCall(after.user - before.user)} us, system ${perCall(after.system - before.system)} us`,
  );
} finally {
  await sipwarden.stop();
  await uas.stop();
}

if (values['trace-gc']) {
  // Pause lengths from V8's own trace, kept in the process's output tail.
  const pauses = [
    ...sipwarden.process
      .tail()
      .matchAll(/(Scavenge|Mark-Compact|Mark-sweep)[^,]*, ([0-9.]+) \/ ([0-9.]+) ms/g),
  ];
  const byKind = new Map<string, number[]>();
  for (const m of pauses) byKind.set(m[1]!, [...(byKind.get(m[1]!) ?? []), Number(m[2])]);
  for (const [kind, ms] of byKind) {
    ms.sort((a, b) => a - b);
    console.log(`${kind}: ${ms.length} pauses, median ${ms[ms.length >> 1]} ms, max ${ms[ms.length - 1]} ms`);
  }
}
if (values['node-flag'].length > 0) {
  // Deoptimizations by function and reason: a function deoptimized again and again costs compiles.
  const counts = new Map<string, number>();
  writeFileSync(join(dir, 'node-output.txt'), sipwarden.process.tail(8 * 1024 * 1024));
  for (const m of sipwarden.process
    .tail(8 * 1024 * 1024)
    .matchAll(
      /\[bailout \(kind: ([^)]*)\): begin\. deoptimizing [^,]*<JSFunction ([^ >]*)[^,]*, [^,]*, reason: ([^\]]*)\]/g,
    )) {
    const key = `${m[2]} (${m[3]})`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`${String(n).padStart(5)}  ${key}`);
}
if (values['cpu-only'] || values.perf || values['trace-gc'] || values['node-flag'].length > 0)
  process.exit(0);
const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
if (file === undefined) throw new Error(`no profile written in ${dir}`);
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
const self = new Map<string, number>();
let total = 0;
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  total += hits;
  const frame = node.callFrame;
  const key = `${frame.functionName || '(anon)'} ${frame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + hits);
}
console.log(`profile: ${join(dir, file)}, ${total} samples`);
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(`${((100 * hits) / total).toFixed(1).padStart(5)} %  ${key}`);
}
