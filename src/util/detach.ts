/**
 * A flat copy of a string that shares no memory with the text it was cut from.
 *
 * V8 keeps a substring as a view on its parent and a concatenation as a tree of its parts,
 * so a table key built from parsed fields (a Via branch, a Call-ID, a tag) would keep the
 * whole message text alive for as long as the entry lives: about a kilobyte per lingering
 * transaction or dialog instead of the key's few dozen bytes. Copy once, when an entry is
 * stored, not on every lookup.
 */
export function detach(text: string): string {
  // Through latin1 bytes: exact for every string the SIP parser makes (it decodes latin1).
  const copy = Buffer.from(text, 'latin1').toString('latin1');
  if (copy === text) return copy;
  // Characters above U+00FF (from configuration or the API): the UTF-16 round trip is exact.
  return Buffer.from(text, 'utf16le').toString('utf16le');
}
