/**
 * The Warning header of the responses sipwarden builds itself (RFC 3261 20.43):
 * `Warning: 399 sipwarden "text"`. 399 is "Miscellaneous warning"; the warn-agent is the
 * pseudonym `sipwarden` (a token, which 20.43 allows in place of a host); the warn-text is a
 * quoted-string, so `"` and `\` are written as quoted-pairs. Anything but printable ASCII
 * (control characters, CR and LF above all) becomes `?`: the text cannot end the header
 * line nor the quoted string, whatever a reason holds.
 */

/** Longest warn-text written: a reason says what was wrong, it does not quote the message. */
const MAX_TEXT = 200;

/** The header field, ready for createResponse's `headers`. */
export function warningHeader(text: string): { readonly name: 'Warning'; readonly value: string } {
  return { name: 'Warning', value: `399 sipwarden ${quotedString(text)}` };
}

/** RFC 3261 25.1 quoted-string of printable ASCII, at most MAX_TEXT characters of text. */
function quotedString(text: string): string {
  let out = '"';
  const end = Math.min(text.length, MAX_TEXT);
  for (let k = 0; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x22 || c === 0x5c) out += '\\' + text[k];
    else out += c >= 0x20 && c < 0x7f ? text[k] : '?';
  }
  return out + '"';
}
