/**
 * The console's session:
 *   POST   /api/session  { user, password, totp? } -> 200 { user, role, csrfToken } + cookie
 *   GET    /api/session  -> 200 { user, role, csrfToken } or 401
 *   DELETE /api/session  -> 204, the cookie cleared
 * Failed logins count towards the throttle (throttle.ts); a throttled login is 429 with
 * Retry-After, whether its password is right or not, and costs no password hashing.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { printable } from '../../events/event-bus.ts';
import { ApiError, type ApiErrorBody } from '../errors.ts';
import type { AccessControl } from './access-control.ts';
import { MAX_PASSWORD_BYTES, totpStep, verifyPassword } from './credentials.ts';
import { clientAddress, principalOf } from './principal.ts';
import type { Role } from './roles.ts';
import { SESSION_COOKIE, SESSION_MAX_MS } from './sessions.ts';

export interface SessionAnswer {
  readonly user: string;
  readonly role: Role;
  /** Null for callers that are not console sessions (an API token, the local socket). */
  readonly csrfToken: string | null;
}

interface LoginBody {
  user: string;
  password: string;
  totp?: string;
}

const loginSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['user', 'password'],
    properties: {
      user: { type: 'string', minLength: 1, maxLength: 64 },
      password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_BYTES },
      totp: { type: 'string', minLength: 1, maxLength: 12 },
    },
  },
} as const;

export function registerSessionRoutes(app: FastifyInstance, access: AccessControl): void {
  app.post<{ Body: LoginBody }>(
    '/api/session',
    { schema: loginSchema, config: { role: 'anyone' } },
    async (request, reply) => {
      // A login from another origin's page is refused outright (login CSRF).
      access.checkOrigin(request);
      const { user, password, totp } = request.body;
      const address = clientAddress(request);
      const now = access.now();
      const wait = access.throttle.retryAfter(user, address, now);
      if (wait > 0) {
        const body: ApiErrorBody = {
          error: { code: 'throttled', message: 'too many failed logins: try again later' },
        };
        return reply
          .code(429)
          .header('retry-after', String(Math.ceil(wait / 1000)))
          .send(body);
      }
      const account = access.store.get(user);
      const target = printable(user, 64);
      const failed = (reason: string, code: 'unauthenticated' | 'totp-required' = 'unauthenticated') => {
        access.throttle.failed(user, address, now);
        access.audit.record({
          actor: account?.name ?? '-',
          address,
          action: 'session.login-failed',
          target,
          detail: { reason },
          outcome: 'refused',
        });
        return new ApiError(code, code === 'totp-required' ? reason : 'wrong user, password or code');
      };
      if (!(await verifyPassword(account?.passwordHash, password)) || account === undefined) {
        throw failed('wrong user or password');
      }
      if (account.totpSecret === null) {
        if (access.totpRequired.has(account.role)) {
          throw failed(
            `the ${account.role} role needs a second factor: enrol one with sipwarden admin totp --user ${account.name}`,
            'totp-required',
          );
        }
      } else {
        // Asking for the code is not a failure: the console shows the field and sends again.
        if (totp === undefined) throw new ApiError('totp-required', 'send the TOTP code of this account');
        const step = totpStep(account.totpSecret, totp, now);
        if (step === undefined || !access.store.useTotpStep(account.name, step)) {
          throw failed(step === undefined ? 'wrong TOTP code' : 'TOTP code used already');
        }
      }
      access.throttle.succeeded(user);
      const { id, session } = access.sessions.open(account.name, account.passwordHash, now);
      access.audit.record({ actor: account.name, address, action: 'session.login', outcome: 'ok' });
      setCookie(reply, access, id, SESSION_MAX_MS / 1000);
      const answer: SessionAnswer = { user: account.name, role: account.role, csrfToken: session.csrfToken };
      return answer;
    },
  );

  app.get('/api/session', { config: { role: 'anyone' } }, async (request) => {
    const principal = principalOf(request);
    if (principal === undefined) throw new ApiError('unauthenticated', 'not logged in');
    const answer: SessionAnswer = {
      user: principal.actor,
      role: principal.role,
      csrfToken: principal.csrfToken ?? null,
    };
    return answer;
  });

  app.delete('/api/session', { config: { role: 'anyone' } }, async (request, reply) => {
    const principal = principalOf(request);
    if (principal?.sessionId !== undefined) {
      access.sessions.close(principal.sessionId);
      access.audit.record({
        actor: principal.actor,
        address: clientAddress(request),
        action: 'session.logout',
        outcome: 'ok',
      });
    }
    setCookie(reply, access, '', 0);
    return reply.code(204).send();
  });
}

function setCookie(reply: FastifyReply, access: AccessControl, value: string, maxAgeSeconds: number): void {
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${access.secure ? '; Secure' : ''}`,
  );
}
