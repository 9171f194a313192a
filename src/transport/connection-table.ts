import type { TransportName } from './types.ts';

/** What the table needs to know of a connection. */
export interface TableEntry {
  readonly id: number;
  readonly transport: TransportName;
  readonly direction: 'inbound' | 'outbound';
  /** Remote IP address as reported in flows (IPv4-mapped IPv6 addresses unmapped). */
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface TableLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxOutboundConnections: number;
}

/**
 * Open stream connections by id and by remote transport address, with the caps that keep
 * one address, or everyone together, from holding unbounded sockets.
 */
export class ConnectionTable<T extends TableEntry> {
  readonly #limits: TableLimits;
  readonly #byId = new Map<number, T>();
  /** `transport address port` -> connections to or from it, newest last. */
  readonly #byRemote = new Map<string, T[]>();
  /** Inbound connections per remote IP address. */
  readonly #inboundPerAddress = new Map<string, number>();
  #inbound = 0;
  #outbound = 0;
  #nextId = 1;

  constructor(limits: TableLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#byId.size;
  }

  nextId(): number {
    return this.#nextId++;
  }

  /** Whether one more inbound connection from this address fits under both caps. */
  admitsInbound(remoteAddress: string): boolean {
    if (this.#inbound >= this.#limits.maxConnections) return false;
    return (this.#inboundPerAddress.get(remoteAddress) ?? 0) < this.#limits.maxConnectionsPerAddress;
  }

  /** Whether one more outbound connection fits, counting `connecting` ones not yet added. */
  admitsOutbound(connecting = 0): boolean {
    return this.#outbound + connecting < this.#limits.maxOutboundConnections;
  }

  add(entry: T): void {
    if (this.#byId.has(entry.id)) return;
    this.#byId.set(entry.id, entry);
    const key = remoteKey(entry.transport, entry.remoteAddress, entry.remotePort);
    const list = this.#byRemote.get(key);
    if (list === undefined) this.#byRemote.set(key, [entry]);
    else list.push(entry);
    if (entry.direction === 'inbound') {
      this.#inbound++;
      this.#inboundPerAddress.set(
        entry.remoteAddress,
        (this.#inboundPerAddress.get(entry.remoteAddress) ?? 0) + 1,
      );
    } else {
      this.#outbound++;
    }
  }

  remove(entry: T): void {
    if (this.#byId.get(entry.id) !== entry) return;
    this.#byId.delete(entry.id);
    const key = remoteKey(entry.transport, entry.remoteAddress, entry.remotePort);
    const list = this.#byRemote.get(key);
    if (list !== undefined) {
      const index = list.indexOf(entry);
      if (index >= 0) list.splice(index, 1);
      if (list.length === 0) this.#byRemote.delete(key);
    }
    if (entry.direction === 'inbound') {
      this.#inbound--;
      const count = (this.#inboundPerAddress.get(entry.remoteAddress) ?? 1) - 1;
      if (count <= 0) this.#inboundPerAddress.delete(entry.remoteAddress);
      else this.#inboundPerAddress.set(entry.remoteAddress, count);
    } else {
      this.#outbound--;
    }
  }

  get(id: number): T | undefined {
    return this.#byId.get(id);
  }

  /** The newest connection with this remote transport address, inbound or outbound. */
  findByRemote(transport: TransportName, address: string, port: number): T | undefined {
    const list = this.#byRemote.get(remoteKey(transport, address, port));
    return list === undefined ? undefined : list[list.length - 1];
  }

  values(): IterableIterator<T> {
    return this.#byId.values();
  }
}

export function remoteKey(transport: TransportName, address: string, port: number): string {
  return `${transport} ${address} ${port}`;
}
