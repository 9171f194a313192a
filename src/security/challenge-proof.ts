/**
 * Trust only from proof. A source earns trust (the trust table: trusted thresholds, no
 * shedding under overload, known-good for its user) only when the upstream accepted its
 * answer to a digest challenge that the upstream issued to it:
 *
 * 1. the upstream answers a REGISTER or INVITE from the source with 401/407 and a Digest
 *    challenge (RFC 3261 22.2): each nonce is remembered for that source, with its realm
 *    and the request it challenged (method, Call-ID, From and To users, Request-URI);
 * 2. the source sends that request again with credentials carrying the nonce and realm
 *    (RFC 3261 8.1.3.5 and 22.2: same Call-ID, From and To, a new CSeq);
 * 3. the upstream answers that request 2xx.
 *
 * Any Authorization header on any request answered 2xx proves nothing: a made-up header on
 * an OPTIONS that the PBX answers 200 without looking at it. Nor does a nonce issued to
 * another source (it is not this source's challenge), a nonce never issued, or credentials
 * on another request than the one challenged (a PBX that challenged an INVITE to a toll
 * number may let a call to a public extension through without checking the credentials it
 * carries). Responses reach this module only from the upstream the request was sent to:
 * the proxy drops responses from any other address.
 *
 * Bounds (SourceNonceTable: per-source cap, global cap, expiry). Challenges issued wait
 * 32 s (64 x T1, a transaction's life: an answer comes within a round trip), at most 64 per
 * source; a proven one makes room at once. A flood of requests from forged addresses, each challenged by the upstream, can
 * churn this table, but no faster than the upstream issues challenges: at 20,000 a second
 * (the gate's default overload budget) an entry still lives over 3 s, longer than any
 * phone takes to answer its challenge. An INVITE's 2xx may come minutes later, after
 * ringing: the answer is moved, when the upstream's first provisional response to it
 * passes, to a second table that only a source that received its nonce can fill (a forged
 * address never sees the challenge), and whose entries a failed answer removes.
 */
import { randomInt } from 'node:crypto';
import type { RequestContext } from '../core/inspector.ts';
import type { SipRequest, SipResponse } from '../sip/message.ts';
import { hash32 } from '../state/hash.ts';
import { boundedText, userOf } from './attributes.ts';
import { authParam } from './credentials.ts';
import { SourceNonceTable } from './source-nonce-table.ts';

/** The requests whose acceptance proves a password: a registration, a call. */
const PROVING_METHODS: ReadonlySet<string> = new Set(['REGISTER', 'INVITE']);
/** Nonces longer than this are not remembered (they prove nothing then). */
const MAX_NONCE_LENGTH = 256;
/** Challenge or credentials headers read per message: one per algorithm is the most a UA sends. */
const MAX_HEADERS = 8;
/** 64 x T1 (RFC 3261 17.1.1.2): a challenge is answered within its transaction's life. */
const ISSUED_TTL_MS = 32_000;
/** Longer than Timer C's default (3 min, RFC 3261 16.6 item 11): an INVITE answer may ring that long. */
const ANSWERED_TTL_MS = 240_000;
/** Challenges awaiting their answer per source: an office behind one NAT address re-registering at once needs room. */
const PER_SOURCE = 64;

interface Challenge {
  readonly realm: string;
  /** The challenged request: see fingerprint(). */
  readonly request: number;
}

interface Answer {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
}

export interface ChallengeProofOptions {
  /** Challenges remembered at once. Default 65536. */
  readonly maxIssued?: number;
  /** INVITE answers awaiting their final response. Default 16384. */
  readonly maxAnswered?: number;
}

function isDigest(value: string): boolean {
  return value.length > 7 && value.slice(0, 7).toLowerCase() === 'digest ';
}

/** The Digest credentials a request carries, with a user name, realm and nonce each. */
function answersOf(request: SipRequest): Answer[] {
  const out: Answer[] = [];
  for (const h of request.headers) {
    if (h.name !== 'authorization' && h.name !== 'proxy-authorization') continue;
    if (!isDigest(h.value)) continue;
    const nonce = authParam(h.value, 'nonce');
    const realm = authParam(h.value, 'realm');
    const username = authParam(h.value, 'username');
    if (nonce === undefined || realm === undefined || username === undefined) continue;
    if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH || username.length === 0) continue;
    out.push({ username: boundedText(username.toLowerCase()), realm, nonce });
    if (out.length >= MAX_HEADERS) break;
  }
  return out;
}

export class ChallengeProof {
  readonly #issued: SourceNonceTable<Challenge>;
  readonly #answered: SourceNonceTable<Challenge>;
  /** Random per process: a sender cannot make two requests with one fingerprint on purpose. */
  readonly #seeds = [randomInt(2 ** 32), randomInt(2 ** 32)] as const;

  constructor(options: ChallengeProofOptions = {}) {
    this.#issued = new SourceNonceTable({
      maxEntries: options.maxIssued ?? 65_536,
      perSource: PER_SOURCE,
      ttlMs: ISSUED_TTL_MS,
    });
    this.#answered = new SourceNonceTable({
      maxEntries: options.maxAnswered ?? 16_384,
      perSource: PER_SOURCE,
      ttlMs: ANSWERED_TTL_MS,
    });
  }

  /** Challenges and answers held (for tests and stats). */
  get sizes(): { readonly issued: number; readonly answered: number } {
    return { issued: this.#issued.size, answered: this.#answered.size };
  }

  /**
   * The request a challenge was issued to, and its retry with credentials, have one
   * fingerprint: method, Call-ID, From and To users, Request-URI (53 bits of two hashes).
   */
  #fingerprint(request: SipRequest): number {
    const text = `${request.method}\n${request.callId}\n${userOf(request.from.uri)}\n${userOf(
      request.to.uri,
    )}\n${request.uriText}`;
    return hash32(text, this.#seeds[0]) * 2 ** 21 + (hash32(text, this.#seeds[1]) & 0x1fffff);
  }

  /** The challenge this answer answers, when it was issued to this source for this request. */
  #challengeFor(source: string, answer: Answer, print: number, now: number): Challenge | undefined {
    const challenge =
      this.#answered.get(source, answer.nonce, now) ?? this.#issued.get(source, answer.nonce, now);
    if (challenge === undefined || challenge.realm !== answer.realm || challenge.request !== print) {
      return undefined;
    }
    return challenge;
  }

  /** From a response hook, for a response from the upstream to a request from the client side. */
  note(context: RequestContext, response: SipResponse, now: number): void {
    const request = context.request;
    if (context.direction !== 'client' || !PROVING_METHODS.has(request.method)) return;
    const source = context.flow.remoteAddress;
    const status = response.status;
    const answers = answersOf(request);
    if (status < 200) {
      // The answer reached the upstream, which is still working on it: keep it past the ringing.
      if (answers.length === 0) return;
      const print = this.#fingerprint(request);
      for (const answer of answers) {
        const challenge = this.#challengeFor(source, answer, print, now);
        if (challenge !== undefined) this.#answered.set(source, answer.nonce, challenge, now);
      }
      return;
    }
    // A final failure ends what the answers were waiting for.
    if (status >= 300) for (const answer of answers) this.#answered.delete(source, answer.nonce);
    if (status !== 401 && status !== 407) return;
    const print = this.#fingerprint(request);
    let read = 0;
    for (const h of response.headers) {
      if (h.name !== 'www-authenticate' && h.name !== 'proxy-authenticate') continue;
      if (++read > MAX_HEADERS) break;
      if (!isDigest(h.value)) continue;
      const nonce = authParam(h.value, 'nonce');
      const realm = authParam(h.value, 'realm');
      if (nonce === undefined || realm === undefined) continue;
      if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) continue;
      this.#issued.set(source, nonce, { realm, request: print }, now);
    }
  }

  /**
   * Whether the request's credentials answer a challenge the upstream issued to this source
   * for this request: a retry that overload shedding lets through, where a made-up
   * Authorization header must not be enough.
   */
  answersChallenge(source: string, request: SipRequest, now: number): boolean {
    if (!PROVING_METHODS.has(request.method)) return false;
    const answers = answersOf(request);
    if (answers.length === 0) return false;
    const print = this.#fingerprint(request);
    return answers.some((answer) => this.#challengeFor(source, answer, print, now) !== undefined);
  }

  /**
   * From an outcome hook: the digest user name that this final status proves for the
   * source, or undefined when it proves nothing (see the module comment).
   */
  proven(source: string, request: SipRequest, status: number, now: number): string | undefined {
    if (status < 200 || status >= 300 || !PROVING_METHODS.has(request.method)) return undefined;
    const answers = answersOf(request);
    if (answers.length === 0) return undefined;
    const print = this.#fingerprint(request);
    for (const answer of answers) {
      if (this.#challengeFor(source, answer, print, now) === undefined) continue;
      // Proven: its room goes to challenges still awaiting their answer.
      this.#answered.delete(source, answer.nonce);
      this.#issued.delete(source, answer.nonce);
      return answer.username;
    }
    return undefined;
  }
}
