/**
 * Every role on every route: each route the management server registers is called with no
 * credentials (401, unless open to anyone), with a token of each role below the one it
 * declares (403) and of each role at or above (neither 401 nor 403). The route list comes
 * from the server itself, so a route added later is covered without being named here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROLES, type Role, roleAllows } from '../../../src/api/auth/roles.ts';
import type { ApiErrorBody } from '../../../src/api/errors.ts';
import { openUserStore } from '../../../src/identity/users/user-store.ts';
import { bearer, testStack } from './helpers.ts';

test('every route: 401 without credentials, 403 below its role, allowed at and above it', async (t) => {
  const users = openUserStore({ database: ':memory:' });
  const stack = testStack({ users });
  t.after(async () => {
    await stack.close();
    users.close();
  });
  const routes = stack.access.routes.filter((route) => route.method !== 'HEAD' && route.method !== 'OPTIONS');
  assert.ok(routes.length >= 20, `only ${routes.length} routes seen`);
  for (const route of routes) {
    const url = route.url.replace(/:[a-z]+/g, 'x');
    const call = (headers: Record<string, string>) =>
      stack.server.app.inject({
        method: route.method as 'GET',
        url,
        headers: { 'content-type': 'application/json', ...headers },
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: '{}' }),
      });
    const name = `${route.method} ${route.url} (${route.role})`;
    const anonymous = await call({});
    if (route.role === 'anyone') {
      assert.notEqual(anonymous.statusCode, 403, name);
      continue;
    }
    assert.equal(anonymous.statusCode, 401, name);
    assert.equal(anonymous.json<ApiErrorBody>().error.code, 'unauthenticated', name);
    for (const role of ROLES) {
      const reply = await call(bearer(stack.tokens[role]));
      if (roleAllows(role, route.role)) {
        assert.ok(
          reply.statusCode !== 401 && reply.statusCode !== 403,
          `${name} as ${role}: ${reply.statusCode} ${reply.body}`,
        );
      } else {
        assert.equal(reply.statusCode, 403, `${name} as ${role}`);
        assert.equal(reply.json<ApiErrorBody>().error.code, 'forbidden', `${name} as ${role}`);
      }
    }
  }
});

test('the roles the issue names: a viewer cannot block, an operator cannot add accounts, an admin can', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const post = (url: string, role: Role, body: unknown) =>
    stack.server.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...bearer(stack.tokens[role]) },
      payload: JSON.stringify(body),
    });
  assert.equal((await post('/api/blocks', 'viewer', { address: '203.0.113.5' })).statusCode, 403);
  assert.equal(stack.blocks.list(Date.now()).length, 0);
  assert.equal((await post('/api/blocks', 'operator', { address: '203.0.113.5' })).statusCode, 201);
  const account = { name: 'newbie', role: 'viewer', password: 'long enough password' };
  assert.equal((await post('/api/accounts', 'operator', account)).statusCode, 403);
  assert.equal((await post('/api/tokens', 'operator', { name: 'x', role: 'viewer' })).statusCode, 403);
  assert.equal(stack.access.store.get('newbie'), undefined);
  const created = await post('/api/accounts', 'admin', account);
  assert.equal(created.statusCode, 201, created.body);
  assert.match(
    created.json<{ totp: { uri: string } }>().totp.uri,
    /^otpauth:\/\/totp\/sipwarden:newbie\?secret=[A-Z2-7]+/,
  );
  assert.deepEqual(
    stack.audited.map((entry) => [entry.action, entry.actor, entry.target]),
    [
      ['block.add', 'token:operator', '203.0.113.5'],
      ['account.create', 'token:admin', 'newbie'],
    ],
  );
});

test('an API token: unknown or revoked is 401; revoking one ends it at once; it never shows again', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const admin = bearer(stack.tokens.admin);
  const created = await stack.server.app.inject({
    method: 'POST',
    url: '/api/tokens',
    headers: { 'content-type': 'application/json', ...admin },
    payload: JSON.stringify({ name: 'prometheus', role: 'viewer' }),
  });
  assert.equal(created.statusCode, 201);
  const { token, record } = created.json<{ token: string; record: { id: string; role: string } }>();
  assert.match(token, /^swt_[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{32}$/);
  const metrics = () => stack.server.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token) });
  assert.equal((await metrics()).statusCode, 200);
  const listed = await stack.server.app.inject({ method: 'GET', url: '/api/tokens', headers: admin });
  assert.equal(listed.body.includes(token), false);
  assert.equal(listed.body.includes(token.slice(17)), false);
  const revoked = await stack.server.app.inject({
    method: 'DELETE',
    url: `/api/tokens/${record.id}`,
    headers: admin,
  });
  assert.equal(revoked.statusCode, 200);
  assert.equal((await metrics()).statusCode, 401);
  const forged = `${token.slice(0, -4)}AAAA`;
  const reply = await stack.server.app.inject({ method: 'GET', url: '/metrics', headers: bearer(forged) });
  assert.equal(reply.statusCode, 401);
  assert.deepEqual(
    stack.audited.map((entry) => [entry.action, entry.target]),
    [
      ['token.create', 'prometheus'],
      ['token.revoke', 'prometheus'],
    ],
  );
});

test('an address outside management.allow is refused 403 before anything else, even with a valid token', async (t) => {
  const stack = testStack();
  t.after(() => stack.close());
  const reply = await stack.server.app.inject({
    method: 'GET',
    url: '/api/blocks',
    remoteAddress: '192.0.2.10',
    headers: bearer(stack.tokens.admin),
  });
  assert.equal(reply.statusCode, 403);
  assert.equal(reply.json<ApiErrorBody>().error.code, 'SW_ERR_FORBIDDEN_ADDRESS');
  const mapped = await stack.server.app.inject({
    method: 'GET',
    url: '/api/blocks',
    remoteAddress: '::ffff:127.0.0.1',
    headers: bearer(stack.tokens.admin),
  });
  assert.equal(mapped.statusCode, 200);
});
