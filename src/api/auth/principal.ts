/**
 * Who made a management request, once the access control has looked: the local unix
 * socket (admin, actor `local`), an API token, or a console session.
 */
import type { FastifyRequest } from 'fastify';
import type { Role } from './roles.ts';

export interface Principal {
  /** The account name; `local` over the unix socket; `token:NAME` for an API token. */
  readonly actor: string;
  readonly role: Role;
  readonly via: 'socket' | 'token' | 'session';
  /** The session's CSRF token (via session only). */
  readonly csrfToken?: string;
  /** The session cookie's id (via session only): what logout ends. */
  readonly sessionId?: string;
}

const principals = new WeakMap<FastifyRequest, Principal>();

export function setPrincipal(request: FastifyRequest, principal: Principal): void {
  principals.set(request, principal);
}

/** The caller of a request that passed the access control; undefined on `anyone` routes without credentials. */
export function principalOf(request: FastifyRequest): Principal | undefined {
  return principals.get(request);
}

/** The actor to audit a request under: the principal's, or `-` when unknown. */
export function actorOf(request: FastifyRequest): string {
  return principals.get(request)?.actor ?? '-';
}

/** The client's address as audited: `local` for the unix socket. */
export function clientAddress(request: FastifyRequest): string {
  return request.raw.socket.remoteAddress ?? 'local';
}
