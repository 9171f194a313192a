/**
 * `GET /api/calls?limit=`: the calls the proxy holds open now, newest first, as the
 * console's calls page shows them. Read-only; what the dialog table knows and no more
 * (sipwarden keeps no registrations: the registrar behind it does).
 */
import type { FastifyInstance } from 'fastify';
import type { Dialog } from '../core/dialog/dialog-table.ts';

export interface CallView {
  readonly callId: string;
  /** Who placed the call (From user@host of the INVITE). */
  readonly identity: string;
  /** `client` when the caller is on the untrusted side, `upstream` when on the PBX's. */
  readonly from: string;
  readonly caller: string;
  readonly callee: string;
  /** ISO 8601. */
  readonly since: string;
  readonly expiresAt: string;
}

export interface CallsAnswer {
  readonly calls: readonly CallView[];
  /** Calls open, of which `calls` holds at most `limit`. */
  readonly total: number;
}

export interface CallSource {
  readonly callCount: number;
  recentCalls(limit: number): Dialog[];
}

export const MAX_CALLS_LIMIT = 1000;

function party(p: Dialog['caller']): string {
  const host = p.address.includes(':') ? `[${p.address}]` : p.address;
  return `${p.transport}:${host}:${p.port}`;
}

export function callView(dialog: Dialog): CallView {
  return {
    callId: dialog.callId,
    identity: dialog.identity,
    from: dialog.leg,
    caller: party(dialog.caller),
    callee: party(dialog.callee),
    since: new Date(dialog.createdAt).toISOString(),
    expiresAt: new Date(dialog.expiresAt).toISOString(),
  };
}

export function registerCallsRoute(app: FastifyInstance, calls: () => CallSource | undefined): void {
  app.get<{ Querystring: { limit?: number } }>(
    '/api/calls',
    {
      config: { role: 'viewer' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: MAX_CALLS_LIMIT } },
        },
      },
    },
    async (request) => {
      const source = calls();
      const answer: CallsAnswer = {
        calls: source?.recentCalls(request.query.limit ?? 200).map(callView) ?? [],
        total: source?.callCount ?? 0,
      };
      return answer;
    },
  );
}
