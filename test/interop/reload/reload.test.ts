/**
 * Reload without restart, on a real sipwarden process: SIGHUP and POST /api/config/reload
 * during a sipp call load (no call may fail), a configuration that fails the check refused
 * with check-config's own lines while the running one keeps working, a key that needs a
 * restart refused by name, a security change seen on the wire, and a TLS certificate
 * swapped in place seen by a new TLS connection.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { connect } from 'node:tls';
import { selfSignedCertificate } from '../harness/certs.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, startSipp } from '../harness/sipp.ts';
import { SIPWARDEN_BIN, type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly outcome: string;
  readonly detail?: { readonly via?: string; readonly changed?: string[]; readonly errors?: string[] };
}

function editConfig(sipwarden: Sipwarden, change: (config: Record<string, unknown>) => void): void {
  const config = JSON.parse(readFileSync(sipwarden.configPath, 'utf8')) as Record<string, unknown>;
  change(config);
  writeFileSync(sipwarden.configPath, `${JSON.stringify(config, null, 2)}\n`);
}

/** The admin token of the sipwarden under test (the API needs one over HTTP). */
let token = '';
const authorized = (): { headers: Record<string, string> } => ({
  headers: { authorization: `Bearer ${token}` },
});

async function apiReload(api: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${api}/api/config/reload`, { method: 'POST', ...authorized() });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function auditOf(api: string): Promise<AuditEntry[]> {
  const response = await fetch(`${api}/api/audit?action=config.reload`, authorized());
  assert.equal(response.status, 200);
  return ((await response.json()) as { audit: AuditEntry[] }).audit;
}

/** A gauge of /metrics; 0 while the API does not answer yet (it listens after SIP). */
async function gauge(api: string, name: string): Promise<number> {
  const text = await fetch(`${api}/metrics`, authorized()).then(
    (response) => response.text(),
    () => '',
  );
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0) || 0;
}

/** Sends one OPTIONS from `host` and resolves to the status line answered, or undefined after `waitMs`. */
function options(
  host: string,
  target: number,
  userAgent: string,
  waitMs: number,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, waitMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.on('message', (data) => {
      clearTimeout(timer);
      socket.close();
      resolve(data.toString('latin1').split('\r\n')[0]);
    });
    socket.bind(0, host, () => {
      const { port } = socket.address();
      const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
      const message = [
        `OPTIONS sip:127.0.0.1:${target} SIP/2.0`,
        `Via: SIP/2.0/UDP ${host}:${port};branch=${branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@${host}>;tag=${branch.slice(7, 15)}`,
        `To: <sip:127.0.0.1:${target}>`,
        `Call-ID: ${branch}@${host}`,
        'CSeq: 1 OPTIONS',
        `User-Agent: ${userAgent}`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(message, target, '127.0.0.1');
    });
  });
}

/** `sipwarden ARGS...`: its exit code, standard output and standard error. */
function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SIPWARDEN_BIN, ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

function checkConfig(file: string): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SIPWARDEN_BIN, 'check-config', file], (_error, _stdout, stderr) => {
      resolve(
        stderr
          .split('\n')
          .filter((line) => line.startsWith('sipwarden: config error: '))
          .map((line) => line.slice('sipwarden: config error: '.length)),
      );
    });
  });
}

const CALLS = { 'call-limit': { maxConcurrentCalls: 1000 } };

test('SIGHUP and the API reload during a sipp call load: every call completes', async () => {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: 'uas-call.xml', localPort: uasPort, timeoutS: 120 });
  await uas.ready();
  const managementPort = await freePort('127.0.0.1', ['tcp']);
  const api = `http://127.0.0.1:${managementPort}`;
  const sipwarden = await startSipwarden({
    port: await freePort(),
    upstream: { host: '127.0.0.1', port: uasPort },
    // One caller places every call: the per-caller limit is raised above the load.
    config: { management: { port: managementPort }, security: { settings: CALLS } },
  });
  token = await sipwarden.apiToken();
  const calls = 120;
  // Calls of 3 s at 20 a second: about 60 calls are up at any moment once it runs.
  const uac = await startSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: '127.0.0.1', port: sipwarden.port },
    calls,
    rate: 20,
    pauseMs: 3000,
    timeoutS: 90,
  });
  // Reload while calls are up and new ones keep coming.
  let dialogsAtReload = 0;
  for (let tries = 0; tries < 300 && dialogsAtReload < 10; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    dialogsAtReload = await gauge(api, 'sipwarden_dialogs');
  }
  editConfig(sipwarden, (config) => {
    config.security = { allowlist: ['192.0.2.0/24'], settings: CALLS };
  });
  // `sipwarden reload --pid` sends SIGHUP.
  const signalled = await cli(['reload', '--pid', String(sipwarden.pid)]);
  assert.equal(signalled.code, 0, signalled.stderr);
  await sipwarden.process.waitFor(/configuration reloaded/, 10_000);
  editConfig(sipwarden, (config) => {
    config.security = {
      allowlist: ['192.0.2.0/24', '198.51.100.0/24'],
      settings: { ...CALLS, flood: {} },
    };
  });
  const viaApi = await apiReload(api);
  assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
  assert.deepEqual(viaApi.body.changed, ['security.allowlist', 'security.settings']);
  const result = await uac.done();
  const uasResult = await uas.stop();
  assert.equal(result.failed, 0, describeSipp(result));
  assert.equal(result.successful, calls, describeSipp(result));
  assert.equal(uasResult.failed, 0, describeSipp(uasResult));
  assert.ok(dialogsAtReload > 0, `calls were up at the reload (sipwarden_dialogs ${dialogsAtReload})`);
  const audit = await auditOf(api);
  assert.deepEqual(
    audit.map((e) => [e.actor, e.detail?.via, e.outcome, e.detail?.changed]),
    [
      ['token:test-admin', 'api', 'ok', ['security.allowlist', 'security.settings']],
      ['local', 'signal', 'ok', ['security.allowlist']],
    ],
  );
  await sipwarden.stop();
});

test('a configuration that fails the check is refused with check-config lines; the running one stays', async () => {
  const uasPort = await freePort();
  const uas = await startSipp({ scenario: 'uas-call.xml', localPort: uasPort, timeoutS: 120 });
  await uas.ready();
  const managementPort = await freePort('127.0.0.1', ['tcp']);
  const api = `http://127.0.0.1:${managementPort}`;
  const sipwarden = await startSipwarden({
    port: await freePort(),
    upstream: { host: '127.0.0.1', port: uasPort },
    config: { management: { port: managementPort } },
  });
  token = await sipwarden.apiToken();
  // Two faults check-config finds: a misspelt key, and a stage setting its schema refuses.
  editConfig(sipwarden, (config) => {
    config.security = { allowlst: ['192.0.2.0/24'] };
  });
  const expected = await checkConfig(sipwarden.configPath);
  assert.ok(expected.length > 0);
  const refused = await apiReload(api);
  assert.equal(refused.status, 422);
  assert.deepEqual(refused.body.errors, expected);
  // `sipwarden reload` prints them as check-config does, and exits 2.
  const command = await cli(['reload', '--api', api, '--token', token]);
  assert.equal(command.code, 2);
  assert.deepEqual(command.stderr.trimEnd().split('\n'), [
    ...expected.map((line) => `sipwarden: config error: ${line}`),
    'sipwarden: nothing was reloaded: the running configuration stays',
  ]);
  editConfig(sipwarden, (config) => {
    config.security = { settings: { flood: { nonsense: 1 } } };
  });
  const stageExpected = await checkConfig(sipwarden.configPath);
  assert.ok(
    stageExpected.some((line) => line.startsWith('security.settings.flood')),
    stageExpected.join('\n'),
  );
  const stageRefused = await apiReload(api);
  assert.equal(stageRefused.status, 422);
  assert.deepEqual(stageRefused.body.errors, stageExpected);
  // A valid file that changes a key only a start applies: refused by name, nothing applied.
  editConfig(sipwarden, (config) => {
    config.security = { stages: ['gate', 'validate'] };
    config.proxy = { maxForwards: 20 };
  });
  const restart = await apiReload(api);
  assert.equal(restart.status, 422);
  assert.deepEqual(restart.body.errors, [
    'proxy.maxForwards: changed, and it applies only at a start: restart sipwarden for it (nothing was reloaded)',
  ]);
  // The running configuration still has the scanner stage (the refused file dropped it): a
  // scanner's OPTIONS gets no answer and is evented, while calls go on.
  assert.equal(await options('127.0.0.5', sipwarden.port, 'friendly-scanner', 1500), undefined);
  const events = (await (await fetch(`${api}/api/events?source=127.0.0.5`, authorized())).json()) as {
    events: { type: string }[];
  };
  assert.ok(
    events.events.some((e) => e.type === 'scanner'),
    JSON.stringify(events),
  );
  const calls = await runSipp({
    scenario: 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: '127.0.0.1', port: sipwarden.port },
    calls: 10,
    rate: 10,
    timeoutS: 30,
  });
  assert.equal(calls.successful, 10, describeSipp(calls));
  // The same change without the restart key applies: the scanner stage is gone for new messages,
  // and the source it blocked stays blocked (blocks survive a reload).
  editConfig(sipwarden, (config) => {
    config.security = { stages: ['gate', 'validate'] };
    delete config.proxy;
  });
  const applied = await apiReload(api);
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  assert.deepEqual(applied.body.changed, ['security.stages']);
  assert.match(
    (await options('127.0.0.6', sipwarden.port, 'friendly-scanner', 5000)) ?? '',
    /^SIP\/2\.0 200 /,
  );
  assert.equal(await options('127.0.0.5', sipwarden.port, 'friendly-scanner', 1500), undefined);
  const audit = await auditOf(api);
  assert.deepEqual(
    audit.map((e) => e.outcome),
    ['ok', 'refused', 'refused', 'refused', 'refused'],
  );
  await uas.stop();
  await sipwarden.stop();
});

test('a TLS certificate replaced in place is what a new connection gets after the reload', async () => {
  const dir = tempDir('sipwarden-reload-tls');
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  const live = join(dir, 'live');
  for (const path of [first, second, live]) mkdirSync(path);
  selfSignedCertificate(first, 'first.example');
  selfSignedCertificate(second, 'second.example');
  copyFileSync(join(first, 'cert.pem'), join(live, 'cert.pem'));
  copyFileSync(join(first, 'key.pem'), join(live, 'key.pem'));
  const sipPort = await freePort();
  const tlsPort = await freePort('127.0.0.1', ['tcp']);
  const managementPort = await freePort('127.0.0.1', ['tcp']);
  const api = `http://127.0.0.1:${managementPort}`;
  const sipwarden = await startSipwarden({
    port: sipPort,
    upstream: { host: '127.0.0.1', port: await freePort() },
    config: {
      management: { port: managementPort },
      listen: [
        { host: '127.0.0.1', port: sipPort, transports: ['udp'] },
        { host: '127.0.0.1', port: tlsPort, transports: ['tls'] },
      ],
      tls: { cert: join(live, 'cert.pem'), key: join(live, 'key.pem') },
    },
  });
  token = await sipwarden.apiToken();
  assert.equal(await peerName(tlsPort), 'first.example');
  // A connection opened before the swap keeps its session.
  const open = await openTls(tlsPort);
  copyFileSync(join(second, 'cert.pem'), join(live, 'cert.pem'));
  copyFileSync(join(second, 'key.pem'), join(live, 'key.pem'));
  const reloaded = await apiReload(api);
  assert.equal(reloaded.status, 200, JSON.stringify(reloaded.body));
  assert.deepEqual(reloaded.body.changed, ['tls.certificate']);
  assert.equal(await peerName(tlsPort), 'second.example');
  assert.equal(open.getPeerCertificate().subject?.CN, 'first.example');
  assert.ok(!open.destroyed, 'the connection opened before the reload is still open');
  open.destroy();
  // A key that does not match the certificate is refused; the running certificate stays.
  copyFileSync(join(first, 'key.pem'), join(live, 'key.pem'));
  const mismatched = await apiReload(api);
  assert.equal(mismatched.status, 422, JSON.stringify(mismatched.body));
  assert.equal(await peerName(tlsPort), 'second.example');
  await sipwarden.stop();
});

function openTls(port: number): Promise<ReturnType<typeof connect>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function peerName(port: number): Promise<string | undefined> {
  const socket = await openTls(port);
  const name = socket.getPeerCertificate().subject?.CN;
  socket.destroy();
  return Array.isArray(name) ? name.join(',') : name;
}
