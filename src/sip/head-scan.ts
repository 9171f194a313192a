/**
 * The parser's first pass over a message's header section, in WebAssembly SIMD: 16 bytes
 * per step, it finds every LF up to the empty line that ends the section and tells whether
 * those bytes are clean (no control character but HTAB, and CR only just before LF). The
 * parser then takes its line ends from this list instead of one string search per line,
 * and skips the control-character check of each header value when the section is clean;
 * anything else (no end found, too many lines, a message over the scan's memory, no
 * WebAssembly) leaves the parser's own walks to do both, with the same results.
 *
 * Source: head-scan.wat beside this file; the bytes below are its `wat2wasm` output
 * (scripts/build-head-scan.sh writes them; a test assembles the source and compares).
 */

/** wat2wasm head-scan.wat, base64. */
export const HEAD_SCAN_WASM =
  'AGFzbQEAAAABBwFgAn9/AX8DAgEABQMBAAIHFQIGbWVtb3J5AgAIc2NhbkhlYWQAAAqsAwGpAwICewx/QXghCyAAIQQCQANAIAQgAU8NASAE/QAEACECQf//AyEFIAEgBGtBEEkEQEEBIAEgBGt0QQFrIQULIAL9DCAgICAgICAgICAgICAgICD9JiAC/Qx/f39/f39/f39/f39/f39//SP9UCEDIAP9U0UEQCAEQRBqIQQMAQsgBSAC/QwKCgoKCgoKCgoKCgoKCgoK/SP9ZHEhBiAFIAL9DA0NDQ0NDQ0NDQ0NDQ0NDQ39I/1kcSEHIAUgA/1kcSAGIAdyIAL9DAkJCQkJCQkJCQkJCQkJCQn9I/1kckF/c3EhCAJAA0AgBkUNASAGaCEJIAQgCWohCiAMQYAITw0DIAxBAnQgCkGAIGs2AgAgDEEBaiEMIAogAE0gCkEBay0AAEENR3IEQEEBIQ4LIAogC2tBAkYEQCAKQQFrLQAAQQ1GBEBBAiAJdEEBayEPIA0gByAPcWlqIQ0gCCAPcQRAQQEhDgsgDEEBdCAORSANIAxGcXIPCwsgCiELIAYgBkEBa3EhBgwACwsgDSAHaWohDSAIBEBBASEOCyAEQRBqIQQMAAsLQX8L';

/** The LF table: at most this many positions, as i32 from address 0. */
const MAX_LFS = 1024;
/** Where the message bytes go in the module's memory (after the LF table). */
export const HEAD_COPY_BASE = MAX_LFS * 4;
/** The module's memory: two 64 KiB pages. */
const MEMORY_BYTES = 2 * 65536;
/** Largest message the scan takes: its 16-byte loads may read 15 bytes past the end. */
export const MAX_SCAN_BYTES = MEMORY_BYTES - HEAD_COPY_BASE - 16;

/** scanHead's answer when it found no end of the header section (or could not look). */
export const HEAD_NOT_SCANNED = -1;

interface HeadScanModule {
  readonly bytes: Uint8Array;
  readonly lfs: Int32Array;
  readonly scan: (from: number, to: number) => number;
}

/** The part of the WebAssembly API used here (Node's global; TypeScript's lib for it is the DOM's). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

function instantiate(): HeadScanModule | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return undefined;
  try {
    const { exports } = new wasm.Instance(new wasm.Module(Buffer.from(HEAD_SCAN_WASM, 'base64')));
    const buffer = (exports.memory as { readonly buffer: ArrayBuffer }).buffer;
    return {
      bytes: new Uint8Array(buffer),
      lfs: new Int32Array(buffer, 0, MAX_LFS),
      scan: exports.scanHead as (from: number, to: number) => number,
    };
  } catch {
    return undefined; // no WebAssembly SIMD here: the parser's walks do the work
  }
}

const module = instantiate();

/**
 * The LF positions scanHead found (offsets in the message), valid until the next call.
 * Empty when the module could not be instantiated.
 */
export const headLfs: Int32Array = module?.lfs ?? new Int32Array(0);

/**
 * The scan's copy of the message, valid until the next call: message byte i is at
 * HEAD_COPY_BASE + i, and 16 bytes past the end stay readable. Empty when the module could
 * not be instantiated.
 */
export const headCopy: DataView = new DataView(module?.bytes.buffer ?? new ArrayBuffer(0));

/**
 * Scans data[from, to) up to the end of the header section (the LF of the first empty
 * line). Returns HEAD_NOT_SCANNED, or (n << 1) | clean: the first n entries of headLfs are
 * the positions of every LF from `from` to that end, in order, the last one ending the
 * empty line; clean is 1 when those bytes hold no control character but HTAB, CR and LF,
 * no DEL, a CR just before every LF and no other CR.
 */
export function scanHead(data: Uint8Array, from: number, to: number): number {
  if (module === undefined || to > MAX_SCAN_BYTES || from >= to) return HEAD_NOT_SCANNED;
  module.bytes.set(data.length <= to ? data : data.subarray(0, to), HEAD_COPY_BASE);
  return module.scan(HEAD_COPY_BASE + from, HEAD_COPY_BASE + to);
}

/**
 * scanHead written byte by byte in JavaScript: the reference the module is tested
 * against. `lfs` receives the positions.
 */
export function scanHeadReference(data: Uint8Array, from: number, to: number, lfs: number[]): number {
  let n = 0;
  let prev = -8;
  let crs = 0;
  let dirty = false;
  for (let p = from; p < to; p++) {
    const c = data[p]!;
    if (c === 0x0d) crs++;
    else if (c === 0x0a) {
      if (n >= MAX_LFS) return HEAD_NOT_SCANNED;
      lfs[n++] = p;
      if (p <= from || data[p - 1] !== 0x0d) dirty = true;
      if (p - prev === 2 && data[p - 1] === 0x0d) return (n << 1) | (!dirty && crs === n ? 1 : 0);
      prev = p;
    } else if ((c < 0x20 && c !== 0x09) || c === 0x7f) dirty = true;
  }
  return HEAD_NOT_SCANNED;
}
