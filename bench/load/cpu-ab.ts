/**
 * A/B of sipwarden's CPU per call between two checkouts (for example the previous commit in
 * a `git worktree` and this tree), in interleaved rounds of one run: the same sipp load
 * through each, sipwarden's own CPU time read from /proc. Lower is better; the ratio is B/A.
 *
 *   node --import tsx bench/load/cpu-ab.ts --a /path/to/other/checkout [--b .] [--mode off|on]
 *     [--a-entry bin/sipwarden.js] [--b-entry dist/cli/main.js] [--calls 6000] [--rate 1000] [--rounds 3]
 *     [--a-config JSON] [--b-config JSON]
 *
 * --mode hiding runs the benchmark targets' sipwarden-hiding config (targets.ts); --a-config
 * and --b-config merge settings over the mode's for one side (an older checkout may not know
 * a key the newer one needs, e.g. `{"media":{"relay":{"enabled":false}}}`).
 *
 * Loopback only; every run bounded.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { startSipp } from '../../test/interop/harness/sipp.ts';
import {
  mergeConfig,
  REPO_ROOT,
  type SipwardenConfig,
  startSipwarden,
} from '../../test/interop/harness/sipwarden.ts';
import { median } from '../stats.ts';
import { cpuPerCall } from './cpu.ts';
import { SIPWARDEN_CONFIGS } from './targets.ts';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: REPO_ROOT },
    mode: { type: 'string', default: 'off' },
    // The entry point within each checkout: bin/sipwarden.js (sources through tsx) or dist/cli/main.js (the build).
    'a-entry': { type: 'string', default: 'bin/sipwarden.js' },
    'b-entry': { type: 'string', default: 'bin/sipwarden.js' },
    calls: { type: 'string', default: '6000' },
    rate: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    'a-config': { type: 'string', default: '{}' },
    'b-config': { type: 'string', default: '{}' },
  },
});
if (values.a === undefined) throw new Error('--a CHECKOUT is required');
const HOST = '127.0.0.1';
const CALLS = Number(values.calls);
const RATE = Number(values.rate);
const config: SipwardenConfig =
  values.mode === 'hiding'
    ? SIPWARDEN_CONFIGS['sipwarden-hiding']
    : values.mode === 'on'
      ? { security: { allowlist: ['127.0.0.0/8'] } }
      : { security: { enabled: false } };
const extra = {
  a: JSON.parse(values['a-config']) as SipwardenConfig,
  b: JSON.parse(values['b-config']) as SipwardenConfig,
};

async function measure(root: string, entry: string, which: 'a' | 'b'): Promise<number> {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: 'uas-answer.xml',
    localPort: uasPort,
    timeoutS: 300,
    maxConcurrent: 50000,
  });
  await uas.ready();
  const port = await freePort();
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: uasPort },
    config: mergeConfig(config, extra[which]),
    bin: join(resolve(root), entry),
    extraArgs: ['--log-level', 'error'],
  });
  try {
    const { userMsPerCall, systemMsPerCall, run } = await cpuPerCall(sipwarden.pid, HOST, port, CALLS, RATE);
    if (run.failed > 0) process.stdout.write(`  (${run.failed} failed calls)\n`);
    return userMsPerCall + systemMsPerCall;
  } finally {
    await sipwarden.stop();
    await uas.stop();
  }
}

const results: { a: number[]; b: number[] } = { a: [], b: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  for (const which of (round % 2 === 0 ? ['a', 'b'] : ['b', 'a']) as ('a' | 'b')[]) {
    const ms = await measure(
      which === 'a' ? values.a : values.b,
      which === 'a' ? values['a-entry'] : values['b-entry'],
      which,
    );
    results[which].push(ms);
    process.stdout.write(`round ${round + 1} ${which}: ${ms.toFixed(3)} ms CPU per call\n`);
  }
}
const a = median(results.a);
const b = median(results.b);
process.stdout.write(`median A ${a.toFixed(3)} B ${b.toFixed(3)} ms per call; B/A ${(b / a).toFixed(3)}\n`);
