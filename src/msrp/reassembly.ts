/**
 * Reassembly of chunked SEND requests (RFC 4975 5.1 and 7.1.2): the chunks of one message
 * share its Message-ID, carry their place in Byte-Range, and the last ends with `$`; `#`
 * abandons the message. Bounded: a message may not exceed `maxMessageBytes`, and at most
 * `maxIncompleteMessages` messages may be open at once per reassembler (one per sending
 * side of a session). Chunks must arrive in order without gaps: over one connection
 * they do (RFC 4975 5.1 lets a sender interrupt a chunk and resume where it stopped, which
 * is still in order); an overlap or a gap is refused rather than guessed at.
 */
import type { ByteRange } from './frame.ts';

export interface ReassemblyLimits {
  readonly maxMessageBytes: number;
  readonly maxIncompleteMessages: number;
}

/** Bytes held across every reassembler of a relay: incomplete messages of all parties together. */
export class ByteBudget {
  used = 0;
  constructor(readonly max: number) {}
}

export type ChunkResult =
  /** More chunks are expected. */
  | { readonly kind: 'partial' }
  /** The message is complete: its content, in order. */
  | { readonly kind: 'complete'; readonly content: Buffer; readonly chunks: number }
  /** The sender abandoned it (`#`); what was held is dropped. */
  | { readonly kind: 'aborted' }
  /** Refused: 413 for a message over the size bound (RFC 4975 7.1: stop sending), 400 or 423 otherwise. */
  | { readonly kind: 'refused'; readonly status: 400 | 413 | 423; readonly reason: string };

interface Incomplete {
  readonly parts: Buffer[];
  received: number;
  chunks: number;
}

export class Reassembler {
  readonly #limits: ReassemblyLimits;
  readonly #budget: ByteBudget;
  readonly #open = new Map<string, Incomplete>();

  constructor(limits: ReassemblyLimits, budget: ByteBudget = new ByteBudget(Number.MAX_SAFE_INTEGER)) {
    this.#limits = limits;
    this.#budget = budget;
  }

  get incomplete(): number {
    return this.#open.size;
  }

  /** One chunk of the message `messageId`: its range, its bytes, its end-line flag. */
  add(messageId: string, range: ByteRange, body: Buffer, flag: '$' | '+' | '#'): ChunkResult {
    const open = this.#open.get(messageId);
    if (flag === '#') {
      this.#drop(messageId);
      return { kind: 'aborted' };
    }
    const received = open?.received ?? 0;
    if (range.start !== received + 1) {
      this.#drop(messageId);
      return { kind: 'refused', status: 400, reason: 'chunk out of order' };
    }
    const size = received + body.length;
    const declared = range.total === '*' ? size : range.total;
    if (size > this.#limits.maxMessageBytes || declared > this.#limits.maxMessageBytes) {
      this.#drop(messageId);
      return { kind: 'refused', status: 413, reason: 'message too large' };
    }
    if (range.total !== '*' && size > range.total) {
      this.#drop(messageId);
      return { kind: 'refused', status: 400, reason: 'chunk beyond the declared total' };
    }
    if (flag === '$') {
      if (range.total !== '*' && size !== range.total) {
        this.#drop(messageId);
        return { kind: 'refused', status: 400, reason: 'message ended short of its total' };
      }
      this.#drop(messageId);
      const parts = open === undefined ? [body] : [...open.parts, body];
      return { kind: 'complete', content: Buffer.concat(parts, size), chunks: parts.length };
    }
    if (this.#budget.used + body.length > this.#budget.max) {
      this.#drop(messageId);
      return { kind: 'refused', status: 413, reason: 'relay buffers full' };
    }
    this.#budget.used += body.length;
    if (open === undefined) {
      if (this.#open.size >= this.#limits.maxIncompleteMessages) {
        this.#budget.used -= body.length;
        return { kind: 'refused', status: 413, reason: 'too many incomplete messages' };
      }
      this.#open.set(messageId, { parts: [body], received: size, chunks: 1 });
    } else {
      open.parts.push(body);
      open.received = size;
      open.chunks++;
    }
    return { kind: 'partial' };
  }

  clear(): void {
    for (const id of [...this.#open.keys()]) this.#drop(id);
  }

  /** Forgets a message, giving its bytes back to the budget. */
  #drop(messageId: string): void {
    const open = this.#open.get(messageId);
    if (open === undefined) return;
    this.#budget.used -= open.received;
    this.#open.delete(messageId);
  }
}
