import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DialogMatch,
  DialogTable,
  dialogId,
  legId,
  partyOf,
} from '../../../src/core/dialog/dialog-table.ts';
import type { Flow } from '../../../src/transport/types.ts';

const callerFlow: Flow = {
  transport: 'udp',
  localAddress: '127.0.0.1',
  localPort: 5060,
  remoteAddress: '192.0.2.10',
  remotePort: 5062,
};
const upstreamFlow: Flow = { ...callerFlow, remoteAddress: '127.0.0.1', remotePort: 5080 };

function create(table: DialogTable, n: number, now = 0, identity = 'alice@example.com', method = 'INVITE') {
  return table.create({
    callId: `call-${n}`,
    fromTag: `from-${n}`,
    toTag: `to-${n}`,
    method,
    caller: partyOf(callerFlow, 'client'),
    callee: partyOf(upstreamFlow, 'upstream'),
    identity,
    callerCSeq: 1,
    now,
  });
}

function bye(n: number, cseq: number, fromCaller = true) {
  return {
    callId: `call-${n}`,
    fromTag: fromCaller ? `from-${n}` : `to-${n}`,
    toTag: fromCaller ? `to-${n}` : `from-${n}`,
    cseq,
    method: 'BYE',
  };
}

/** A request that matched and was forwarded: matched, then committed. */
function forward(
  table: DialogTable,
  request: Parameters<DialogTable['match']>[0],
  flow: Flow,
  direction: 'client' | 'upstream',
  now: number,
): DialogMatch {
  const match = table.match(request, flow, direction, now);
  if (match.ok) table.commit(match, now);
  return match;
}

describe('dialog table', () => {
  test('an in-dialog request matches from either party, with a growing CSeq', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1);
    assert.equal(forward(table, bye(1, 2), callerFlow, 'client', 1).ok, true);
    assert.deepEqual(table.match(bye(1, 2), callerFlow, 'client', 1), {
      ok: false,
      reason: 'cseq-not-increasing',
    });
    const fromCallee = table.match(bye(1, 1, false), upstreamFlow, 'upstream', 1);
    assert.equal(fromCallee.ok && fromCallee.fromCaller, false);
    const stranger = { ...callerFlow, remoteAddress: '192.0.2.99' };
    assert.deepEqual(table.match(bye(1, 3), stranger, 'client', 1), { ok: false, reason: 'wrong-party' });
    assert.deepEqual(table.match(bye(2, 3), callerFlow, 'client', 1), {
      ok: false,
      reason: 'unknown-dialog',
    });
  });

  test('a retransmitted 2xx finds the dialog already there', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    const first = create(table, 1);
    assert.equal(create(table, 1), first);
    assert.equal(table.size, 1);
    assert.equal(table.countFor('alice@example.com'), 1);
  });

  test('removal ends the dialog and its count for the identity', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1);
    create(table, 2);
    create(table, 3, 0, 'bob@example.com');
    assert.equal(table.countFor('alice@example.com'), 2);
    table.remove(legId(dialogId('call-1', 'to-1', 'from-1'), 'client'));
    table.remove(legId(dialogId('call-1', 'to-1', 'from-1'), 'client'));
    assert.equal(table.size, 2);
    assert.equal(table.countFor('alice@example.com'), 1);
    assert.equal(table.match(bye(1, 2), callerFlow, 'client', 1).ok, false);
    assert.equal(table.match(bye(2, 2), callerFlow, 'client', 1).ok, true);
  });

  test('open calls: counted once each, newest first, subscriptions left out', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1, 0);
    create(table, 2, 1, 'alice@example.com', 'SUBSCRIBE');
    create(table, 3, 2, 'bob@example.com');
    // The same call's other leg (a spiral) is the same call.
    table.create({
      callId: 'call-3',
      fromTag: 'from-3',
      toTag: 'to-3',
      method: 'INVITE',
      caller: partyOf(upstreamFlow, 'upstream'),
      callee: partyOf(callerFlow, 'client'),
      identity: 'bob@example.com',
      callerCSeq: 1,
      now: 3,
    });
    assert.equal(table.callCount, 2);
    assert.deepEqual(
      table.recentCalls(10).map((call) => call.callId),
      ['call-3', 'call-1'],
    );
    assert.deepEqual(
      table.recentCalls(1).map((call) => call.callId),
      ['call-3'],
    );
    table.remove(legId(dialogId('call-1', 'from-1', 'to-1'), 'client'));
    assert.equal(table.callCount, 1);
    assert.equal(table.sweep(5000), 3);
    assert.equal(table.callCount, 0);
    assert.deepEqual(table.recentCalls(10), []);
  });

  test('when full, the oldest dialog gives way, in creation order', () => {
    const table = new DialogTable({ maxDialogs: 3, sessionTimeoutMs: 1000 });
    for (let n = 1; n <= 3; n++) create(table, n);
    table.remove(legId(dialogId('call-2', 'from-2', 'to-2'), 'client'));
    create(table, 4);
    create(table, 5); // evicts 1, the oldest
    create(table, 6); // evicts 3
    assert.equal(table.evictions, 2);
    assert.equal(table.size, 3);
    for (const [n, present] of [
      [1, false],
      [3, false],
      [4, true],
      [5, true],
      [6, true],
    ] as const) {
      assert.equal(table.match(bye(n, 9), callerFlow, 'client', 1).ok, present, `dialog ${n}`);
    }
    assert.equal(table.countFor('alice@example.com'), 3);
  });

  test('the sweep ends the dialogs past their session timeout, a forwarded request keeps a subscription alive', () => {
    const table = new DialogTable({ maxDialogs: 100, sessionTimeoutMs: 1000 });
    // Every fifth dialog is a subscription; the others are calls, whose timeout is a maximum length.
    for (let n = 1; n <= 50; n++)
      create(table, n, 0, 'alice@example.com', n % 5 === 1 ? 'SUBSCRIBE' : 'INVITE');
    for (let n = 1; n <= 50; n++) assert.equal(forward(table, bye(n, 2), callerFlow, 'client', 900).ok, true);
    assert.equal(table.sweep(1000), 40);
    assert.equal(table.size, 10);
    assert.equal(table.countFor('alice@example.com'), 0, 'subscriptions are no calls');
    assert.equal(table.sweep(1899), 0);
    assert.equal(table.sweep(1900), 10);
    assert.equal(table.size, 0);
    assert.equal(table.countFor('alice@example.com'), 0);
    // The order list is empty again: new dialogs link and evict normally.
    create(table, 60, 2000);
    assert.equal(table.size, 1);
  });

  test('an expired dialog does not match, even before a sweep', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1, 0);
    assert.deepEqual(table.match(bye(1, 2), callerFlow, 'client', 1000), {
      ok: false,
      reason: 'unknown-dialog',
    });
    assert.equal(table.size, 0);
  });

  test('a match changes nothing until it is committed: a refused request leaves CSeq and lifetime as they were', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1, 0);
    // Matched twice with the same CSeq, never forwarded (refused on its way): both match.
    assert.equal(table.match(bye(1, 5), callerFlow, 'client', 900).ok, true);
    assert.equal(table.match(bye(1, 5), callerFlow, 'client', 900).ok, true);
    assert.equal(table.match(bye(1, 2), callerFlow, 'client', 900).ok, true);
    // Nor did the matches restart the session timer: the dialog ends at 1000 as created.
    assert.equal(table.sweep(1000), 1);
    // A forwarded request keeps a dialog other than a call (a subscription) alive.
    create(table, 2, 2000, 'alice@example.com', 'SUBSCRIBE');
    const matched = table.match(bye(2, 5), callerFlow, 'client', 2900);
    assert.ok(matched.ok);
    table.commit(matched, 2900);
    assert.deepEqual(table.match(bye(2, 5), callerFlow, 'client', 2900), {
      ok: false,
      reason: 'cseq-not-increasing',
    });
    assert.equal(table.sweep(3000), 0);
    assert.equal(table.sweep(3900), 1);
  });

  test("a call's session timeout is its maximum length: requests in it do not extend it", () => {
    const ended: string[] = [];
    const table = new DialogTable({
      maxDialogs: 10,
      sessionTimeoutMs: 1000,
      onEnded: (dialog, cause) => ended.push(`${dialog.callId} ${cause}`),
    });
    create(table, 1, 0);
    assert.ok(forward(table, bye(1, 2), callerFlow, 'client', 900).ok);
    assert.equal(table.sweep(999), 0);
    assert.equal(table.sweep(1000), 1);
    assert.deepEqual(ended, ['call-1 session-timeout']);
  });

  test('a call passing the proxy twice times out on both legs at once, reported once with its other leg', () => {
    const ended: string[] = [];
    const table = new DialogTable({
      maxDialogs: 10,
      sessionTimeoutMs: 1000,
      onEnded: (dialog, cause, other) => ended.push(`${dialog.leg} ${cause} ${other?.leg ?? '-'}`),
    });
    // The inner leg (the upstream's INVITE towards the callee) is answered first.
    table.create({
      callId: 'spiral',
      fromTag: 'a',
      toTag: 'b',
      method: 'INVITE',
      caller: partyOf(upstreamFlow, 'upstream'),
      callee: partyOf(callerFlow, 'client'),
      identity: 'alice@example.com',
      callerCSeq: 1,
      now: 0,
    });
    table.create({
      callId: 'spiral',
      fromTag: 'a',
      toTag: 'b',
      method: 'INVITE',
      caller: partyOf(callerFlow, 'client'),
      callee: partyOf(upstreamFlow, 'upstream'),
      identity: 'alice@example.com',
      callerCSeq: 1,
      now: 5,
    });
    assert.equal(table.sweep(1000), 2);
    assert.equal(table.size, 0);
    assert.deepEqual(ended, ['upstream session-timeout client']);
    assert.equal(table.countFor('alice@example.com'), 0);
  });

  test('a commit for a leg ended meanwhile does not bring it back', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    const dialog = create(table, 1, 0);
    const matched = table.match(bye(1, 2), callerFlow, 'client', 1);
    assert.ok(matched.ok);
    table.remove(dialog.id);
    table.commit(matched, 2);
    assert.equal(table.size, 0);
    assert.equal(table.match(bye(1, 3), callerFlow, 'client', 3).ok, false);
  });

  describe('a dialog that passes twice (a call between two phones registered through the proxy)', () => {
    // Phone A calls phone B: A -> proxy -> upstream -> proxy -> B, one Call-ID and tag pair.
    const phoneA: Flow = { ...callerFlow, remoteAddress: '192.0.2.21', remotePort: 5060 };
    const phoneB: Flow = { ...callerFlow, remoteAddress: '192.0.2.22', remotePort: 5060 };
    const call = { callId: 'spiral-1', fromTag: 'a-tag', toTag: 'b-tag' };
    const fromA = (cseq: number, method = 'BYE') => ({ ...call, cseq, method });
    const fromB = (cseq: number, method = 'BYE') => ({
      callId: call.callId,
      fromTag: call.toTag,
      toTag: call.fromTag,
      cseq,
      method,
    });

    /** Both legs as the 2xx creates them: the inner leg (upstream to B) first, then the outer. */
    function spiral(table: DialogTable, a = phoneA, b = phoneB) {
      const base = { ...call, method: 'INVITE', identity: 'a@example.com', callerCSeq: 1, now: 0 };
      const inner = table.create({
        ...base,
        caller: partyOf(upstreamFlow, 'upstream'),
        callee: partyOf(b, 'client'),
      });
      const outer = table.create({
        ...base,
        caller: partyOf(a, 'client'),
        callee: partyOf(upstreamFlow, 'upstream'),
      });
      return { inner, outer };
    }

    test('each leg is kept, with its own parties', () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      const { inner, outer } = spiral(table);
      assert.notEqual(inner, outer);
      assert.equal(table.size, 2);
      assert.equal(inner.leg, 'upstream');
      assert.equal(outer.leg, 'client');
    });

    test("A's BYE matches the outer leg from A and the inner leg from the upstream; B's BYE the other way", () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      const { inner, outer } = spiral(table);
      const aOut = forward(table, fromA(2), phoneA, 'client', 1);
      assert.ok(aOut.ok && aOut.dialog === outer && aOut.fromCaller);
      const aIn = forward(table, fromA(2), upstreamFlow, 'upstream', 1);
      assert.ok(aIn.ok && aIn.dialog === inner && aIn.fromCaller);
      const bOut = forward(table, fromB(1), phoneB, 'client', 1);
      assert.ok(bOut.ok && bOut.dialog === inner && !bOut.fromCaller);
      const bIn = forward(table, fromB(1), upstreamFlow, 'upstream', 1);
      assert.ok(bIn.ok && bIn.dialog === outer && !bIn.fromCaller);
      // ACK from A over either leg: exempt from the CSeq rule, as before.
      assert.equal(table.match(fromA(1, 'ACK'), phoneA, 'client', 1).ok, true);
      assert.equal(table.match(fromA(1, 'ACK'), upstreamFlow, 'upstream', 1).ok, true);
    });

    test('each party may speak only for itself: B cannot send as A, a third address as neither', () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      spiral(table);
      const stranger = { ...callerFlow, remoteAddress: '192.0.2.23' };
      assert.deepEqual(table.match(fromA(2), stranger, 'client', 1), { ok: false, reason: 'wrong-party' });
      assert.deepEqual(table.match(fromB(2), stranger, 'client', 1), { ok: false, reason: 'wrong-party' });
      assert.deepEqual(table.match(fromA(2), phoneB, 'client', 1), { ok: false, reason: 'wrong-party' });
      assert.deepEqual(table.match(fromB(2), phoneA, 'client', 1), { ok: false, reason: 'wrong-party' });
    });

    test('over TCP each phone is its own connection', () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      const tcpA: Flow = { ...phoneA, transport: 'tcp', connectionId: 7 };
      const tcpB: Flow = { ...phoneB, transport: 'tcp', connectionId: 8 };
      const { outer } = spiral(table, tcpA, tcpB);
      const ack = table.match(fromA(1, 'ACK'), tcpA, 'client', 1);
      assert.ok(ack.ok && ack.dialog === outer);
      assert.deepEqual(table.match(fromA(2), { ...tcpA, connectionId: 9 }, 'client', 1), {
        ok: false,
        reason: 'wrong-party',
      });
    });

    test('two phones on one address are told apart by their tags', () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      const shared = { ...phoneB, remoteAddress: phoneA.remoteAddress, remotePort: 5070 };
      const { inner, outer } = spiral(table, phoneA, shared);
      const a = forward(table, fromA(2), phoneA, 'client', 1);
      assert.ok(a.ok && a.dialog === outer);
      const b = forward(table, fromB(2), shared, 'client', 1);
      assert.ok(b.ok && b.dialog === inner);
    });

    test("a BYE ends the leg it travelled on: A's over the outer leg from the client side, over the inner from the upstream", () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      spiral(table);
      table.end(fromA(2), 'upstream');
      assert.equal(table.size, 1);
      assert.equal(table.match(fromA(2), upstreamFlow, 'upstream', 1).ok, false);
      assert.equal(table.match(fromA(2), phoneA, 'client', 1).ok, true);
      table.end(fromA(2), 'client');
      assert.equal(table.size, 0);
      spiral(table);
      // B hangs up: its BYE leaves B over the inner leg, reaches A from the upstream over the outer.
      table.end(fromB(2), 'client');
      assert.equal(table.match(fromB(2), phoneB, 'client', 1).ok, false);
      assert.equal(table.match(fromB(2), upstreamFlow, 'upstream', 1).ok, true);
      table.end(fromB(2), 'upstream');
      assert.equal(table.size, 0);
    });

    test('the call counts once for its caller identity, until its last leg ends', () => {
      const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
      const { inner, outer } = spiral(table);
      assert.equal(table.countFor('a@example.com'), 1);
      table.remove(inner.id);
      assert.equal(table.countFor('a@example.com'), 1);
      table.remove(outer.id);
      assert.equal(table.countFor('a@example.com'), 0);
      const again = spiral(table);
      table.remove(again.outer.id);
      assert.equal(table.countFor('a@example.com'), 1);
      table.remove(again.inner.id);
      assert.equal(table.countFor('a@example.com'), 0);
    });
  });

  test('SUBSCRIBE dialogs (busy lamp subscriptions) are no calls and do not count for the identity', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    for (let n = 1; n <= 5; n++) {
      table.create({
        callId: `blf-${n}`,
        fromTag: `f-${n}`,
        toTag: `t-${n}`,
        method: 'SUBSCRIBE',
        caller: partyOf(callerFlow, 'client'),
        callee: partyOf(upstreamFlow, 'upstream'),
        identity: 'alice@example.com',
        callerCSeq: 1,
        now: 0,
      });
    }
    assert.equal(table.size, 5);
    assert.equal(table.countFor('alice@example.com'), 0);
    create(table, 1);
    assert.equal(table.countFor('alice@example.com'), 1);
  });
});

test('a call ended for its media (media-flood) is removed and reported with its cause, like a timeout', () => {
  const ended: { id: string; cause: string }[] = [];
  const table = new DialogTable({
    maxDialogs: 10,
    sessionTimeoutMs: 60_000,
    onEnded: (dialog, cause) => ended.push({ id: dialog.callId, cause }),
  });
  create(table, 1);
  create(table, 2);
  // Named as the media session names it: Call-ID, the caller's tag, the caller's side.
  assert.equal(table.endCall('call-1', 'from-1', 'upstream', 'media-flood'), false, 'wrong leg');
  assert.equal(table.endCall('call-1', 'from-1', 'client', 'media-flood'), true);
  assert.deepEqual(ended, [{ id: 'call-1', cause: 'media-flood' }]);
  assert.equal(table.size, 1);
  assert.equal(table.match(bye(1, 2), callerFlow, 'client', 0).ok, false);
  assert.equal(table.match(bye(2, 2), callerFlow, 'client', 0).ok, true);
});
