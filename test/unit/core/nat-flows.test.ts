/**
 * NAT traversal's pieces with a fake clock (milliseconds passed by hand): the table of
 * registered flows (bounds, expiry, replacement, a binding moving to a new flow), the
 * keepalive schedule (when pings go, misses, death), the reading of a REGISTER's 2xx, and
 * the facade (dead flows refuse, unregistrations go out with the Path).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AnsweredContact,
  NatFlowTable,
  type RegistrationAnswer,
} from '../../../src/core/route/nat/flow-table.ts';
import { KEEPALIVE_BRANCH, NatKeepalive } from '../../../src/core/route/nat/keepalive.ts';
import { type NatChange, NatTraversal } from '../../../src/core/route/nat/nat-traversal.ts';
import { addressOfRecord, answeredContacts } from '../../../src/core/route/nat/register-answer.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/message.ts';
import { parseMessage } from '../../../src/sip/parse.ts';
import type { Flow, SendTarget } from '../../../src/transport/types.ts';

const UPSTREAM: SendTarget = { transport: 'udp', address: '127.0.0.66', port: 5060 };
const OWN = { transport: 'udp' as const, host: '198.51.100.1', port: 5060 };

function udp(port: number, address = '203.0.113.9'): SendTarget {
  return { transport: 'udp', address, port };
}

function answerFor(aor: string, contacts: AnsweredContact[]): RegistrationAnswer {
  return {
    aor,
    aorUri: aor,
    registrar: 'sip:example.com',
    upstream: UPSTREAM,
    path: '<sip:token@198.51.100.1:5060;lr;ob>',
    contacts,
  };
}

function parse<T extends SipRequest | SipResponse>(lines: string[]): T {
  const result = parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
  assert.ok(result.ok, 'parses');
  return result.message as T;
}

function register(contacts: string[], extra: string[] = []): SipRequest {
  return parse<SipRequest>([
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1;rport',
    'Max-Forwards: 70',
    'From: <sip:alice@Example.com>;tag=1',
    'To: <sip:alice@Example.com>',
    'Call-ID: reg-1',
    'CSeq: 1 REGISTER',
    ...contacts.map((c) => `Contact: ${c}`),
    ...extra,
    'Content-Length: 0',
  ]);
}

function ok(contacts: string[], extra: string[] = []): SipResponse {
  return parse<SipResponse>([
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1;rport=40000;received=203.0.113.9',
    'From: <sip:alice@Example.com>;tag=1',
    'To: <sip:alice@Example.com>;tag=r',
    'Call-ID: reg-1',
    'CSeq: 1 REGISTER',
    ...contacts.map((c) => `Contact: ${c}`),
    ...extra,
    'Content-Length: 0',
  ]);
}

/** A phone's answer to a keepalive. */
function answerOf(ping: string, status = 200): SipResponse {
  const via = ping.split('\r\n').find((l) => l.startsWith('Via: '))!;
  return parse<SipResponse>([
    `SIP/2.0 ${status} OK`,
    via,
    'From: <sip:keepalive@198.51.100.1:5060>;tag=k',
    'To: <sip:alice@10.0.0.2:5062>;tag=p',
    'Call-ID: k-1',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
  ]);
}

describe('the flow table', () => {
  test('a 2xx makes a flow with its bindings; they end at their expiry', () => {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const flow = table.registered(
      udp(40000),
      answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 60 }]),
      0,
      30_000,
    );
    assert.ok(flow);
    assert.equal(table.size, 1);
    assert.equal(flow.nextPingAt, 30_000);
    table.expire(59_999);
    assert.equal(table.size, 1);
    table.expire(60_000);
    assert.equal(table.size, 0);
    assert.equal(table.get(udp(40000)), undefined);
  });

  test('a later 2xx that no longer lists a binding (Expires: 0) removes it, and the flow with its last', () => {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const aor = 'sip:alice@example.com';
    table.registered(udp(40000), answerFor(aor, [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 60 }]), 0, 0);
    table.registered(
      udp(40000),
      answerFor('sip:bob@example.com', [{ uri: 'sip:bob@10.0.0.2:5062', expiresS: 60 }]),
      0,
      0,
    );
    assert.equal(table.get(udp(40000))?.bindings.size, 2);
    table.registered(udp(40000), answerFor(aor, [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 0 }]), 1000, 0);
    assert.equal(table.get(udp(40000))?.bindings.size, 1, 'bob stays');
    table.registered(udp(40000), answerFor('sip:bob@example.com', []), 1000, 0);
    assert.equal(table.size, 0);
  });

  test('a binding registered again from a new NAT mapping moves to the new flow', () => {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const aor = 'sip:alice@example.com';
    const contact = [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 60 }];
    table.registered(udp(40000), answerFor(aor, contact), 0, 0);
    table.registered(udp(40001), answerFor(aor, contact), 10, 0);
    assert.equal(table.get(udp(40000)), undefined, 'the old flow held nothing else and is gone');
    assert.equal(table.get(udp(40001))?.bindings.size, 1);
  });

  test('full: a new flow is not tracked and counted, the known ones stay', () => {
    const table = new NatFlowTable({ maxFlows: 2, maxBindingsPerFlow: 1 });
    for (let port = 1; port <= 3; port++) {
      table.registered(
        udp(port),
        answerFor(`sip:u${port}@example.com`, [{ uri: `sip:u${port}@10.0.0.2`, expiresS: 60 }]),
        0,
        0,
      );
    }
    assert.equal(table.size, 2);
    assert.equal(table.stats.refused, 1);
    assert.ok(table.get(udp(1)) && table.get(udp(2)));
    // One binding per flow at most here: a second address of record on flow 1 is refused.
    table.registered(
      udp(1),
      answerFor('sip:other@example.com', [{ uri: 'sip:other@10.0.0.2', expiresS: 60 }]),
      0,
      0,
    );
    assert.equal(table.get(udp(1))?.bindings.size, 1);
    assert.equal(table.stats.bindingsRefused, 1);
  });

  test('a dead flow is held until its bindings expire; a new 2xx over it revives it', () => {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const answer = answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 60 }]);
    const flow = table.registered(udp(40000), answer, 0, 0)!;
    table.markDead(flow, 'keepalive');
    assert.equal(table.deadCount, 1);
    table.registered(udp(40000), answer, 5000, 0);
    assert.equal(flow.dead, false);
    assert.equal(table.deadCount, 0);
  });

  test('stream flows are keyed by their connection', () => {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const tcp: SendTarget = { transport: 'tcp', address: '203.0.113.9', port: 40000, connectionId: 7 };
    table.registered(
      tcp,
      answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2;transport=tcp', expiresS: 60 }]),
      0,
      0,
    );
    assert.ok(table.get(tcp));
    assert.equal(table.get({ ...tcp, connectionId: 8 }), undefined);
  });
});

describe('the keepalive schedule', () => {
  function setup(maxMisses = 3) {
    const table = new NatFlowTable({ maxFlows: 10, maxBindingsPerFlow: 4 });
    const sent: { target: SendTarget; text: string }[] = [];
    const dead: string[] = [];
    const keepalive = new NatKeepalive(
      table,
      { intervalMs: 30_000, maxMisses },
      {
        send: (target, data) => sent.push({ target, text: data.toString('latin1') }),
        ownAddress: () => OWN,
        dead: (flow) => {
          dead.push(flow.key);
          table.markDead(flow, 'keepalive');
        },
      },
    );
    return { table, sent, dead, keepalive };
  }

  test('one OPTIONS per interval to the registered Contact, over the flow; answered pings keep it alive', () => {
    const { table, sent, dead, keepalive } = setup();
    table.registered(
      udp(40000),
      answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 3600 }]),
      0,
      keepalive.firstPingAt(0),
    );
    keepalive.tick(29_999);
    assert.equal(sent.length, 0, 'nothing before the first interval');
    keepalive.tick(30_000);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.target, udp(40000));
    assert.match(sent[0]!.text, /^OPTIONS sip:alice@10\.0\.0\.2:5062 SIP\/2\.0\r\n/);
    assert.match(
      sent[0]!.text,
      new RegExp(`Via: SIP/2.0/UDP 198\\.51\\.100\\.1:5060;branch=${KEEPALIVE_BRANCH}`),
    );
    keepalive.tick(45_000);
    assert.equal(sent.length, 1, 'one outstanding at most, one per interval');
    // Answers from another address do not count.
    assert.equal(
      keepalive.onResponse(answerOf(sent[0]!.text), { remoteAddress: '203.0.113.66', remotePort: 40000 }),
      true,
    );
    assert.equal(keepalive.answers, 0);
    assert.equal(
      keepalive.onResponse(answerOf(sent[0]!.text, 404), { remoteAddress: '203.0.113.9', remotePort: 40000 }),
      true,
    );
    assert.equal(keepalive.answers, 1, 'any final answer shows the binding open');
    for (let t = 60_000; t <= 300_000; t += 30_000) {
      keepalive.tick(t);
      const last = sent[sent.length - 1]!;
      keepalive.onResponse(answerOf(last.text), { remoteAddress: '203.0.113.9', remotePort: 40000 });
    }
    assert.equal(sent.length, 10);
    assert.deepEqual(dead, []);
  });

  test('maxMisses unanswered in a row: the flow is dead and pinged no more', () => {
    const { table, sent, dead, keepalive } = setup(3);
    table.registered(
      udp(40000),
      answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 3600 }]),
      0,
      keepalive.firstPingAt(0),
    );
    keepalive.tick(30_000); // ping 1
    keepalive.tick(60_000); // miss 1, ping 2
    keepalive.onResponse(answerOf(sent[1]!.text), { remoteAddress: '203.0.113.9', remotePort: 40000 });
    keepalive.tick(90_000); // ping 3 (misses back to 0)
    keepalive.tick(120_000); // miss 1, ping 4
    keepalive.tick(150_000); // miss 2, ping 5
    assert.deepEqual(dead, []);
    keepalive.tick(180_000); // miss 3: dead
    assert.deepEqual(dead, [table.get(udp(40000))!.key]);
    assert.equal(keepalive.misses, 4, 'the one before the answer, and three in a row');
    const count = sent.length;
    keepalive.tick(300_000);
    assert.equal(sent.length, count, 'a dead flow gets no more pings');
  });

  test('a flow that never answered is pinged on, but not declared dead by its silence', () => {
    const { table, sent, dead, keepalive } = setup(2);
    table.registered(
      udp(40000),
      answerFor('sip:alice@example.com', [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 3600 }]),
      0,
      keepalive.firstPingAt(0),
    );
    for (let t = 30_000; t <= 300_000; t += 30_000) keepalive.tick(t);
    assert.equal(sent.length, 10, 'one ping per interval all along');
    assert.deepEqual(dead, []);
  });

  test('stream flows get no OPTIONS (their phones ping with CRLF), flows spread over the interval', () => {
    const { table, sent, keepalive } = setup();
    const tcp: SendTarget = { transport: 'tcp', address: '203.0.113.9', port: 40000, connectionId: 3 };
    table.registered(
      tcp,
      answerFor('sip:t@example.com', [{ uri: 'sip:t@10.0.0.2;transport=tcp', expiresS: 3600 }]),
      0,
      keepalive.firstPingAt(0),
    );
    table.registered(
      udp(1),
      answerFor('sip:a@example.com', [{ uri: 'sip:a@10.0.0.2', expiresS: 3600 }]),
      0,
      keepalive.firstPingAt(0),
    );
    table.registered(
      udp(2),
      answerFor('sip:b@example.com', [{ uri: 'sip:b@10.0.0.2', expiresS: 3600 }]),
      10_000,
      keepalive.firstPingAt(10_000),
    );
    keepalive.tick(30_000);
    assert.deepEqual(
      sent.map((s) => s.target.port),
      [1],
    );
    keepalive.tick(40_000);
    assert.deepEqual(
      sent.map((s) => s.target.port),
      [1, 2],
    );
  });
});

describe("a REGISTER's 2xx", () => {
  test("the phone's own Contacts with the lifetime the registrar gave, others ignored", () => {
    const request = register(['<sip:alice@10.0.0.2:5062>;expires=3600']);
    const response = ok([
      '<sip:alice@10.0.0.2:5062>;expires=120;received="sip:203.0.113.9:40000"',
      '<sip:alice@192.0.2.7:5060>;expires=300',
    ]);
    assert.deepEqual(answeredContacts(request, response), [
      { uri: 'sip:alice@10.0.0.2:5062', expiresS: 120 },
    ]);
    assert.equal(addressOfRecord(request), 'sip:alice@example.com');
  });

  test('Expires header when the Contact has none; missing from the answer or 0: removed', () => {
    assert.deepEqual(
      answeredContacts(
        register(['<sip:alice@10.0.0.2:5062>']),
        ok(['<sip:alice@10.0.0.2:5062>'], ['Expires: 90']),
      ),
      [{ uri: 'sip:alice@10.0.0.2:5062', expiresS: 90 }],
    );
    assert.deepEqual(answeredContacts(register(['<sip:alice@10.0.0.2:5062>;expires=0']), ok([])), []);
    assert.deepEqual(answeredContacts(register(['*'], ['Expires: 0']), ok([])), []);
  });
});

describe('the NAT facade', () => {
  function setup(unregister: boolean) {
    let now = 0;
    const sent: { target: SendTarget; text: string }[] = [];
    const changes: NatChange[] = [];
    const nat = new NatTraversal(
      { maxFlows: 10, maxBindingsPerFlow: 4, unregister, keepalive: { intervalMs: 30_000, maxMisses: 2 } },
      {
        send: (target, data) => sent.push({ target, text: data.toString('latin1') }),
        ownAddress: (toUpstream) => (toUpstream ? { transport: 'udp', host: '127.0.0.1', port: 5060 } : OWN),
        pathFor: () => '<sip:tok@127.0.0.1:5060;lr;ob>',
      },
      () => now,
    );
    nat.onChange((change) => changes.push(change));
    const phone: Flow = {
      transport: 'udp',
      localAddress: '198.51.100.1',
      localPort: 5060,
      remoteAddress: '203.0.113.9',
      remotePort: 40000,
    };
    nat.registerAnswered(
      register(['<sip:alice@10.0.0.2:5062>']),
      ok(['<sip:alice@10.0.0.2:5062>;expires=3600']),
      phone,
      UPSTREAM,
    );
    return {
      nat,
      sent,
      changes,
      phone,
      advance: (ms: number) => {
        now += ms;
        nat.tick(now);
      },
      close: () => nat.close(),
    };
  }

  test('keepalives missed: the flow is dead, requests for it fail, and the binding is unregistered with its Path', () => {
    const { nat, sent, changes, phone, advance, close } = setup(true);
    const target = udp(40000);
    assert.equal(nat.failed(target, 'INVITE'), false);
    advance(30_000);
    // It answers once (so its silence can mean something), then never again.
    assert.equal(nat.onResponse(answerOf(sent[0]!.text), phone), true);
    advance(30_000);
    advance(30_000);
    advance(30_000);
    assert.ok(changes.some((c) => c.kind === 'flow-dead' && c.cause === 'keepalive'));
    assert.equal(nat.failed(target, 'INVITE'), true);
    assert.equal(nat.stats.flowFailed, 1);
    const unregister = sent.find((s) => s.text.startsWith('REGISTER '));
    assert.ok(unregister, 'a REGISTER went out');
    assert.deepEqual(unregister.target, UPSTREAM);
    assert.match(unregister.text, /^REGISTER sip:example\.com SIP\/2\.0\r\n/);
    assert.match(unregister.text, /\r\nContact: <sip:alice@10\.0\.0\.2:5062>;expires=0\r\n/);
    assert.match(unregister.text, /\r\nPath: <sip:tok@127\.0\.0\.1:5060;lr;ob>\r\n/);
    assert.match(unregister.text, /\r\nTo: <sip:alice@Example\.com>\r\n/);
    assert.match(unregister.text, /\r\nExpires: 0\r\n/);
    close();
  });

  test('unregistration off: only the 430s', () => {
    const { nat, sent, phone, advance, close } = setup(false);
    advance(30_000);
    nat.onResponse(answerOf(sent[0]!.text), phone);
    for (let i = 0; i < 3; i++) advance(30_000);
    assert.equal(nat.failed(udp(40000), 'BYE'), true);
    assert.equal(sent.filter((s) => s.text.startsWith('REGISTER ')).length, 0);
    close();
  });

  test('a closed stream connection kills the flow registered over it, and only that one', () => {
    let now = 0;
    const nat = new NatTraversal(
      { maxFlows: 10, maxBindingsPerFlow: 4, unregister: false },
      { send: () => {}, ownAddress: () => OWN, pathFor: () => '<sip:t@127.0.0.1;lr;ob>' },
      () => now,
    );
    const flow = (id: number): Flow => ({
      transport: 'tcp',
      localAddress: '198.51.100.1',
      localPort: 5060,
      remoteAddress: '203.0.113.9',
      remotePort: 40000 + id,
      connectionId: id,
    });
    const request = register(['<sip:alice@10.0.0.2:5062;transport=tcp>']);
    nat.registerAnswered(
      request,
      ok(['<sip:alice@10.0.0.2:5062;transport=tcp>;expires=60']),
      flow(1),
      UPSTREAM,
    );
    nat.connectionClosed(flow(2));
    const target = (id: number): SendTarget => ({
      transport: 'tcp',
      address: '203.0.113.9',
      port: 40000 + id,
      connectionId: id,
    });
    assert.equal(nat.failed(target(1), 'INVITE'), false);
    nat.connectionClosed(flow(1));
    assert.equal(nat.failed(target(1), 'INVITE'), true);
    now = 61_000;
    nat.tick(now);
    assert.equal(nat.failed(target(1), 'INVITE'), false, 'forgotten once its binding expired');
    nat.close();
  });
});
