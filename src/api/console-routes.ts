/**
 * The operators' console: the static files `npm run build` bundles into dist/console
 * (scripts/build-console.mjs), served by the management server itself. Nothing is fetched
 * from elsewhere (an offline management network works), and a strict Content Security
 * Policy allows only this origin's own script, style and connections: no inline script,
 * no eval, no framing.
 *
 * The files are read once at start (a few hundred KB at most) and served from memory; the
 * page's routes live after `#` (the hash), so the server needs no fallback route.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Files at most in the console's directory, and bytes at most per file: a bound on what is read. */
const MAX_FILES = 64;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
}

/**
 * Where the built console is: dist/console beside dist/api when running from the build,
 * or the checkout's dist/console when running from the TypeScript sources (tests, tsx).
 */
export function defaultConsoleDirectory(): string | undefined {
  const here = import.meta.dirname;
  for (const candidate of [join(here, '..', 'console'), join(here, '..', '..', 'dist', 'console')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

/** Reads the console's files; undefined when the directory holds no index.html. */
export function loadConsole(directory: string): Map<string, ConsoleFile> | undefined {
  if (!existsSync(join(directory, 'index.html'))) return undefined;
  const files = new Map<string, ConsoleFile>();
  for (const name of readdirSync(directory).slice(0, MAX_FILES)) {
    const type = TYPES[extname(name)];
    const path = join(directory, name);
    if (type === undefined || !statSync(path).isFile() || statSync(path).size > MAX_FILE_BYTES) continue;
    files.set(name, { body: readFileSync(path), type });
  }
  return files;
}

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/**
 * `GET /` (the page) and `GET /console/<file>` (its script and style). Open to anyone, as
 * the login form must be: they hold no data; every figure comes from the API behind a session.
 * Without a build, `/` says how to make one.
 */
export function registerConsoleRoutes(app: FastifyInstance, directory = defaultConsoleDirectory()): void {
  const files = directory === undefined ? undefined : loadConsole(directory);
  // Open without credentials (`anyone`), as the login form must be.
  const open = { config: { role: 'anyone' as const } };
  app.get('/', open, async (_request, reply) => {
    reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache');
    const index = files?.get('index.html');
    if (index === undefined) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` in the sipwarden checkout.\n');
    }
    return reply.type(index.type).send(index.body);
  });
  app.get<{ Params: { file: string } }>(
    '/console/:file',
    {
      ...open,
      schema: {
        params: {
          type: 'object',
          required: ['file'],
          properties: { file: { type: 'string', maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' } },
        },
      },
    },
    async (request, reply) => {
      const file = files?.get(request.params.file);
      reply.headers(SECURITY_HEADERS);
      if (file === undefined || request.params.file === 'index.html') {
        return reply.code(404).send({ error: { code: 'SW_ERR_NOT_FOUND', message: 'no such console file' } });
      }
      return reply.header('cache-control', 'no-cache').type(file.type).send(file.body);
    },
  );
}
