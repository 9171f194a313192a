/**
 * MESSAGE requests a second through sipwarden with content scanning on (every body scanned
 * by Debian's clamd, started by the harness on a loopback port with its EICAR-only
 * database), against the same sipwarden with scanning off, in the same run.
 *
 *   node --import tsx bench/load/message-scan.ts [--rates 200,400,...] [--step-seconds 5]
 *     [--body-bytes 1000] [--targets off,on] [--out FILE]
 *
 * Each target gets steps of offered rate, `step-seconds` each, until one fails (< 0.1 %
 * failed and 95 % of the rate achieved, as the other load benchmarks count); its sustained
 * rate is the last step passed. A fresh sipwarden per step; one clamd for all steps, warmed
 * by a first scan (its first scan after start is slow). The sipp UAC sends
 * MESSAGE with a text/plain body of `body-bytes`, the sipp UAS answers 200. sipp, sipwarden
 * and clamd share the machine's cores: the ratio on/off is the figure, not the rates.
 * Loopback only; every step bounded by sipp's message count and timeout.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClamdScanner } from '../../src/content/clamd-scanner.ts';
import { type Clamd, startClamd } from '../../test/interop/harness/clamd.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { tempDir } from '../../test/interop/harness/workdir.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '200,400,800,1200,1600,2000,2400,3200' },
    'step-seconds': { type: 'string', default: '5' },
    'body-bytes': { type: 'string', default: '1000' },
    targets: { type: 'string', default: 'off,on' },
    out: { type: 'string' },
  },
});
const RATES = values.rates.split(',').map(Number);
const STEP_S = Number(values['step-seconds']);
const BODY_BYTES = Number(values['body-bytes']);
const HOST = '127.0.0.1';
const BIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');

type TargetName = 'off' | 'on';
const TARGETS = values.targets.split(',') as TargetName[];

/** The scenarios, written for this run: MESSAGE (RFC 3428) with a text body, answered 200. */
function writeScenarios(dir: string): { uac: string; uas: string } {
  // Printable text, one line per 72 characters: what an instant message with a pasted
  // paragraph looks like; sipp's [len] fills Content-Length.
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\n';
  const body = line.repeat(Math.ceil(BODY_BYTES / line.length)).slice(0, BODY_BYTES);
  const uac = join(dir, 'uac-message.xml');
  writeFileSync(
    uac,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="sipwarden bench UAC MESSAGE">
  <send retrans="500">
    <![CDATA[

      MESSAGE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: text/plain
      Content-Length: [len]

${body}
    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="200" />
</scenario>
`,
  );
  const uas = join(dir, 'uas-message.xml');
  writeFileSync(
    uas,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="sipwarden bench UAS MESSAGE">
  <recv request="MESSAGE" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="2000" />
</scenario>
`,
  );
  return { uac, uas };
}

interface Running {
  readonly port: number;
  stop(): Promise<void>;
}

async function start(
  name: TargetName,
  scenarios: { uas: string },
  clamd: Clamd | undefined,
): Promise<Running> {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: scenarios.uas,
    localPort: uasPort,
    timeoutS: 900,
    timeoutIsError: false,
    maxConcurrent: 50_000,
    name: `uas-${name}`,
  });
  await uas.ready();
  const port = await freePort();
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: uasPort },
    config: {
      // The load source allowlisted, as in the other benchmarks: its thousands of requests a
      // second from one address are not a flood. The content stage applies to it all the same.
      security: { allowlist: ['127.0.0.0/8'] },
      overload: { upstreamRequestsPerSecond: 100_000 },
      ...(clamd === undefined
        ? {}
        : { content: { enabled: true, clamd: { host: clamd.host, port: clamd.port } } }),
    },
    extraArgs: ['--log-level', 'warn'],
    bin: BIN,
  });
  return {
    port,
    stop: async () => {
      await sipwarden.stop();
      await uas.stop();
    },
  };
}

async function offer(name: TargetName, port: number, rate: number, uac: string): Promise<SippResult> {
  return runSipp({
    scenario: uac,
    localPort: await freePort(),
    remote: { host: HOST, port },
    calls: Math.round(rate * STEP_S),
    rate,
    maxConcurrent: Math.max(200, rate * 2),
    timeoutS: STEP_S * 2 + 40,
    name: `uac-${name}-${rate}`,
  });
}

async function sustained(name: TargetName, scenarios: { uac: string; uas: string }, log: string[]) {
  let best = 0;
  const clamd = name === 'on' ? await startClamd() : undefined;
  if (clamd !== undefined) {
    const warm = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
    const result = await warm.scan(Buffer.from('warm-up'));
    await warm.close();
    if (result.verdict !== 'clean') throw new Error(`clamd warm-up: ${JSON.stringify(result)}`);
  }
  for (const rate of RATES) {
    const target = await start(name, scenarios, clamd);
    try {
      const result = await offer(name, target.port, rate, scenarios.uac);
      const attempted = Math.round(rate * STEP_S);
      const passed =
        result.failed / attempted < 0.001 &&
        result.successful + result.failed >= attempted &&
        result.callRate >= 0.95 * rate;
      log.push(
        `| scanning ${name} | ${rate} | ${result.callRate.toFixed(0)} | ${result.failed}/${attempted} | ${loadAverageText()} | ${passed ? 'pass' : 'fail'} |`,
      );
      process.stdout.write(
        `scanning ${name} ${rate}: ${passed ? 'pass' : 'fail'} (${result.failed} failed ${JSON.stringify(result.failedBy)})\n`,
      );
      if (!passed) {
        process.stdout.write(`${result.errors.split('\n').slice(0, 8).join('\n')}\n`);
        break;
      }
      best = rate;
    } finally {
      await target.stop();
    }
  }
  await clamd?.stop();
  return best;
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const info = machineInfo(REPO_ROOT);
  const loadBefore = loadAverageText();
  const scenarios = writeScenarios(tempDir('message-scan'));
  const steps: string[] = [];
  const rates = new Map<TargetName, number>();
  for (const name of TARGETS) rates.set(name, await sustained(name, scenarios, steps));
  const off = rates.get('off') ?? 0;
  const on = rates.get('on') ?? 0;
  const lines = [
    '# MESSAGE requests a second with content scanning on and off',
    '',
    `Run ${new Date().toISOString()} by \`node --import tsx bench/load/message-scan.ts\` on ${info.cpus} cores (${info.cpuModel}), commit ${info.commit}; load average before ${loadBefore}, after ${loadAverageText()}.`,
    `MESSAGE with a ${BODY_BYTES}-byte text/plain body over UDP, answered 200 by a sipp UAS; steps of ${STEP_S} s at ${RATES.join(', ')} a second, a fresh sipwarden per step, one clamd for all (warmed by a first scan); sustained = the last step with < 0.1 % failed and 95 % of the rate achieved. sipwarden: its build, security pipeline on with the load source allowlisted; "on": \`content.enabled\` with Debian's clamd (EICAR-only database, its defaults: 10 threads) over loopback TCP, the client's defaults (8 scans at once, 1000 waiting, pooled connections), failureMode closed. The sipp UAC, the sipp UAS, sipwarden and clamd share the cores.`,
    '',
    '| target | MESSAGE/s sustained |',
    '| --- | ---: |',
    ...TARGETS.map((name) => `| scanning ${name} | ${rates.get(name) ?? 0} |`),
    '',
    `On / off: ${off === 0 ? 'n/a' : (on / off).toFixed(2)}.`,
    '',
    '## Steps',
    '',
    '| target | rate | achieved | failed | load avg | result |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...steps,
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'message-scan.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}`);
}

try {
  await main();
} finally {
  await stopAll();
}
