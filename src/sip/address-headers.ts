/**
 * Contact, Route, Record-Route and Path values, parsed once and shared. parseMessage leaves
 * them as text (not every message needs them, and the parse path stays the summaries every
 * stage reads); the first reader of a field parses it (validateMessage, which the core runs
 * on every message, RFC 3261 16.3), and every later one (the validate stage, the core's
 * routing) gets the same values instead of parsing them again.
 *
 * Kept on the header field itself, under a symbol key. An edit replaces the fields it changes
 * with new ones (src/sip/edit.ts), which are parsed afresh when read, while every field it
 * leaves alone, and so its values, is shared by the edited copy; the values go with their
 * field. Not a field of the message (spreading would copy it into an edited message, where it
 * would be stale), not a WeakMap (hundreds of thousands of short-lived keys a second make every
 * scavenge slow: parse and validate measured 4x slower), not Object.defineProperty (about
 * 300 ns a field) nor a private field stamped on (2 to 3 % of parse and validate): a deep
 * comparison of a field that was read with one that was not sees the key.
 */
import type { SipParseError } from './errors.ts';
import { parseNameAddrList } from './headers/name-addr.ts';
import type { HeaderField, NameAddr } from './message.ts';

/** One header field's values: name-addrs, `*` (Contact only, RFC 3261 10.2.2), or why it does not parse. */
export type NameAddrField = readonly NameAddr[] | '*' | SipParseError;

/** Longest token the kept values are parsed with: the parser's default maxTokenBytes. */
export const NAME_ADDRS_MAX_TOKEN = 1024;

/**
 * The values parsed from a field, and the value they were parsed from: a copy of the field
 * made by spreading with another value (`{ ...field, value }`) carries the key along, and is
 * then parsed afresh rather than read stale.
 */
interface Parsed {
  readonly source: string;
  readonly values: NameAddrField;
}

/** The key of the parsed values on a header field. */
const PARSED = Symbol('sipwarden.parsedNameAddrs');

type ParsedField = HeaderField & { [PARSED]?: Parsed };

/**
 * The values of a comma-separated name-addr header field (Contact, Route, Record-Route,
 * Path), parsed on first use and kept on the field. `maxToken` other than the parser's
 * default parses without keeping.
 */
export function nameAddrsOf(field: HeaderField, maxToken = NAME_ADDRS_MAX_TOKEN): NameAddrField {
  if (maxToken !== NAME_ADDRS_MAX_TOKEN) return parseNameAddrList(field.value, maxToken);
  const known = (field as ParsedField)[PARSED];
  if (known !== undefined && known.source === field.value) return known.values;
  const values = parseNameAddrList(field.value, maxToken);
  try {
    (field as ParsedField)[PARSED] = { source: field.value, values };
  } catch {
    // A frozen field (built by hand) keeps nothing and is parsed on each read.
  }
  return values;
}
