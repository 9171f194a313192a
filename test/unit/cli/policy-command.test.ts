import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { openUserStore } from '../../../src/identity/users/user-store.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-policy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function sipwarden(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const POLICY = `policy:
  rules:
    - name: no-premium
      match: { to: { prefixes: ['+1900', '0900'] } }
      action: deny
    - name: sales-hours
      match: { groups: sales, time: { days: mon-fri, hours: '08:00-18:00', timezone: Europe/Paris } }
      action: allow
    - name: no-international
      match: { to: { prefixes: '+' } }
      action: deny
`;

test('policy explain prints each rule passed over and the one that decides, from the flags', async () => {
  const file = join(scratch, 'explain.yaml');
  writeFileSync(file, POLICY);
  const run = await sipwarden(
    'policy',
    'explain',
    '--config',
    file,
    '--user',
    'alice@example.com',
    '--groups',
    'sales',
    '--to',
    '0044 20 7946 0000',
    '--from-ip',
    '192.0.2.7',
    '--at',
    '2026-03-07T10:00:00Z',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout,
    [
      'request: alice@example.com (groups: sales; roles: none) from 192.0.2.7 over udp: INVITE to +442079460000 at 2026-03-07T10:00:00.000Z',
      '  rule 1 no-premium (deny): no match: to.prefixes: the dialled number +442079460000 starts with none of +1900, 0900',
      '  rule 2 sales-hours (allow): no match: time: 2026-03-07T10:00:00.000Z is outside mon-fri 08:00-18:00 Europe/Paris',
      '  rule 3 no-international (deny): matches',
      'decision: deny by rule no-international: answered 403 Forbidden',
      '',
    ].join('\n'),
  );
});

test('policy explain refuses a bad flag with exit 2', async () => {
  const run = await sipwarden('policy', 'explain', '--user', 'alice', '--transport', 'sctp');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--transport: must be one of udp, tcp, tls/);
});

test('check-config refuses a rule that can never match, naming the rule that hides it', async () => {
  const file = join(scratch, 'unreachable.yaml');
  writeFileSync(
    file,
    `${POLICY}    - name: no-uk\n      match: { to: { prefixes: '+44' } }\n      action: deny\n`,
  );
  const run = await sipwarden('check-config', file);
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    'sipwarden: config error: policy.rules[3]: can never match: rule no-international (policy.rules[2]) decides every request it matches\n',
  );
});

/** A user store file with users in it, as `sipwarden users add` writes it. */
function storeWith(
  file: string,
  users: { user: string; groups: string[]; roles?: string[]; enabled?: boolean }[],
) {
  const store = openUserStore({ database: file });
  try {
    for (const u of users) {
      store.add({
        user: u.user,
        domain: 'example.com',
        ...computeHa1s(u.user, 'example.com', 'a long secret'),
        groups: u.groups,
        roles: u.roles ?? [],
        allowedNetworks: [],
        enabled: u.enabled ?? true,
      });
    }
  } finally {
    store.close();
  }
}

test('with a user store, explain reads the groups from it and check-config refuses groups no user has', async () => {
  const database = join(scratch, 'users.db');
  storeWith(database, [
    { user: 'alice', groups: ['Sales'] },
    { user: 'mallory', groups: ['sales'], enabled: false },
  ]);
  const file = join(scratch, 'with-store.yaml');
  writeFileSync(
    file,
    `events: { database: ${JSON.stringify(database)} }\n${POLICY}    - name: support\n      match: { groups: support }\n      action: allow\n`,
  );
  const check = await sipwarden('check-config', file);
  assert.equal(check.code, 2);
  assert.equal(
    check.stderr,
    'sipwarden: config error: policy.rules[3].match.groups: no user has the group "support"\n',
  );
  const run = await sipwarden(
    'policy',
    'explain',
    '--config',
    file,
    '--user',
    'alice@example.com',
    '--groups',
    'support',
    '--to',
    '+33142685300',
    '--at',
    '2026-03-02T10:00:00Z',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^request: alice@example\.com \(groups: Sales; roles: none\)/);
  assert.match(run.stdout, /decision: allow by rule sales-hours: allowed\n$/);
  const unknown = await sipwarden('policy', 'explain', '--db', database, '--user', 'bob@example.com');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no user bob@example\.com in the user store/);
  const disabled = await sipwarden('policy', 'explain', '--db', database, '--user', 'mallory@example.com');
  assert.match(disabled.stderr, /mallory@example\.com is disabled/);
});
