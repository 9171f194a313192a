/**
 * The roles of management accounts and API tokens, each including the one below it:
 * a viewer reads; an operator also blocks, unblocks and releases holds; an admin also
 * manages users, accounts, tokens and the configuration.
 *
 * Every route declares the least role it needs in its fastify options,
 * `{ config: { role: 'viewer' } }`; a route that declares none needs admin (deny by
 * default). `role: 'anyone'` opens a route to callers without credentials: only logging in
 * and the console's static files are.
 */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route may declare: a role, or `anyone` for the few routes open without credentials. */
export type RouteAccess = Role | 'anyone';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a caller needs; absent means admin. */
    role?: RouteAccess;
  }
}

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `held` includes everything `needed` may do. */
export function roleAllows(held: Role, needed: Role): boolean {
  return RANK[held] >= RANK[needed];
}
