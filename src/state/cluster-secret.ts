import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { Redis } from 'ioredis';

/**
 * The secret of a cluster: what signs flow tokens and stateless ACK branches, seals what
 * topology hiding hides, and signs Digest nonces. Every node of one cluster must hold the
 * same one, or a node cannot read what another wrote into a dialog's Record-Route (a call
 * set up through one node could not be hung up through another), nor check its nonces.
 *
 * Where it comes from, first found: `state.secretFile` (the operator's, the same file on every
 * node); with `state.backend: redis`, the value under `<keyPrefix>secret` (the first node
 * to start writes a random one with SET NX, every other node and every restart reads it);
 * else a random one per process. It is never logged: only where it came from is.
 */

export const MIN_SECRET_FILE_BYTES = 32;
const SECRET_BYTES = 32;

export type SecretOrigin = 'file' | 'redis' | 'process';

export interface ClusterSecret {
  readonly origin: SecretOrigin;
  /** The route layer's secret (flow tokens, ACK branches, topology sealing). */
  readonly route: Buffer;
  /** Digest nonces' secret (the authenticate stage's `secret` when it sets none). */
  readonly nonce: string;
  /**
   * The master as stored in Redis (origin `redis`): written back when Redis returns empty, so
   * that a node started afterwards reads the running nodes' secret rather than making one.
   */
  readonly stored?: string;
}

/** Derives the secrets of each use from the master, so that no two uses share a key. */
export function deriveSecrets(master: Buffer, origin: SecretOrigin): ClusterSecret {
  return {
    origin,
    route: createHmac('sha256', master).update('sipwarden route secret').digest(),
    nonce: createHmac('sha256', master).update('sipwarden digest nonce secret').digest('hex'),
  };
}

/** Reads a secret file: at least 32 bytes, at most 4 KiB, surrounding white space ignored. */
export function readSecretFile(path: string): Buffer {
  let data: Buffer;
  try {
    if (statSync(path).size > 4096) throw new Error('larger than 4096 bytes');
    data = readFileSync(path);
  } catch (error) {
    throw new Error(`state.secretFile: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  const text = data.toString('latin1').trim();
  if (text.length < MIN_SECRET_FILE_BYTES) {
    throw new Error(`state.secretFile: ${path} holds fewer than ${MIN_SECRET_FILE_BYTES} bytes`);
  }
  return Buffer.from(text, 'latin1');
}

/**
 * The secret stored in Redis under `<keyPrefix>secret`, written first if absent (SET NX: two
 * nodes starting at once end with the same one). Throws when Redis does not answer within
 * `timeoutMs`. One short-lived connection, at start only.
 */
export async function redisSecret(url: string, keyPrefix: string, timeoutMs: number): Promise<string> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  const key = `${keyPrefix}secret`;
  try {
    await client.connect();
    await client.set(key, randomBytes(SECRET_BYTES).toString('base64'), 'NX');
    const stored = await client.get(key);
    if (stored === null || stored.length < MIN_SECRET_FILE_BYTES) {
      throw new Error(`${key} in Redis is missing or shorter than ${MIN_SECRET_FILE_BYTES} characters`);
    }
    return stored;
  } finally {
    client.disconnect();
  }
}

export interface SecretSources {
  readonly secretFile?: string | undefined;
  readonly redis?:
    | { readonly url: string; readonly keyPrefix: string; readonly timeoutMs: number }
    | undefined;
}

/**
 * The cluster secret from the first source that has one. Redis unreachable at start: a
 * random one for this process, with `redisError` saying why (the caller warns: this node's
 * dialogs cannot be taken over by another node, nor theirs by it).
 */
export async function loadClusterSecret(
  sources: SecretSources,
): Promise<ClusterSecret & { readonly redisError?: string }> {
  if (sources.secretFile !== undefined) return deriveSecrets(readSecretFile(sources.secretFile), 'file');
  if (sources.redis !== undefined) {
    try {
      const stored = await redisSecret(sources.redis.url, sources.redis.keyPrefix, sources.redis.timeoutMs);
      return { ...deriveSecrets(Buffer.from(stored, 'latin1'), 'redis'), stored };
    } catch (error) {
      return {
        ...deriveSecrets(randomBytes(SECRET_BYTES), 'process'),
        redisError: (error as Error).message.replace(/[^\x20-\x7e]/g, '?').slice(0, 160),
      };
    }
  }
  return deriveSecrets(randomBytes(SECRET_BYTES), 'process');
}
