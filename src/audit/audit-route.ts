/**
 * GET /api/audit: the audit log, newest first, for admins only. Filters as `sipwarden
 * audit`: `since`, `until` (a duration back from now, ISO 8601 or epoch ms), `actor` (an
 * account name, `local` or `-`), `action` (`block.add`, or a family `session.*`), `limit`.
 * Answer: `{ "audit": [ { at, actor, address, action, target?, detail?, outcome } ] }`.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../api/errors.ts';
import { parseTimeSpec } from '../api/time-spec.ts';
import { type AuditEntry, type AuditLog, MAX_AUDIT_QUERY_LIMIT } from './audit-log.ts';

export interface AuditAnswer {
  readonly audit: readonly AuditEntry[];
}

interface AuditQuerystring {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  limit?: number;
}

const auditSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      since: { type: 'string', minLength: 1, maxLength: 64 },
      until: { type: 'string', minLength: 1, maxLength: 64 },
      actor: { type: 'string', minLength: 1, maxLength: 128 },
      action: {
        type: 'string',
        minLength: 1,
        maxLength: 64,
        pattern: '^[a-z0-9-]+(\\.[a-z0-9-]+)*(\\.\\*)?$',
      },
      limit: { type: 'integer', minimum: 1, maximum: MAX_AUDIT_QUERY_LIMIT },
    },
  },
} as const;

export function registerAuditRoute(
  app: FastifyInstance,
  audit: Pick<AuditLog, 'list'>,
  now: () => number,
): void {
  app.get<{ Querystring: AuditQuerystring }>(
    '/api/audit',
    { schema: auditSchema, config: { role: 'admin' } },
    async (request) => {
      const query = request.query;
      const at = now();
      const time = (name: string, text: string | undefined): number | undefined => {
        if (text === undefined) return undefined;
        const result = parseTimeSpec(text, at);
        if (!result.ok) throw new ApiError('SW_ERR_BAD_TIME', `${name}: ${result.message}`);
        return result.time;
      };
      const since = time('since', query.since);
      const until = time('until', query.until);
      const answer: AuditAnswer = {
        audit: audit.list({
          ...(since === undefined ? {} : { since }),
          ...(until === undefined ? {} : { until }),
          ...(query.actor === undefined ? {} : { actor: query.actor }),
          ...(query.action === undefined ? {} : { action: query.action }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
        }),
      };
      return answer;
    },
  );
}
