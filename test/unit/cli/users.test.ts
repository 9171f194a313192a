import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openAuditReader } from '../../../src/audit/audit-log.ts';
import { locateEventsDatabase } from '../../../src/config/data-dir.ts';
import { loadConfigFile } from '../../../src/config/load-config.ts';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { openUserStore } from '../../../src/identity/users/user-store.ts';
import type { UserView } from '../../../src/identity/users/user-view.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-users-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const STATE = join(scratch, 'state-directory');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/sipwarden.js ...args` with `stdin` as its standard input (not a terminal). */
function sipwarden(args: readonly string[], stdin = '', stateDirectory: string | null = STATE): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Without --db or --config the data directory would be the machine's: it is one here.
    // null: no StateDirectory, as outside systemd.
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (stateDirectory === null) delete env.STATE_DIRECTORY;
    else env.STATE_DIRECTORY = stateDirectory;
    const child = spawn(process.execPath, [bin, ...args], { cwd: scratch, env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

function stored(database: string, user: string, domain: string) {
  const store = openUserStore({ database });
  try {
    return store.get(user, domain);
  } finally {
    store.close();
  }
}

test('users add --password-stdin stores the HA1s of the first stdin line in an owner-only file', async () => {
  const db = join(scratch, 'add.db');
  const run = await sipwarden(
    [
      'users',
      'add',
      'Alice',
      '--domain',
      'Example.com',
      '--groups',
      'staff,sales',
      '--roles',
      'caller',
      '--organisation',
      'ACME',
      '--allowed-networks',
      '192.0.2.0/24, 2001:db8::/32',
      '--password-stdin',
      '--db',
      db,
    ],
    'correct horse battery\nignored second line\n',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'added alice@example.com\n');
  assert.equal(statSync(db).mode & 0o777, 0o600);
  const user = stored(db, 'alice', 'example.com');
  assert.deepEqual(user, {
    user: 'alice',
    domain: 'example.com',
    ...computeHa1s('alice', 'example.com', 'correct horse battery'),
    groups: ['staff', 'sales'],
    roles: ['caller'],
    organisation: 'ACME',
    allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'],
    enabled: true,
    createdAt: user?.createdAt,
    updatedAt: user?.updatedAt,
  });
  const again = await sipwarden(['users', 'add', 'alice@example.com', '--password-stdin', '--db', db], 'x\n');
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'sipwarden: alice@example.com exists already\n');
});

test('users add without --password-stdin and without a terminal refuses, writing nothing', async () => {
  const db = join(scratch, 'no-tty.db');
  const run = await sipwarden(['users', 'add', 'bob@example.com', '--db', db], 'secret\n');
  assert.equal(run.code, 2);
  assert.match(run.stderr, /no terminal to ask for the password on: use --password-stdin/);
  assert.equal(existsSync(db) ? stored(db, 'bob', 'example.com') : undefined, undefined);
});

test('a password is never taken from the command line', async () => {
  const db = join(scratch, 'argv.db');
  const add = await sipwarden(['users', 'add', 'bob@example.com', '--password', 'secret', '--db', db]);
  assert.equal(add.code, 2);
  assert.match(add.stderr, /unknown option '--password'/);
  const set = await sipwarden(['users', 'set', 'bob@example.com', '--password', 'secret', '--db', db]);
  assert.equal(set.code, 2);
  assert.match(set.stderr, /too many arguments/);
});

test('users add with bad fields names each and writes nothing', async () => {
  const db = join(scratch, 'bad.db');
  const run = await sipwarden(
    [
      'users',
      'add',
      'carol',
      '--domain',
      'example.com',
      '--allowed-networks',
      '10.0.0.0/99',
      '--groups',
      'a b',
    ],
    'pw\n',
  );
  assert.equal(run.code, 2);
  assert.match(run.stderr, /groups: "a b"/);
  assert.match(run.stderr, /allowed networks: "10\.0\.0\.0\/99" is not an IP address or a CIDR network/);
  assert.equal(existsSync(db), false, 'nothing opened for a bad field');
  // Checked before the password is asked for (here: before finding there is no terminal).
  const beforePassword = await sipwarden(['users', 'add', 'carol@example.com', '--roles', 'a b', '--db', db]);
  assert.equal(beforePassword.code, 2);
  assert.match(beforePassword.stderr, /^sipwarden: roles: "a b"/);
  const noDomain = await sipwarden(['users', 'add', 'carol', '--password-stdin', '--db', db], 'pw\n');
  assert.equal(noDomain.code, 2);
  assert.match(noDomain.stderr, /--domain is required/);
});

test('users set changes the fields given and the password only when asked', async () => {
  const db = join(scratch, 'set.db');
  assert.equal(
    (
      await sipwarden(
        ['users', 'add', 'dave@example.com', '--groups', 'a', '--password-stdin', '--db', db],
        'one\n',
      )
    ).code,
    0,
  );
  const fields = await sipwarden(
    [
      'users',
      'set',
      'dave',
      '--domain',
      'example.com',
      '--disabled',
      '--groups',
      '',
      '--roles',
      'x',
      '--db',
      db,
    ],
    'not read\n',
  );
  assert.equal(fields.code, 0, fields.stderr);
  assert.equal(fields.stdout, 'changed dave@example.com\n');
  let user = stored(db, 'dave', 'example.com')!;
  assert.equal(user.enabled, false);
  assert.deepEqual(user.groups, []);
  assert.deepEqual(user.roles, ['x']);
  assert.equal(user.ha1Md5, computeHa1s('dave', 'example.com', 'one').ha1Md5, 'the password stays');
  const password = await sipwarden(
    ['users', 'set', 'dave@example.com', '--enabled', '--password-stdin', '--db', db],
    'two\r\n',
  );
  assert.equal(password.code, 0, password.stderr);
  assert.equal(password.stdout, 'changed dave@example.com (new password)\n');
  user = stored(db, 'dave', 'example.com')!;
  assert.equal(user.enabled, true);
  assert.deepEqual(
    { ha1Md5: user.ha1Md5, ha1Sha256: user.ha1Sha256 },
    computeHa1s('dave', 'example.com', 'two'),
  );
  const unknown = await sipwarden(['users', 'set', 'nobody@example.com', '--enabled', '--db', db]);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'sipwarden: no user nobody@example.com\n');
});

test('users list prints a table or JSON, never HA1s; users remove removes', async () => {
  const db = join(scratch, 'list.db');
  await sipwarden(
    ['users', 'add', 'erin@example.com', '--roles', 'admin', '--password-stdin', '--db', db],
    'pw\n',
  );
  await sipwarden(['users', 'add', 'fred@example.org', '--disabled', '--password-stdin', '--db', db], 'pw\n');
  const table = await sipwarden(['users', 'list', '--db', db]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(
    lines[0]!,
    /^USER\s+DOMAIN\s+ENABLED\s+GROUPS\s+ROLES\s+ORGANISATION\s+ALLOWED NETWORKS\s+CHANGED$/,
  );
  assert.match(lines[1]!, /^erin\s+example\.com\s+yes\s+-\s+admin\s+-\s+any\s+\d{4}-/);
  assert.match(lines[2]!, /^fred\s+example\.org\s+no\s/);
  const json = await sipwarden(['users', 'list', '--domain', 'example.org', '--json', '--db', db]);
  assert.equal(json.code, 0, json.stderr);
  assert.doesNotMatch(json.stdout, /ha1/i);
  const { users, total } = JSON.parse(json.stdout) as { users: UserView[]; total: number };
  assert.equal(total, 1);
  assert.deepEqual(
    users.map((u) => [u.user, u.enabled]),
    [['fred', false]],
  );
  const limited = await sipwarden(['users', 'list', '--limit', '1', '--db', db]);
  assert.match(limited.stdout, /^USER.*\nerin .*\n\(1 of 2 users: see --limit\)\n$/);
  const removed = await sipwarden(['users', 'remove', 'fred', '--domain', 'example.org', '--db', db]);
  assert.equal(removed.stdout, 'removed fred@example.org\n');
  assert.equal(stored(db, 'fred', 'example.org'), undefined);
  const again = await sipwarden(['users', 'remove', 'fred@example.org', '--db', db]);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, 'sipwarden: no user fred@example.org\n');
});

test('users import writes a good file; a bad file is reported by line and writes nothing', async () => {
  const db = join(scratch, 'import.db');
  const good = join(scratch, 'good.csv');
  writeFileSync(
    good,
    'user,domain,password,groups,allowed_networks\n' +
      'gina,example.com,pw one,staff;night,10.0.0.0/8\n' +
      'hank,example.com,"pw, two",,\n',
  );
  const run = await sipwarden(['users', 'import', good, '--db', db]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `imported 2 users from ${good}: 2 added, 0 replaced\n`);
  assert.deepEqual(stored(db, 'gina', 'example.com')?.groups, ['staff', 'night']);
  assert.equal(
    stored(db, 'hank', 'example.com')?.ha1Md5,
    computeHa1s('hank', 'example.com', 'pw, two').ha1Md5,
  );

  const bad = join(scratch, 'bad.csv');
  writeFileSync(bad, 'user,domain,password\nivy,example.com,pw\nj k,example.com,pw\nkim,example.com,\n');
  const refused = await sipwarden(['users', 'import', bad, '--db', db]);
  assert.equal(refused.code, 2);
  assert.equal(
    refused.stderr,
    `sipwarden: ${bad}: line 3: user: "j k" may hold only letters, digits and - _ . ! ~ * ' ( ) & = + $ , ; ? /\n` +
      `sipwarden: ${bad}: line 4: password: must not be empty\n` +
      'sipwarden: nothing was imported\n',
  );
  assert.equal(stored(db, 'ivy', 'example.com'), undefined, 'the good row of a bad file is not written');

  const existing = join(scratch, 'existing.csv');
  writeFileSync(existing, 'user,domain,password\nlen,example.com,pw\ngina,example.com,new\n');
  const conflict = await sipwarden(['users', 'import', existing, '--db', db]);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /gina@example\.com exists already/);
  assert.equal(stored(db, 'len', 'example.com'), undefined, 'nothing written when one user exists');
  const replaced = await sipwarden(['users', 'import', existing, '--replace', '--db', db]);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stdout, /1 added, 1 replaced/);
  assert.equal(stored(db, 'gina', 'example.com')?.ha1Md5, computeHa1s('gina', 'example.com', 'new').ha1Md5);
});

test('every change made with users is audited in the same file (actor local), never a password', async () => {
  const db = join(scratch, 'audited.db');
  await sipwarden(['users', 'add', 'olga@example.com', '--password-stdin', '--db', db], 'secret one\n');
  await sipwarden(
    ['users', 'set', 'olga@example.com', '--groups', 'staff', '--password-stdin', '--db', db],
    'secret two\n',
  );
  const csv = join(scratch, 'audited.csv');
  writeFileSync(csv, 'user,domain,password\npete,example.com,pw\n');
  await sipwarden(['users', 'import', csv, '--db', db]);
  await sipwarden(['users', 'remove', 'olga@example.com', '--db', db]);
  await sipwarden(['users', 'list', '--db', db]);
  const reader = openAuditReader(db);
  try {
    const entries = reader.list({}).reverse();
    assert.deepEqual(
      entries.map((e) => [e.action, e.target, e.actor, e.outcome]),
      [
        ['user.create', 'olga@example.com', 'local', 'ok'],
        ['user.update', 'olga@example.com', 'local', 'ok'],
        ['user.import', csv, 'local', 'ok'],
        ['user.delete', 'olga@example.com', 'local', 'ok'],
      ],
    );
    assert.deepEqual(entries[1]?.detail, { fields: ['password', 'groups'] });
    assert.deepEqual(entries[2]?.detail, { added: 1, replaced: 0, replace: false });
    assert.doesNotMatch(JSON.stringify(entries), /secret|ha1/i);
  } finally {
    reader.close();
  }
});

test('users --config writes the database `start --config` uses: events.database, or events.db in the data directory', async () => {
  const plain = join(scratch, 'plain');
  mkdirSync(plain);
  const plainConfig = join(plain, 'sipwarden.yaml');
  writeFileSync(plainConfig, 'upstream: { host: 127.0.0.1, port: 5080 }\n');
  const run = await sipwarden(
    ['users', 'add', 'mia@example.com', '--password-stdin', '--config', plainConfig],
    'pw\n',
    null,
  );
  assert.equal(run.code, 0, run.stderr);
  const loaded = loadConfigFile(plainConfig);
  assert.ok(loaded.ok);
  const context = { configFile: plainConfig, env: {}, uid: 1000, home: scratch, cwd: scratch };
  const expected = locateEventsDatabase(loaded.config, context).database;
  assert.equal(expected, join(plain, 'events.db'));
  assert.ok(stored(expected, 'mia', 'example.com'));

  const custom = join(scratch, 'custom');
  mkdirSync(custom);
  const customConfig = join(custom, 'sipwarden.yaml');
  writeFileSync(customConfig, 'dataDir: state\nevents: { database: gateway.db }\n');
  const inData = await sipwarden(
    ['users', 'add', 'ned@example.com', '--password-stdin', '--config', customConfig],
    'pw\n',
    null,
  );
  assert.equal(inData.code, 0, inData.stderr);
  assert.equal(statSync(join(custom, 'state')).mode & 0o777, 0o700);
  assert.ok(stored(join(custom, 'state', 'gateway.db'), 'ned', 'example.com'));

  // systemd's StateDirectory comes before the configuration's directory, for `start` as here.
  const systemd = await sipwarden(
    ['users', 'add', 'ola@example.com', '--password-stdin', '--config', plainConfig],
    'pw\n',
  );
  assert.equal(systemd.code, 0, systemd.stderr);
  assert.ok(stored(join(STATE, 'events.db'), 'ola', 'example.com'));
  assert.equal(stored(expected, 'ola', 'example.com'), undefined);

  const memory = join(scratch, 'memory.yaml');
  writeFileSync(memory, 'events: { database: ":memory:" }\n');
  const refused = await sipwarden(['users', 'list', '--config', memory]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /events\.database is :memory:/);
});

/**
 * Runs the command on a pseudo-terminal (util-linux `script`), typing each answer once its
 * prompt is shown: what a person at a terminal sees is the captured output.
 */
function onTerminal(args: readonly string[], answers: readonly [string, string][]): Promise<Run> {
  const command = [process.execPath, bin, ...args]
    .map((word) => `'${word.replaceAll("'", "'\\''")}'`)
    .join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: scratch, stdio: 'pipe' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let next = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const answer = answers[next];
      if (answer !== undefined && stdout.endsWith(answer[0])) {
        next++;
        child.stdin.write(`${answer[1]}\r`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: '' });
    });
  });
}

test('on a terminal the password is asked twice without echo', async () => {
  const db = join(scratch, 'tty.db');
  const password = 'Tr0ub4dor&3';
  const run = await onTerminal(
    ['users', 'add', 'pat@example.com', '--db', db],
    [
      ['Password for pat@example.com: ', password],
      ['Again: ', password],
    ],
  );
  assert.equal(run.code, 0, run.stdout);
  assert.equal(
    run.stdout.replaceAll('\r', ''),
    'Password for pat@example.com: \nAgain: \nadded pat@example.com\n',
  );
  assert.equal(stored(db, 'pat', 'example.com')?.ha1Md5, computeHa1s('pat', 'example.com', password).ha1Md5);

  const differ = await onTerminal(
    ['users', 'set', 'pat@example.com', '--password', '--db', db],
    [
      ['Password for pat@example.com: ', 'first-Pw1'],
      ['Again: ', 'second-Pw2'],
    ],
  );
  assert.equal(differ.code, 2);
  assert.match(differ.stdout, /the two passwords differ/);
  assert.doesNotMatch(differ.stdout, /first-Pw1|second-Pw2/);
  assert.equal(stored(db, 'pat', 'example.com')?.ha1Md5, computeHa1s('pat', 'example.com', password).ha1Md5);
});
