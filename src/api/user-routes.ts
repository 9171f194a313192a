/**
 * The management API's user routes, on the same user store `sipwarden users` writes:
 *   GET    /api/users[?domain=&limit=&offset=]   list (never HA1 values)
 *   GET    /api/users/:domain/:user             one user
 *   POST   /api/users                           create, with a password or both HA1s
 *   PATCH  /api/users/:domain/:user             change the fields given
 *   DELETE /api/users/:domain/:user             remove
 * A password sent here is hashed at once and not kept; answers never carry HA1s. Reading
 * needs the viewer role; every change, admin (the routes declare no role).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { printable } from '../events/event-bus.ts';
import { UserStoreError } from '../identity/users/errors.ts';
import { type CredentialsInput, USER_LIMITS } from '../identity/users/user-fields.ts';
import { buildChanges, buildUser, parseUserAndDomain } from '../identity/users/user-input.ts';
import { MAX_LIST_LIMIT, type SqliteUserStore } from '../identity/users/user-store.ts';
import { type UserView, userView } from '../identity/users/user-view.ts';
import { type AuditRecorder, NO_AUDIT } from './auth/audit.ts';
import { actorOf, clientAddress } from './auth/principal.ts';
import { ApiError } from './errors.ts';

export interface UsersAnswer {
  readonly users: readonly UserView[];
  /** Users in the store (in the domain, when filtered), of which `users` holds at most `limit`. */
  readonly total: number;
}

export interface UserAnswer {
  readonly user: UserView;
}

export interface UserRemovedAnswer {
  readonly removed: true;
}

/** What the routes need of the store. */
export type UserAdmin = Pick<SqliteUserStore, 'get' | 'list' | 'count' | 'add' | 'update' | 'remove'>;

interface UserFieldsBody {
  groups?: string[];
  roles?: string[];
  organisation?: string | null;
  allowedNetworks?: string[];
  enabled?: boolean;
  password?: string;
  ha1Md5?: string;
  ha1Sha256?: string;
}

interface CreateBody extends UserFieldsBody {
  user: string;
  domain: string;
}

interface UserParams {
  domain: string;
  user: string;
}

const nameList = (maxItems: number, maxLength: number) =>
  ({ type: 'array', maxItems, items: { type: 'string', maxLength } }) as const;

const fieldProperties = {
  groups: nameList(USER_LIMITS.listEntries, USER_LIMITS.nameLength),
  roles: nameList(USER_LIMITS.listEntries, USER_LIMITS.nameLength),
  organisation: { type: ['string', 'null'], maxLength: USER_LIMITS.organisationLength },
  allowedNetworks: nameList(USER_LIMITS.networks, 70),
  enabled: { type: 'boolean' },
  password: { type: 'string', minLength: 1, maxLength: USER_LIMITS.passwordBytes },
  ha1Md5: { type: 'string', minLength: 32, maxLength: 32 },
  ha1Sha256: { type: 'string', minLength: 64, maxLength: 64 },
} as const;

const paramsSchema = {
  type: 'object',
  required: ['domain', 'user'],
  properties: {
    domain: { type: 'string', minLength: 1, maxLength: USER_LIMITS.domainLength + 2 },
    user: { type: 'string', minLength: 1, maxLength: USER_LIMITS.userLength },
  },
} as const;

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      domain: { type: 'string', minLength: 1, maxLength: USER_LIMITS.domainLength + 2 },
      limit: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT },
      offset: { type: 'integer', minimum: 0, maximum: 100_000_000 },
    },
  },
} as const;

const createSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['user', 'domain'],
    properties: {
      user: { type: 'string', minLength: 1, maxLength: USER_LIMITS.userLength },
      domain: { type: 'string', minLength: 1, maxLength: USER_LIMITS.domainLength + 2 },
      ...fieldProperties,
    },
  },
} as const;

const patchSchema = {
  params: paramsSchema,
  body: { type: 'object', additionalProperties: false, properties: fieldProperties },
} as const;

export function registerUserRoutes(
  app: FastifyInstance,
  users: UserAdmin,
  audit: AuditRecorder = NO_AUDIT,
): void {
  // Every change of a SIP user goes to the audit log (never its password or HA1s).
  const audited = (
    request: FastifyRequest,
    action: string,
    target: string,
    detail?: Record<string, unknown>,
  ) =>
    audit.record({
      actor: actorOf(request),
      address: clientAddress(request),
      action,
      target,
      ...(detail === undefined ? {} : { detail }),
      outcome: 'ok',
    });
  app.get<{ Querystring: { domain?: string; limit?: number; offset?: number } }>(
    '/api/users',
    { schema: listSchema, config: { role: 'viewer' } },
    async (request) => {
      const { limit, offset } = request.query;
      const domain = request.query.domain === undefined ? undefined : domainOf(request.query.domain);
      const answer: UsersAnswer = {
        users: users
          .list({
            ...(domain === undefined ? {} : { domain }),
            ...(limit === undefined ? {} : { limit }),
            ...(offset === undefined ? {} : { offset }),
          })
          .map(userView),
        total: users.count(domain),
      };
      return answer;
    },
  );

  app.get<{ Params: UserParams }>(
    '/api/users/:domain/:user',
    { schema: { params: paramsSchema }, config: { role: 'viewer' } },
    async (request) => {
      const { user, domain } = namesOf(request.params.user, request.params.domain);
      const record = users.get(user, domain);
      if (record === undefined) throw noSuchUser(user, domain);
      const answer: UserAnswer = { user: userView(record) };
      return answer;
    },
  );

  app.post<{ Body: CreateBody }>('/api/users', { schema: createSchema }, async (request, reply) => {
    const body = request.body;
    const credentials = credentialsOf(body, true);
    const built = buildUser(body.user, body.domain, credentials!, body);
    if (!built.ok) throw new ApiError('SW_ERR_BAD_USER', built.errors.join('; '));
    const answer: UserAnswer = { user: userView(storeCall(() => users.add(built.value))) };
    audited(request, 'user.create', `${answer.user.user}@${answer.user.domain}`);
    return reply.code(201).send(answer);
  });

  app.patch<{ Params: UserParams; Body: UserFieldsBody }>(
    '/api/users/:domain/:user',
    { schema: patchSchema },
    async (request) => {
      const { user, domain } = namesOf(request.params.user, request.params.domain);
      const built = buildChanges(user, domain, credentialsOf(request.body, false), request.body);
      if (!built.ok) throw new ApiError('SW_ERR_BAD_USER', built.errors.join('; '));
      const answer: UserAnswer = { user: userView(storeCall(() => users.update(user, domain, built.value))) };
      // The fields changed, by name: their values may be secrets.
      const fields = Object.keys(request.body).filter(
        (key) => (request.body as Record<string, unknown>)[key] !== undefined,
      );
      audited(request, 'user.update', `${user}@${domain}`, { fields });
      return answer;
    },
  );

  app.delete<{ Params: UserParams }>(
    '/api/users/:domain/:user',
    { schema: { params: paramsSchema } },
    async (request) => {
      const { user, domain } = namesOf(request.params.user, request.params.domain);
      if (!storeCall(() => users.remove(user, domain))) throw noSuchUser(user, domain);
      audited(request, 'user.delete', `${user}@${domain}`);
      const answer: UserRemovedAnswer = { removed: true };
      return answer;
    },
  );
}

/** A password, or both HA1s; never both kinds. Required when creating. */
function credentialsOf(body: UserFieldsBody, required: boolean): CredentialsInput | undefined {
  const ha1 = body.ha1Md5 !== undefined || body.ha1Sha256 !== undefined;
  if (body.password !== undefined && ha1) {
    throw new ApiError('SW_ERR_BAD_USER', 'give password or ha1Md5 and ha1Sha256, not both');
  }
  if (body.password !== undefined) return { password: body.password };
  if (ha1) {
    if (body.ha1Md5 === undefined || body.ha1Sha256 === undefined) {
      throw new ApiError('SW_ERR_BAD_USER', 'give both ha1Md5 and ha1Sha256');
    }
    return { ha1Md5: body.ha1Md5, ha1Sha256: body.ha1Sha256 };
  }
  if (required) throw new ApiError('SW_ERR_BAD_USER', 'give password, or ha1Md5 and ha1Sha256');
  return undefined;
}

function namesOf(user: string, domain: string): { user: string; domain: string } {
  const parsed = parseUserAndDomain(user, domain);
  if (!parsed.ok) throw new ApiError('SW_ERR_BAD_USER', parsed.errors.join('; '));
  return parsed.value;
}

function domainOf(domain: string): string {
  return namesOf('x', domain).domain;
}

function noSuchUser(user: string, domain: string): ApiError {
  return new ApiError('SW_ERR_NO_SUCH_USER', `no user ${printable(`${user}@${domain}`, 330)}`);
}

/** The store's own refusals as API errors; failures go to the server's error handler. */
function storeCall<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof UserStoreError) {
      if (error.code === 'SW_ERR_USER_EXISTS') throw new ApiError('SW_ERR_USER_EXISTS', error.message);
      if (error.code === 'SW_ERR_NO_SUCH_USER') throw new ApiError('SW_ERR_NO_SUCH_USER', error.message);
    }
    throw error;
  }
}
