/**
 * The management HTTP API (fastify): Prometheus metrics, security events, the block
 * table (list, block, unblock) and, given a user store, its users (user-routes.ts). Every
 * request passes the access control first (auth/access-control.ts: the address allowlist,
 * then accounts, tokens and roles: each route below names the least role it needs); the
 * local unix socket, when configured, is trusted as admin. Besides, it guards against what
 * a browser could be led to do: bodies must be JSON (a cross-site form cannot send that
 * without a preflight we never answer), and the Host header of an /api request must name
 * an IP address, localhost or the configured host, which defeats DNS rebinding. Every error
 * is `{ error: { code, message } }` with its status.
 */
import type { Server } from 'node:http';
import { type FastifyError, type FastifyInstance, type FastifyReply, fastify } from 'fastify';
import { registerAssessmentRoutes } from '../assessments/assessment-routes.ts';
import type { AssessmentStore } from '../assessments/assessment-store.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { registerAuditRoute } from '../audit/audit-route.ts';
import { AuditLogError } from '../audit/errors.ts';
import type { CdrReader } from '../cdr/cdr-store.ts';
import { isIpv4, isIpv6 } from '../config/host.ts';
import { printable } from '../events/event-bus.ts';
import { EVENT_TYPES, type EventEmitter, type EventType } from '../events/types.ts';
import { FraudHolds } from '../fraud/holds.ts';
import { UserStoreError } from '../identity/users/errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { type ReloadFunction, registerReloadRoute } from '../reload/reload-route.ts';
import { identityBlockKey } from '../security/block-keys.ts';
import type { BlockTable } from '../state/types.ts';
import { EventStoreError } from '../store/errors.ts';
import type { EventReader } from '../store/event-store.ts';
import { DurationError, formatDuration, parseDuration } from '../util/duration.ts';
import type { AccessControl } from './auth/access-control.ts';
import { registerAccountRoutes } from './auth/account-routes.ts';
import { actorOf, clientAddress } from './auth/principal.ts';
import { registerSessionRoutes } from './auth/session-routes.ts';
import { canonicalAddress, parseBlockTarget } from './block-target.ts';
import { type CallSource, registerCallsRoute } from './calls-route.ts';
import { cdrsRoute } from './cdrs-route.ts';
import { registerConsoleRoutes } from './console-routes.ts';
import { ApiError, type ApiErrorBody, type ApiErrorCode } from './errors.ts';
import { type LiveFeed, registerLiveRoute } from './live-route.ts';
import { listenLocal, removeSocket } from './local-socket.ts';
import { parseTimeSpec } from './time-spec.ts';
import { registerUserRoutes, type UserAdmin } from './user-routes.ts';
import {
  type BlockAnswer,
  type BlocksAnswer,
  blockView,
  type EventsAnswer,
  type HoldsAnswer,
  holdView,
  type ReleaseAnswer,
  type UnblockAnswer,
} from './views.ts';

export interface ManagementServerOptions {
  readonly host: string;
  readonly port: number;
  readonly blocks: BlockTable;
  readonly events: EventReader;
  /** Call detail records (GET /api/cdrs); absent when CDRs are off (the route then answers 404). */
  readonly cdrs?: CdrReader;
  readonly metrics: Metrics;
  /** Admin actions (block, unblock) are emitted here, with stage and rule `admin`. */
  readonly bus: EventEmitter;
  readonly log: Logger;
  readonly now?: () => number;
  /** The user store: /api/users routes when given. */
  readonly users?: UserAdmin;
  /** Identities the fraud stage holds for an operator; none when absent. */
  readonly fraudHolds?: FraudHolds;
  /** Scorecards of `sipwarden assess` runs (POST and GET /api/assessments) when given. */
  readonly assessments?: AssessmentStore;
  /** The console's live feed (GET /api/live); the route answers 404 when absent. */
  readonly live?: LiveFeed;
  /** The calls open now (GET /api/calls); none listed when absent. */
  readonly calls?: () => CallSource | undefined;
  /** The built console's directory; default dist/console of this installation. */
  readonly consoleDirectory?: string;
  /** Accounts, sessions, tokens, the allowlist (auth/access-control.ts). */
  readonly access: AccessControl;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /**
   * A unix socket for the local command line, trusted as admin (0600). When not `required`
   * (the default path, not configured), a socket another process holds is warned about and
   * skipped instead of failing the start.
   */
  readonly socket?: { readonly path: string; readonly required: boolean };
  /** The audit log: blocks, unblocks and releases are recorded; GET /api/audit (role admin). */
  readonly audit?: AuditLog;
  /** Reloads the configuration: POST /api/config/reload (role admin) when given. */
  readonly reload?: ReloadFunction;
}

export interface ManagementServer {
  /** Binds; resolves to the address actually bound (port 0 resolves to the real port). */
  listen(): Promise<{ host: string; port: number }>;
  /** The unix socket's path once listening on it; undefined when there is none. */
  readonly socketPath: string | undefined;
  close(): Promise<void>;
  readonly app: FastifyInstance;
}

export const BODY_LIMIT_BYTES = 16 * 1024;
export const DEFAULT_BLOCK_MS = 3_600_000;
const MIN_BLOCK_MS = 1000;
const DEFAULT_BLOCK_LIST_LIMIT = 1000;
const MAX_BLOCK_LIST_LIMIT = 100_000;
const MAX_REASON_LENGTH = 256;
const ADMIN_REASON = 'blocked by an operator';

interface EventsQuerystring {
  since?: string;
  until?: string;
  type?: EventType;
  source?: string;
  limit?: number;
}

interface BlockBody {
  address: string;
  duration?: string | number;
  reason?: string;
}

const eventsSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      since: { type: 'string', minLength: 1, maxLength: 64 },
      until: { type: 'string', minLength: 1, maxLength: 64 },
      type: { type: 'string', enum: [...EVENT_TYPES] },
      source: { type: 'string', minLength: 1, maxLength: 64 },
      limit: { type: 'integer', minimum: 1, maximum: 1000 },
    },
  },
} as const;

const blocksSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_BLOCK_LIST_LIMIT } },
  },
} as const;

const blockSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['address'],
    properties: {
      // An address, a network, or a rule key (`userAgent=` and up to 128 characters).
      address: { type: 'string', minLength: 1, maxLength: 160 },
      duration: { type: ['string', 'number'], maxLength: 32 },
      reason: { type: 'string', minLength: 1, maxLength: MAX_REASON_LENGTH },
    },
  },
} as const;

const unblockSchema = {
  params: {
    type: 'object',
    required: ['address'],
    properties: { address: { type: 'string', minLength: 1, maxLength: 300 } },
  },
} as const;

const releaseSchema = {
  params: {
    type: 'object',
    required: ['identity'],
    properties: { identity: { type: 'string', minLength: 1, maxLength: 300 } },
  },
} as const;

export function createManagementServer(options: ManagementServerOptions): ManagementServer {
  const now = options.now ?? Date.now;
  const { blocks, events, metrics, bus, log } = options;
  const holds = options.fraudHolds ?? new FraudHolds();
  const access = options.access;
  access.secure = options.https !== undefined;
  const app = fastify({
    ...(options.https === undefined ? {} : { https: { cert: options.https.cert, key: options.https.key } }),
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 300 },
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Unknown fields are an error, not silently dropped: a misspelt `duraton` must not
    // quietly become the default hour.
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: 'array',
        allErrors: false,
        // `duration` is "90s" or 90: a union type, said so rather than warned about at start.
        allowUnionTypes: true,
      },
    },
  });
  // Only JSON bodies: a cross-site form post (text/plain) is refused with 415.
  app.removeContentTypeParser('text/plain');

  // First of all hooks: a refused address or caller costs nothing more.
  access.register(app);

  const allowedHosts = new Set(['localhost', options.host.toLowerCase()]);
  app.addHook('onRequest', async (request) => {
    const hostHeader = request.headers.host;
    // A Prometheus server scrapes by whatever name it knows the gateway by, and /metrics
    // reveals no events, addresses or blocks; the API proper needs a known Host.
    if (hostHeader === undefined || request.routeOptions.url === '/metrics') return;
    const name = hostName(hostHeader);
    if (isIpv4(name) || isIpv6(name) || allowedHosts.has(name)) return;
    throw new ApiError(
      'SW_ERR_FORBIDDEN_HOST',
      `the management API answers only to an IP address, localhost or ${options.host} in the Host header`,
    );
  });

  app.addHook('onResponse', async (request, reply) => {
    log.debug(
      { method: request.method, url: printable(request.url, 200), status: reply.statusCode },
      'management API request',
    );
  });

  app.setNotFoundHandler((request, reply) => {
    const path = printable(request.url.split('?')[0] ?? '', 100);
    sendError(reply, new ApiError('SW_ERR_NOT_FOUND', `no route ${request.method} ${path}`));
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) return sendError(reply, error);
    if (error instanceof EventStoreError) {
      log.error({ err: error }, 'management API: store failed');
      return sendError(reply, new ApiError('SW_ERR_EVENT_STORE', 'the event store cannot answer now'));
    }
    if (error instanceof AuditLogError) {
      log.error({ err: error }, 'management API: audit log failed');
      return sendError(reply, new ApiError('SW_ERR_AUDIT_LOG', 'the audit log cannot answer now'));
    }
    if (error instanceof UserStoreError) {
      log.error({ err: error }, 'management API: user store failed');
      return sendError(reply, new ApiError('SW_ERR_USER_STORE', 'the user store cannot answer now'));
    }
    if (error.validation !== undefined) {
      return sendError(reply, new ApiError('SW_ERR_BAD_REQUEST', printable(error.message, 300)));
    }
    const status = error.statusCode ?? 500;
    if (status === 413) {
      return sendError(
        reply,
        new ApiError('SW_ERR_BODY_TOO_LARGE', `the body is over ${BODY_LIMIT_BYTES} bytes`),
      );
    }
    if (status === 415) {
      return sendError(
        reply,
        new ApiError(
          'SW_ERR_UNSUPPORTED_MEDIA_TYPE',
          'the body must be JSON (Content-Type: application/json)',
        ),
      );
    }
    if (status >= 400 && status < 500) {
      return sendError(reply, new ApiError('SW_ERR_BAD_REQUEST', printable(error.message, 300)), status);
    }
    log.error(
      { err: error, method: request.method, url: printable(request.url, 200) },
      'management API failed',
    );
    return sendError(reply, new ApiError('SW_ERR_INTERNAL', 'internal error'));
  });

  registerSessionRoutes(app, access);
  registerAccountRoutes(app, access);

  app.get('/metrics', { config: { role: 'viewer' } }, async (_request, reply) => {
    const text = await metrics.text();
    return reply.header('content-type', metrics.contentType).send(text);
  });

  app.get<{ Querystring: EventsQuerystring }>(
    '/api/events',
    { schema: eventsSchema, config: { role: 'viewer' } },
    async (request) => {
      const query = request.query;
      const at = now();
      const since = query.since === undefined ? undefined : timeOf('since', query.since, at);
      const until = query.until === undefined ? undefined : timeOf('until', query.until, at);
      let source: string | undefined;
      if (query.source !== undefined) {
        source = canonicalAddress(query.source);
        if (source === undefined) {
          throw new ApiError(
            'SW_ERR_BAD_ADDRESS',
            `source: ${JSON.stringify(query.source)} is not an IP address`,
          );
        }
      }
      const answer: EventsAnswer = {
        events: events.query({
          ...(since === undefined ? {} : { since }),
          ...(until === undefined ? {} : { until }),
          ...(query.type === undefined ? {} : { type: query.type }),
          ...(source === undefined ? {} : { source }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
        }),
      };
      return answer;
    },
  );

  if (options.cdrs !== undefined) cdrsRoute(app, options.cdrs, now);

  app.get<{ Querystring: { limit?: number } }>(
    '/api/blocks',
    { schema: blocksSchema, config: { role: 'viewer' } },
    async (request) => {
      const at = now();
      const all = blocks.list(at).sort((a, b) => b.createdAt - a.createdAt);
      const limit = request.query.limit ?? DEFAULT_BLOCK_LIST_LIMIT;
      const answer: BlocksAnswer = {
        blocks: all.slice(0, limit).map((entry) => blockView(entry, at)),
        total: all.length,
      };
      return answer;
    },
  );

  app.post<{ Body: BlockBody }>(
    '/api/blocks',
    { schema: blockSchema, config: { role: 'operator' } },
    async (request, reply) => {
      const body = request.body;
      const parsed = parseBlockTarget(body.address);
      if (!parsed.ok) throw new ApiError('SW_ERR_BAD_ADDRESS', `address: ${parsed.message}`);
      const durationMs = blockDuration(body.duration);
      const reason = body.reason === undefined ? ADMIN_REASON : printable(body.reason, MAX_REASON_LENGTH);
      const at = now();
      const entry = blocks.block({
        key: parsed.target.key,
        scope: parsed.target.scope,
        reason,
        rule: 'admin',
        createdAt: at,
        expiresAt: at + durationMs,
      });
      bus.emit(
        {
          type: 'block',
          stage: 'admin',
          rule: 'admin',
          action: 'block',
          key: entry.key,
          reason,
          details: {
            scope: entry.scope,
            duration: formatDuration(durationMs),
            client: printable(clientAddress(request), 64),
          },
        },
        at,
      );
      access.audit.record({
        actor: actorOf(request),
        address: clientAddress(request),
        action: 'block.add',
        target: entry.key,
        detail: { scope: entry.scope, duration: formatDuration(durationMs), reason },
        outcome: 'ok',
      });
      const answer: BlockAnswer = { block: blockView(entry, at) };
      return reply.code(201).send(answer);
    },
  );

  app.delete<{ Params: { address: string } }>(
    '/api/blocks/:address',
    { schema: unblockSchema, config: { role: 'operator' } },
    async (request, reply) => {
      const given = request.params.address;
      const key = blockKeyOf(given);
      const removed = blocks.unblock(key);
      if (!removed) {
        access.audit.record({
          actor: actorOf(request),
          address: clientAddress(request),
          action: 'block.remove',
          target: printable(key, 300),
          outcome: 'failed',
          detail: { error: 'no such block' },
        });
        throw new ApiError('SW_ERR_NO_SUCH_BLOCK', `no block on ${JSON.stringify(printable(given, 100))}`);
      }
      bus.emit(
        {
          type: 'unblock',
          stage: 'admin',
          rule: 'admin',
          action: 'unblock',
          key,
          reason: 'unblocked by an operator',
          details: { client: printable(clientAddress(request), 64) },
        },
        now(),
      );
      access.audit.record({
        actor: actorOf(request),
        address: clientAddress(request),
        action: 'block.remove',
        target: key,
        outcome: 'ok',
      });
      const answer: UnblockAnswer = { removed: true };
      return reply.code(200).send(answer);
    },
  );

  if (options.users !== undefined) registerUserRoutes(app, options.users, access.audit);
  // The operators' console: its page and the live feed its charts draw.
  registerConsoleRoutes(app, options.consoleDirectory);
  if (options.live !== undefined) registerLiveRoute(app, options.live, { now });
  registerCallsRoute(app, options.calls ?? (() => undefined));
  if (options.audit !== undefined) registerAuditRoute(app, options.audit, now);
  if (options.assessments !== undefined) registerAssessmentRoutes(app, options.assessments, now);
  if (options.reload !== undefined) registerReloadRoute(app, options.reload);
  app.get('/api/fraud/holds', { config: { role: 'viewer' } }, async () => {
    const answer: HoldsAnswer = { holds: holds.list().map(holdView) };
    return answer;
  });

  app.delete<{ Params: { identity: string } }>(
    '/api/fraud/holds/:identity',
    { schema: releaseSchema, config: { role: 'operator' } },
    async (request, reply) => {
      const identity = request.params.identity.toLowerCase();
      const released = holds.release(identity);
      if (!released) {
        access.audit.record({
          actor: actorOf(request),
          address: clientAddress(request),
          action: 'fraud.release',
          target: printable(identity, 300),
          outcome: 'failed',
        });
        throw new ApiError('SW_ERR_NO_SUCH_HOLD', `no hold on ${JSON.stringify(printable(identity, 100))}`);
      }
      bus.emit(
        {
          type: 'fraud',
          stage: 'admin',
          rule: 'admin',
          action: 'unblock',
          key: identityBlockKey(printable(identity, 200)),
          reason: 'hold released by an operator',
          details: { client: printable(clientAddress(request), 64) },
        },
        now(),
      );
      access.audit.record({
        actor: actorOf(request),
        address: clientAddress(request),
        action: 'fraud.release',
        target: identity,
        outcome: 'ok',
      });
      const answer: ReleaseAnswer = { released: true };
      return reply.code(200).send(answer);
    },
  );

  let local: Server | undefined;
  let socketPath: string | undefined;
  return {
    app,
    get socketPath() {
      return socketPath;
    },
    async listen() {
      await app.listen({ host: options.host, port: options.port });
      if (options.socket !== undefined) {
        try {
          local = await listenLocal(options.socket.path, app, access);
          socketPath = options.socket.path;
        } catch (error) {
          if (options.socket.required) {
            await app.close();
            throw error;
          }
          log.warn(
            { err: error },
            'no management socket: the local command line needs --api and a token (set management.socket)',
          );
        }
      }
      const address = app.server.address();
      const bound =
        address !== null && typeof address === 'object'
          ? { host: address.address, port: address.port }
          : { host: options.host, port: options.port };
      if (!isLoopback(bound.host) && options.https === undefined) {
        log.warn(
          { host: bound.host, port: bound.port },
          'the management API listens beyond loopback without TLS: passwords and tokens cross the network in clear (set management.tls)',
        );
      }
      log.info(
        { host: bound.host, port: bound.port, tls: options.https !== undefined, socket: socketPath },
        'management API listening',
      );
      return bound;
    },
    async close() {
      if (local !== undefined) {
        const server = local;
        local = undefined;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (socketPath !== undefined) removeSocket(socketPath);
        socketPath = undefined;
      }
      await app.close();
    },
  };
}

function sendError(reply: FastifyReply, error: ApiError, status = error.status): FastifyReply {
  const body: ApiErrorBody = { error: { code: error.code satisfies ApiErrorCode, message: error.message } };
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(body);
}

function timeOf(name: string, text: string, now: number): number {
  const result = parseTimeSpec(text, now);
  if (!result.ok) throw new ApiError('SW_ERR_BAD_TIME', `${name}: ${result.message}`);
  return result.time;
}

/** Milliseconds of a requested block: default one hour, `permanent` for until removed. */
function blockDuration(value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_BLOCK_MS;
  if (value === 'permanent') return Number.POSITIVE_INFINITY;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    if (error instanceof DurationError)
      throw new ApiError('SW_ERR_BAD_DURATION', `duration: ${error.message}`);
    throw error;
  }
  if (ms < MIN_BLOCK_MS) {
    throw new ApiError('SW_ERR_BAD_DURATION', 'duration: must be at least 1s (or "permanent")');
  }
  return ms;
}

/** An address or network in its canonical form; any other key (`user:alice`) as given. */
function blockKeyOf(text: string): string {
  const parsed = parseBlockTarget(text);
  return parsed.ok ? parsed.target.key : text;
}

/** The host part of a Host header: `[::1]:9060` -> `::1`, `Example:80` -> `example`. */
function hostName(header: string): string {
  const text = header.toLowerCase();
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    return end === -1 ? text : text.slice(1, end);
  }
  const colon = text.indexOf(':');
  // More than one colon without brackets: a bare IPv6 address.
  if (colon !== -1 && text.indexOf(':', colon + 1) === -1) return text.slice(0, colon);
  return text;
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host === 'localhost';
}
