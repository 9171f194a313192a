/**
 * Records `sipwarden assess` against Kamailio from Debian with sanity, pike and an htable
 * ban list (test/interop/kamailio/proxy-secure.cfg) as a second real target, and against
 * sipwarden with its defaults in the same run for comparison, our own callee as the
 * upstream of each, and writes both scorecards to bench/results/assess-kamailio.md.
 *
 *   node --import tsx test/interop/attack/assess-kamailio.ts [--no-write]
 *
 * Not a test (no assertions): the comparison is for people. All traffic on loopback.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAverageText, machineInfo } from '../../../bench/load/machine.ts';
import { formatScorecard, type Scorecard } from '../../../src/attack/assess/scorecard.ts';
import { startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { REPO_ROOT, startSipwarden } from '../harness/sipwarden.ts';
import { sipwarden } from './helpers.ts';

async function assess(
  port: number,
  uasPort: number,
  api?: { port: number; token: string },
): Promise<{ card: Scorecard; code: number }> {
  const args = ['assess', '--target', `127.0.0.1:${port}`, '--uas', `127.0.0.1:${uasPort}`, '--json'];
  if (api !== undefined) args.push('--api', `http://127.0.0.1:${api.port}`, '--api-token', api.token);
  const run = await sipwarden(args, 300_000);
  if (run.stdout === '') throw new Error(`assess failed: ${run.stderr}`);
  return { card: JSON.parse(run.stdout) as Scorecard, code: run.code };
}

const loadBefore = loadAverageText();
let kamailioRun: { card: Scorecard; code: number };
let sipwardenRun: { card: Scorecard; code: number };
try {
  const port = await freePort();
  const uasPort = await freePort('127.0.0.1', ['udp']);
  const kamailio = await startKamailio({
    variant: 'proxy-secure',
    port,
    upstream: { host: '127.0.0.1', port: uasPort },
  });
  kamailioRun = await assess(port, uasPort);
  await kamailio.stop();
  const swPort = await freePort();
  const swUas = await freePort('127.0.0.1', ['udp']);
  const apiPort = await freePort('127.0.0.1', ['tcp']);
  const target = await startSipwarden({
    port: swPort,
    upstream: { host: '127.0.0.1', port: swUas },
    config: { management: { port: apiPort }, log: { level: 'warn' } },
    listenKinds: ['udp', 'tcp'],
  });
  sipwardenRun = await assess(swPort, swUas, { port: apiPort, token: await target.apiToken('viewer') });
  await target.stop();
} finally {
  await stopAll();
}
const card = kamailioRun.card;
const code = kamailioRun.code;
const table = formatScorecard(card);
const sipwardenTable = formatScorecard(sipwardenRun.card);
process.stdout.write(`${table}\n${sipwardenTable}`);
const machine = machineInfo(REPO_ROOT);
const text = [
  '# sipwarden assess against Kamailio (sanity, pike, htable bans)',
  '',
  `Recorded ${card.startedAt} by \`node --import tsx test/interop/attack/assess-kamailio.ts\` (exit code of assess: ${code}).`,
  '',
  `Target: ${machine.kamailio.replace(/^version: /i, '')} with test/interop/kamailio/proxy-secure.cfg at its defaults`,
  '(pike: 30 requests per 2 s per source address, then a 60 s ban in an htable; sanity_check on',
  'every request; no dialog module, no authentication of its own), one worker per transport. Its',
  "upstream is assess's own callee (a small PBX: users 100-159, digest on REGISTER). No events",
  'API: blocks are inferred from silence.',
  '',
  `Machine: ${machine.cpus} x ${machine.cpuModel}, Node ${machine.node}, commit ${machine.commit}; load average before: ${loadBefore}, after: ${loadAverageText()}.`,
  '',
  '```',
  table.trimEnd(),
  '```',
  '',
  `For comparison, sipwarden with its defaults in the same run (same battery, its events API given; exit code ${sipwardenRun.code}):`,
  '',
  '```',
  sipwardenTable.trimEnd(),
  '```',
  '',
  '## Reading it',
  '',
  '- pike counts requests per source address over 2 s windows and bans after the window in which a',
  '  source went over 30: single-source floods, password guessing and spit (three requests per call)',
  '  are banned after about 30 requests; the same INVITE flood spread over 254 addresses is not. The',
  '  ban comes only when the window closes, so a fast enumeration leaks extensions before it (see the',
  '  row: some or all of the 60).',
  '- Kamailio keeps no dialog state in this config: forged BYE and CANCEL from a third address are',
  '  relayed along the route set, and tm matches responses on the branch alone, so forged responses',
  '  from another address reach the caller.',
  '- sanity_check stops much of the fuzzer, but messages it does not check (or that it passes with a',
  '  parser more lenient than ours) are relayed to the service behind it.',
  '',
].join('\n');
if (!process.argv.includes('--no-write')) {
  const out = join(REPO_ROOT, 'bench', 'results', 'assess-kamailio.md');
  writeFileSync(out, text);
  process.stderr.write(`written to ${out}\n`);
}
