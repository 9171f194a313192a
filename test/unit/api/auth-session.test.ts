/**
 * Logging in to the management API (POST/GET/DELETE /api/session): password and TOTP,
 * the cookie, CSRF, throttling and what is audited.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { ApiErrorBody } from '../../../src/api/errors.ts';
import { createTestAccount, currentTotp, TEST_PASSWORD, type TestAccount } from '../../support/accounts.ts';
import { T0, type TestStack, testStack } from './helpers.ts';

const errorCode = (reply: LightMyRequestResponse): string => reply.json<ApiErrorBody>().error.code;

function login(stack: TestStack, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return stack.server.app.inject({
    method: 'POST',
    url: '/api/session',
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
}

async function loggedIn(stack: TestStack, account: TestAccount) {
  const reply = await login(stack, {
    user: account.name,
    password: account.password,
    ...(account.totpSecret === null ? {} : { totp: currentTotp(account.totpSecret, stack.clock.now) }),
  });
  assert.equal(reply.statusCode, 200, reply.body);
  const cookie = (reply.headers['set-cookie'] as string).split(';')[0]!;
  return { reply, cookie, csrfToken: reply.json<{ csrfToken: string }>().csrfToken };
}

test('an admin logs in with password and TOTP: a HttpOnly SameSite=Strict cookie and a CSRF token', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const admin = await createTestAccount({ store: stack.access.store }, 'alice', 'admin');
  const { reply, cookie, csrfToken } = await loggedIn(stack, admin);
  assert.deepEqual(reply.json(), { user: 'alice', role: 'admin', csrfToken });
  const setCookie = reply.headers['set-cookie'] as string;
  assert.match(
    setCookie,
    /^sw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
  );
  const me = await stack.server.app.inject({ method: 'GET', url: '/api/session', headers: { cookie } });
  assert.equal(me.statusCode, 200);
  assert.deepEqual(me.json(), { user: 'alice', role: 'admin', csrfToken });
  // The session works on a route: an admin may list accounts.
  const accounts = await stack.server.app.inject({
    method: 'GET',
    url: '/api/accounts',
    headers: { cookie },
  });
  assert.equal(accounts.statusCode, 200);
  assert.deepEqual(
    stack.audited.map((entry) => [entry.action, entry.actor, entry.outcome]),
    [['session.login', 'alice', 'ok']],
  );
});

test('without a TOTP code an admin gets totp-required; a wrong or replayed code is refused', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const admin = await createTestAccount({ store: stack.access.store }, 'alice', 'admin');
  const missing = await login(stack, { user: 'alice', password: TEST_PASSWORD });
  assert.equal(missing.statusCode, 401);
  assert.equal(errorCode(missing), 'totp-required');
  const code = currentTotp(admin.totpSecret!, T0);
  const wrong = code === '000000' ? '111111' : '000000';
  const bad = await login(stack, { user: 'alice', password: TEST_PASSWORD, totp: wrong });
  assert.equal(bad.statusCode, 401);
  assert.equal(errorCode(bad), 'unauthenticated');
  assert.equal((await login(stack, { user: 'alice', password: TEST_PASSWORD, totp: code })).statusCode, 200);
  const replay = await login(stack, { user: 'alice', password: TEST_PASSWORD, totp: code });
  assert.equal(replay.statusCode, 401);
  assert.equal(errorCode(replay), 'unauthenticated');
  assert.deepEqual(
    stack.audited.map((entry) => [entry.action, entry.outcome, entry.detail?.reason]),
    [
      ['session.login-failed', 'refused', 'wrong TOTP code'],
      ['session.login', 'ok', undefined],
      ['session.login-failed', 'refused', 'TOTP code used already'],
    ],
  );
});

test('an admin account without a second factor cannot log in (TOTP required for admin by default)', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  // Made around the check, as a hand-edited database could hold it.
  await createTestAccount({ store: stack.access.store }, 'root', 'admin', { totp: false });
  const reply = await login(stack, { user: 'root', password: TEST_PASSWORD });
  assert.equal(reply.statusCode, 401);
  assert.equal(errorCode(reply), 'totp-required');
  // A viewer needs none by default.
  await createTestAccount({ store: stack.access.store }, 'vera', 'viewer', { totp: false });
  assert.equal((await login(stack, { user: 'vera', password: TEST_PASSWORD })).statusCode, 200);
});

test('a wrong password, or an unknown user, is the same 401 and is audited', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  await createTestAccount({ store: stack.access.store }, 'vera', 'viewer', { totp: false });
  const wrong = await login(stack, { user: 'vera', password: 'not the password' });
  const unknown = await login(stack, { user: 'nobody', password: 'not the password' });
  for (const reply of [wrong, unknown]) {
    assert.equal(reply.statusCode, 401);
    assert.deepEqual(reply.json(), {
      error: { code: 'unauthenticated', message: 'wrong user, password or code' },
    });
    assert.equal(reply.headers['set-cookie'], undefined);
  }
  assert.deepEqual(
    stack.audited.map((entry) => [entry.action, entry.actor, entry.target, entry.address]),
    [
      ['session.login-failed', 'vera', 'vera', '127.0.0.1'],
      ['session.login-failed', '-', 'nobody', '127.0.0.1'],
    ],
  );
});

test('five failed logins to an account throttle it (429, Retry-After) even with the right password, until the window ends', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  await createTestAccount({ store: stack.access.store }, 'vera', 'viewer', { totp: false });
  for (let i = 0; i < 5; i++) {
    assert.equal((await login(stack, { user: 'vera', password: `guess ${i}` })).statusCode, 401);
  }
  const throttled = await login(stack, { user: 'vera', password: TEST_PASSWORD });
  assert.equal(throttled.statusCode, 429);
  assert.equal(errorCode(throttled), 'throttled');
  assert.equal(throttled.headers['retry-after'], '900');
  stack.clock.now += 15 * 60_000;
  assert.equal((await login(stack, { user: 'vera', password: TEST_PASSWORD })).statusCode, 200);
});

test('twenty failed logins from one address throttle that address for every account', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  await createTestAccount({ store: stack.access.store }, 'vera', 'viewer', { totp: false });
  for (let i = 0; i < 20; i++) {
    assert.equal((await login(stack, { user: `user${i}`, password: 'guess' })).statusCode, 401);
  }
  assert.equal((await login(stack, { user: 'vera', password: TEST_PASSWORD })).statusCode, 429);
});

test('a cookie-authenticated change needs the x-csrf-token, and an Origin of this server when one is sent', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const operator = await createTestAccount({ store: stack.access.store }, 'otto', 'operator', {
    totp: false,
  });
  const { cookie, csrfToken } = await loggedIn(stack, operator);
  const block = (headers: Record<string, string>) =>
    stack.server.app.inject({
      method: 'POST',
      url: '/api/blocks',
      headers: { 'content-type': 'application/json', host: '127.0.0.1:9060', cookie, ...headers },
      payload: JSON.stringify({ address: '203.0.113.9' }),
    });
  const none = await block({});
  assert.equal(none.statusCode, 403);
  assert.equal(errorCode(none), 'csrf');
  assert.equal(errorCode(await block({ 'x-csrf-token': 'x'.repeat(32) })), 'csrf');
  const foreign = await block({ 'x-csrf-token': csrfToken, origin: 'http://evil.example' });
  assert.equal(foreign.statusCode, 403);
  assert.equal(errorCode(foreign), 'csrf');
  assert.equal(stack.blocks.list(T0).length, 0);
  assert.equal((await block({ 'x-csrf-token': csrfToken, origin: 'http://127.0.0.1:9060' })).statusCode, 201);
  // A login posted from another origin's page is refused too.
  const cross = await login(
    stack,
    { user: 'otto', password: TEST_PASSWORD },
    { origin: 'http://evil.example' },
  );
  assert.equal(cross.statusCode, 403);
  assert.equal(errorCode(cross), 'csrf');
});

test('logout ends the session; an idle session expires after 30 minutes', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const viewer = await createTestAccount({ store: stack.access.store }, 'vera', 'viewer', { totp: false });
  const first = await loggedIn(stack, viewer);
  const out = await stack.server.app.inject({
    method: 'DELETE',
    url: '/api/session',
    headers: { cookie: first.cookie, 'x-csrf-token': first.csrfToken },
  });
  assert.equal(out.statusCode, 204);
  assert.match(
    out.headers['set-cookie'] as string,
    /^sw_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/,
  );
  const after = await stack.server.app.inject({
    method: 'GET',
    url: '/api/session',
    headers: { cookie: first.cookie },
  });
  assert.equal(after.statusCode, 401);
  const second = await loggedIn(stack, viewer);
  stack.clock.now += 30 * 60_000 + 1;
  const idle = await stack.server.app.inject({
    method: 'GET',
    url: '/api/blocks',
    headers: { cookie: second.cookie },
  });
  assert.equal(idle.statusCode, 401);
  assert.equal(errorCode(idle), 'unauthenticated');
  assert.deepEqual(
    stack.audited.map((entry) => entry.action),
    ['session.login', 'session.logout', 'session.login'],
  );
});

test("a removed account's session ends at once; a changed role applies to its next request", async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const operator = await createTestAccount({ store: stack.access.store }, 'otto', 'operator', {
    totp: false,
  });
  const { cookie, csrfToken } = await loggedIn(stack, operator);
  stack.access.store.setRole('otto', 'viewer');
  const refused = await stack.server.app.inject({
    method: 'DELETE',
    url: '/api/blocks/203.0.113.1',
    headers: { cookie, 'x-csrf-token': csrfToken },
  });
  assert.equal(refused.statusCode, 403);
  assert.equal(errorCode(refused), 'forbidden');
  stack.access.store.remove('otto');
  const gone = await stack.server.app.inject({ method: 'GET', url: '/api/session', headers: { cookie } });
  assert.equal(gone.statusCode, 401);
});
