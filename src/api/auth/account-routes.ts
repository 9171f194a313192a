/**
 * Accounts and API tokens over the API (admin only, as every route that declares no role):
 *   GET    /api/accounts                 list (never hashes or secrets)
 *   POST   /api/accounts                 { name, role, password, totp? } -> the account and,
 *                                        when enrolled, its TOTP secret and otpauth URI (once)
 *   PATCH  /api/accounts/:name           { role?, password? }
 *   DELETE /api/accounts/:name           remove (its sessions end, its tokens are revoked)
 *   GET    /api/tokens                   list (never the tokens themselves)
 *   POST   /api/tokens                   { name, role } -> { token, record }: the only time it is shown
 *   DELETE /api/tokens/:id               revoke (by id, or every active token of that name)
 * Every change is audited.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { printable } from '../../events/event-bus.ts';
import { ApiError } from '../errors.ts';
import type { AccessControl } from './access-control.ts';
import { createAccount } from './account-admin.ts';
import {
  AccountStoreError,
  type AccountView,
  accountView,
  type TokenView,
  tokenView,
} from './account-store.ts';
import { hashPassword, MAX_PASSWORD_BYTES, passwordProblem } from './credentials.ts';
import { actorOf, clientAddress, principalOf } from './principal.ts';
import { ROLES, type Role, roleAllows } from './roles.ts';

export interface AccountsAnswer {
  readonly accounts: readonly AccountView[];
}
export interface AccountAnswer {
  readonly account: AccountView;
  readonly totp?: { readonly secret: string; readonly uri: string };
}
export interface TokensAnswer {
  readonly tokens: readonly TokenView[];
}
export interface TokenAnswer {
  /** The token itself: shown here once, kept only as a digest. */
  readonly token: string;
  readonly record: TokenView;
}

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const role = { type: 'string', enum: [...ROLES] } as const;
const password = { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_BYTES } as const;

export function registerAccountRoutes(app: FastifyInstance, access: AccessControl): void {
  const audit = (
    request: FastifyRequest,
    action: string,
    target: string,
    detail?: Record<string, unknown>,
  ): void =>
    access.audit.record({
      actor: actorOf(request),
      address: clientAddress(request),
      action,
      target,
      ...(detail === undefined ? {} : { detail }),
      outcome: 'ok',
    });

  app.get('/api/accounts', async () => {
    const answer: AccountsAnswer = { accounts: access.store.list().map(accountView) };
    return answer;
  });

  app.post<{ Body: { name: string; role: Role; password: string; totp?: boolean } }>(
    '/api/accounts',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role', 'password'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            role,
            password,
            totp: { type: 'boolean' },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const created = await storeCall(() =>
        createAccount(access.store, { ...body, totp: body.totp ?? true }, access.totpRequired),
      );
      audit(request, 'account.create', created.account.name, {
        role: created.account.role,
        totp: created.totp !== undefined,
      });
      const answer: AccountAnswer = {
        account: accountView(created.account),
        ...(created.totp === undefined ? {} : { totp: created.totp }),
      };
      return reply.code(201).send(answer);
    },
  );

  app.patch<{ Params: { name: string }; Body: { role?: Role; password?: string } }>(
    '/api/accounts/:name',
    {
      schema: {
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { role, password },
        },
      },
    },
    async (request) => {
      const name = request.params.name;
      const account = access.store.get(name);
      if (account === undefined) throw noSuchAccount(name);
      const { role: newRole, password: newPassword } = request.body;
      if (newRole !== undefined && newRole !== account.role) {
        if (account.totpSecret === null && access.totpRequired.has(newRole)) {
          throw new ApiError(
            'SW_ERR_BAD_ACCOUNT',
            `the ${newRole} role needs a TOTP second factor: ${account.name} has none`,
          );
        }
        access.store.setRole(account.name, newRole);
        audit(request, 'account.role', account.name, { from: account.role, to: newRole });
      }
      if (newPassword !== undefined) {
        const problem = passwordProblem(newPassword);
        if (problem !== undefined) throw new ApiError('SW_ERR_BAD_ACCOUNT', problem);
        access.store.setPassword(account.name, await hashPassword(newPassword));
        access.sessions.closeAccount(account.name);
        audit(request, 'account.password', account.name);
      }
      const answer: AccountAnswer = { account: accountView(access.store.get(account.name)!) };
      return answer;
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/accounts/:name',
    { schema: { params: nameParams } },
    async (request) => {
      const name = request.params.name;
      if (!access.store.remove(name)) throw noSuchAccount(name);
      access.sessions.closeAccount(name);
      audit(request, 'account.delete', printable(name, 64));
      return { removed: true };
    },
  );

  app.get('/api/tokens', async () => {
    const answer: TokensAnswer = { tokens: access.store.listTokens().map(tokenView) };
    return answer;
  });

  app.post<{ Body: { name: string; role: Role } }>(
    '/api/tokens',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, role },
        },
      },
    },
    async (request, reply) => {
      const creator = actorOf(request);
      // Admin only today; kept so that a token never holds more than whoever made it.
      const held = principalOf(request)?.role ?? 'viewer';
      if (!roleAllows(held, request.body.role)) {
        throw new ApiError('forbidden', `a ${held} cannot make a ${request.body.role} token`);
      }
      const { token, record } = await storeCall(async () =>
        access.store.createToken({ name: request.body.name, role: request.body.role, createdBy: creator }),
      );
      audit(request, 'token.create', record.name, { id: record.id, role: record.role });
      const answer: TokenAnswer = { token, record: tokenView(record) };
      return reply.code(201).send(answer);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/tokens/:id',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
    },
    async (request) => {
      const revoked = access.store.revokeToken(request.params.id);
      if (revoked.length === 0) {
        throw new ApiError(
          'SW_ERR_NO_SUCH_TOKEN',
          `no active token ${JSON.stringify(printable(request.params.id, 64))}`,
        );
      }
      for (const record of revoked) audit(request, 'token.revoke', record.name, { id: record.id });
      const answer: TokensAnswer = { tokens: revoked.map(tokenView) };
      return answer;
    },
  );
}

function noSuchAccount(name: string): ApiError {
  return new ApiError('SW_ERR_NO_SUCH_ACCOUNT', `no account ${JSON.stringify(printable(name, 64))}`);
}

async function storeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AccountStoreError) {
      if (error.code === 'SW_ERR_ACCOUNT_EXISTS') throw new ApiError('SW_ERR_ACCOUNT_EXISTS', error.message);
      if (error.code === 'SW_ERR_BAD_ACCOUNT' || error.code === 'SW_ERR_FULL') {
        throw new ApiError('SW_ERR_BAD_ACCOUNT', error.message);
      }
    }
    throw error;
  }
}
