/**
 * POST /api/assessments (operators): `sipwarden assess` stores its scorecard here after a run
 * (the JSON `assess --json` prints, each attack's own report left out); the body is checked
 * field by field and bounded. GET /api/assessments?limit= (viewers): the stored runs, newest
 * first, `{ assessments: [ { id, at, scorecard } ] }`.
 */
import type { FastifyInstance } from 'fastify';
import type { AssessmentStore, StoredAssessment } from './assessment-store.ts';

export interface AssessmentsAnswer {
  readonly assessments: readonly StoredAssessment[];
}

const text = (max: number) => ({ type: 'string', maxLength: max }) as const;
const count = { type: 'integer', minimum: 0, maximum: 1_000_000_000 } as const;
const seconds = { type: 'number', minimum: 0, maximum: 1_000_000 } as const;
const nullableSeconds = { type: ['number', 'null'], minimum: 0, maximum: 1_000_000 } as const;

const row = {
  type: 'object',
  required: ['attack', 'kind', 'verdict', 'alive', 'seconds', 'outcome'],
  additionalProperties: false,
  properties: {
    attack: text(128),
    kind: text(64),
    verdict: { type: 'string', enum: ['succeeded', 'stopped', 'not-applicable', 'error'] },
    detected: { type: ['boolean', 'null'] },
    detectedAfterSeconds: nullableSeconds,
    blocked: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: {
        messages: { type: ['integer', 'null'], minimum: 0 },
        seconds: nullableSeconds,
        by: { type: 'string', enum: ['silence', 'api'] },
      },
    },
    legitCalls: {
      type: 'object',
      additionalProperties: false,
      properties: { attempted: count, succeeded: count, failed: count },
    },
    alive: { type: 'boolean' },
    seconds,
    outcome: text(512),
  },
} as const;

const postSchema = {
  body: {
    type: 'object',
    required: ['target', 'startedAt', 'seconds', 'rows', 'summary'],
    additionalProperties: false,
    properties: {
      target: text(256),
      api: { type: ['string', 'null'], maxLength: 256 },
      callee: text(256),
      startedAt: text(64),
      seconds,
      rows: { type: 'array', maxItems: 64, items: row },
      summary: {
        type: 'object',
        additionalProperties: false,
        required: ['attacks', 'succeeded', 'stopped', 'notApplicable', 'errors', 'aliveAtEnd'],
        properties: {
          attacks: count,
          succeeded: count,
          stopped: count,
          notApplicable: count,
          errors: count,
          aliveAtEnd: { type: 'boolean' },
        },
      },
    },
  },
} as const;

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: 50 } },
  },
} as const;

export function registerAssessmentRoutes(
  app: FastifyInstance,
  store: AssessmentStore,
  now: () => number,
): void {
  app.post<{ Body: Record<string, unknown> }>(
    '/api/assessments',
    // A scorecard of 64 rows is a few tens of KB.
    { schema: postSchema, bodyLimit: 256 * 1024, config: { role: 'operator' } },
    async (request, reply) => {
      const stored = store.add(request.body, now());
      return reply.code(201).send({ assessment: stored });
    },
  );
  app.get<{ Querystring: { limit?: number } }>(
    '/api/assessments',
    { schema: listSchema, config: { role: 'viewer' } },
    async (request) => {
      const answer: AssessmentsAnswer = { assessments: store.list(request.query.limit ?? 10) };
      return answer;
    },
  );
}
