/**
 * Prebuilt flood datagrams: a request built once as text, with the request's number written
 * in fixed-width decimal places (its Via branch, Call-ID and From tag), so each send only
 * stamps nine digits in three places instead of building the text again. Every request of a
 * run stays distinct (its own branch, Call-ID, tag), and answers are matched by the number
 * in the branch, as for requests built one by one.
 */
import type { FloodMethod } from './kinds/flood.ts';
import type { Random } from './random.ts';
import { COMMON_USER_AGENTS } from './random.ts';
import { MAGIC_COOKIE, requestText, sdpOffer, sipUri } from './sip-text.ts';
import type { Endpoint } from './target.ts';

/** Digits of the request number: up to 999,999,999, beyond MAX_COUNT. */
export const SEQ_DIGITS = 9;
const PLACEHOLDER = '#'.repeat(SEQ_DIGITS);

export interface TemplateSpec {
  readonly method: FloodMethod;
  readonly target: Endpoint;
  /** Source address and local port this datagram leaves from. */
  readonly address: string;
  readonly port: number;
  /** Marker of the run: branches are `z9hG4bK<runId>-<number>`. */
  readonly runId: string;
  readonly user?: string;
  readonly callId?: string;
  readonly userAgent?: string;
}

export interface FloodTemplate {
  readonly bytes: Buffer;
  /** Offsets of the places the request number is written. */
  readonly offsets: readonly number[];
}

/** Builds one template; random choices (users, tags, User-Agent, SDP port) from `random`. */
export function buildTemplate(spec: TemplateSpec, random: Random): FloodTemplate {
  const { method, target, address, port } = spec;
  const user = spec.user ?? random.user();
  const from = random.user();
  const text = requestText({
    method,
    requestUri: sipUri(method === 'REGISTER' ? undefined : user, target.address, target.port),
    via: { host: address, port, branch: `${MAGIC_COOKIE}${spec.runId}-${PLACEHOLDER}` },
    from: sipUri(method === 'REGISTER' ? user : from, target.address),
    fromTag: `${PLACEHOLDER}${random.token(6)}`,
    to: sipUri(user, target.address),
    callId: spec.callId ?? `${PLACEHOLDER}${random.token(10)}@${address}`,
    cseq: 1 + random.int(1000),
    contact: sipUri(method === 'REGISTER' ? user : from, address, port),
    userAgent: spec.userAgent ?? random.pick(COMMON_USER_AGENTS),
    ...(method === 'REGISTER' ? { expires: 3600 } : {}),
    ...(method === 'INVITE'
      ? { body: sdpOffer(address, 10000 + 2 * random.int(20000), 1 + random.int(1_000_000_000)) }
      : {}),
  });
  const bytes = Buffer.from(text, 'latin1');
  const offsets: number[] = [];
  for (let at = text.indexOf(PLACEHOLDER); at !== -1; at = text.indexOf(PLACEHOLDER, at + SEQ_DIGITS)) {
    offsets.push(at);
  }
  return { bytes, offsets };
}

/** Writes `seq` (0 <= seq < 10^9) zero-padded into every place of the template. */
export function stamp(template: FloodTemplate, seq: number): Buffer {
  const { bytes, offsets } = template;
  for (const offset of offsets) {
    let rest = seq;
    for (let i = SEQ_DIGITS - 1; i >= 0; i--) {
      bytes[offset + i] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
  }
  return bytes;
}
