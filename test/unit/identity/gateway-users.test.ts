import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { UserAnswer } from '../../../src/api/user-routes.ts';
import { loadConfigFile } from '../../../src/config/load-config.ts';
import { startGateway } from '../../../src/gateway.ts';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { gatewayToken } from '../../support/accounts.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-gateway-users-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The real `sipwarden` command, outside systemd (no StateDirectory), with `stdin` as input. */
function sipwarden(args: readonly string[], stdin = ''): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.STATE_DIRECTORY;
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: scratch,
      env,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end(stdin);
  });
}

test('a running gateway sees users that `sipwarden users --config` adds, changes and removes', async () => {
  const configFile = join(scratch, 'sipwarden.yaml');
  writeFileSync(
    configFile,
    [
      'listen: [{ host: 127.0.0.1, port: 0, transports: [udp] }]',
      'upstream: { host: 127.0.0.1, port: 5080 }',
      'management: { host: 127.0.0.1, port: 0 }',
      '',
    ].join('\n'),
  );
  const loaded = loadConfigFile(configFile);
  assert.ok(loaded.ok);
  const gateway = await startGateway(loaded.config, silentLogger, {
    dataDir: { configFile, env: {}, uid: process.getuid?.(), home: scratch, cwd: scratch },
  });
  try {
    assert.equal(gateway.eventsDatabase, join(scratch, 'events.db'));
    assert.equal(gateway.users.find('alice', 'example.com'), undefined);

    const add = await sipwarden(
      ['users', 'add', 'alice@example.com', '--groups', 'staff', '--password-stdin', '--config', configFile],
      'correct horse\n',
    );
    assert.equal(add.code, 0, add.stderr);
    const seen = gateway.users.find('alice', 'example.com');
    assert.equal(seen?.ha1Sha256, computeHa1s('alice', 'example.com', 'correct horse').ha1Sha256);
    assert.deepEqual(seen?.groups, ['staff']);
    assert.equal(seen?.enabled, true);

    const { host, port } = gateway.managementAddress!;
    const answer = await fetch(`http://${host}:${port}/api/users/example.com/alice`, {
      headers: { authorization: `Bearer ${gatewayToken(gateway, 'viewer')}` },
    });
    assert.equal(answer.status, 200);
    assert.equal(((await answer.json()) as UserAnswer).user.user, 'alice');

    const disable = await sipwarden([
      'users',
      'set',
      'alice@example.com',
      '--disabled',
      '--config',
      configFile,
    ]);
    assert.equal(disable.code, 0, disable.stderr);
    assert.equal(gateway.users.find('alice', 'example.com')?.enabled, false);

    const remove = await sipwarden(['users', 'remove', 'alice@example.com', '--config', configFile]);
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(gateway.users.find('alice', 'example.com'), undefined);
  } finally {
    await gateway.close();
  }
  // Closed with the gateway: a lookup after close answers "unknown" instead of throwing.
  assert.equal(gateway.users.find('alice', 'example.com'), undefined);
});
