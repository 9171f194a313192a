import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

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
