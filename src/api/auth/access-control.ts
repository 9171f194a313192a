/**
 * The management API's access control, run first on every request (an onRequest hook,
 * before any body is read):
 *  1. the client's address must be in `management.allow` (loopback only by default), else
 *     403; requests over the local unix socket skip this and are admin, actor `local`;
 *  2. the caller is identified: `Authorization: Bearer TOKEN` (an API token), or the
 *     `sw_session` cookie of a console session;
 *  3. the route's declared role (roles.ts; none declared means admin) is checked: 401 without
 *     credentials, 403 when the role is below;
 *  4. a cookie-authenticated request other than GET/HEAD must carry the session's
 *     `x-csrf-token`, and an Origin header, when sent, must name this server: else 403 `csrf`.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Cidr, cidrContains } from '../../state/cidr.ts';
import { ApiError } from '../errors.ts';
import type { AccountStore } from './account-store.ts';
import { type AuditRecorder, NO_AUDIT } from './audit.ts';
import { digest, sameText } from './credentials.ts';
import { type Principal, setPrincipal } from './principal.ts';
import { type Role, type RouteAccess, roleAllows } from './roles.ts';
import { SESSION_COOKIE, SessionTable } from './sessions.ts';
import { LoginThrottle } from './throttle.ts';

export interface AccessOptions {
  readonly store: AccountStore;
  /** Client networks allowed to reach the listener (the unix socket is not checked). */
  readonly allow: readonly Cidr[];
  /** Roles whose accounts must log in with a TOTP code. */
  readonly totpRequired: readonly Role[];
  readonly audit?: AuditRecorder;
  readonly now?: () => number;
  readonly sessions?: SessionTable;
  readonly throttle?: LoginThrottle;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

export class AccessControl {
  readonly store: AccountStore;
  readonly sessions: SessionTable;
  readonly throttle: LoginThrottle;
  readonly audit: AuditRecorder;
  readonly totpRequired: ReadonlySet<Role>;
  readonly now: () => number;
  readonly #allow: readonly Cidr[];
  /** Connections accepted on the local unix socket. */
  readonly #local = new WeakSet<Socket>();
  /** True once the listener speaks TLS: cookies get `Secure`, Origins `https:`. */
  secure = false;
  /** Every route registered after register(), with the role it needs: for tests and docs. */
  readonly routes: { readonly method: string; readonly url: string; readonly role: RouteAccess }[] = [];

  constructor(options: AccessOptions) {
    this.store = options.store;
    this.#allow = options.allow;
    this.totpRequired = new Set(options.totpRequired);
    this.audit = options.audit ?? NO_AUDIT;
    this.now = options.now ?? Date.now;
    this.sessions = options.sessions ?? new SessionTable();
    this.throttle = options.throttle ?? new LoginThrottle();
  }

  /** Marks a connection as the local unix socket's: trusted as admin. */
  trustLocal(socket: Socket): void {
    this.#local.add(socket);
  }

  isLocal(request: FastifyRequest): boolean {
    return this.#local.has(request.raw.socket);
  }

  addressAllowed(address: string | undefined): boolean {
    if (address === undefined) return false;
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    return this.#allow.some((cidr) => cidrContains(cidr, plain));
  }

  /** The hook: registered before every other, so that nothing runs for a refused client. */
  register(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) {
        this.routes.push({ method, url: route.url, role: route.config?.role ?? 'admin' });
      }
    });
    app.addHook('onRequest', async (request) => {
      const local = this.isLocal(request);
      if (!local && !this.addressAllowed(request.raw.socket.remoteAddress)) {
        throw new ApiError('SW_ERR_FORBIDDEN_ADDRESS', 'this address may not use the management API');
      }
      const principal = local ? LOCAL : this.#identify(request);
      if (principal !== undefined) setPrincipal(request, principal);
      const needed = request.routeOptions.config?.role ?? 'admin';
      if (principal?.via === 'session' && !SAFE_METHODS.has(request.method)) {
        this.#checkCsrf(request, principal);
      }
      if (needed === 'anyone') return;
      if (principal === undefined) {
        throw new ApiError(
          'unauthenticated',
          'log in (POST /api/session) or send an API token (Authorization: Bearer)',
        );
      }
      if (!roleAllows(principal.role, needed)) {
        throw new ApiError(
          'forbidden',
          `this needs the ${needed} role; ${principal.actor} has ${principal.role}`,
        );
      }
    });
  }

  #identify(request: FastifyRequest): Principal | undefined {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer ([\x21-\x7e]{1,200})$/i.exec(authorization);
      const token = match === null ? undefined : this.store.findToken(match[1]!);
      // Wrong credentials are an error, not a fall-back to anonymous.
      if (token === undefined)
        throw new ApiError('unauthenticated', 'the API token is not valid (unknown, revoked or malformed)');
      return { actor: `token:${token.name}`, role: token.role, via: 'token' };
    }
    const id = sessionCookie(request.headers.cookie);
    if (id === undefined) return undefined;
    const session = this.sessions.find(id, this.now());
    if (session === undefined) return undefined;
    // The account as it is now: removed, or its role changed, since the login.
    const account = this.store.get(session.account);
    if (account === undefined || digest(account.passwordHash) !== session.credential) {
      this.sessions.close(id);
      return undefined;
    }
    return {
      actor: account.name,
      role: account.role,
      via: 'session',
      csrfToken: session.csrfToken,
      sessionId: id,
    };
  }

  #checkCsrf(request: FastifyRequest, principal: Principal): void {
    const sent = request.headers['x-csrf-token'];
    if (
      typeof sent !== 'string' ||
      principal.csrfToken === undefined ||
      !sameText(sent, principal.csrfToken)
    ) {
      throw new ApiError('csrf', "send the session's csrfToken in the x-csrf-token header");
    }
    this.checkOrigin(request);
  }

  /** An Origin header, when sent, must be this server's own (scheme, host and port). */
  checkOrigin(request: FastifyRequest): void {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    const host = request.headers.host?.toLowerCase();
    const expected = `${this.secure ? 'https' : 'http'}://${host}`;
    if (host === undefined || origin.toLowerCase() !== expected) {
      throw new ApiError('csrf', 'a request from another origin is refused');
    }
  }
}

const LOCAL: Principal = { actor: 'local', role: 'admin', via: 'socket' };

/** The session id of a Cookie header, if it has one that looks right. */
export function sessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === SESSION_COOKIE && value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}
