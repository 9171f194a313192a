/**
 * A client of the management API for the command line (`sipwarden block`, `blocks`,
 * `unblock`, `events`, `fraud`): over the gateway's local unix socket (no token: the socket's
 * file permissions say who may), or over HTTP(S) with an API token. Its errors are plain
 * Errors whose message is the line to print: the API's own message for a refused request, or
 * `cannot reach the management API at URL: ECONNREFUSED` when nothing answers.
 */
import { request as httpRequest } from 'node:http';
import type { EventType } from '../events/types.ts';
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
export const API_TOKEN_ENV = 'SIPWARDEN_API_TOKEN';
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

export interface ClientOptions {
  readonly timeoutMs?: number;
  /** An API token, sent as `Authorization: Bearer` (over HTTP(S)). */
  readonly token?: string;
  /** Talk over this unix socket instead of `base` (the gateway's management.socket). */
  readonly socketPath?: string;
}

export class ManagementClient {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #socketPath: string | undefined;

  /** `base` as resolveApiUrl returns it: no trailing slash (ignored with `socketPath`). */
  constructor(base: string, options: ClientOptions = {}) {
    this.#base = options.socketPath === undefined ? base : `unix:${options.socketPath}`;
    this.#timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
    this.#token = options.token;
    this.#socketPath = options.socketPath;
  }

  /** Over the unix socket at `path`. */
  static overSocket(path: string, options: { timeoutMs?: number } = {}): ManagementClient {
    return new ManagementClient('', { ...options, socketPath: path });
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

  /** Any route, for the commands that have no method of their own here. */
  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.#call<T>(method, path, body);
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
    };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let response: { status: number; ok: boolean; text: string };
    try {
      response =
        this.#socketPath === undefined
          ? await this.#fetch(method, path, headers, payload)
          : await this.#overSocket(this.#socketPath, method, path, headers, payload);
    } catch (error) {
      throw new ApiUnreachableError(this.#base, reasonOf(error, this.#timeoutMs));
    }
    const text = response.text;
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
      if (error?.code === 'unauthenticated' && this.#socketPath === undefined) {
        throw new ApiRefusedError(
          response.status,
          error.code,
          this.#token === undefined
            ? `${this.#base} needs an API token: give --token or set ${API_TOKEN_ENV} (sipwarden admin token create), or leave out --api to use the local socket`
            : `${this.#base} refused the API token: ${error.message}`,
        );
      }
      if (typeof error?.message === 'string' && typeof error.code === 'string') {
        throw new ApiRefusedError(response.status, error.code, error.message);
      }
      throw new ApiRefusedError(response.status, 'SW_ERR_HTTP', `the API answered HTTP ${response.status}`);
    }
    return parsed as T;
  }

  #fetch(method: string, path: string, headers: Record<string, string>, body: string | undefined) {
    return fetchText(this.#base + path, method, headers, body, this.#timeoutMs);
  }

  #overSocket(
    socketPath: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ) {
    return socketText(socketPath, method, path, headers, body, this.#timeoutMs);
  }
}

/** The answer of one request over fetch (HTTP or HTTPS). */
async function fetchText(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; ok: boolean; text: string }> {
  const response = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, ok: response.ok, text: await response.text() };
}

/** Answers longer than this are not read: no API answer the commands use comes near it. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** The answer of one request over a unix socket (node:http; fetch cannot use one). */
function socketText(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; ok: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { socketPath, method, path, headers: { host: 'localhost', ...headers }, timeout: timeoutMs },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            request.destroy(new Error('the answer is too large'));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          resolve({
            status,
            ok: status >= 200 && status < 300,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => {
      const error = new Error(`no answer within ${timeoutMs / 1000}s`);
      error.name = 'TimeoutError';
      request.destroy(error);
    });
    request.on('error', reject);
    request.end(body);
  });
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
