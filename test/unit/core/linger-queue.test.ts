import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LingerQueue } from '../../../src/core/transaction/linger-queue.ts';

class Entry {
  expiredAt: number | undefined;
  readonly #done: Promise<number>;
  #resolve!: (at: number) => void;
  constructor(readonly name: string) {
    this.#done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }
  expire(): void {
    this.expiredAt = performance.now();
    this.#resolve(this.expiredAt);
  }
  get done(): Promise<number> {
    return this.#done;
  }
}

describe('linger queue', () => {
  // The queue's timer does not hold the process open (sockets do, in the gateway).
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => {}, 1000);
  });
  after(() => clearInterval(keepAlive));

  test('an entry ends once its time is over, not before', async () => {
    const queue = new LingerQueue<Entry>({ maxSize: 10 });
    const entry = new Entry('a');
    const addedAt = performance.now();
    queue.add(entry, 30);
    assert.equal(entry.expiredAt, undefined);
    assert.equal(queue.size, 1);
    const at = await entry.done;
    assert.ok(at - addedAt >= 30, `ended after ${at - addedAt} ms`);
    assert.equal(queue.size, 0);
  });

  test('entries of different durations each end at their own time', async () => {
    const queue = new LingerQueue<Entry>({ maxSize: 10 });
    const long = new Entry('long');
    const short = new Entry('short');
    queue.add(long, 120);
    queue.add(short, 10);
    await short.done;
    assert.equal(long.expiredAt, undefined, 'the long one is still there');
    assert.equal(queue.size, 1);
    await long.done;
    assert.ok(long.expiredAt! > short.expiredAt!);
  });

  test('an entry added again lingers for its new time', async () => {
    const queue = new LingerQueue<Entry>({ maxSize: 10 });
    const entry = new Entry('re-armed');
    const witness = new Entry('witness');
    queue.add(entry, 10);
    queue.add(entry, 80);
    queue.add(witness, 20);
    await witness.done;
    assert.equal(entry.expiredAt, undefined);
    assert.equal(queue.size, 1);
    await entry.done;
  });

  test('a deleted entry never ends through the queue', async () => {
    const queue = new LingerQueue<Entry>({ maxSize: 10 });
    const gone = new Entry('deleted');
    const witness = new Entry('witness');
    queue.add(gone, 5);
    queue.add(witness, 20);
    queue.delete(gone);
    await witness.done;
    assert.equal(gone.expiredAt, undefined);
  });

  test('past its cap the entry nearest its end goes first, whatever its queue', () => {
    const queue = new LingerQueue<Entry>({ maxSize: 2 });
    const longOld = new Entry('long, added first');
    const short = new Entry('short, added second');
    const third = new Entry('third');
    queue.add(longOld, 60_000);
    queue.add(short, 5_000);
    queue.add(third, 60_000);
    assert.notEqual(short.expiredAt, undefined, 'the short one ends first');
    assert.equal(longOld.expiredAt, undefined);
    assert.equal(third.expiredAt, undefined);
    assert.equal(queue.size, 2);
    queue.clear();
  });

  test('clear ends every entry at once', () => {
    const queue = new LingerQueue<Entry>({ maxSize: 10 });
    const entries = [new Entry('a'), new Entry('b'), new Entry('c')];
    for (const [i, entry] of entries.entries()) queue.add(entry, 60_000 * (i + 1));
    queue.clear();
    assert.ok(entries.every((entry) => entry.expiredAt !== undefined));
    assert.equal(queue.size, 0);
  });
});
