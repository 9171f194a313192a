import { createHash, randomBytes } from 'node:crypto';

/** RFC 3261 section 8.1.1.7: every branch we create starts with the magic cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Marks branches made by sipwarden, so loop detection only compares our own Via entries. */
const OUR_MARK = 'sw';

const POOL_BYTES = 4096;
const RANDOM_BYTES_PER_BRANCH = 9;
let pool = randomBytes(POOL_BYTES);
let poolOffset = 0;

/**
 * Unpredictable per-transaction token: 72 random bits, so an attacker who sees one branch
 * cannot guess the next and forge a matching response. The pool amortises the syscall.
 */
function randomToken(): string {
  if (poolOffset + RANDOM_BYTES_PER_BRANCH > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + RANDOM_BYTES_PER_BRANCH);
  poolOffset += RANDOM_BYTES_PER_BRANCH;
  return token;
}

/**
 * A new branch: cookie, our mark, a random part, and the loop-detection hash of the
 * request (RFC 3261 section 16.6 item 8), separated by a dot.
 */
export function newBranch(loopHash: string): string {
  return MAGIC_COOKIE + OUR_MARK + randomToken() + '.' + loopHash;
}

/** The loop-detection hash written into a branch by newBranch, or undefined for other branches. */
export function loopHashOf(branch: string): string | undefined {
  if (!branch.startsWith(MAGIC_COOKIE + OUR_MARK)) return undefined;
  const dot = branch.lastIndexOf('.');
  return dot < 0 ? undefined : branch.slice(dot + 1);
}

/**
 * RFC 3261 section 16.6 item 8: the hash covers the fields that decide where a request
 * goes (Request-URI, tags, Call-ID, CSeq number, the received top Via, Route,
 * Proxy-Require, Proxy-Authorization). A request that comes back with the same values
 * is a loop; one whose values changed is a spiral.
 */
export function computeLoopHash(fields: readonly string[]): string {
  const hash = createHash('sha1');
  for (const field of fields) {
    hash.update(field, 'latin1');
    hash.update('\n');
  }
  return hash.digest('base64url').slice(0, 12);
}

/** Branch for an ACK to a 2xx, forwarded statelessly: the same input gives the same branch (RFC 3261 16.11). */
export function statelessBranch(secret: Buffer, incomingBranch: string): string {
  const digest = createHash('sha256').update(secret).update(incomingBranch, 'latin1').digest('base64url');
  return MAGIC_COOKIE + OUR_MARK + 'a' + digest.slice(0, 16);
}
