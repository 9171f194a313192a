import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallRecorder, RETRY_WINDOW_MS } from '../../../src/cdr/call-recorder.ts';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import type { Dialog } from '../../../src/core/dialog/dialog-table.ts';
import type { Direction, RequestContext } from '../../../src/core/inspector.ts';
import type { VerifiedIdentity } from '../../../src/identity/identity.ts';
import type { SipRequest } from '../../../src/sip/message.ts';
import { flow, type RequestOptions, request } from '../security/stages/helpers.ts';

const T0 = 1_750_000_000_000;
const PHONE = flow('198.51.100.10', 5062);
const PBX = flow('192.0.2.1', 5060);

/** A recorder with a clock the test moves, writing into `written`. */
function recorder(options: { maxOpenCalls?: number; batchSize?: number; maxPending?: number } = {}) {
  let now = T0;
  const written: CallDetailRecord[] = [];
  const batches: number[] = [];
  const r = new CallRecorder({
    sink: {
      write: (records) => {
        batches.push(records.length);
        written.push(...records);
      },
    },
    clock: () => now,
    flushIntervalMs: 60_000,
    ...options,
  });
  return {
    r,
    written,
    batches,
    at: (ms: number) => {
      now = T0 + ms;
    },
    /** Every finished record, handed over now. */
    records: () => {
      r.flush();
      return written;
    },
  };
}

function invite(o: RequestOptions = {}): SipRequest {
  return request({ method: 'INVITE', fromUser: '100', toUser: '200', ...o });
}

function context(
  req: SipRequest,
  direction: Direction = 'client',
  identity?: VerifiedIdentity,
): RequestContext {
  return {
    flow: direction === 'client' ? PHONE : PBX,
    direction,
    request: req,
    inDialog: false,
    ...(identity === undefined ? {} : { identity }),
  };
}

function bye(req: SipRequest, fromCaller: boolean): SipRequest {
  const callerTag = req.from.params.get('tag')!;
  return request({
    method: 'BYE',
    callId: req.callId,
    fromTag: fromCaller ? callerTag : 'callee-tag',
    toTag: fromCaller ? 'callee-tag' : callerTag,
    cseq: 9,
  });
}

function dialogOf(req: SipRequest, leg: Direction = 'client'): Dialog {
  const party = { direction: leg, transport: 'udp' as const, address: '198.51.100.10', port: 5062 };
  return {
    id: `${req.callId}|x|${leg}`,
    callId: req.callId,
    leg,
    method: 'INVITE',
    callerTag: req.from.params.get('tag')!,
    caller: party,
    callee: { ...party, direction: leg === 'client' ? 'upstream' : 'client' },
    identity: '100@pbx.example.com',
    createdAt: T0,
    expiresAt: T0 + 1000,
    callerCSeq: 1,
    calleeCSeq: 0,
  };
}

/** An answered call: INVITE at 0, 200 at `answerMs`. */
function answered(t: ReturnType<typeof recorder>, answerMs: number, o: RequestOptions = {}): SipRequest {
  const req = invite(o);
  t.at(0);
  t.r.inviteForwarded(context(req));
  t.at(answerMs);
  t.r.inviteCompleted(req, PHONE, 'client', 200);
  return req;
}

test('an answered call hung up by its caller: times, duration from answer to BYE, who hung up', () => {
  const t = recorder();
  const req = answered(t, 2000);
  assert.equal(t.records().length, 0, 'nothing is written while the call is up');
  t.at(7500);
  t.r.byeForwarded(dialogOf(req), true);
  t.at(7600);
  t.r.byeCompleted(bye(req, true), 'client', 200);
  const [record] = t.records();
  assert.ok(record);
  assert.equal(record.disposition, 'answered');
  assert.equal(record.status, 200);
  assert.equal(record.startTime, T0);
  assert.equal(record.answerTime, T0 + 2000);
  assert.equal(record.endTime, T0 + 7500);
  assert.equal(record.durationMs, 5500);
  assert.equal(record.endedBy, 'caller');
  assert.equal(record.endReason, 'bye');
  assert.equal(record.callId, req.callId);
  assert.deepEqual(
    [record.fromUser, record.fromDomain, record.toUser, record.requestUser, record.requestDomain],
    ['100', 'pbx.example.com', '200', '200', 'pbx.example.com'],
  );
  assert.deepEqual(
    [record.sourceAddress, record.sourcePort, record.sourceTransport, record.direction, record.legs],
    ['198.51.100.10', 5062, 'udp', 'client', 1],
  );
  assert.equal(record.authUser, null);
  assert.equal(record.refusalStage, null);
});

test('a BYE from the callee says the callee hung up', () => {
  const t = recorder();
  const req = answered(t, 100);
  t.at(1100);
  t.r.byeForwarded(dialogOf(req), false);
  t.r.byeCompleted(bye(req, false), 'upstream', 200);
  const [record] = t.records();
  assert.equal(record?.endedBy, 'callee');
  assert.equal(record?.durationMs, 1000);
});

test('a BYE the dialog check never matched (the upstream speaks of a dialog it knows) still ends the call', () => {
  const t = recorder();
  const req = answered(t, 100);
  t.at(600);
  t.r.byeCompleted(bye(req, false), 'upstream', 200);
  const [record] = t.records();
  assert.equal(record?.endedBy, 'callee');
  assert.equal(record?.durationMs, 500);
});

for (const [status, disposition] of [
  [486, 'busy'],
  [600, 'busy'],
  [480, 'no-answer'],
  [408, 'no-answer'],
  [487, 'no-answer'],
  [404, 'failed'],
  [503, 'failed'],
] as const) {
  test(`a final ${status} is ${disposition}, ended by the callee side, with no duration`, () => {
    const t = recorder();
    const req = invite();
    t.r.inviteForwarded(context(req));
    t.at(300);
    t.r.inviteCompleted(req, PHONE, 'client', status);
    const [record] = t.records();
    assert.equal(record?.disposition, disposition);
    assert.equal(record?.status, status);
    assert.equal(record?.endedBy, 'callee');
    assert.equal(record?.endReason, 'final-response');
    assert.equal(record?.answerTime, null);
    assert.equal(record?.durationMs, null);
    assert.equal(record?.endTime, T0 + 300);
  });
}

test('a CANCEL from the caller makes the 487 that follows a cancelled call, ended by the caller', () => {
  const t = recorder();
  const req = invite();
  t.r.inviteForwarded(context(req));
  t.at(1000);
  const cancel = request({
    method: 'CANCEL',
    callId: req.callId,
    fromTag: req.from.params.get('tag')!,
    branch: req.via[0]!.branch!,
  });
  // A CANCEL of another INVITE (another branch) with the same Call-ID and tag is not this call's.
  t.r.inviteCancelled(
    request({ method: 'CANCEL', callId: req.callId, fromTag: req.from.params.get('tag')! }),
    PHONE,
    'client',
  );
  t.r.inviteCancelled(cancel, PHONE, 'client');
  t.r.inviteCompleted(req, PHONE, 'client', 487);
  const [record] = t.records();
  assert.equal(record?.disposition, 'cancelled');
  assert.equal(record?.status, 487);
  assert.equal(record?.endedBy, 'caller');
});

test('a refusal by a stage is refused by sipwarden, with the stage, the rule and the status', () => {
  const t = recorder();
  const req = invite();
  t.r.inviteRefused(context(req), {
    stage: 'call-limit',
    rule: 'concurrent-calls',
    status: 486,
    reason: 'Busy Here',
  });
  const [record] = t.records();
  assert.equal(record?.disposition, 'refused');
  assert.equal(record?.status, 486);
  assert.equal(record?.endedBy, 'sipwarden');
  assert.equal(record?.endReason, 'refused');
  assert.deepEqual(
    [record?.refusalStage, record?.refusalRule, record?.refusalReason],
    ['call-limit', 'concurrent-calls', 'Busy Here'],
  );
});

test("a refused INVITE's retransmissions are no new attempts, a new INVITE after the window is", () => {
  const t = recorder();
  const req = invite();
  const refusal = { stage: 'gate', rule: 'blocked', status: 403 };
  t.r.inviteRefused(context(req), refusal);
  t.at(500);
  t.r.inviteRefused(context(req), refusal);
  t.at(RETRY_WINDOW_MS - 1);
  t.r.inviteRefused(context(req), refusal);
  assert.equal(t.records().length, 1);
  t.at(RETRY_WINDOW_MS + 10);
  t.r.inviteRefused(context(req), refusal);
  assert.equal(t.records().length, 2);
});

test('a dropped INVITE is refused without a status', () => {
  const t = recorder();
  t.r.inviteRefused(context(invite()), { stage: 'scanner', rule: 'user-agent' });
  const [record] = t.records();
  assert.equal(record?.disposition, 'refused');
  assert.equal(record?.status, null);
  assert.equal(record?.refusalRule, 'user-agent');
});

test('a challenged INVITE and its retry with credentials are one record, with the identity proven on the retry', () => {
  const t = recorder();
  const first = invite({ cseq: 1, fromTag: 'ft', callId: 'auth-1' });
  t.r.inviteRefused(context(first), { stage: 'authenticate', rule: 'challenge', status: 407 });
  // The challenge's retransmission is absorbed.
  t.r.inviteRefused(context(first), { stage: 'authenticate', rule: 'challenge', status: 407 });
  t.at(200);
  const retry = invite({ cseq: 2, fromTag: 'ft', callId: 'auth-1' });
  const identity: VerifiedIdentity = {
    user: 'alice',
    domain: 'example.com',
    groups: [],
    roles: [],
    method: 'digest',
  };
  t.r.inviteForwarded(context(retry, 'client', identity));
  t.at(1200);
  t.r.inviteCompleted(retry, PHONE, 'client', 200);
  t.at(3200);
  t.r.byeCompleted(bye(retry, true), 'client', 200);
  const records = t.records();
  assert.equal(records.length, 1);
  const [record] = records;
  assert.equal(record?.disposition, 'answered');
  assert.equal(record?.startTime, T0, 'the attempt started with the first INVITE');
  assert.equal(record?.durationMs, 2000);
  assert.deepEqual(
    [record?.authUser, record?.authDomain, record?.authMethod],
    ['alice', 'example.com', 'digest'],
  );
  assert.equal(record?.refusalStage, null, 'the challenge was answered: no refusal');
});

test('a challenge by the PBX that is never retried is written as challenged once the retry window is over', () => {
  const t = recorder();
  const req = invite();
  t.r.inviteForwarded(context(req));
  t.at(100);
  t.r.inviteCompleted(req, PHONE, 'client', 401);
  t.r.sweep(T0 + 100 + RETRY_WINDOW_MS - 1);
  assert.equal(t.records().length, 0);
  t.r.sweep(T0 + 100 + RETRY_WINDOW_MS);
  const [record] = t.records();
  assert.equal(record?.disposition, 'challenged');
  assert.equal(record?.status, 401);
  assert.equal(record?.endTime, T0 + 100);
});

test('a call passing sipwarden twice (a spiral) is one record of two legs, the first leg decides its status', () => {
  const t = recorder();
  const outer = invite({ fromTag: 'a-tag', callId: 'spiral-1' });
  const inner = invite({ fromTag: 'a-tag', callId: 'spiral-1' });
  t.r.inviteForwarded(context(outer, 'client'));
  t.r.inviteForwarded(context(inner, 'upstream'));
  t.at(1000);
  t.r.inviteCompleted(inner, PBX, 'upstream', 200);
  t.r.inviteCompleted(outer, PHONE, 'client', 200);
  t.at(4000);
  // The callee hangs up: its BYE passes the inner leg, then the outer one.
  t.r.byeForwarded(dialogOf(inner, 'upstream'), false);
  t.r.byeForwarded(dialogOf(outer, 'client'), false);
  t.at(4010);
  t.r.byeCompleted(bye(outer, false), 'upstream', 200);
  t.r.byeCompleted(bye(inner, false), 'client', 200);
  const records = t.records();
  assert.equal(records.length, 1);
  assert.equal(records[0]?.legs, 2);
  assert.equal(records[0]?.direction, 'client');
  assert.equal(records[0]?.durationMs, 3000);
  assert.equal(records[0]?.endedBy, 'callee');
  assert.equal(records[0]?.sourceAddress, PHONE.remoteAddress);
});

test("a spiral's second leg refused by sipwarden makes the call refused, with the first leg's final status", () => {
  const t = recorder();
  const outer = invite({ fromTag: 'a-tag', callId: 'spiral-2' });
  const inner = invite({ fromTag: 'a-tag', callId: 'spiral-2' });
  t.r.inviteForwarded(context(outer, 'client'));
  t.r.inviteRefused(context(inner, 'upstream'), { stage: 'policy', rule: 'no-premium', status: 403 });
  assert.equal(t.records().length, 0);
  t.r.inviteCompleted(outer, PHONE, 'client', 403);
  const [record] = t.records();
  assert.equal(record?.disposition, 'refused');
  assert.equal(record?.status, 403);
  assert.deepEqual([record?.refusalStage, record?.refusalRule], ['policy', 'no-premium']);
  assert.equal(record?.legs, 2);
});

test('the maximum session length ends an answered call: ended by sipwarden; an evicted dialog ends it unknown', () => {
  const t = recorder();
  const timedOut = answered(t, 100, { callId: 'long' });
  const evicted = answered(t, 100, { callId: 'evicted' });
  t.at(60_100);
  t.r.dialogEnded(dialogOf(timedOut), 'session-timeout');
  t.r.dialogEnded(dialogOf(evicted), 'evicted');
  const [first, second] = t.records();
  assert.deepEqual(
    [first?.endedBy, first?.endReason, first?.durationMs, first?.disposition],
    ['sipwarden', 'session-timeout', 60_000, 'answered'],
  );
  assert.deepEqual([second?.endedBy, second?.endReason], [null, 'evicted']);
});

test('the open-call table is bounded: the oldest call is written as interrupted to make room', () => {
  const t = recorder({ maxOpenCalls: 2 });
  const calls = [invite({ callId: 'o1' }), invite({ callId: 'o2' }), invite({ callId: 'o3' })];
  for (const c of calls) t.r.inviteForwarded(context(c));
  assert.equal(t.r.stats().open, 2);
  assert.equal(t.r.stats().evicted, 1);
  const [record] = t.records();
  assert.equal(record?.callId, 'o1');
  assert.equal(record?.disposition, 'interrupted');
  assert.equal(record?.endReason, 'evicted');
  // The later calls go on being recorded.
  t.r.inviteCompleted(calls[2]!, PHONE, 'client', 486);
  assert.equal(t.records().at(-1)?.callId, 'o3');
});

test('finished records go to the sink in batches, off the call path: a full batch on the next turn, the rest on the timer', async () => {
  const t = recorder({ batchSize: 3 });
  const refuse = (n: number) =>
    t.r.inviteRefused(context(invite({ callId: `b${n}` })), { stage: 's', status: 403 });
  refuse(1);
  refuse(2);
  assert.deepEqual(t.batches, [], 'nothing is written on the path of the call');
  refuse(3);
  assert.deepEqual(t.batches, []);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(t.batches, [3]);
  refuse(4);
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(t.batches, [3], 'a partial batch waits for its timer');
  t.r.flush();
  assert.deepEqual(t.batches, [3, 1]);
});

test('records beyond maxPending are counted as dropped', () => {
  const t = recorder({ maxPending: 2, batchSize: 100 });
  for (let n = 0; n < 5; n++)
    t.r.inviteRefused(context(invite({ callId: `p${n}` })), { stage: 's', status: 403 });
  assert.equal(t.r.stats().dropped, 3);
  assert.equal(t.records().length, 2);
});

test('close() writes every open call as it stands, and nothing after', () => {
  const t = recorder();
  answered(t, 100, { callId: 'up' });
  t.r.inviteForwarded(context(invite({ callId: 'ringing' })));
  t.at(5000);
  t.r.close();
  const byId = new Map(t.written.map((r) => [r.callId, r]));
  assert.deepEqual(
    [
      byId.get('up')?.disposition,
      byId.get('up')?.endReason,
      byId.get('up')?.durationMs,
      byId.get('up')?.endedBy,
    ],
    ['answered', 'shutdown', 4900, null],
  );
  assert.deepEqual([byId.get('ringing')?.disposition, byId.get('ringing')?.status], ['interrupted', null]);
  t.r.inviteRefused(context(invite()), { stage: 's', status: 403 });
  t.r.flush();
  assert.equal(t.written.length, 2);
});

test('a re-INVITE, or a final status of a transaction the call did not start with, changes nothing', () => {
  const t = recorder();
  const req = answered(t, 100);
  const other = invite({ callId: req.callId, fromTag: req.from.params.get('tag')!, cseq: 5 });
  t.r.inviteCompleted(other, PHONE, 'client', 500);
  assert.equal(t.records().length, 0);
  assert.equal(t.r.stats().open, 1);
});

test("an INVITE reusing a call's Call-ID, tag and CSeq from another address neither ends nor cancels it", () => {
  const t = recorder();
  const req = answered(t, 100);
  const forger = flow('203.0.113.66', 5060);
  const copy = invite({
    callId: req.callId,
    fromTag: req.from.params.get('tag')!,
    branch: req.via[0]!.branch!,
  });
  t.r.inviteCancelled(copy, forger, 'client');
  t.r.inviteCompleted(copy, forger, 'client', 500);
  assert.equal(t.records().length, 0);
  t.at(2100);
  t.r.byeCompleted(bye(req, true), 'client', 200);
  const [record] = t.records();
  assert.deepEqual([record?.disposition, record?.status, record?.durationMs], ['answered', 200, 2000]);
});
