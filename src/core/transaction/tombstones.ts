import type { Flow, SendTarget, TransportName } from '../../transport/types.ts';
import { randomHashSeed, StringTable, seededHash } from '../../util/string-table.ts';
import { SweepTimer, sweepSlack } from './sweep-timer.ts';

/**
 * Finished transactions, kept off the JavaScript heap while they absorb retransmissions
 * (RFC 3261 Timer J, RFC 6026 Timers L and M: 64*T1, 32 s with the default T1).
 *
 * At a steady call rate tens of thousands of transactions linger at once. As JavaScript
 * objects they survive every young-generation collection and are traced by every full one:
 * measured at 1,600 calls/s, full collections then ran every few seconds and stalled the
 * event loop for tens of milliseconds, which was most of sipwarden's p99. A tombstone holds
 * only what a retransmission needs, in typed arrays that the collector does not trace: the
 * two transaction keys, where the request came from, where it went, and for a non-INVITE the
 * final response to repeat.
 *
 * The table holds at most `maxSize` entries; past it the entry nearest its end goes first. Entries that do not fit a slot (a key or response longer than its room) are
 * refused, and the caller keeps the transaction as an object instead.
 */

export interface Tombstone {
  readonly serverKey: string;
  readonly clientKey: string;
  readonly isInvite: boolean;
  /** Where the request came from (responses are repeated there). */
  readonly serverTarget: SendTarget;
  /** Where the request was forwarded (responses must come from there). */
  readonly clientTarget: SendTarget;
  /** A non-INVITE's final response, repeated when the request is retransmitted. */
  readonly response?: Buffer;
  /**
   * An INVITE's: the Via fields its forwarded copy went without (topology hiding), one per
   * line, put back on its 2xx retransmissions. Kept in the room a non-INVITE's response takes.
   */
  readonly hiddenVias?: string;
}

/** Room per slot: common keys are 40-90 bytes, a BYE's or REGISTER's 200 about 300-600. */
export const MAX_KEY_BYTES = 128;
export const MAX_RESPONSE_BYTES = 1024;
const NONE = -1;

const TRANSPORT_CODES: readonly TransportName[] = ['udp', 'tcp', 'tls'];

/** Addresses by small integer, counted by the slots that use them, so a slot stores a number. */
class AddressIds {
  // Not a Map: addresses come and go with the calls (see StringTable).
  readonly #ids = new StringTable<number>();
  #addresses: (string | undefined)[] = [];
  #uses: number[] = [];
  readonly #free: number[] = [];

  take(address: string): number {
    let id = this.#ids.get(address);
    if (id === undefined) {
      id = this.#free.pop() ?? this.#addresses.length;
      this.#ids.set(address, id);
      this.#addresses[id] = address;
      this.#uses[id] = 0;
    }
    this.#uses[id]!++;
    return id;
  }

  release(id: number): void {
    const left = --this.#uses[id]!;
    if (left > 0) return;
    this.#ids.delete(this.#addresses[id]!);
    this.#addresses[id] = undefined;
    this.#free.push(id);
  }

  address(id: number): string {
    return this.#addresses[id]!;
  }

  clear(): void {
    this.#ids.clear();
    this.#addresses = [];
    this.#uses = [];
    this.#free.length = 0;
  }
}

function fitsKey(text: string): boolean {
  if (text.length > MAX_KEY_BYTES) return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

/** One open-addressed index (linear probing) from a key's hash to its slot. */
class KeyIndex {
  readonly #table: Int32Array;
  readonly #mask: number;

  /** `size`: a power of two, larger than the number of entries it will ever hold. */
  constructor(size: number) {
    this.#table = new Int32Array(size).fill(NONE);
    this.#mask = size - 1;
  }

  clear(): void {
    this.#table.fill(NONE);
  }

  insert(hash: number, slot: number): void {
    let i = hash & this.#mask;
    while (this.#table[i] !== NONE) i = (i + 1) & this.#mask;
    this.#table[i] = slot;
  }

  /** Slot numbers by position (NONE where empty), probed linearly from `hash & mask`. */
  get table(): Int32Array {
    return this.#table;
  }

  get mask(): number {
    return this.#mask;
  }

  /** Removes one slot; backward-shift deletion keeps every probe sequence unbroken. */
  remove(hash: number, slot: number, hashOfSlot: (slot: number) => number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = hash & mask;
    while (table[i] !== slot) {
      if (table[i] === NONE) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    for (let j = (hole + 1) & mask; table[j] !== NONE; j = (j + 1) & mask) {
      const home = hashOfSlot(table[j]!) & mask;
      // The entry at j may move into the hole when its home is not cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        table[hole] = table[j]!;
        hole = j;
      }
    }
    table[hole] = NONE;
  }
}

interface Fifo {
  head: number;
  tail: number;
  readonly slackMs: number;
}

export class TombstoneTable {
  readonly #maxSize: number;
  readonly #now: () => number;
  readonly #addresses = new AddressIds();
  /** Keys are chosen by remote parties: a secret seed keeps them from colliding on purpose. */
  readonly #seed = randomHashSeed();
  #size = 0;
  // Per slot, allocated once for `maxSize` slots: the operating system maps pages only as
  // slots are first used (free slots are handed out lowest first), and nothing is ever copied.
  readonly #freeSlots: Int32Array;
  #freeCount = 0;
  readonly #serverHash: Int32Array;
  readonly #clientHash: Int32Array;
  readonly #keyLengths: Uint8Array;
  readonly #keys: Uint8Array;
  readonly #flags: Uint8Array;
  readonly #targets: Int32Array;
  readonly #responseLength: Int32Array;
  readonly #responses: Uint8Array;
  readonly #expiresAt: Float64Array;
  readonly #next: Int32Array;
  readonly #serverIndex: KeyIndex;
  readonly #clientIndex: KeyIndex;
  /** Slots in the order they were added, one list per linger time: each is ordered by expiry. */
  readonly #fifos = new Map<number, Fifo>();
  readonly #timer: SweepTimer;

  constructor(options: { maxSize: number; now?: () => number }) {
    const slots = Math.max(1, options.maxSize);
    this.#maxSize = slots;
    this.#now = options.now ?? (() => performance.now());
    this.#timer = new SweepTimer(() => this.#sweep(), this.#now);
    this.#freeSlots = new Int32Array(slots);
    this.#serverHash = new Int32Array(slots);
    this.#clientHash = new Int32Array(slots);
    this.#keyLengths = new Uint8Array(slots * 2);
    this.#keys = new Uint8Array(slots * 2 * MAX_KEY_BYTES);
    this.#flags = new Uint8Array(slots);
    this.#targets = new Int32Array(slots * 8);
    this.#responseLength = new Int32Array(slots);
    this.#responses = new Uint8Array(slots * MAX_RESPONSE_BYTES);
    this.#expiresAt = new Float64Array(slots);
    this.#next = new Int32Array(slots);
    // Index tables at least twice the slot count (a power of two) keep probe runs short.
    const tableSize = 2 ** Math.ceil(Math.log2(slots * 2));
    this.#serverIndex = new KeyIndex(tableSize);
    this.#clientIndex = new KeyIndex(tableSize);
    this.#freeAll();
  }

  get size(): number {
    return this.#size;
  }

  /** Keeps the entry for `ms`; false when it does not fit a slot (the caller keeps it otherwise). */
  add(entry: Tombstone, ms: number): boolean {
    const { serverKey, clientKey } = entry;
    const response =
      entry.isInvite && entry.hiddenVias !== undefined
        ? Buffer.from(entry.hiddenVias, 'latin1')
        : entry.response;
    if (!fitsKey(serverKey) || !fitsKey(clientKey)) return false;
    if (response !== undefined && response.length > MAX_RESPONSE_BYTES) return false;
    if (this.#size >= this.#maxSize) this.#endEarliest();
    const slot = this.#freeSlots[--this.#freeCount]!;
    this.#size++;

    this.#storeKey(slot, 0, serverKey);
    this.#storeKey(slot, 1, clientKey);
    const serverHash = seededHash(serverKey, this.#seed);
    const clientHash = seededHash(clientKey, this.#seed);
    this.#serverHash[slot] = serverHash;
    this.#clientHash[slot] = clientHash;
    this.#flags[slot] = entry.isInvite ? 1 : 0;
    this.#storeTarget(slot, 0, entry.serverTarget);
    this.#storeTarget(slot, 1, entry.clientTarget);
    if (response === undefined) {
      this.#responseLength[slot] = NONE;
    } else {
      this.#responseLength[slot] = response.length;
      this.#responses.set(response, slot * MAX_RESPONSE_BYTES);
    }
    this.#serverIndex.insert(serverHash, slot);
    this.#clientIndex.insert(clientHash, slot);

    const expiresAt = this.#now() + ms;
    this.#expiresAt[slot] = expiresAt;
    this.#next[slot] = NONE;
    let fifo = this.#fifos.get(ms);
    if (fifo === undefined) {
      fifo = { head: NONE, tail: NONE, slackMs: sweepSlack(ms) };
      this.#fifos.set(ms, fifo);
    }
    if (fifo.tail === NONE) fifo.head = slot;
    else this.#next[fifo.tail] = slot;
    fifo.tail = slot;
    this.#timer.arm(expiresAt + fifo.slackMs);
    return true;
  }

  /** The slot of the transaction a request with this key belongs to, or -1. */
  findServer(serverKey: string): number {
    if (this.#size === 0) return NONE;
    return this.#find(this.#serverIndex, this.#serverHash, 0, serverKey);
  }

  /** The slot of the transaction a response with this key belongs to, or -1. */
  findClient(clientKey: string): number {
    if (this.#size === 0) return NONE;
    return this.#find(this.#clientIndex, this.#clientHash, 1, clientKey);
  }

  isInvite(slot: number): boolean {
    return this.#flags[slot] === 1;
  }

  serverTarget(slot: number): SendTarget {
    return this.#target(slot, 0);
  }

  /** The non-INVITE final response to repeat (a copy: the slot may be reused before a send completes). */
  response(slot: number): Buffer | undefined {
    if (this.#flags[slot] === 1) return undefined;
    return this.#stored(slot);
  }

  /** An INVITE's hidden Via fields (topology hiding), when it had any. */
  hiddenVias(slot: number): string[] | undefined {
    if (this.#flags[slot] !== 1) return undefined;
    return this.#stored(slot)?.toString('latin1').split('\n');
  }

  #stored(slot: number): Buffer | undefined {
    const length = this.#responseLength[slot]!;
    if (length === NONE) return undefined;
    const base = slot * MAX_RESPONSE_BYTES;
    return Buffer.from(this.#responses.subarray(base, base + length));
  }

  /** Whether a response arrived over the flow its request was sent on (as `fromTarget` in the proxy). */
  isFromClientTarget(slot: number, flow: Flow): boolean {
    const base = (slot * 2 + 1) * 4;
    const targets = this.#targets;
    if (TRANSPORT_CODES[targets[base]!] !== flow.transport) return false;
    if (this.#addresses.address(targets[base + 1]!) !== flow.remoteAddress) return false;
    const connectionId = targets[base + 3]!;
    if (connectionId !== NONE && flow.connectionId !== undefined) return flow.connectionId === connectionId;
    return flow.remotePort === targets[base + 2];
  }

  /** Drops every entry (shutdown). */
  clear(): void {
    this.#timer.cancel();
    this.#fifos.clear();
    this.#addresses.clear();
    this.#serverIndex.clear();
    this.#clientIndex.clear();
    this.#size = 0;
    this.#freeAll();
  }

  #freeAll(): void {
    const slots = this.#maxSize;
    for (let i = 0; i < slots; i++) this.#freeSlots[i] = slots - 1 - i;
    this.#freeCount = slots;
  }

  #find(index: KeyIndex, hashes: Int32Array, which: 0 | 1, key: string): number {
    const hash = seededHash(key, this.#seed);
    const table = index.table;
    const mask = index.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const slot = table[i]!;
      if (slot === NONE) return NONE;
      if (hashes[slot] === hash && this.#keyIs(slot, which, key)) return slot;
    }
  }

  #storeKey(slot: number, which: 0 | 1, key: string): void {
    const base = (slot * 2 + which) * MAX_KEY_BYTES;
    const keys = this.#keys;
    for (let i = 0; i < key.length; i++) keys[base + i] = key.charCodeAt(i);
    this.#keyLengths[slot * 2 + which] = key.length;
  }

  #keyIs(slot: number, which: 0 | 1, key: string): boolean {
    if (this.#keyLengths[slot * 2 + which] !== key.length) return false;
    const base = (slot * 2 + which) * MAX_KEY_BYTES;
    const keys = this.#keys;
    for (let i = 0; i < key.length; i++) if (keys[base + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  #storeTarget(slot: number, which: 0 | 1, target: SendTarget): void {
    const base = (slot * 2 + which) * 4;
    this.#targets[base] = TRANSPORT_CODES.indexOf(target.transport);
    this.#targets[base + 1] = this.#addresses.take(target.address);
    this.#targets[base + 2] = target.port;
    this.#targets[base + 3] = target.connectionId ?? NONE;
  }

  #target(slot: number, which: 0 | 1): SendTarget {
    const base = (slot * 2 + which) * 4;
    const targets = this.#targets;
    const connectionId = targets[base + 3]!;
    return {
      transport: TRANSPORT_CODES[targets[base]!]!,
      address: this.#addresses.address(targets[base + 1]!),
      port: targets[base + 2]!,
      ...(connectionId === NONE ? {} : { connectionId }),
    };
  }

  /** Ends the head of one list: out of both indexes, its addresses released, the slot free. */
  #remove(slot: number): void {
    this.#serverIndex.remove(this.#serverHash[slot]!, slot, (s) => this.#serverHash[s]!);
    this.#clientIndex.remove(this.#clientHash[slot]!, slot, (s) => this.#clientHash[s]!);
    this.#addresses.release(this.#targets[slot * 8 + 1]!);
    this.#addresses.release(this.#targets[slot * 8 + 5]!);
    this.#freeSlots[this.#freeCount++] = slot;
    this.#size--;
  }

  #endEarliest(): void {
    let earliest: Fifo | undefined;
    for (const fifo of this.#fifos.values()) {
      if (fifo.head === NONE) continue;
      if (earliest === undefined || this.#expiresAt[fifo.head]! < this.#expiresAt[earliest.head]!)
        earliest = fifo;
    }
    if (earliest !== undefined) this.#popHead(earliest);
  }

  #popHead(fifo: Fifo): void {
    const slot = fifo.head;
    fifo.head = this.#next[slot]!;
    if (fifo.head === NONE) fifo.tail = NONE;
    this.#remove(slot);
  }

  #sweep(): void {
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const fifo of this.#fifos.values()) {
      while (fifo.head !== NONE && this.#expiresAt[fifo.head]! <= now) this.#popHead(fifo);
      if (fifo.head !== NONE) next = Math.min(next, this.#expiresAt[fifo.head]! + fifo.slackMs);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#timer.arm(next);
  }
}
