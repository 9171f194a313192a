/**
 * Calls and registrations a second with Digest authentication on every INVITE and REGISTER:
 * sipwarden authenticating by itself (security.settings.authenticate mode `local`, users in
 * its store) against the same sipwarden with authentication off, and against Kamailio's
 * auth + auth_db (test/interop/kamailio/proxy-auth.cfg, HA1s in a db_text table) and plain
 * Kamailio (proxy.cfg), all in the same run.
 *
 *   node --import tsx bench/load/auth-rate.ts [--rates 400,800,...] [--step-seconds 5]
 *     [--users 1000] [--kinds call,register] [--out FILE]
 *
 * Each target gets the same steps of offered rate, 5 s each, until one fails (< 0.1 % failed
 * calls and 95 % of the rate achieved, as the overload benchmark counts); its sustained
 * rate is the last step passed. Calls: uac-call-digest.xml, each call by one of `users`
 * users from a sipp injection file (INVITE, 407, ACK, INVITE with Proxy-Authorization, 200,
 * ACK, BYE, 200); the targets without authentication get uac-call.xml (INVITE, 200, ACK,
 * BYE, 200). Registrations: uac-register-digest.xml (REGISTER, 401, REGISTER with
 * Authorization, 200) towards a registrar that accepts them (uas-register.xml). MD5 on
 * both: sipp 3.6 answers no other algorithm. Loopback only; every run bounded by sipp's
 * call count and timeout.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startKamailio } from '../../test/interop/harness/kamailio.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import { stopAll } from '../../test/interop/harness/process.ts';
import { runSipp, type SippResult, startSipp } from '../../test/interop/harness/sipp.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { tempDir } from '../../test/interop/harness/workdir.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '400,800,1200,1600,2000,2400,2800,3200,3600' },
    'step-seconds': { type: 'string', default: '5' },
    users: { type: 'string', default: '1000' },
    kinds: { type: 'string', default: 'call,register' },
    targets: { type: 'string', default: 'sipwarden,sipwarden-auth,kamailio,kamailio-auth' },
    out: { type: 'string' },
  },
});
const RATES = values.rates.split(',').map(Number);
const STEP_S = Number(values['step-seconds']);
const USERS = Number(values.users);
const HOST = '127.0.0.1';
const REALM = 'sipwarden.test';
const PASSWORD = 'bench-secret';
const BIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');

type Kind = 'call' | 'register';
type TargetName = 'sipwarden' | 'sipwarden-auth' | 'kamailio' | 'kamailio-auth';
const KINDS = values.kinds.split(',') as Kind[];
const TARGETS = values.targets.split(',') as TargetName[];

interface Running {
  readonly port: number;
  stop(): Promise<void>;
}

const authenticates = (name: TargetName): boolean => name.endsWith('-auth');

/** The users, once, for all targets: sipwarden's CSV, Kamailio's db_text table, sipp's injection file. */
function writeUsers(dir: string): {
  database: string;
  plainDatabase: string;
  kamailioDb: string;
  injection: string;
} {
  const names = Array.from({ length: USERS }, (_, i) => `u${1000 + i}`);
  const csv = join(dir, 'users.csv');
  writeFileSync(csv, ['user,domain,password', ...names.map((n) => `${n},${REALM},${PASSWORD}`)].join('\n'));
  const database = join(dir, 'sipwarden.db');
  const plainDatabase = join(dir, 'sipwarden-plain.db');
  execFileSync(process.execPath, [BIN, 'users', 'import', '--db', database, csv], { stdio: 'inherit' });
  const kamailioDb = join(dir, 'kamailio-db');
  mkdirSync(kamailioDb);
  writeFileSync(join(kamailioDb, 'version'), 'table_name(string) table_version(int)\nsubscriber:7\n');
  const ha1 = (user: string) => createHash('md5').update(`${user}:${REALM}:${PASSWORD}`).digest('hex');
  writeFileSync(
    join(kamailioDb, 'subscriber'),
    [
      'id(int,auto) username(string) domain(string) password(string,null) ha1(string) ha1b(string,null)',
      ...names.map((n, i) => `${i + 1}:${n}:${REALM}::${ha1(n)}:`),
      '',
    ].join('\n'),
  );
  const injection = join(dir, 'callers.csv');
  writeFileSync(
    injection,
    ['SEQUENTIAL', ...names.map((n) => `${n};[authentication username=${n} password=${PASSWORD}]`), ''].join(
      '\n',
    ),
  );
  return { database, plainDatabase, kamailioDb: `text://${kamailioDb}`, injection };
}

async function start(name: TargetName, kind: Kind, files: ReturnType<typeof writeUsers>): Promise<Running> {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: kind === 'call' ? 'uas-answer.xml' : 'uas-register.xml',
    localPort: uasPort,
    timeoutS: 900,
    timeoutIsError: false,
    maxConcurrent: 50_000,
    name: `uas-${name}-${kind}`,
  });
  await uas.ready();
  const port = await freePort();
  let stopProxy: () => Promise<unknown>;
  if (name.startsWith('kamailio')) {
    const kamailio = await startKamailio({
      variant: authenticates(name) ? 'proxy-auth' : 'proxy',
      port,
      upstream: { host: HOST, port: uasPort },
      sharedMemoryMb: 2048,
      memoryManager: 'tlsf',
      ...(authenticates(name) ? { defines: { DB_URL: files.kamailioDb, REALM } } : {}),
    });
    stopProxy = () => kamailio.stop();
  } else {
    const sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: uasPort },
      config: {
        // The load source allowlisted as in the other benchmarks: its thousands of requests a
        // second from one address are not a flood here. Authentication applies to it all the same.
        security: {
          allowlist: ['127.0.0.0/8'],
          ...(authenticates(name)
            ? { settings: { authenticate: { mode: 'local', realm: REALM, algorithms: ['MD5'] } } }
            : {}),
        },
        overload: { upstreamRequestsPerSecond: 100_000 },
        // Both sipwarden targets keep their events and CDRs in the same kind of file as
        // production does (the users' database): the comparison is authentication alone.
        events: { database: authenticates(name) ? files.database : files.plainDatabase },
      },
      extraArgs: ['--log-level', 'warn'],
      bin: BIN,
    });
    stopProxy = () => sipwarden.stop();
  }
  return {
    port,
    stop: async () => {
      await stopProxy();
      await uas.stop();
    },
  };
}

async function offer(
  name: TargetName,
  kind: Kind,
  port: number,
  rate: number,
  files: ReturnType<typeof writeUsers>,
): Promise<SippResult> {
  const common = {
    localPort: await freePort(),
    remote: { host: HOST, port },
    calls: Math.round(rate * STEP_S),
    rate,
    maxConcurrent: Math.max(200, rate * 2),
    timeoutS: STEP_S * 2 + 40,
    name: `uac-${name}-${kind}-${rate}`,
  };
  if (kind === 'register') {
    return runSipp({
      ...common,
      scenario: 'uac-register-digest.xml',
      service: 'u1000',
      auth: { username: 'u1000', password: PASSWORD },
    });
  }
  if (!authenticates(name)) return runSipp({ ...common, scenario: 'uac-call.xml' });
  return runSipp({
    ...common,
    scenario: 'uac-call-digest.xml',
    keys: { domain: REALM },
    extraArgs: ['-inf', files.injection],
  });
}

async function sustained(
  name: TargetName,
  kind: Kind,
  files: ReturnType<typeof writeUsers>,
  log: string[],
): Promise<number> {
  let best = 0;
  for (const rate of RATES) {
    // A fresh target per step: what one step leaves behind (lingering transactions) is not the next one's load.
    const target = await start(name, kind, files);
    try {
      const result = await offer(name, kind, target.port, rate, files);
      const attempted = Math.round(rate * STEP_S);
      const passed =
        result.failed / attempted < 0.001 &&
        result.successful + result.failed >= attempted &&
        result.callRate >= 0.95 * rate;
      log.push(
        `| ${name} | ${kind} | ${rate} | ${result.callRate.toFixed(0)} | ${result.failed}/${attempted} | ${loadAverageText()} | ${passed ? 'pass' : 'fail'} |`,
      );
      process.stdout.write(
        `${name} ${kind} ${rate}: ${passed ? 'pass' : 'fail'} (${result.failed} failed ${JSON.stringify(result.failedBy)})\n`,
      );
      if (!passed) {
        // What sipp received instead of what it expected: the reason a step failed.
        process.stdout.write(`${result.errors.split('\n').slice(0, 8).join('\n')}\n`);
        break;
      }
      best = rate;
    } finally {
      await target.stop();
    }
  }
  return best;
}

function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : (a / b).toFixed(2);
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const info = machineInfo(REPO_ROOT);
  const loadBefore = loadAverageText();
  const files = writeUsers(tempDir('auth-rate'));
  const steps: string[] = [];
  const rates = new Map<string, number>();
  for (const kind of KINDS) {
    for (const name of TARGETS) {
      // Registrations are measured with authentication only: without it there is nothing to compare.
      if (kind === 'register' && !authenticates(name)) continue;
      rates.set(`${name}/${kind}`, await sustained(name, kind, files, steps));
    }
  }
  const rate = (name: TargetName, kind: Kind) => rates.get(`${name}/${kind}`) ?? 0;
  const lines = [
    '# Digest authentication on every INVITE and REGISTER: sipwarden against Kamailio',
    '',
    `Run ${new Date().toISOString()} by \`node --import tsx bench/load/auth-rate.ts\` on ${info.cpus} cores (${info.cpuModel}), commit ${info.commit}; load average before ${loadBefore}, after ${loadAverageText()}.`,
    `${USERS} users (MD5 HA1s: sipwarden's user store, Kamailio's db_text subscriber table); steps of ${STEP_S} s at ${RATES.join(', ')} a second, a fresh target per step; sustained = the last step with < 0.1 % failed and 95 % of the rate achieved. The sipp UAC, the sipp UAS and the proxy share the cores.`,
    'sipwarden: its build, security pipeline on with the load source allowlisted, `authenticate` mode `local` (realm sipwarden.test, MD5) for -auth; Kamailio: one UDP worker, proxy.cfg, and proxy-auth.cfg (auth_check / auth_challenge with qop=auth, consume_credentials) for -auth, `-x tlsf -m 2048`.',
    '',
    '| target | calls/s sustained | registrations/s sustained |',
    '| --- | ---: | ---: |',
    ...TARGETS.map(
      (name) =>
        `| ${name} | ${KINDS.includes('call') ? rate(name, 'call') : '-'} | ${KINDS.includes('register') && authenticates(name) ? rate(name, 'register') : '-'} |`,
    ),
    '',
    `sipwarden-auth / kamailio-auth: calls ${ratio(rate('sipwarden-auth', 'call'), rate('kamailio-auth', 'call'))}, registrations ${ratio(rate('sipwarden-auth', 'register'), rate('kamailio-auth', 'register'))} (goal: at least 1). With / without authentication: sipwarden ${ratio(rate('sipwarden-auth', 'call'), rate('sipwarden', 'call'))}, Kamailio ${ratio(rate('kamailio-auth', 'call'), rate('kamailio', 'call'))}.`,
    '',
    '## Steps',
    '',
    '| target | kind | rate | achieved | failed | load avg | result |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    ...steps,
    '',
  ];
  const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'auth-rate.md');
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(`\n${lines.join('\n')}`);
}

try {
  await main();
} finally {
  await stopAll();
}
