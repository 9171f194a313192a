/**
 * Console sessions, kept in memory (a restart logs everyone out): a random id in the
 * `sw_session` cookie and a CSRF token the console sends back in `x-csrf-token`. A session
 * ends after 30 minutes without a request, 12 hours after login, at logout, or when its
 * account is removed or its password changed. The table is bounded: when full, the session used least recently ends.
 */
import { digest, randomToken } from './credentials.ts';

export const SESSION_COOKIE = 'sw_session';
export const SESSION_IDLE_MS = 30 * 60_000;
export const SESSION_MAX_MS = 12 * 60 * 60_000;
export const MAX_SESSIONS = 1000;

export interface Session {
  readonly account: string;
  /** A digest of the password hash at login: a password changed since (even by the command
   * line, in another process) ends the session. */
  readonly credential: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeen: number;
}

export class SessionTable {
  // Keyed by the id's digest: a dump of the process's memory does not give usable cookies.
  readonly #sessions = new Map<string, Session>();
  readonly #max: number;

  constructor(options: { maxSessions?: number } = {}) {
    this.#max = options.maxSessions ?? MAX_SESSIONS;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session: its id for the cookie, and the session. */
  open(account: string, passwordHash: string, now: number): { id: string; session: Session } {
    if (this.#sessions.size >= this.#max) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const id = randomToken(32);
    const session: Session = {
      account,
      credential: digest(passwordHash),
      csrfToken: randomToken(24),
      createdAt: now,
      lastSeen: now,
    };
    this.#sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of a cookie id, marked used; undefined (and forgotten) once expired. */
  find(id: string, now: number): Session | undefined {
    if (id.length !== 43) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (now - session.lastSeen > SESSION_IDLE_MS || now - session.createdAt > SESSION_MAX_MS) {
      this.#sessions.delete(key);
      return undefined;
    }
    session.lastSeen = now;
    // Re-inserted: the map's order stays least-recently-used first.
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    return session;
  }

  close(id: string): Session | undefined {
    const key = digest(id);
    const session = this.#sessions.get(key);
    this.#sessions.delete(key);
    return session;
  }

  /** Ends every session of an account (removed, or its password changed). */
  closeAccount(account: string): void {
    const name = account.toLowerCase();
    for (const [key, session] of this.#sessions) {
      if (session.account.toLowerCase() === name) this.#sessions.delete(key);
    }
  }
}
