/**
 * enumerate: extension enumeration like SIPVicious svwar. One request per user name
 * (REGISTER by default, or INVITE, or OPTIONS); the answer tells whether the extension
 * exists: 404/604 "not found", 401/407 "exists, needs a password", 403 "exists, refused",
 * 200 (or a ringing INVITE) "exists, open". First a made-up user is tried to learn how the
 * target answers for users that do not exist: an answer that differs from it is a leak.
 * INVITEs are cleaned up: a ringing one is cancelled, an answered one acknowledged and
 * ended, a refused one acknowledged (RFC 3261 17.1.1.3).
 */
import type { RemoteInfo } from 'node:dgram';
import type { SipResponse } from '../../sip/message.ts';
import {
  achievedRate,
  type CommonOptions,
  DEFAULT_ANSWER_WAIT_MS,
  sourcesOf,
  waitForAnswers,
} from '../context.ts';
import { pace } from '../pacer.ts';
import { Random, SCANNER_USER_AGENT } from '../random.ts';
import type { AttackReport } from '../report.ts';
import {
  ackForFailure,
  headerValue,
  MAGIC_COOKIE,
  requestText,
  sdpOffer,
  sipUri,
  toTag,
} from '../sip-text.ts';
import { seqFromBranch, Tally } from '../tally.ts';
import { formatEndpoint } from '../target.ts';
import { SipEndpoint } from '../ua/endpoint.ts';

export type EnumerateMethod = 'REGISTER' | 'INVITE' | 'OPTIONS';

export interface EnumerateOptions extends CommonOptions {
  readonly method: EnumerateMethod;
  readonly users: readonly string[];
}

export type ExtensionClass = 'not-found' | 'auth-required' | 'forbidden' | 'open' | 'other' | 'silent';

/** How one answer classifies an extension, before comparing with the made-up user's answer. */
export function classify(status: number | undefined): ExtensionClass {
  if (status === undefined || status === 0) return 'silent';
  if (status === 404 || status === 604 || status === 484) return 'not-found';
  if (status === 401 || status === 407) return 'auth-required';
  if (status === 403) return 'forbidden';
  if ((status >= 180 && status < 300) || status === 486 || status === 480) return 'open';
  return 'other';
}

export async function runEnumerate(options: EnumerateOptions): Promise<AttackReport> {
  const { target, limits, method } = options;
  const random = new Random(options.seed);
  const runId = random.token(8);
  const branchPrefix = `${MAGIC_COOKIE}${runId}-`;
  // Request 0 is the made-up user; requests 1.. are the users to try.
  const users = [`sw${random.token(12)}`, ...options.users.slice(0, limits.count)];
  const endpoint = await SipEndpoint.bind(sourcesOf(options).at(0));
  const tally = new Tally(users.length);
  const requestUris: string[] = new Array(users.length);
  const dialogIds: { callId: string; fromTag: string }[] = new Array(users.length);
  /** Users whose INVITE got a 1xx and no final yet: cancelled at the end. */
  const ringing = new Map<number, SipResponse>();

  const cleanUp = (seq: number, response: SipResponse): void => {
    if (method !== 'INVITE') return;
    const uri = requestUris[seq]!;
    if (response.status >= 300) {
      endpoint.send(ackForFailure(response, target, uri), target);
      ringing.delete(seq);
    } else if (response.status >= 200) {
      ringing.delete(seq);
      const ack = inDialog('ACK', response, uri, `${MAGIC_COOKIE}${random.token(12)}`, response.cseq.seq);
      endpoint.send(ack, target);
      endpoint.send(
        inDialog('BYE', response, uri, `${MAGIC_COOKIE}${random.token(12)}`, response.cseq.seq + 1),
        target,
      );
    } else if (response.status > 100 && toTag(response) !== undefined) {
      ringing.set(seq, response);
    }
  };

  const inDialog = (name: string, response: SipResponse, uri: string, branch: string, cseq: number): string =>
    [
      `${name} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${endpoint.address}:${endpoint.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: ${headerValue(response, 'from') ?? ''}`,
      `To: ${headerValue(response, 'to') ?? ''}`,
      `Call-ID: ${response.callId}`,
      `CSeq: ${cseq} ${name}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');

  endpoint.onAnyResponse = (response: SipResponse, _from: RemoteInfo) => {
    const seq = seqFromBranch(response.via[0]?.branch, branchPrefix);
    if (response.cseq.method !== method) return;
    tally.answer(seq, response.status);
    if (seq !== undefined && seq < users.length) cleanUp(seq, response);
  };

  const send = (seq: number): void => {
    const user = users[seq]!;
    const requestUri =
      method === 'REGISTER' ? sipUri(undefined, target.address) : sipUri(user, target.address);
    requestUris[seq] = requestUri;
    const ids = { callId: random.token(24), fromTag: random.token(10) };
    dialogIds[seq] = ids;
    const text = requestText({
      method,
      requestUri,
      via: { host: endpoint.address, port: endpoint.port, branch: `${branchPrefix}${seq}` },
      from: sipUri(user, target.address),
      fromTag: ids.fromTag,
      to: sipUri(user, target.address),
      callId: ids.callId,
      cseq: 1,
      contact: sipUri(user, endpoint.address, endpoint.port),
      userAgent: options.userAgent ?? SCANNER_USER_AGENT,
      ...(method === 'REGISTER' ? { expires: 3600 } : {}),
      ...(method === 'INVITE'
        ? { body: sdpOffer(endpoint.address, 10000 + 2 * random.int(20000), 1 + seq) }
        : {}),
    });
    tally.sentOne(seq);
    endpoint.send(text, target);
  };

  const started = performance.now();
  const startedAt = new Date().toISOString();
  try {
    // The made-up user first, alone: its answer is the reference the others are compared with.
    send(0);
    await waitForAnswers(
      options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS,
      () => tally.statusOf(0) >= 200,
      options.signal,
    );
    const paced = await pace(
      { ...limits, count: users.length - 1, ...(options.signal ? { signal: options.signal } : {}) },
      (i) => {
        send(i + 1);
        return undefined;
      },
    );
    const sentAll = paced.sent + 1;
    await waitForAnswers(
      options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS,
      () => {
        for (let i = 0; i < sentAll; i++) if (tally.statusOf(i) < 200) return false;
        return true;
      },
      options.signal,
    );
    // Cancel INVITEs still ringing (RFC 3261 9.1: same branch, CSeq number, method CANCEL).
    for (const [seq] of ringing) {
      const user = users[seq]!;
      endpoint.send(
        [
          `CANCEL ${requestUris[seq]} SIP/2.0`,
          `Via: SIP/2.0/UDP ${endpoint.address}:${endpoint.port};branch=${branchPrefix}${seq};rport`,
          'Max-Forwards: 70',
          `From: <${sipUri(user, target.address)}>;tag=${dialogIds[seq]!.fromTag}`,
          `To: <${sipUri(user, target.address)}>`,
          `Call-ID: ${dialogIds[seq]!.callId}`,
          'CSeq: 1 CANCEL',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
        target,
      );
    }
    const answers = tally.summary();
    const baselineStatus = tally.statusOf(0);
    const baseline = classify(baselineStatus >= 200 ? baselineStatus : undefined);
    const classes: Record<ExtensionClass, string[]> = {
      'not-found': [],
      'auth-required': [],
      forbidden: [],
      open: [],
      other: [],
      silent: [],
    };
    const found: { user: string; status: number; class: ExtensionClass }[] = [];
    for (let seq = 1; seq < sentAll; seq++) {
      const status = tally.statusOf(seq);
      const kind = classify(status >= 200 ? status : undefined);
      classes[kind].push(users[seq]!);
      // A user "exists" when its answer says so and differs from the made-up user's.
      const differs = status !== baselineStatus;
      if (kind !== 'not-found' && kind !== 'silent' && differs)
        found.push({ user: users[seq]!, status, class: kind });
    }
    // The made-up user accepted without a password: every name is open.
    const open =
      baseline === 'open' || (method === 'REGISTER' && baselineStatus >= 200 && baselineStatus < 300);
    const blocked = answers.blockedAfter !== undefined;
    let outcome: string;
    let succeeded: boolean;
    if (blocked) {
      succeeded = false;
      outcome = `the target went silent after ${answers.blockedAfter!.messages} requests (${found.length} extensions leaked before)`;
    } else if (answers.answered === 0) {
      succeeded = false;
      outcome = 'no answer at all: the target dropped every request, or nothing listens there';
    } else if (found.length > 0) {
      succeeded = true;
      outcome = `${found.length} extension${found.length === 1 ? '' : 's'} found: the answers tell existing users from unknown ones`;
    } else if (open) {
      succeeded = true;
      outcome = `the target accepts a made-up user (${baselineStatus}): any name is open`;
    } else {
      succeeded = false;
      outcome = `the target answers every user alike (${baselineStatus || 'silence'}): no extension leaks`;
    }
    const summary = (list: string[]) =>
      list.length <= 12 ? list.join(' ') : `${list.slice(0, 12).join(' ')} ... (${list.length})`;
    return {
      kind: 'enumerate',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: method,
      rate: { asked: limits.rate, achieved: achievedRate(paced.sent, paced.elapsedMs) },
      sources: { count: 1, first: endpoint.address, last: endpoint.address },
      sendErrors: endpoint.sendErrors,
      answers,
      succeeded,
      applicable: true,
      outcome,
      details: {
        seed: random.seed,
        method,
        baseline: { user: users[0]!, status: baselineStatus },
        found: found.map((f) => ({ user: f.user, status: f.status, class: f.class })),
        notFound: classes['not-found'].length,
        silent: classes.silent.length,
      },
      notes: [
        `reference made-up user ${users[0]}: ${baselineStatus || 'no answer'}`,
        ...(['auth-required', 'forbidden', 'open', 'other', 'not-found', 'silent'] as const)
          .filter((k) => classes[k].length > 0)
          .map((k) => `${k.padEnd(13)} ${summary(classes[k])}`),
      ],
    };
  } finally {
    endpoint.close();
  }
}
