import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuditLog } from '../../../src/audit/audit-log.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { configChanges } from '../../../src/reload/config-changes.ts';
import { type LivePart, Reloader, type ReloadOrigin } from '../../../src/reload/reloader.ts';

const SIGNAL: ReloadOrigin = { actor: 'local', address: '-', via: 'signal' };

function withChanges(change: (config: SipwardenConfig) => void): SipwardenConfig {
  const config = structuredClone(defaultConfig());
  change(config);
  return config;
}

test('live keys and restart keys are told apart, named to the key', () => {
  const running = defaultConfig();
  assert.deepEqual(configChanges(running, defaultConfig()), { live: [], restart: [] });
  const next = withChanges((c) => {
    (c.security as { allowlist: string[] }).allowlist = ['10.0.0.0/8'];
    (c.security as { maxBlocks: number }).maxBlocks = 500;
    (c.proxy as { maxForwards: number }).maxForwards = 20;
    (c.upstream as { port: number }).port = 5099;
  });
  assert.deepEqual(configChanges(running, next), {
    live: ['security.allowlist'],
    restart: ['proxy.maxForwards', 'security.maxBlocks', 'upstream.port'],
  });
  // TLS added is a restart (its listeners open at start); its certificate changed is live.
  const tls = {
    cert: '/a.pem',
    key: '/a.key',
    minVersion: 'TLSv1.2',
    verifyUpstream: true,
    requestClientCert: false,
  };
  const withTls = withChanges((c) => Object.assign(c, { tls }));
  assert.deepEqual(configChanges(running, withTls).restart, ['tls']);
  const renamed = withChanges((c) => Object.assign(c, { tls: { ...tls, cert: '/b.pem' } }));
  assert.deepEqual(configChanges(withTls, renamed), { live: ['tls.cert'], restart: [] });
});

test('a refused reload keeps the running configuration and commits nothing; every reload is audited', async () => {
  const audit = createAuditLog({ database: ':memory:' });
  let next: SipwardenConfig = defaultConfig();
  let issues: string[] = [];
  const commits: string[] = [];
  const part: LivePart = {
    name: 'security',
    prepare: (config, changed) =>
      changed.length === 0
        ? undefined
        : { keys: [], commit: () => commits.push(JSON.stringify(config.security.allowlist)) },
  };
  const failing: LivePart = {
    name: 'tls',
    prepare: () => ({
      keys: ['tls.certificate'],
      mayFail: true,
      commit: () => {
        throw new Error('tls certificate or key unusable: key values mismatch');
      },
    }),
  };
  let fail = false;
  const reloader = new Reloader({
    source: () => ({ ok: true, config: next }),
    check: () => issues,
    initial: defaultConfig(),
    parts: [part, { name: 'maybe', prepare: (c, ch) => (fail ? failing.prepare(c, ch) : undefined) }],
    log: silentLogger,
    audit,
    configFile: '/etc/sipwarden/sipwarden.yaml',
  });
  const running = reloader.running;
  issues = ['security.settings.flood.nonsense: unknown key'];
  next = withChanges((c) => Object.assign(c.security, { allowlist: ['10.0.0.0/8'] }));
  assert.deepEqual(await reloader.reload(SIGNAL), { ok: false, errors: issues });
  assert.equal(reloader.running, running);
  issues = [];
  next = withChanges((c) => {
    Object.assign(c.security, { allowlist: ['10.0.0.0/8'] });
    Object.assign(c.events, { retentionDays: 3 });
  });
  const restart = await reloader.reload(SIGNAL);
  assert.equal(restart.ok, false);
  assert.match(
    restart.ok ? '' : (restart.errors[0] ?? ''),
    /^events\.retentionDays: changed, and it applies only at a start/,
  );
  // The change that may fail runs first: when it fails, nothing else is committed.
  fail = true;
  next = withChanges((c) => Object.assign(c.security, { allowlist: ['10.0.0.0/8'] }));
  const failed = await reloader.reload(SIGNAL);
  assert.deepEqual(failed, { ok: false, errors: ['tls certificate or key unusable: key values mismatch'] });
  assert.deepEqual(commits, []);
  assert.equal(reloader.running, running);
  fail = false;
  // Two reloads asked at once run one after the other.
  const [first, second] = await Promise.all([
    reloader.reload(SIGNAL),
    reloader.reload({ actor: 'alice', address: '127.0.0.1', via: 'api' }),
  ]);
  assert.deepEqual(first, { ok: true, changed: ['security.allowlist'], warnings: [] });
  assert.deepEqual(second, { ok: true, changed: [], warnings: [] });
  assert.deepEqual(commits, ['["10.0.0.0/8"]']);
  assert.equal(reloader.running, next);
  assert.deepEqual(
    audit
      .list({ action: 'config.reload' })
      .reverse()
      .map((e) => [e.actor, e.outcome, e.target]),
    [
      ['local', 'refused', '/etc/sipwarden/sipwarden.yaml'],
      ['local', 'refused', '/etc/sipwarden/sipwarden.yaml'],
      ['local', 'refused', '/etc/sipwarden/sipwarden.yaml'],
      ['local', 'ok', '/etc/sipwarden/sipwarden.yaml'],
      ['alice', 'ok', '/etc/sipwarden/sipwarden.yaml'],
    ],
  );
  assert.deepEqual(reloader.stats(), { reloads: 2, refused: 3 });
});
