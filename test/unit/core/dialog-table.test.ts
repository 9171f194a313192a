import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DialogTable, dialogId, partyOf } from '../../../src/core/dialog/dialog-table.ts';
import type { Flow } from '../../../src/transport/types.ts';

const callerFlow: Flow = {
  transport: 'udp',
  localAddress: '127.0.0.1',
  localPort: 5060,
  remoteAddress: '192.0.2.10',
  remotePort: 5062,
};
const upstreamFlow: Flow = { ...callerFlow, remoteAddress: '127.0.0.1', remotePort: 5080 };

function create(table: DialogTable, n: number, now = 0, identity = 'alice@example.com') {
  return table.create({
    id: dialogId(`call-${n}`, `from-${n}`, `to-${n}`),
    callId: `call-${n}`,
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

describe('dialog table', () => {
  test('an in-dialog request matches from either party, with a growing CSeq', () => {
    const table = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 1000 });
    create(table, 1);
    assert.equal(table.match(bye(1, 2), callerFlow, 'client', 1).ok, true);
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
    table.remove(dialogId('call-1', 'to-1', 'from-1'));
    table.remove(dialogId('call-1', 'to-1', 'from-1'));
    assert.equal(table.size, 2);
    assert.equal(table.countFor('alice@example.com'), 1);
    assert.equal(table.match(bye(1, 2), callerFlow, 'client', 1).ok, false);
    assert.equal(table.match(bye(2, 2), callerFlow, 'client', 1).ok, true);
  });

  test('when full, the oldest dialog gives way, in creation order', () => {
    const table = new DialogTable({ maxDialogs: 3, sessionTimeoutMs: 1000 });
    for (let n = 1; n <= 3; n++) create(table, n);
    table.remove(dialogId('call-2', 'from-2', 'to-2'));
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

  test('the sweep ends the dialogs past their session timeout, a match keeps one alive', () => {
    const table = new DialogTable({ maxDialogs: 100, sessionTimeoutMs: 1000 });
    for (let n = 1; n <= 50; n++) create(table, n, 0);
    for (let n = 1; n <= 50; n += 5) assert.equal(table.match(bye(n, 2), callerFlow, 'client', 900).ok, true);
    assert.equal(table.sweep(1000), 40);
    assert.equal(table.size, 10);
    assert.equal(table.countFor('alice@example.com'), 10);
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
});
