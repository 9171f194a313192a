/**
 * The management API's local unix socket listener (`management.socket`): the one place in
 * src/api that opens a socket of its own beside fastify's listener.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { AccessControl } from './auth/access-control.ts';

/**
 * The local unix socket: the same routes, every connection trusted as admin (actor `local`),
 * as kamcmd's and fail2ban-client's sockets are; the file is the owner's alone (0600), so
 * only this user and root can connect. A socket file left by a process that died is
 * replaced; one another process still answers on is an error.
 */
export async function listenLocal(
  path: string,
  app: FastifyInstance,
  access: AccessControl,
): Promise<Server> {
  if (existsSync(path)) {
    if (await answers(path)) {
      throw new Error(`management.socket: another process listens on ${path}`);
    }
    unlinkSync(path);
  }
  const server = createServer((request, response) => app.routing(request, response));
  server.on('connection', (socket) => access.trustLocal(socket));
  server.headersTimeout = 30_000;
  server.requestTimeout = 30_000;
  // Created owner-only from the start: no moment at which another user could connect.
  const mask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new Error(
      `management.socket: cannot listen on ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        cause: error,
      },
    );
  } finally {
    process.umask(mask);
  }
  chmodSync(path, 0o600);
  return server;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}
