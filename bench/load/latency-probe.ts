// Quick probe: response times of one bounded sipp batch through a target (dev aid).
import { parseArgs } from 'node:util';
import { freePort } from '../../test/interop/harness/ports.ts';
import { runSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { buildSipwarden } from './machine.ts';
import { HOST, startTarget, type TargetName } from './targets.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'sipwarden-plain' },
    rate: { type: 'string', default: '100' },
    calls: { type: 'string', default: '1000' },
  },
});
buildSipwarden(REPO_ROOT);
const target = await startTarget(values.target as TargetName, {
  uasScenario: 'uas-answer.xml',
  uasTimeoutS: 300,
});
try {
  for (let i = 0; i < 2; i++) {
    const calls = Number(values.calls);
    const rate = Number(values.rate);
    const run = await runSipp({
      scenario: 'uac-call.xml',
      localPort: await freePort(),
      remote: { host: HOST, port: target.port },
      calls,
      rate,
      timeoutS: Math.ceil(calls / rate) + 30,
      responseTimes: true,
    });
    console.log(
      `${values.target} ${rate}/s: ${run.successful}/${calls} ok, achieved ${run.callRate.toFixed(0)}, p50 ${run.responseTimeP50?.toFixed(2)} p99 ${run.responseTimeP99?.toFixed(2)} ms, retrans ${run.retransmissions}`,
    );
  }
} finally {
  await target.stop();
}
