import { hash, randomBytes } from 'node:crypto';

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
 *
 * It needs no secrecy (whoever can craft a collision controls the request anyway), only a
 * spread wide enough that a spiral is never taken for a loop: 53 bits of a two-lane
 * multiplicative hash (cyrb53), computed in JavaScript because a crypto hash object per
 * forwarded request cost more than the rest of the branch.
 */
export function computeLoopHash(fields: readonly string[]): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (const field of fields) {
    for (let i = 0; i < field.length; i++) {
      const c = field.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    // A separator, so that moving text between fields changes the hash.
    h1 = Math.imul(h1 ^ 0x0a, 2654435761);
    h2 = Math.imul(h2 ^ 0x0a, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/**
 * Branch for an ACK to a 2xx, forwarded statelessly: the same input gives the same branch
 * (RFC 3261 16.11), and nobody without the key can compute it. One-shot hash: no hash
 * object per ACK.
 */
export function statelessBranch(key: string, incomingBranch: string): string {
  const digest = hash('sha256', key + '|' + incomingBranch, 'base64url');
  return MAGIC_COOKIE + OUR_MARK + 'a' + digest.slice(0, 16);
}
