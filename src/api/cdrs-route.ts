/**
 * GET /api/cdrs: call detail records, newest first, with the filters of `sipwarden cdrs`:
 * `since`, `until` (a duration back from now, ISO 8601 or epoch ms), `user` (a user or
 * user@domain, caller or callee, signalled or authenticated), `limit`, and `format=csv`
 * for CSV instead of JSON (`{ "cdrs": [...] }`).
 */
import type { FastifyInstance } from 'fastify';
import { cdrCsv } from '../cdr/cdr-csv.ts';
import type { CdrReader } from '../cdr/cdr-store.ts';
import { ApiError } from './errors.ts';
import { parseTimeSpec } from './time-spec.ts';
import type { CdrsAnswer } from './views.ts';

export const MAX_API_CDR_LIMIT = 100_000;

interface CdrsQuerystring {
  since?: string;
  until?: string;
  user?: string;
  limit?: number;
  format?: 'json' | 'csv';
}

const cdrsSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      since: { type: 'string', minLength: 1, maxLength: 64 },
      until: { type: 'string', minLength: 1, maxLength: 64 },
      user: { type: 'string', minLength: 1, maxLength: 256 },
      limit: { type: 'integer', minimum: 1, maximum: MAX_API_CDR_LIMIT },
      format: { type: 'string', enum: ['json', 'csv'] },
    },
  },
} as const;

export function cdrsRoute(app: FastifyInstance, cdrs: CdrReader, now: () => number): void {
  app.get<{ Querystring: CdrsQuerystring }>(
    '/api/cdrs',
    { schema: cdrsSchema, config: { role: 'viewer' } },
    async (request, reply) => {
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
      const records = cdrs.query({
        ...(since === undefined ? {} : { since }),
        ...(until === undefined ? {} : { until }),
        ...(query.user === undefined ? {} : { user: query.user }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
      });
      if (query.format === 'csv') {
        return reply.header('content-type', 'text/csv; charset=utf-8').send(cdrCsv(records));
      }
      const answer: CdrsAnswer = { cdrs: records };
      return answer;
    },
  );
}
