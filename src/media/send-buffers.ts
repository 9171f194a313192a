/**
 * Buffers the relay encrypts into and sends from, reused once their datagram has left: the
 * packet path allocates no output buffer of its own. A slot is busy from take() until the
 * send's callback (its `done`, made once per slot) runs; node:dgram holds the buffer until
 * then. Bounded: past MAX_SLOTS busy slots (the socket cannot keep up), or for a packet
 * larger than a slot, a one-off buffer is used.
 */
const SLOT_BYTES = 2048;
const MAX_SLOTS = 1024;

export interface SendSlot {
  readonly buffer: Buffer;
  /** Frees the slot: the send's callback, or called when nothing was sent. */
  readonly done: () => void;
}

class Slot implements SendSlot {
  readonly buffer = Buffer.allocUnsafe(SLOT_BYTES);
  busy = false;
  readonly done = (): void => {
    this.busy = false;
  };
}

const ONE_OFF_DONE = (): void => {};

export class SendBuffers {
  readonly #slots: Slot[] = [];
  #next = 0;

  /** A free buffer of at least `bytes`. */
  take(bytes: number): SendSlot {
    if (bytes > SLOT_BYTES) return { buffer: Buffer.allocUnsafe(bytes), done: ONE_OFF_DONE };
    const slots = this.#slots;
    for (let tried = 0; tried < slots.length; tried++) {
      const slot = slots[this.#next]!;
      this.#next = (this.#next + 1) % slots.length;
      if (!slot.busy) {
        slot.busy = true;
        return slot;
      }
    }
    if (slots.length < MAX_SLOTS) {
      const slot = new Slot();
      slot.busy = true;
      slots.push(slot);
      return slot;
    }
    return { buffer: Buffer.allocUnsafe(bytes), done: ONE_OFF_DONE };
  }
}
