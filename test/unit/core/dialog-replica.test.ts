/**
 * Dialog legs shared between the nodes of a cluster: the table tells its replica of the legs
 * it confirms and ends, another table adopts them (served, not counted, forgotten silently at
 * their expiry), and the wire form refuses anything that is not exactly a leg.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DialogSnapshot,
  DialogTable,
  dialogId,
  legId,
  partyOf,
} from '../../../src/core/dialog/dialog-table.ts';
import { dialogFromWire, dialogToWire } from '../../../src/core/dialog/dialog-wire.ts';
import type { Flow } from '../../../src/transport/types.ts';

const callerFlow: Flow = {
  transport: 'udp',
  localAddress: '127.0.0.1',
  localPort: 5060,
  remoteAddress: '192.0.2.10',
  remotePort: 5062,
};
const upstreamFlow: Flow = { ...callerFlow, remoteAddress: '127.0.0.1', remotePort: 5080 };

function recorder() {
  const created: [string, DialogSnapshot][] = [];
  const ended: string[] = [];
  return {
    created,
    ended,
    replica: {
      created: (id: string, s: DialogSnapshot) => created.push([id, s]),
      ended: (id: string) => ended.push(id),
    },
  };
}

function call(table: DialogTable, n: number, now = 0) {
  return table.create({
    callId: `call-${n}`,
    fromTag: `from-${n}`,
    toTag: `to-${n}`,
    method: 'INVITE',
    caller: partyOf(callerFlow, 'client'),
    callee: partyOf(upstreamFlow, 'upstream'),
    identity: 'alice@example.com',
    callerCSeq: 1,
    now,
    endpoints: {
      callerAddress: '<sip:alice@example.com>;tag=from-1',
      calleeAddress: '<sip:bob@example.com>;tag=to-1',
      callerTarget: 'sip:alice@192.0.2.10:5062',
      calleeTarget: 'sip:bob@127.0.0.1:5080',
      routeToCaller: [],
      routeToCallee: ['<sip:tok@10.0.0.1:5060;lr>'],
    },
  });
}

const bye = (n: number, cseq: number) => ({
  callId: `call-${n}`,
  fromTag: `from-${n}`,
  toTag: `to-${n}`,
  cseq,
  method: 'BYE',
});

describe('dialogs replicated between nodes', () => {
  test('a leg confirmed on one node is served by another, which ends it for both', () => {
    const a = recorder();
    const b = recorder();
    const nodeA = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000, replica: a.replica });
    const nodeB = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000, replica: b.replica });
    const dialog = call(nodeA, 1, 1000);
    assert.equal(a.created.length, 1);
    const [id, snapshot] = a.created[0]!;
    assert.equal(id, legId(dialogId('call-1', 'from-1', 'to-1'), 'client'));
    // Through the wire form, as Redis carries it.
    const received = dialogFromWire(dialogToWire(snapshot));
    assert.deepEqual(received, snapshot);
    assert.equal(nodeB.match(bye(1, 2), callerFlow, 'client', 2000).ok, false, 'unknown before adoption');
    nodeB.adopt(id, received!, 2000);
    assert.equal(b.created.length, 0, 'an adopted leg is not published again');
    assert.equal(nodeB.size, 1);
    assert.equal(nodeB.callCount, 0, 'not a call of this node');
    const match = nodeB.match(bye(1, 2), callerFlow, 'client', 2000);
    assert.ok(match.ok);
    assert.equal(match.dialog.expiresAt, dialog.expiresAt);
    assert.deepEqual(match.dialog.endpoints, dialog.endpoints);
    // A third address is still no party of it.
    assert.equal(
      nodeB.match(bye(1, 2), { ...callerFlow, remoteAddress: '198.51.100.7' }, 'client', 2000).ok,
      false,
    );
    // The BYE was answered through B: B tells the others, A forgets it without a word back.
    nodeB.end({ callId: 'call-1', fromTag: 'from-1', toTag: 'to-1' }, 'client');
    assert.deepEqual(b.ended, [id]);
    nodeA.forget(id);
    assert.equal(nodeA.size, 0);
    assert.equal(nodeA.callCount, 0);
    assert.deepEqual(a.ended, [], 'forgetting is not published');
  });

  test('an adopted leg expires silently; an expired or mislabelled one is not adopted', () => {
    const ended: string[] = [];
    const source = recorder();
    const nodeA = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000, replica: source.replica });
    call(nodeA, 1, 0);
    call(nodeA, 2, 0);
    const nodeB = new DialogTable({
      maxDialogs: 10,
      sessionTimeoutMs: 60_000,
      onEnded: (dialog) => ended.push(dialog.id),
    });
    const [[id1, s1], [id2, s2]] = source.created as [[string, DialogSnapshot], [string, DialogSnapshot]];
    nodeB.adopt(id1, s1, 70_000);
    assert.equal(nodeB.size, 0, 'already expired');
    nodeB.adopt(id1, s2, 1000);
    assert.equal(nodeB.size, 0, 'stored under another leg name');
    nodeB.adopt(id2, s2, 1000);
    assert.equal(nodeB.size, 1);
    assert.equal(nodeB.sweep(61_000), 1);
    assert.equal(nodeB.size, 0);
    assert.deepEqual(ended, [], 'no BYE for another node’s call');
  });

  test('the wire form refuses what is not a leg', () => {
    const nodeA = recorder();
    call(new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000, replica: nodeA.replica }), 1);
    const good = JSON.parse(dialogToWire(nodeA.created[0]![1])) as Record<string, unknown>;
    const bad: unknown[] = [
      'not json',
      '[]',
      null,
      { ...good, callId: 5 },
      { ...good, callId: 'x'.repeat(5000) },
      { ...good, caller: { ...(good.caller as object), transport: 'sctp' } },
      { ...good, caller: { ...(good.caller as object), port: 70_000 } },
      { ...good, callerCSeq: -1 },
      { ...good, expiresAt: 'soon' },
      { ...good, endpoints: { ...(good.endpoints as object), routeToCallee: new Array(40).fill('<sip:x>') } },
    ];
    for (const value of bad) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      assert.equal(dialogFromWire(text), undefined, text.slice(0, 80));
    }
    assert.ok(dialogFromWire(JSON.stringify(good)));
  });

  test('a full table takes in no other node’s leg: its own are never evicted for them', () => {
    const source = recorder();
    const other = new DialogTable({ maxDialogs: 10, sessionTimeoutMs: 60_000, replica: source.replica });
    for (let n = 1; n <= 3; n++) call(other, n, 0);
    const ended: string[] = [];
    const full = new DialogTable({
      maxDialogs: 2,
      sessionTimeoutMs: 60_000,
      onEnded: (d) => ended.push(d.id),
    });
    call(full, 10, 0);
    call(full, 11, 0);
    for (const [id, snapshot] of source.created) full.adopt(id, snapshot, 1000);
    assert.equal(full.size, 2);
    assert.equal(full.callCount, 2, 'its own calls are still there');
    assert.equal(full.adoptionsRefused, 3);
    assert.deepEqual(ended, []);
  });
});
