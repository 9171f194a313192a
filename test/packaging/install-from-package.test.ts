/**
 * The package as a user installs it: `npm pack` of this checkout, installed from the tarball
 * into a scratch prefix as `npm install -g` installs it, then the installed `sipwarden`
 * command: its version, the shipped example configuration through check-config, and `start`
 * answering SIP on a loopback port and stopping cleanly on SIGTERM. The install runs offline from npm's cache
 * (which `npm ci` filled) and builds better-sqlite3 from source, so nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../interop/harness/ports.ts';
import { UdpPeer } from '../support/udp-peer.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** npm without the network: the cache only, and native modules built here rather than downloaded. */
const OFFLINE_NPM = {
  ...process.env,
  npm_config_offline: 'true',
  npm_config_build_from_source: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
};

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

describe('the package installed with npm install -g', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'sw-package-'));
  const prefix = join(scratch, 'prefix');
  const command = join(prefix, 'bin', 'sipwarden');
  const installed = join(prefix, 'lib', 'node_modules', 'sipwarden');
  let packed: string[] = [];
  let child: ChildProcess | undefined;

  before(async () => {
    // The package ships dist/ as it is: build it first where the sources are newer.
    const main = join(ROOT, 'dist', 'cli', 'main.js');
    if (!existsSync(main) || statSync(main).mtimeMs < newestMtime(join(ROOT, 'src'))) {
      await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
    }
    const { stdout } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch],
      { cwd: ROOT, env: OFFLINE_NPM, maxBuffer: 16 << 20 },
    );
    const [report] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(report);
    packed = report.files.map((f) => f.path);
    // Laid out as `npm install -g` lays it out (the package under lib/node_modules, its
    // command linked in bin/), with the dependency versions of the lockfile: npm ci reads
    // them from the cache `npm ci` filled, whereas `npm install -g` asks the registry for
    // each dependency's full metadata, which no cache filled by `npm ci` holds offline.
    mkdirSync(installed, { recursive: true });
    await run('tar', ['-xzf', join(scratch, report.filename), '-C', installed, '--strip-components=1']);
    copyFileSync(join(ROOT, 'package-lock.json'), join(installed, 'package-lock.json'));
    const npm = { cwd: installed, env: OFFLINE_NPM, maxBuffer: 16 << 20 };
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts'], npm);
    // The one dependency with an install step: better-sqlite3, built from source here.
    await run('npm', ['rebuild', 'better-sqlite3'], npm);
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    chmodSync(join(installed, 'bin', 'sipwarden.js'), 0o755);
    symlinkSync(join('..', 'lib', 'node_modules', 'sipwarden', 'bin', 'sipwarden.js'), command);
  });

  after(() => {
    child?.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });

  test('ships the build, the data, the example configurations and the service files, not the sources or the tests', () => {
    for (const file of [
      'bin/sipwarden.js',
      'dist/cli/main.js',
      'data/destinations.csv',
      'config/sipwarden.example.yaml',
      'packaging/sipwarden.service',
      'packaging/Dockerfile',
      'README.md',
      'LICENSE',
    ]) {
      assert.ok(packed.includes(file), `${file} is not in the package`);
    }
    for (const path of packed) {
      assert.doesNotMatch(path, /^(src|test|bench|scripts)\//, `${path} is in the package`);
      assert.doesNotMatch(path, /\.map$/, `${path} is in the package`);
    }
  });

  test('the installed command runs from its build: version and the shipped example configuration', async () => {
    assert.equal(existsSync(join(installed, 'src')), false);
    const version = await run(command, ['--version'], { cwd: scratch });
    assert.equal(version.stdout.trim(), VERSION);
    const example = join(installed, 'config', 'sipwarden.example.yaml');
    const checked = await run(command, ['check-config', example], { cwd: scratch });
    assert.equal(checked.stdout.trim(), `${example}: ok`);
  });

  test('sipwarden start answers SIP, keeps its events database next to its configuration, and stops on SIGTERM', async () => {
    const port = await freePort();
    const upstream = await UdpPeer.bind();
    const phone = await UdpPeer.bind();
    const apiPort = await freePort('127.0.0.1', ['tcp']);
    const config = join(scratch, 'sipwarden.yaml');
    writeFileSync(
      config,
      [
        'listen:',
        `  - { host: 127.0.0.1, port: ${port}, transports: [udp] }`,
        `upstream: { host: 127.0.0.1, port: ${upstream.port} }`,
        `management: { port: ${apiPort} }`,
        '',
      ].join('\n'),
    );
    try {
      child = spawn(command, ['start', '-c', config], { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const deadline = Date.now() + 30_000;
      while (!output.includes('sipwarden listening')) {
        assert.ok(Date.now() < deadline && child.exitCode === null, `sipwarden did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const options = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-package-1;rport`,
        'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1:${phone.port}>;tag=p1`,
        `To: <sip:127.0.0.1:${port}>`,
        'Call-ID: package-1@127.0.0.1',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      phone.send(options, port);
      const answer = await phone.next((text) => text.includes('package-1@127.0.0.1'), 10_000);
      assert.match(answer, /^SIP\/2\.0 200 /);
      const database = join(scratch, 'events.db');
      assert.ok(existsSync(database), output);
      assert.equal(statSync(database).mode & 0o777, 0o600);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output);
      assert.match(output, /sipwarden stopped/);
    } finally {
      upstream.close();
      phone.close();
    }
  });
});
