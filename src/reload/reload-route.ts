/**
 * POST /api/config/reload (admins only): reloads the configuration as SIGHUP does and
 * answers what happened: 200 `{ "reloaded": true, "changed": [...], "warnings": [...] }`,
 * or 422 `{ "error": { "code": "SW_ERR_CONFIG_REFUSED", "message" }, "errors": [...] }` with
 * the lines `check-config` prints (the running configuration stays).
 */
import type { FastifyInstance } from 'fastify';
import { actorOf, clientAddress } from '../api/auth/principal.ts';
import type { ReloadOrigin, ReloadResult } from './reloader.ts';

export interface ReloadAnswer {
  readonly reloaded: true;
  readonly changed: readonly string[];
  readonly warnings: readonly string[];
}

export interface ReloadRefusedAnswer {
  readonly error: { readonly code: 'SW_ERR_CONFIG_REFUSED'; readonly message: string };
  readonly errors: readonly string[];
}

export const REFUSED_PREFIX = 'the configuration was not reloaded; the running one stays:';

export type ReloadFunction = (origin: ReloadOrigin) => Promise<ReloadResult>;

export function registerReloadRoute(app: FastifyInstance, reload: ReloadFunction): void {
  app.post('/api/config/reload', { config: { role: 'admin' } }, async (request, reply) => {
    // The account the access layer authenticated (`local` over the socket, `token:NAME`).
    const result = await reload({ actor: actorOf(request), address: clientAddress(request), via: 'api' });
    if (result.ok) {
      const answer: ReloadAnswer = { reloaded: true, changed: result.changed, warnings: result.warnings };
      return reply.code(200).send(answer);
    }
    const refused: ReloadRefusedAnswer = {
      error: {
        code: 'SW_ERR_CONFIG_REFUSED',
        // One line per error, as check-config prints them (`sipwarden reload` splits them).
        message: `${REFUSED_PREFIX}\n${result.errors.join('\n')}`,
      },
      errors: result.errors,
    };
    return reply.code(422).send(refused);
  });
}
