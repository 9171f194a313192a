import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ApiErrorBody } from '../../../src/api/errors.ts';
import type { UserAnswer, UsersAnswer } from '../../../src/api/user-routes.ts';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { openUserStore, type SqliteUserStore } from '../../../src/identity/users/user-store.ts';
import { bearer, type TestStack, testStack } from './helpers.ts';

let users: SqliteUserStore;
let stack: TestStack;
let api: string;

before(async () => {
  users = openUserStore({ database: ':memory:' });
  stack = testStack({ users });
  const { port } = await stack.server.listen();
  api = `http://127.0.0.1:${port}`;
});
after(async () => {
  await stack.close();
  users.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const authorization = bearer(stack.tokens.admin);
  const response = await fetch(`${api}${path}`, {
    method,
    ...(body === undefined
      ? { headers: authorization }
      : { headers: { 'content-type': 'application/json', ...authorization }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text), text };
}

const errorCode = (json: unknown): string => (json as ApiErrorBody).error.code;

test('POST /api/users with a password stores its HA1s and answers the user without them', async () => {
  const created = await call('POST', '/api/users', {
    user: 'Alice',
    domain: 'example.com',
    password: 'correct horse',
    groups: ['staff'],
    roles: ['caller'],
    organisation: 'ACME',
    allowedNetworks: ['192.0.2.7'],
  });
  assert.equal(created.status, 201, created.text);
  assert.doesNotMatch(created.text, /ha1|correct horse/i);
  const view = (created.json as UserAnswer).user;
  assert.equal(view.user, 'alice');
  assert.deepEqual(view.allowedNetworks, ['192.0.2.7/32']);
  assert.equal(view.enabled, true);
  const stored = users.find('alice', 'example.com')!;
  assert.deepEqual(
    { ha1Md5: stored.ha1Md5, ha1Sha256: stored.ha1Sha256 },
    computeHa1s('alice', 'example.com', 'correct horse'),
  );
});

test('POST /api/users with HA1s keeps them; a second POST of the same user is 409', async () => {
  const body = { user: 'bob', domain: 'example.com', ha1Md5: 'AB'.repeat(16), ha1Sha256: 'cd'.repeat(32) };
  assert.equal((await call('POST', '/api/users', body)).status, 201);
  assert.equal(users.find('bob', 'example.com')?.ha1Md5, 'ab'.repeat(16));
  const again = await call('POST', '/api/users', body);
  assert.equal(again.status, 409);
  assert.equal(errorCode(again.json), 'SW_ERR_USER_EXISTS');
});

test('POST /api/users refuses bad names, bad networks, missing or mixed credentials and unknown fields', async () => {
  const cases: [unknown, string][] = [
    [{ user: 'a b', domain: 'example.com', password: 'x' }, 'SW_ERR_BAD_USER'],
    [{ user: 'carol', domain: 'not a domain', password: 'x' }, 'SW_ERR_BAD_USER'],
    [
      { user: 'carol', domain: 'example.com', password: 'x', allowedNetworks: ['10.0.0.0/40'] },
      'SW_ERR_BAD_USER',
    ],
    [{ user: 'carol', domain: 'example.com' }, 'SW_ERR_BAD_USER'],
    [{ user: 'carol', domain: 'example.com', password: 'x', ha1Md5: 'a'.repeat(32) }, 'SW_ERR_BAD_USER'],
    [{ user: 'carol', domain: 'example.com', ha1Md5: 'a'.repeat(32) }, 'SW_ERR_BAD_USER'],
    [{ user: 'carol', domain: 'example.com', password: 'x', colour: 'red' }, 'SW_ERR_BAD_REQUEST'],
    [
      { user: 'carol', domain: 'example.com', password: 'x', groups: Array(33).fill('g') },
      'SW_ERR_BAD_REQUEST',
    ],
  ];
  for (const [body, code] of cases) {
    const answer = await call('POST', '/api/users', body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(errorCode(answer.json), code, JSON.stringify(body));
  }
  assert.equal(users.find('carol', 'example.com'), undefined);
});

test('GET /api/users lists without HA1s, filters by domain; GET one user; 404 for an unknown one', async () => {
  await call('POST', '/api/users', { user: 'dave', domain: 'other.example', password: 'pw' });
  const all = await call('GET', '/api/users');
  assert.equal(all.status, 200);
  assert.doesNotMatch(all.text, /ha1/i);
  const listed = all.json as UsersAnswer;
  assert.ok(listed.users.some((u) => u.user === 'dave' && u.domain === 'other.example'));
  assert.equal(listed.total, listed.users.length);
  const other = (await call('GET', '/api/users?domain=OTHER.example')).json as UsersAnswer;
  assert.deepEqual(
    other.users.map((u) => u.user),
    ['dave'],
  );
  assert.equal(other.total, 1);
  const one = await call('GET', '/api/users/other.example/DAVE');
  assert.equal(one.status, 200);
  assert.equal((one.json as UserAnswer).user.user, 'dave');
  assert.doesNotMatch(one.text, /ha1/i);
  const missing = await call('GET', '/api/users/other.example/nobody');
  assert.equal(missing.status, 404);
  assert.equal(errorCode(missing.json), 'SW_ERR_NO_SUCH_USER');
});

test('PATCH changes the fields given; a new password changes the HA1s; organisation null clears it', async () => {
  await call('POST', '/api/users', {
    user: 'erin',
    domain: 'example.com',
    password: 'old',
    organisation: 'ACME',
  });
  const before = users.find('erin', 'example.com')!;
  const disabled = await call('PATCH', '/api/users/example.com/erin', { enabled: false, groups: ['night'] });
  assert.equal(disabled.status, 200, disabled.text);
  const view = (disabled.json as UserAnswer).user;
  assert.equal(view.enabled, false);
  assert.deepEqual(view.groups, ['night']);
  assert.equal(view.organisation, 'ACME');
  assert.equal(users.find('erin', 'example.com')?.ha1Md5, before.ha1Md5);
  const password = await call('PATCH', '/api/users/example.com/erin', {
    password: 'new',
    organisation: null,
  });
  assert.equal(password.status, 200, password.text);
  const after = users.find('erin', 'example.com')!;
  assert.equal(after.ha1Sha256, computeHa1s('erin', 'example.com', 'new').ha1Sha256);
  assert.equal(after.organisation, undefined);
  const unknown = await call('PATCH', '/api/users/example.com/nobody', { enabled: true });
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown.json), 'SW_ERR_NO_SUCH_USER');
  const bad = await call('PATCH', '/api/users/example.com/erin', { allowedNetworks: ['nowhere'] });
  assert.equal(bad.status, 400);
  assert.equal(errorCode(bad.json), 'SW_ERR_BAD_USER');
});

test('DELETE removes the user; a second DELETE is 404', async () => {
  await call('POST', '/api/users', { user: 'frank', domain: 'example.com', password: 'pw' });
  const removed = await call('DELETE', '/api/users/example.com/frank');
  assert.equal(removed.status, 200);
  assert.deepEqual(removed.json, { removed: true });
  assert.equal(users.find('frank', 'example.com'), undefined);
  const again = await call('DELETE', '/api/users/example.com/frank');
  assert.equal(again.status, 404);
  assert.equal(errorCode(again.json), 'SW_ERR_NO_SUCH_USER');
});

test('a failing user store answers 503 SW_ERR_USER_STORE', async () => {
  const closed = openUserStore({ database: ':memory:' });
  closed.close();
  const broken = testStack({ users: closed });
  try {
    const answer = await broken.inject({ method: 'GET', url: '/api/users' });
    assert.equal(answer.statusCode, 503);
    assert.equal(errorCode(answer.json()), 'SW_ERR_USER_STORE');
  } finally {
    await broken.close();
  }
});

test('every change of a SIP user through the API is audited, naming the fields changed and never a secret', async () => {
  const from = stack.audited.length;
  assert.equal(
    (await call('POST', '/api/users', { user: 'audra', domain: 'example.org', password: 'pw-audra-1' }))
      .status,
    201,
  );
  assert.equal(
    (await call('PATCH', '/api/users/example.org/audra', { password: 'pw-audra-2', enabled: false })).status,
    200,
  );
  assert.equal((await call('DELETE', '/api/users/example.org/audra')).status, 200);
  const entries = stack.audited.slice(from).filter((e) => e.action.startsWith('user.'));
  assert.deepEqual(
    entries.map((e) => [e.action, e.target, e.actor, e.outcome]),
    [
      ['user.create', 'audra@example.org', 'token:admin', 'ok'],
      ['user.update', 'audra@example.org', 'token:admin', 'ok'],
      ['user.delete', 'audra@example.org', 'token:admin', 'ok'],
    ],
  );
  assert.deepEqual(entries[1]!.detail, { fields: ['password', 'enabled'] });
  assert.doesNotMatch(JSON.stringify(entries), /pw-audra/);
});
