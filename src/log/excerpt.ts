/**
 * A bounded, escaped excerpt of untrusted bytes for a log line. Printable ASCII is kept;
 * CR, LF and TAB read as `\r`, `\n`, `\t` (SIP text stays legible); backslash doubles; any
 * other byte becomes `\xNN`, so control characters never reach a terminal or a log parser.
 * Strings are read one UTF-16 code unit at a time (the SIP layer keeps text as latin1, one
 * character per byte); a unit above 0xff becomes `\uNNNN`.
 */

const HEX = '0123456789abcdef';

/** At most `max` input bytes (or characters) are shown; the rest is counted, not copied. */
export function excerpt(bytes: Buffer | string, max = 120): string {
  const limit = Math.max(0, Math.min(Math.floor(max), bytes.length));
  let out = '';
  for (let index = 0; index < limit; index += 1) {
    const unit = typeof bytes === 'string' ? bytes.charCodeAt(index) : bytes[index]!;
    out += escapeUnit(unit);
  }
  const rest = bytes.length - limit;
  return rest > 0 ? `${out}...(${rest} more)` : out;
}

function escapeUnit(unit: number): string {
  if (unit === 0x5c) return '\\\\';
  if (unit >= 0x20 && unit <= 0x7e) return String.fromCharCode(unit);
  if (unit === 0x0d) return '\\r';
  if (unit === 0x0a) return '\\n';
  if (unit === 0x09) return '\\t';
  if (unit <= 0xff) return `\\x${HEX[unit >> 4]}${HEX[unit & 0xf]}`;
  return `\\u${unit.toString(16).padStart(4, '0')}`;
}
