import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus, OVERFLOW_KEY } from '../../../src/events/event-bus.ts';
import type { EventInput, SecurityEvent } from '../../../src/events/types.ts';

const T0 = 1_750_000_000_000;
const WINDOW = 10_000;

function flood(address: string, overrides: Partial<EventInput> = {}): EventInput {
  return {
    type: 'flood',
    stage: 'detect:flood',
    rule: 'invite-flood',
    action: 'block',
    source: { address, port: 5060, transport: 'udp' },
    key: `src:${address}`,
    reason: 'more than 50 INVITE in 10 s',
    ...overrides,
  };
}

/** A bus whose batches are collected. */
function collectingBus(options: { maxAggregates?: number } = {}) {
  const bus = new EventBus({ windowMs: WINDOW, ...options });
  const batches: (readonly SecurityEvent[])[] = [];
  bus.subscribe({ write: (batch) => batches.push(batch) });
  return { bus, batches, all: () => batches.flat() };
}

test('1000 occurrences of one key in a window become one event with count 1000', () => {
  const { bus, all } = collectingBus();
  for (let i = 0; i < 1000; i++) bus.emit(flood('203.0.113.7'), T0 + i);
  bus.flush(T0 + WINDOW);
  const events = all();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.count, 1000);
  assert.equal(events[0]!.firstSeen, T0);
  assert.equal(events[0]!.lastSeen, T0 + 999);
  assert.equal(events[0]!.final, true);
});

test('a new aggregate is reported at the next flush, before its window closes', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  bus.emit(flood('203.0.113.7'), T0 + 10);
  bus.flush(T0 + 1000);
  const events = all();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.count, 2);
  assert.equal(events[0]!.final, false);
  assert.equal(bus.stats().open, 1);
});

test('the final report carries the same aggregate id and the final count', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  bus.flush(T0 + 1000);
  for (let i = 0; i < 5; i++) bus.emit(flood('203.0.113.7'), T0 + 2000 + i);
  bus.flush(T0 + WINDOW);
  const [open, final] = all();
  assert.equal(open!.aggregateId, final!.aggregateId);
  assert.equal(open!.count, 1);
  assert.equal(final!.count, 6);
  assert.equal(final!.final, true);
  assert.equal(final!.lastSeen, T0 + 2004);
});

test('an aggregate that did not grow after its first report is not reported again', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  bus.flush(T0 + 1000);
  bus.flush(T0 + WINDOW);
  assert.equal(all().length, 1);
  assert.equal(bus.stats().open, 0);
});

test('an occurrence after the window opens a new aggregate with a new id', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  bus.emit(flood('203.0.113.7'), T0 + WINDOW);
  bus.flush(T0 + WINDOW + 1);
  const events = all();
  assert.equal(events.length, 2);
  assert.notEqual(events[0]!.aggregateId, events[1]!.aggregateId);
  assert.deepEqual(
    events.map((event) => [event.firstSeen, event.count]),
    [
      [T0, 1],
      [T0 + WINDOW, 1],
    ],
  );
});

test('different keys, rules and types aggregate apart', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  bus.emit(flood('203.0.113.8'), T0);
  bus.emit(flood('203.0.113.7', { rule: 'register-flood' }), T0);
  bus.emit(flood('203.0.113.7', { type: 'scanner' }), T0);
  bus.emit(flood('203.0.113.7'), T0 + 1);
  bus.flush(T0 + WINDOW);
  assert.equal(all().length, 4);
});

test('without a key, events aggregate by source address; without a rule, by stage', () => {
  const { bus, all } = collectingBus();
  const input = flood('203.0.113.7');
  const bare: EventInput = { type: 'malformed', stage: 'validate', action: 'reject', reason: 'bad Via' };
  for (let i = 0; i < 3; i++) bus.emit({ ...bare, source: input.source! }, T0 + i);
  bus.emit({ ...bare, source: { address: '198.51.100.1', port: 5060, transport: 'udp' } }, T0);
  bus.flush(T0 + WINDOW);
  assert.deepEqual(
    all()
      .map((event) => [event.source?.address, event.count])
      .sort(),
    [
      ['198.51.100.1', 1],
      ['203.0.113.7', 3],
    ],
  );
});

test('distinct keys beyond the bound are counted into one overflow aggregate per type', () => {
  const { bus, all } = collectingBus({ maxAggregates: 100 });
  for (let i = 0; i < 1000; i++) bus.emit(flood(`10.0.${i >> 8}.${i & 255}`), T0);
  for (let i = 0; i < 50; i++) bus.emit(flood(`10.1.0.${i}`, { type: 'scanner' }), T0);
  assert.equal(bus.stats().open, 100 + 2);
  bus.flush(T0 + WINDOW);
  const events = all();
  const overflow = events.filter((event) => event.key === OVERFLOW_KEY);
  assert.deepEqual(overflow.map((event) => [event.type, event.count]).sort(), [
    ['flood', 900],
    ['scanner', 50],
  ]);
  assert.equal(
    events.reduce((sum, event) => sum + event.count, 0),
    1050,
  );
  assert.equal(bus.stats().overflowed, 950);
});

test('the table stays bounded whatever the number of distinct keys', () => {
  const { bus } = collectingBus({ maxAggregates: 1000 });
  for (let i = 0; i < 100_000; i++) bus.emit(flood(`src-${i}`), T0 + (i % 5000));
  assert.ok(bus.stats().open <= 1000 + 1);
  bus.flush(T0 + 2 * WINDOW);
  assert.equal(bus.stats().open, 0);
});

test('long keys and unprintable bytes are cut and replaced when an aggregate opens', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7', { key: `to-user:\u001b[31m${'x'.repeat(1000)}`, reason: 'bad\r\nline' }), T0);
  bus.flush(T0 + WINDOW);
  const [event] = all();
  assert.ok(event!.key!.length <= 256);
  assert.match(event!.key!, /^to-user:\?\[31mx+\.\.\.$/);
  assert.equal(event!.reason, 'bad??line');
});

test('stop() reports every open aggregate as final', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), Date.now());
  bus.emit(flood('203.0.113.8'), Date.now());
  bus.stop();
  assert.equal(all().length, 2);
  assert.ok(all().every((event) => event.final === true));
  assert.equal(bus.stats().open, 0);
});

test('a sink that throws does not stop the others', () => {
  const bus = new EventBus({ windowMs: WINDOW });
  const received: SecurityEvent[] = [];
  bus.subscribe({
    write: () => {
      throw new Error('disk full');
    },
  });
  bus.subscribe({ write: (batch) => received.push(...batch) });
  bus.emit(flood('203.0.113.7'), T0);
  bus.flush(T0 + WINDOW);
  assert.equal(received.length, 1);
  assert.equal(bus.stats().sinkErrors, 1);
});

test('onEmit sees every occurrence, aggregated or not', () => {
  let seen = 0;
  const bus = new EventBus({ windowMs: WINDOW, maxAggregates: 1, onEmit: () => seen++ });
  for (let i = 0; i < 10; i++) bus.emit(flood(`203.0.113.${i}`), T0);
  assert.equal(seen, 10);
});

test('an unsubscribed sink receives nothing more', () => {
  const bus = new EventBus({ windowMs: WINDOW });
  let batches = 0;
  const unsubscribe = bus.subscribe({ write: () => batches++ });
  bus.emit(flood('203.0.113.7'), T0);
  bus.flush(T0 + 1);
  unsubscribe();
  bus.emit(flood('203.0.113.8'), T0);
  bus.flush(T0 + 2);
  assert.equal(batches, 1);
});

test('bump counts an occurrence into its open aggregate without an event', () => {
  const { bus, all } = collectingBus();
  bus.emit(flood('203.0.113.7'), T0);
  for (let i = 1; i < 100; i++) {
    assert.equal(bus.bump('flood', 'invite-flood', 'src:203.0.113.7', 'block', T0 + i), true);
  }
  bus.flush(T0 + WINDOW);
  const events = all();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.count, 100);
  assert.equal(events[0]!.lastSeen, T0 + 99);
  assert.equal(bus.stats().emitted, 100);
});

test('bump counts nothing when no aggregate is open or its window is over', () => {
  const { bus, all } = collectingBus();
  assert.equal(bus.bump('flood', 'invite-flood', 'src:203.0.113.7', 'block', T0), false);
  bus.emit(flood('203.0.113.7'), T0);
  assert.equal(bus.bump('flood', 'invite-flood', 'src:203.0.113.8', 'block', T0), false);
  assert.equal(bus.bump('flood', 'other-rule', 'src:203.0.113.7', 'block', T0), false);
  assert.equal(bus.bump('scanner', 'invite-flood', 'src:203.0.113.7', 'block', T0), false);
  assert.equal(bus.bump('flood', 'invite-flood', 'src:203.0.113.7', 'block', T0 + WINDOW), false);
  bus.flush(T0 + WINDOW);
  assert.deepEqual(
    all().map((e) => e.count),
    [1],
  );
  assert.equal(bus.stats().emitted, 1);
});

test('bump finds an aggregate whose key was cut to the bound', () => {
  const { bus } = collectingBus();
  const key = `src:${'a'.repeat(1000)}`;
  bus.emit(flood('203.0.113.7', { key }), T0);
  assert.equal(bus.bump('flood', 'invite-flood', key, 'block', T0 + 1), true);
});

test('onEmit sees a bumped occurrence with its own action', () => {
  const seen: string[] = [];
  const bus = new EventBus({ windowMs: WINDOW, onEmit: (e) => seen.push(`${e.type}/${e.action}`) });
  bus.emit(flood('203.0.113.7'), T0);
  bus.bump('flood', 'invite-flood', 'src:203.0.113.7', 'alert', T0 + 1);
  bus.bump('flood', 'invite-flood', 'src:203.0.113.7', 'block', T0 + 2);
  assert.deepEqual(seen, ['flood/block', 'flood/alert', 'flood/block']);
});
