/**
 * The console's one way to the management API: same origin, the session cookie sent by the
 * browser, and the CSRF token of the session in `x-csrf-token` on every request that
 * changes something (the server refuses those without it).
 */
import type { Session } from './types.ts';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;

export function rememberSession(session: Session | undefined): void {
  csrfToken = session?.csrfToken;
}

/** Fired when the server says the session is gone (401): the app shows the login form. */
export const UNAUTHENTICATED = 'sipwarden:unauthenticated';

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const failure = new ApiFailure(
      response.status,
      error?.code ?? `http-${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`,
    );
    if (response.status === 401 && path !== '/api/session') {
      window.dispatchEvent(new CustomEvent(UNAUTHENTICATED));
    }
    throw failure;
  }
  return parsed as T;
}

/** What the page says about a failed request, in words. */
export function failureText(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 403) return `Refused (403 ${error.code}): ${error.message}`;
    return `${error.status} ${error.code}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}
