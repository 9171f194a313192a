import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { UserStoreError } from '../../../src/identity/users/errors.ts';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { buildChanges, buildUser } from '../../../src/identity/users/user-input.ts';
import { openUserStore, type SqliteUserStore } from '../../../src/identity/users/user-store.ts';
import { createEventStore } from '../../../src/store/event-store.ts';

const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-users-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function alice(fields = {}) {
  const built = buildUser('Alice', 'Example.COM', { password: 'correct horse' }, fields);
  assert.ok(built.ok, JSON.stringify(built));
  return built.value;
}

function memoryStore(clock = { now: 1000 }): SqliteUserStore {
  return openUserStore({ database: ':memory:', clock: () => clock.now });
}

test('a user added is found by name and domain in any case, with its HA1s and fields', () => {
  const store = memoryStore();
  store.add(
    alice({
      groups: ['staff', 'sales'],
      roles: ['caller'],
      organisation: 'ACME',
      allowedNetworks: ['10.1.2.3/8'],
    }),
  );
  const found = store.find('alice', 'example.com');
  assert.deepEqual(found, {
    user: 'alice',
    domain: 'example.com',
    ...computeHa1s('alice', 'example.com', 'correct horse'),
    groups: ['staff', 'sales'],
    roles: ['caller'],
    organisation: 'ACME',
    allowedNetworks: ['10.0.0.0/8'],
    enabled: true,
    createdAt: 1000,
    updatedAt: 1000,
  });
  assert.equal(store.find('ALICE', 'EXAMPLE.com')?.user, 'alice');
  assert.equal(store.find('alice', 'example.org'), undefined);
  assert.equal(store.find('bob', 'example.com'), undefined);
  store.close();
});

test('the same name in two domains is two users', () => {
  const store = memoryStore();
  store.add(alice());
  const other = buildUser('alice', 'example.org', { password: 'other' }, {});
  assert.ok(other.ok);
  store.add(other.value);
  assert.notEqual(store.find('alice', 'example.com')?.ha1Md5, store.find('alice', 'example.org')?.ha1Md5);
  assert.equal(store.count(), 2);
  assert.equal(store.count('example.org'), 1);
  store.close();
});

test('adding a user twice is SW_ERR_USER_EXISTS and keeps the first', () => {
  const store = memoryStore();
  store.add(alice({ groups: ['first'] }));
  assert.throws(
    () => store.add(alice({ groups: ['second'] })),
    (error: unknown) => error instanceof UserStoreError && error.code === 'SW_ERR_USER_EXISTS',
  );
  assert.deepEqual(store.find('alice', 'example.com')?.groups, ['first']);
  store.close();
});

test('update changes only the fields given; a new password gives new HA1s', () => {
  const clock = { now: 1000 };
  const store = memoryStore(clock);
  store.add(alice({ groups: ['staff'], organisation: 'ACME', allowedNetworks: ['192.0.2.0/24'] }));
  const before = store.find('alice', 'example.com')!;
  clock.now = 2000;
  const changes = buildChanges('alice', 'example.com', undefined, { roles: ['admin'], enabled: false });
  assert.ok(changes.ok);
  const updated = store.update('Alice', 'example.com', changes.value);
  assert.equal(updated.enabled, false);
  assert.deepEqual(updated.roles, ['admin']);
  assert.deepEqual(updated.groups, ['staff']);
  assert.equal(updated.organisation, 'ACME');
  assert.deepEqual(updated.allowedNetworks, ['192.0.2.0/24']);
  assert.equal(updated.ha1Md5, before.ha1Md5);
  assert.equal(updated.createdAt, 1000);
  assert.equal(updated.updatedAt, 2000);

  const password = buildChanges('alice', 'example.com', { password: 'new one' }, { organisation: null });
  assert.ok(password.ok);
  store.update('alice', 'example.com', password.value);
  const after = store.find('alice', 'example.com')!;
  assert.deepEqual(
    { ha1Md5: after.ha1Md5, ha1Sha256: after.ha1Sha256 },
    computeHa1s('alice', 'example.com', 'new one'),
  );
  assert.equal(after.organisation, undefined);
  assert.equal(after.enabled, false, 'a disabled user stays disabled until enabled');
  store.close();
});

test('update of an unknown user is SW_ERR_NO_SUCH_USER', () => {
  const store = memoryStore();
  assert.throws(
    () => store.update('nobody', 'example.com', { enabled: true }),
    (error: unknown) => error instanceof UserStoreError && error.code === 'SW_ERR_NO_SUCH_USER',
  );
  store.close();
});

test('remove deletes the user and says whether it existed', () => {
  const store = memoryStore();
  store.add(alice());
  assert.equal(store.remove('ALICE', 'example.com'), true);
  assert.equal(store.find('alice', 'example.com'), undefined);
  assert.equal(store.remove('alice', 'example.com'), false);
  store.close();
});

test('a disabled user is still found, with enabled false (the authenticator refuses it)', () => {
  const store = memoryStore();
  store.add(alice({ enabled: false }));
  assert.equal(store.find('alice', 'example.com')?.enabled, false);
  store.close();
});

test('list is ordered by domain and user, filters by domain and is bounded', () => {
  const store = memoryStore();
  for (const [user, domain] of [
    ['zed', 'a.example'],
    ['bob', 'b.example'],
    ['amy', 'b.example'],
    ['carl', 'a.example'],
  ] as const) {
    const built = buildUser(user, domain, { password: 'pw' }, {});
    assert.ok(built.ok);
    store.add(built.value);
  }
  assert.deepEqual(
    store.list().map((u) => `${u.user}@${u.domain}`),
    ['carl@a.example', 'zed@a.example', 'amy@b.example', 'bob@b.example'],
  );
  assert.deepEqual(
    store.list({ domain: 'B.example' }).map((u) => u.user),
    ['amy', 'bob'],
  );
  assert.equal(store.list({ limit: 1, offset: 1 })[0]?.user, 'zed');
  store.close();
});

test('importUsers writes all in one transaction; an existing user writes nothing unless replace', () => {
  const store = memoryStore();
  store.add(alice({ groups: ['old'] }));
  const bob = buildUser('bob', 'example.com', { password: 'pw' }, {});
  assert.ok(bob.ok);
  assert.throws(
    () => store.importUsers([bob.value, alice({ groups: ['new'] })]),
    (error: unknown) => error instanceof UserStoreError && error.code === 'SW_ERR_USER_EXISTS',
  );
  assert.equal(store.find('bob', 'example.com'), undefined, 'bob was rolled back');
  assert.deepEqual(store.importUsers([bob.value, alice({ groups: ['new'] })], { replace: true }), {
    added: 1,
    replaced: 1,
  });
  assert.deepEqual(store.find('alice', 'example.com')?.groups, ['new']);
  assert.ok(store.find('bob', 'example.com'));
  store.close();
});

test('the users live in the events file, created owner-only, beside the events table', () => {
  const database = join(scratch, 'shared.db');
  const users = openUserStore({ database });
  assert.equal(statSync(database).mode & 0o777, 0o600);
  const events = createEventStore({ database, retentionDays: 1 });
  users.add(alice());
  events.close();
  users.close();
  const db = new Database(database, { readonly: true });
  const tables = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name);
  db.close();
  assert.deepEqual(tables, ['events', 'users']);
});

test('a lookup sees a user another connection added after the store was opened', () => {
  const database = join(scratch, 'two-connections.db');
  const gateway = openUserStore({ database });
  assert.equal(gateway.find('alice', 'example.com'), undefined);
  const cli = openUserStore({ database });
  cli.add(alice());
  assert.equal(gateway.find('alice', 'example.com')?.user, 'alice');
  cli.remove('alice', 'example.com');
  assert.equal(gateway.find('alice', 'example.com'), undefined);
  cli.close();
  gateway.close();
});

test('a row whose list column was damaged by hand is not found (never "allowed from anywhere")', () => {
  const database = join(scratch, 'damaged.db');
  const store = openUserStore({ database });
  store.add(alice({ allowedNetworks: ['192.0.2.0/24'] }));
  const db = new Database(database);
  db.prepare("UPDATE users SET allowed_networks = 'not json'").run();
  db.close();
  assert.equal(store.find('alice', 'example.com'), undefined);
  assert.equal(store.stats().lookupErrors, 1);
  assert.throws(() => store.get('alice', 'example.com'), UserStoreError);
  store.close();
});

test('find after close answers unknown, the other methods throw SW_ERR_USER_STORE_CLOSED', () => {
  const store = memoryStore();
  store.add(alice());
  store.close();
  assert.equal(store.find('alice', 'example.com'), undefined);
  assert.throws(
    () => store.list(),
    (error: unknown) => error instanceof UserStoreError && error.code === 'SW_ERR_USER_STORE_CLOSED',
  );
});

test('a database that cannot be opened is SW_ERR_USER_STORE_OPEN naming the file', () => {
  const database = join(scratch, 'no', 'such', 'dir', 'users.db');
  assert.throws(
    () => openUserStore({ database }),
    (error: unknown) =>
      error instanceof UserStoreError &&
      error.code === 'SW_ERR_USER_STORE_OPEN' &&
      error.message.includes(database),
  );
});

test('groupsAndRoles lists every group and role in use, once each, sorted', () => {
  const store = memoryStore();
  assert.deepEqual(store.groupsAndRoles(), { groups: [], roles: [] });
  store.add(alice({ groups: ['staff', 'sales'], roles: ['caller'] }));
  const bob = buildUser(
    'bob',
    'example.org',
    { password: 'pw' },
    { groups: ['staff', 'night'], roles: ['admin'] },
  );
  assert.ok(bob.ok);
  store.add(bob.value);
  assert.deepEqual(store.groupsAndRoles(), {
    groups: ['night', 'sales', 'staff'],
    roles: ['admin', 'caller'],
  });
  store.close();
});
