import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/sipwarden.js ...args` to completion. */
function sipwarden(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('--version prints the version from package.json', async () => {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const run = await sipwarden('--version');
  assert.equal(run.code, 0);
  assert.equal(run.stdout.trim(), version);
});

test('--help lists the commands', async () => {
  const run = await sipwarden('--help');
  assert.equal(run.code, 0);
  for (const command of ['start', 'check-config', 'tls-cert']) assert.match(run.stdout, new RegExp(command));
});

test('an unknown command exits with code 2 and points to --help', async () => {
  const run = await sipwarden('frobnicate');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /unknown command 'frobnicate'/);
});

test('check-config prints "FILE: ok" for a valid file and exits 0', async () => {
  const file = join(root, 'config', 'sipwarden.example.yaml');
  const run = await sipwarden('check-config', file);
  assert.equal(run.code, 0);
  assert.equal(run.stdout, `${file}: ok\n`);
});

test('check-config accepts the identity example: authentication, policies, fraud rules and CDRs', async () => {
  const file = join(root, 'config', 'identity.example.yaml');
  const run = await sipwarden('check-config', file);
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, `${file}: ok\n`);
  assert.equal(run.code, 0);
});

test('check-config accepts the ClamAV example: MESSAGE scanning with a clamd on 127.0.0.1:3310', async () => {
  const file = join(root, 'config', 'clamav.example.yaml');
  const run = await sipwarden('check-config', file);
  assert.equal(run.stderr, '');
  assert.equal(run.stdout, `${file}: ok\n`);
  assert.equal(run.code, 0);
});

test('check-config reads state.secretFile: a missing or short file is an error, a good one passes', async () => {
  const file = join(scratch, 'cluster.yaml');
  const secret = join(scratch, 'cluster.secret');
  writeFileSync(file, `state:\n  secretFile: ${secret}\n`);
  const missing = await sipwarden('check-config', file);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /state\.secretFile: cannot read/);
  writeFileSync(secret, 'too short\n');
  const short = await sipwarden('check-config', file);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /fewer than 32 bytes/);
  assert.doesNotMatch(short.stderr, /too short/, 'the secret itself is never printed');
  writeFileSync(secret, `${'s'.repeat(48)}\n`);
  const good = await sipwarden('check-config', file);
  assert.equal(good.stderr, '');
  assert.equal(good.code, 0);
});

test('check-config prints every error line of a bad file and exits 2', async () => {
  const file = join(scratch, 'bad.yaml');
  writeFileSync(file, 'listen:\n  - { port: 70000 }\nlog: { level: loud }\n');
  const run = await sipwarden('check-config', file);
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    'sipwarden: config error: listen[0].port: must be 1..65535\n' +
      'sipwarden: config error: log.level: must be one of trace, debug, info, warn, error, fatal\n',
  );
  assert.equal(run.stdout, '');
});

test('check-config names a missing file and exits 2', async () => {
  const file = join(scratch, 'absent.yaml');
  const run = await sipwarden('check-config', file);
  assert.equal(run.code, 2);
  assert.equal(run.stderr, `sipwarden: config error: ${file}: cannot read: no such file\n`);
});

test('start with a bad config prints the error without a stack trace and exits 2', async () => {
  const file = join(scratch, 'bad-start.yaml');
  writeFileSync(file, 'listen:\n  - { port: 70000 }\n');
  const run = await sipwarden('start', '--config', file);
  assert.equal(run.code, 2);
  assert.equal(run.stderr, 'sipwarden: config error: listen[0].port: must be 1..65535\n');
});

test('start with a malformed --listen exits 2 with the option named', async () => {
  const run = await sipwarden('start', '--listen', 'foo');
  assert.equal(run.code, 2);
  assert.equal(run.stderr, 'sipwarden: config error: --listen: "foo" is not HOST:PORT\n');
});

test('tls-cert writes a certificate and a private key that belong together', async () => {
  const out = join(scratch, 'tls');
  const run = await sipwarden(
    'tls-cert',
    '--out',
    out,
    '--cn',
    'sip.test',
    '--alt',
    '127.0.0.1',
    '--days',
    '30',
  );
  assert.equal(run.code, 0, run.stderr);
  const cert = new X509Certificate(readFileSync(join(out, 'cert.pem')));
  const key = createPrivateKey(readFileSync(join(out, 'key.pem')));
  assert.ok(cert.checkPrivateKey(key));
  assert.match(cert.subject, /CN=sip\.test/);
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(statSync(join(out, 'key.pem')).mode & 0o777, 0o600);
  assert.match(run.stdout, new RegExp(`cert: ${join(out, 'cert.pem')}`));
});

test('tls-cert refuses to replace existing files without --force', async () => {
  const out = join(scratch, 'tls-twice');
  assert.equal((await sipwarden('tls-cert', '--out', out, '--cn', 'a.test')).code, 0);
  const first = readFileSync(join(out, 'key.pem'), 'utf8');
  const again = await sipwarden('tls-cert', '--out', out, '--cn', 'b.test');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists already \(use --force to replace it\)/);
  assert.equal(readFileSync(join(out, 'key.pem'), 'utf8'), first);
  const forced = await sipwarden('tls-cert', '--out', out, '--cn', 'b.test', '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(new X509Certificate(readFileSync(join(out, 'cert.pem'))).subject, /CN=b\.test/);
});

test('tls-cert refuses a validity out of range with exit code 2', async () => {
  const run = await sipwarden('tls-cert', '--out', join(scratch, 'never'), '--days', '0');
  assert.equal(run.code, 2);
  assert.equal(run.stderr, 'sipwarden: --days: "0" must be 1..3650\n');
});
