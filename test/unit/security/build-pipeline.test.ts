import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/log/logger.ts';
import {
  buildStages,
  checkSecuritySettings,
  DEFAULT_STAGE_ORDER,
  withTrunks,
} from '../../../src/security/build-pipeline.ts';
import { createMemoryActivityStore } from '../../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../src/state/memory-trust-table.ts';

const deps = () => ({
  store: createMemoryActivityStore({ maxKeys: 1000 }),
  blocks: createMemoryBlockTable({ maxEntries: 100 }),
  trust: createMemoryTrustTable({ maxEntries: 100 }),
  log: silentLogger,
});

const security = (fields: Record<string, unknown> = {}) => ({
  enabled: true,
  allowlist: [],
  settings: {},
  ...fields,
});

test('builds every default stage in the default order', () => {
  const stages = buildStages(security(), deps());
  assert.deepEqual(
    stages.map((s) => s.name),
    [...DEFAULT_STAGE_ORDER],
  );
});

test('authenticate runs after validate and before the policy stages', () => {
  const order = [...DEFAULT_STAGE_ORDER];
  assert.equal(order.indexOf('authenticate'), order.indexOf('validate') + 1);
  assert.ok(order.indexOf('authenticate') < order.indexOf('call-limit'));
});

test('all stages share one authenticator, built when sipwarden can verify (local mode or a user store)', () => {
  assert.equal(withTrunks(security(), deps()).authenticator, undefined, 'pass-through without users: none');
  const local = withTrunks(security({ settings: { authenticate: { mode: 'local' } } }), deps());
  assert.ok(local.authenticator);
  const users = { find: () => undefined };
  assert.ok(
    withTrunks(security(), { ...deps(), users }).authenticator,
    'a user store: policies may challenge',
  );
  const off = withTrunks(security({ stages: ['gate'], settings: {} }), { ...deps(), users });
  assert.equal(off.authenticator, undefined, 'no authenticate stage, nothing verifies: none');
});

test('a bad authenticate setting is reported at its path', () => {
  const issues = checkSecuritySettings(
    security({ settings: { authenticate: { mode: 'local', methods: ['INVITE', 'ACK'], secret: 'short' } } }),
    deps(),
  );
  assert.deepEqual(issues, [
    'security.settings.authenticate.methods[1]: ACK and CANCEL cannot be challenged (RFC 3261 22.1)',
    'security.settings.authenticate.secret: must be at least 32 characters',
  ]);
});

test('reports every problem in the security section as a path and a reason', () => {
  const issues = checkSecuritySettings(
    security({
      stages: ['gate', 'nonsense'],
      allowlist: ['10.0.0.0/33'],
      settings: { gate: { packetsPerSecond: 0 }, flod: {} },
    }),
    deps(),
  );
  assert.deepEqual(issues, [
    'security.allowlist[0]: "10.0.0.0/33" is not an address or CIDR network',
    'security.settings.gate.packetsPerSecond: must be an integer from 1 to 1000000',
    'security.stages[1]: unknown stage "nonsense" (known: gate, validate, authenticate, scanner, flood, enumeration, password-guessing, malformed-rate, call-limit, fraud, policy, content)',
    'security.settings.flod: unknown stage',
  ]);
});

test('check-config refuses a file whose stage settings are wrong, naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-check-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'security:\n  settings:\n    call-limit: { maxConcurrentCalls: 0 }\n');
  const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'sipwarden.js');
  let stderr = '';
  let status = 0;
  try {
    execFileSync(process.execPath, [bin, 'check-config', file], { stdio: 'pipe' });
  } catch (error) {
    const failure = error as { status: number; stderr: Buffer };
    status = failure.status;
    stderr = failure.stderr.toString();
  }
  assert.equal(status, 2);
  assert.match(
    stderr,
    /security\.settings\.call-limit\.maxConcurrentCalls: must be an integer from 1 to 100000/,
  );
});
