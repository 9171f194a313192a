/**
 * Says why the gateway could not start in a sentence an operator can act on: the address
 * for the usual ways binding fails, the name for a failed upstream lookup, otherwise the
 * error's own first line.
 */
import { messageOf } from './cli-error.ts';

interface SystemError {
  readonly code?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly hostname?: unknown;
  readonly cause?: unknown;
}

/** Errors are wrapped by the layers they cross; the system error is a few causes down at most. */
const MAX_CAUSE_DEPTH = 5;

export function describeStartError(error: unknown): string {
  const system = findSystemError(error);
  if (system !== undefined) {
    if (typeof system.address === 'string' && typeof system.port === 'number') {
      const where = system.address.includes(':')
        ? `[${system.address}]:${system.port}`
        : `${system.address}:${system.port}`;
      switch (system.code) {
        case 'EADDRINUSE':
          return `${where} is already in use (is another SIP server or sipwarden running?)`;
        case 'EACCES':
          return `no permission to listen on ${where} (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
        case 'EADDRNOTAVAIL':
          return `${where} is not an address of this machine`;
      }
    }
    if ((system.code === 'ENOTFOUND' || system.code === 'EAI_AGAIN') && typeof system.hostname === 'string') {
      return `cannot resolve ${system.hostname}: ${system.code === 'ENOTFOUND' ? 'no such host' : 'DNS lookup failed'}`;
    }
  }
  return messageOf(error);
}

function findSystemError(error: unknown): SystemError | undefined {
  let current: unknown = error;
  for (
    let depth = 0;
    depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null;
    depth += 1
  ) {
    const candidate = current as SystemError;
    // System errors carry an errno name (EADDRINUSE); our own codes start with SW_ERR_.
    if (typeof candidate.code === 'string' && /^E[A-Z]+$/.test(candidate.code)) return candidate;
    current = candidate.cause;
  }
  return undefined;
}
