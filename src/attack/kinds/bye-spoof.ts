/**
 * bye-spoof: sets up real calls between two of our own endpoints through the target, then
 * tries to end them from a third address: a forged CANCEL while the first call rings, and
 * forged BYEs once the second is answered. Each forgery is a perfect copy of what the
 * caller would send (Call-ID, tags, route set, CSeq), as an attacker who sees the
 * signalling could write it; only the source address differs. A target that keeps dialog
 * state refuses them (RFC 3261 leaves this to the proxy; DESIGN.md's state stage does it).
 *
 * Verdict: with our own callee (--uas), a call is killed when a forged request reached the
 * callee (its Via carries the forged marker) or the callee no longer has the call; with the
 * target as callee, when it answered a forged BYE with 2xx or the caller got 487.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommonOptions } from '../context.ts';
import { Random } from '../random.ts';
import type { AttackReport } from '../report.ts';
import { MAGIC_COOKIE } from '../sip-text.ts';
import { Tally } from '../tally.ts';
import { formatEndpoint } from '../target.ts';
import { FORGED_MARKER } from '../ua/callee.ts';
import type { OutgoingCall } from '../ua/caller.ts';
import { cast, type ThirdPartyOptions } from './third-party.ts';

export type ByeSpoofOptions = ThirdPartyOptions & CommonOptions;

const RING_MS = 1500;
const TIMEOUT_MS = 4000;

type CancelResult = 'cancelled' | 'survived' | 'not-tested';

export async function runByeSpoof(options: ByeSpoofOptions): Promise<AttackReport> {
  const { target, limits } = options;
  const random = new Random(options.seed);
  const forgeries = Math.max(1, Math.min(limits.count, 20));
  const tally = new Tally(2 * forgeries);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const actors = await cast(options, random, RING_MS);
  const { phone, callee, forger } = actors;
  let seq = 0;
  const forge = async (text: (branch: string) => string, method: string): Promise<number> => {
    const n = seq++;
    const branch = `${MAGIC_COOKIE}${FORGED_MARKER}${random.token(10)}`;
    tally.sentOne(n);
    const exchange = await forger.request(text(branch), target, { branch, method, timeoutMs: 1000 });
    const status = exchange.final?.status ?? 0;
    if (status > 0) tally.answer(n, status);
    return status;
  };
  const forgedVia = (branch: string) => ({ host: forger.address, port: forger.port, branch });

  try {
    // 1. A forged CANCEL while the first call rings (RFC 3261 9.1: same branch as the INVITE).
    let cancel: CancelResult;
    const ringing = phone.newCall({ user: '100', fromUser: 'alice' });
    let cancelsSent = false;
    const cancelJobs: Promise<number>[] = [];
    const invited = await ringing.invite(RING_MS + TIMEOUT_MS, (response) => {
      if (cancelsSent || response.status === 100) return;
      cancelsSent = true;
      for (let i = 0; i < forgeries; i++) {
        // The caller's own Via (the CANCEL must match the INVITE's branch and sent-by), from elsewhere.
        cancelJobs.push(
          forge(
            () =>
              ringing.cancelText({
                host: ringing.endpoint.address,
                port: ringing.endpoint.port,
                branch: ringing.inviteBranch,
              }),
            'CANCEL',
          ),
        );
      }
    });
    await Promise.all(cancelJobs);
    const inviteStatus = invited.final?.status ?? 0;
    if (!cancelsSent) cancel = 'not-tested';
    else if (inviteStatus === 487) cancel = 'cancelled';
    // The target as callee answered at once: the CANCEL had no ringing call to hit.
    else if (callee === undefined && inviteStatus >= 200 && inviteStatus < 300) cancel = 'not-tested';
    else cancel = 'survived';
    if (inviteStatus >= 200 && inviteStatus < 300) await ringing.bye(TIMEOUT_MS);
    phone.forget(ringing);

    // 2. Forged BYEs once the second call is up.
    const call: OutgoingCall = phone.newCall({ user: '100', fromUser: 'alice' });
    const answered = await call.invite(RING_MS + TIMEOUT_MS);
    const callStatus = answered.final?.status ?? 0;
    let bye: 'killed' | 'survived' | 'not-tested' = 'not-tested';
    let forgedByeAccepted = 0;
    let realByeStatus = 0;
    if (callStatus >= 200 && callStatus < 300 && call.dialog) {
      await sleep(200);
      for (let i = 0; i < forgeries; i++) {
        const status = await forge(
          (branch) => call.inDialogText('BYE', call.nextCseq(), forgedVia(branch)),
          'BYE',
        );
        if (status >= 200 && status < 300) forgedByeAccepted++;
      }
      await sleep(300);
      const calleeSawForgedBye =
        callee?.requestsFor(call.callId).some((r) => r.method === 'BYE' && r.forged) ?? false;
      const calleeLostCall = callee !== undefined && !callee.isUp(call.callId);
      realByeStatus = (await call.bye(TIMEOUT_MS)).final?.status ?? 0;
      bye = forgedByeAccepted > 0 || calleeSawForgedBye || calleeLostCall ? 'killed' : 'survived';
    }
    phone.forget(call);

    // Forgeries are not a stream the target answers in turn: silence here is no block.
    const { blockedAfter: _silence, ...answers } = tally.summary();
    const succeeded = bye === 'killed' || cancel === 'cancelled';
    const tested = bye !== 'not-tested' || cancel !== 'not-tested';
    const parts = [
      bye === 'killed'
        ? 'a forged BYE ended the call'
        : bye === 'survived'
          ? 'the call survived the forged BYEs'
          : `no call to attack (INVITE answered ${callStatus || 'nothing'})`,
      cancel === 'cancelled'
        ? 'a forged CANCEL cancelled the ringing call'
        : cancel === 'survived'
          ? 'the ringing call survived the forged CANCELs'
          : 'CANCEL not tested (the callee answered at once)',
    ];
    return {
      kind: 'bye-spoof',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'forged request',
      rate: { asked: 0, achieved: 0 },
      sources: { count: 1, first: forger.address, last: forger.address },
      sendErrors: forger.sendErrors,
      answers,
      succeeded,
      applicable: tested,
      outcome: parts.join('; '),
      details: {
        callee: callee ? `${callee.address}:${callee.port}` : 'target',
        caller: `${phone.endpoint.address}:${phone.endpoint.port}`,
        forger: `${forger.address}:${forger.port}`,
        bye,
        cancel,
        callStatus,
        forgedByeAccepted,
        realByeStatus,
        ringingInviteStatus: inviteStatus,
      },
      notes: [
        `caller    ${phone.endpoint.address}:${phone.endpoint.port}, callee ${callee ? `${callee.address}:${callee.port} (ours)` : 'the target'}, forger ${forger.address}:${forger.port}`,
        `BYE       ${bye}${bye === 'not-tested' ? '' : ` (forged BYEs answered 2xx: ${forgedByeAccepted}; the caller's own BYE then got ${realByeStatus || 'no answer'})`}`,
        `CANCEL    ${cancel} (the ringing INVITE ended with ${inviteStatus || 'no answer'})`,
      ],
    };
  } finally {
    actors.close();
  }
}
