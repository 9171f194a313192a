/**
 * A fast non-cryptographic 32-bit string hash for the distinct-count sketches: FNV-1a over
 * the UTF-16 code units, started from a per-store seed, then murmur3's fmix32 finalizer so
 * that every output bit depends on every input bit (HyperLogLog reads the top bits for the
 * register and the leading zeros of the rest for the rank, so both ends must be well mixed).
 * The seed is random per store by default: a sender cannot precompute values that collide
 * and so hide from a distinct count. Not a defence against one who can observe estimates.
 */
export function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
