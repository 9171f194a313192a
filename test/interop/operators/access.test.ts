/**
 * Access to management with sipwarden as a real process: the first admin made with
 * `sipwarden admin create` before start (TOTP enrolment printed), the local command line
 * over the management socket with no token (0600), the same commands over HTTP with API
 * tokens of each role, a console login with password and TOTP, a token revoked while the
 * gateway runs; HTTPS when a certificate is configured (Secure cookie); and the address
 * allowlist, checked with requests from two loopback addresses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { BlocksAnswer } from '../../../src/api/views.ts';
import { login, TEST_PASSWORD, type TestAccount } from '../../support/accounts.ts';
import { selfSignedCertificate } from '../harness/certs.ts';
import { freePort } from '../harness/ports.ts';
import { SIPWARDEN_BIN, type Sipwarden, sipwardenAvailable, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function sipwarden(args: readonly string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [SIPWARDEN_BIN, ...args],
      { env: { ...process.env, SIPWARDEN_API: '', SIPWARDEN_API_TOKEN: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with node:http(s), which can choose the source address and trust a CA. */
function call(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    localAddress?: string;
    ca?: Buffer;
  } = {},
): Promise<Answer> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      target,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        timeout: 10_000,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end(options.body);
  });
}

const skip = sipwardenAvailable() ? false : 'bin/sipwarden.js not built';
const running: Sipwarden[] = [];
after(async () => {
  for (const instance of running) await instance.stop();
});

async function start(
  dir: string,
  management: Record<string, unknown>,
): Promise<{ gateway: Sipwarden; apiPort: number }> {
  const apiPort = await freePort('127.0.0.1', ['tcp']);
  const gateway = await startSipwarden({
    port: await freePort(),
    upstream: { host: '127.0.0.1', port: await freePort() },
    cwd: dir,
    config: {
      events: { database: join(dir, 'events.db') },
      management: { port: apiPort, ...management },
      log: { level: 'warn' },
    },
  });
  running.push(gateway);
  // The management API starts after the SIP listeners.
  await gateway.apiToken('viewer');
  return { gateway, apiPort };
}

describe('access to management, with sipwarden running', { skip }, () => {
  test('admin create, the local socket, tokens of each role, a console login and a revoked token', async () => {
    const dir = tempDir('access');
    const db = join(dir, 'events.db');
    const created = await sipwarden(
      ['admin', 'create', '--user', 'alice', '--password-stdin', '--db', db],
      `${TEST_PASSWORD}\n`,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created alice \(admin\)\n/);
    const secret = /otpauth:\/\/totp\/sipwarden:alice\?secret=([A-Z2-7]+)/.exec(created.stdout)?.[1];
    assert.ok(secret, created.stdout);
    // The terminal QR code: rows of block characters.
    assert.ok(
      created.stdout.split('\n').filter((line) => (line.match(/[█▀▄]/g) ?? []).length >= 10).length >= 10,
      created.stdout,
    );
    const noTotp = await sipwarden(
      ['admin', 'create', '--user', 'root', '--no-totp', '--password-stdin', '--db', db],
      `${TEST_PASSWORD}\n`,
    );
    assert.equal(noTotp.code, 2);
    assert.match(noTotp.stderr, /the admin role needs a TOTP second factor/);
    const short = await sipwarden(
      ['admin', 'create', '--user', 'bob', '--role', 'viewer', '--password-stdin', '--db', db],
      'short\n',
    );
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 10 characters/);
    const viewerRun = await sipwarden([
      'admin',
      'token',
      'create',
      '--name',
      'grafana',
      '--role',
      'viewer',
      '--json',
      '--db',
      db,
    ]);
    assert.equal(viewerRun.code, 0, viewerRun.stderr);
    const viewerToken = (JSON.parse(viewerRun.stdout) as { token: string }).token;
    const operatorRun = await sipwarden([
      'admin',
      'token',
      'create',
      '--name',
      'noc',
      '--role',
      'operator',
      '--json',
      '--db',
      db,
    ]);
    const operatorToken = (JSON.parse(operatorRun.stdout) as { token: string }).token;
    const stored = readFileSync(db);
    assert.equal(stored.includes(viewerToken), false, 'the token itself is not stored');
    assert.equal(stored.includes(TEST_PASSWORD), false);

    const { gateway, apiPort } = await start(dir, {});
    const api = `http://127.0.0.1:${apiPort}`;
    const config = gateway.configPath;
    assert.equal(statSync(gateway.socketPath!).mode & 0o777, 0o600);

    // The local command line: no token, over the socket the configuration names.
    const block = await sipwarden(['block', '203.0.113.50', '--for', '10m', '-c', config]);
    assert.equal(block.code, 0, block.stderr);
    const listed = await sipwarden(['blocks', '--json', '-c', config]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as BlocksAnswer).blocks.map((entry) => entry.key),
      ['203.0.113.50'],
    );

    // Over HTTP: nothing without a token; a viewer reads; an operator blocks.
    const anonymous = await sipwarden(['blocks', '--api', api]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /needs an API token/);
    assert.equal((await sipwarden(['blocks', '--api', api, '--token', viewerToken])).code, 0);
    const refused = await sipwarden(['unblock', '203.0.113.50', '--api', api], undefined, {
      SIPWARDEN_API_TOKEN: viewerToken,
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /needs the operator role/);
    const unblock = await sipwarden(['unblock', '203.0.113.50', '--api', api], undefined, {
      SIPWARDEN_API_TOKEN: operatorToken,
    });
    assert.equal(unblock.code, 0, unblock.stderr);

    // The console's login: password and TOTP, then an admin page.
    const alice: TestAccount = { name: 'alice', role: 'admin', password: TEST_PASSWORD, totpSecret: secret };
    const session = await login(api, alice);
    const accounts = await call(`${api}/api/accounts`, { headers: { cookie: session.cookie } });
    assert.equal(accounts.status, 200);
    assert.deepEqual(
      (JSON.parse(accounts.body) as { accounts: { name: string; totp: boolean }[] }).accounts.map((a) => [
        a.name,
        a.totp,
      ]),
      [['alice', true]],
    );

    // Revoked by the command line while the gateway runs: refused on the next request.
    const revoke = await sipwarden(['admin', 'token', 'revoke', 'grafana', '--db', db]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const after = await call(`${api}/api/blocks`, { headers: { authorization: `Bearer ${viewerToken}` } });
    assert.equal(after.status, 401);
    const tokens = await sipwarden(['admin', 'token', 'list', '--db', db]);
    assert.match(tokens.stdout, /grafana +viewer +local/);
  });

  test('HTTPS when a certificate is configured: the Secure cookie, and plain HTTP gets no answer', async () => {
    const dir = tempDir('access-tls');
    const { certPath, keyPath } = selfSignedCertificate(dir);
    const db = join(dir, 'events.db');
    const made = await sipwarden(
      ['admin', 'create', '--user', 'vera', '--role', 'viewer', '--no-totp', '--password-stdin', '--db', db],
      `${TEST_PASSWORD}\n`,
    );
    assert.equal(made.code, 0, made.stderr);
    const { apiPort } = await start(dir, { tls: { cert: certPath, key: keyPath } });
    const ca = readFileSync(certPath);
    const loginBody = JSON.stringify({ user: 'vera', password: TEST_PASSWORD });
    const answer = await call(`https://127.0.0.1:${apiPort}/api/session`, {
      method: 'POST',
      body: loginBody,
      ca,
    });
    assert.equal(answer.status, 200, answer.body);
    assert.match(String(answer.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
    const cookie = String(answer.headers['set-cookie']).split(';')[0]!;
    assert.equal(
      (await call(`https://127.0.0.1:${apiPort}/api/blocks`, { headers: { cookie }, ca })).status,
      200,
    );
    await assert.rejects(
      call(`http://127.0.0.1:${apiPort}/api/session`, { method: 'POST', body: loginBody }),
    );
  });

  test('management.allow: an address outside it is refused 403 before anything else', async () => {
    const dir = tempDir('access-allow');
    const { gateway, apiPort } = await start(dir, { host: '127.0.0.1', allow: ['127.0.0.1'] });
    const token = await gateway.apiToken('viewer');
    const headers = { authorization: `Bearer ${token}` };
    const inside = await call(`http://127.0.0.1:${apiPort}/api/blocks`, {
      headers,
      localAddress: '127.0.0.1',
    });
    assert.equal(inside.status, 200);
    const outside = await call(`http://127.0.0.1:${apiPort}/api/blocks`, {
      headers,
      localAddress: '127.0.0.2',
    });
    assert.equal(outside.status, 403);
    assert.equal(
      (JSON.parse(outside.body) as { error: { code: string } }).error.code,
      'SW_ERR_FORBIDDEN_ADDRESS',
    );
  });
});
