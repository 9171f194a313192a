/**
 * A client of the management API for the command line (`sipwarden block`, `blocks`,
 * `unblock`, `events`), on Node's global fetch. Its errors are plain Errors whose message
 * is the line to print: the API's own message for a refused request, or
 * `cannot reach the management API at URL: ECONNREFUSED` when nothing answers.
 */
import type { EventType } from '../events/types.ts';
import type { ReloadAnswer } from '../reload/reload-route.ts';
import type { ApiErrorBody } from './errors.ts';
import type {
  BlockAnswer,
  BlocksAnswer,
  EventsAnswer,
  HoldsAnswer,
  ReleaseAnswer,
  UnblockAnswer,
} from './views.ts';

export const DEFAULT_API_URL = 'http://127.0.0.1:9060';
export const API_URL_ENV = 'SIPWARDEN_API';
const TIMEOUT_MS = 10_000;

/** The API refused the request: the message is the API's. */
export class ApiRefusedError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiRefusedError';
    this.status = status;
    this.code = code;
  }
}

/** Nothing answered at the URL (refused, unresolved, timed out). */
export class ApiUnreachableError extends Error {
  readonly url: string;
  readonly reason: string;
  constructor(url: string, reason: string) {
    super(`cannot reach the management API at ${url}: ${reason}`);
    this.name = 'ApiUnreachableError';
    this.url = url;
    this.reason = reason;
  }
}

export type ApiUrlResult = { ok: true; url: string } | { ok: false; message: string };

/** The API's base URL: `--api`, else $SIPWARDEN_API, else http://127.0.0.1:9060. */
export function resolveApiUrl(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ApiUrlResult {
  const given = option ?? (env[API_URL_ENV] || undefined) ?? DEFAULT_API_URL;
  const source = option !== undefined ? '--api' : env[API_URL_ENV] ? API_URL_ENV : 'default';
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return {
      ok: false,
      message: `${source}: ${JSON.stringify(given)} is not a URL (such as ${DEFAULT_API_URL})`,
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, message: `${source}: ${JSON.stringify(given)} must be an http:// or https:// URL` };
  }
  return { ok: true, url: given.replace(/\/+$/, '') };
}

export interface BlockRequest {
  readonly address: string;
  readonly duration?: string | number;
  readonly reason?: string;
}

export interface EventsRequest {
  readonly since?: string;
  readonly until?: string;
  readonly type?: EventType | string;
  readonly source?: string;
  readonly limit?: string | number;
}

export class ManagementClient {
  readonly #base: string;
  readonly #timeoutMs: number;

  /** `base` as resolveApiUrl returns it: no trailing slash. */
  constructor(base: string, options: { timeoutMs?: number } = {}) {
    this.#base = base;
    this.#timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  }

  blocks(): Promise<BlocksAnswer> {
    return this.#call<BlocksAnswer>('GET', '/api/blocks');
  }

  block(request: BlockRequest): Promise<BlockAnswer> {
    return this.#call<BlockAnswer>('POST', '/api/blocks', request);
  }

  unblock(address: string): Promise<UnblockAnswer> {
    return this.#call<UnblockAnswer>('DELETE', `/api/blocks/${encodeURIComponent(address)}`);
  }

  fraudHolds(): Promise<HoldsAnswer> {
    return this.#call<HoldsAnswer>('GET', '/api/fraud/holds');
  }

  releaseHold(identity: string): Promise<ReleaseAnswer> {
    return this.#call<ReleaseAnswer>('DELETE', `/api/fraud/holds/${encodeURIComponent(identity)}`);
  }

  events(request: EventsRequest = {}): Promise<EventsAnswer> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request)) {
      if (value !== undefined) query.set(name, String(value));
    }
    const text = query.toString();
    return this.#call<EventsAnswer>('GET', `/api/events${text === '' ? '' : `?${text}`}`);
  }

  /** POST /api/config/reload: refused with ApiRefusedError `SW_ERR_CONFIG_REFUSED`, a line per error. */
  reload(): Promise<ReloadAnswer> {
    return this.#call<ReloadAnswer>('POST', '/api/config/reload');
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.#base + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new ApiUnreachableError(this.#base, reasonOf(error, this.#timeoutMs));
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new ApiUnreachableError(this.#base, reasonOf(error, this.#timeoutMs));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiRefusedError(
        response.status,
        'SW_ERR_NOT_THE_API',
        `${this.#base} answered HTTP ${response.status} without JSON: is it the sipwarden management API?`,
      );
    }
    if (!response.ok) {
      const error = (parsed as Partial<ApiErrorBody> | null)?.error;
      if (typeof error?.message === 'string' && typeof error.code === 'string') {
        throw new ApiRefusedError(response.status, error.code, error.message);
      }
      throw new ApiRefusedError(response.status, 'SW_ERR_HTTP', `the API answered HTTP ${response.status}`);
    }
    return parsed as T;
  }
}

/** ECONNREFUSED, ENOTFOUND, `timed out after 10s`...: what an operator can act on. */
function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs / 1000}s`;
  }
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
