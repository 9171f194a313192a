/**
 * A binary min-heap of (expiry, item) pairs in two parallel arrays (no tuple per push).
 * Removal is lazy: the owner pushes again when an item's expiry changes and tells `peek`
 * and `pop` which pairs are stale; `rebuild` drops the stale ones when the heap outgrows
 * the live items, so its size stays within a constant factor of the table it indexes.
 */
export class ExpiryHeap<T> {
  private readonly times: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, item: T): void {
    const times = this.times;
    const items = this.items;
    let i = times.length;
    times.push(time);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent]! <= time) break;
      times[i] = times[parent]!;
      items[i] = items[parent]!;
      i = parent;
    }
    times[i] = time;
    items[i] = item;
  }

  /** The earliest pair still current (`isCurrent(time, item)`), dropping stale ones on the way. */
  peek(isCurrent: (time: number, item: T) => boolean): T | undefined {
    while (this.times.length > 0) {
      const item = this.items[0]!;
      if (isCurrent(this.times[0]!, item)) return item;
      this.removeTop();
    }
    return undefined;
  }

  peekTime(): number {
    return this.times.length > 0 ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  removeTop(): void {
    const times = this.times;
    const items = this.items;
    const lastTime = times.pop()!;
    const lastItem = items.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && times[right]! < times[left]! ? right : left;
      if (times[child]! >= lastTime) break;
      times[i] = times[child]!;
      items[i] = items[child]!;
      i = child;
    }
    times[i] = lastTime;
    items[i] = lastItem;
  }

  /** Replaces the contents with the current pairs only. */
  rebuild(pairs: Iterable<[number, T]>): void {
    this.times.length = 0;
    this.items.length = 0;
    for (const [time, item] of pairs) this.push(time, item);
  }
}
