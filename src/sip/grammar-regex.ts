/**
 * RFC 3261 section 25.1 rules as regular-expression sources, for the parser's fast paths.
 *
 * A fast path matches the common spelling of a value in one native pass of V8's irregexp and
 * builds the same result as the character-walking grammar; anything it does not match goes
 * to that grammar, which accepts or refuses it. A fast path never refuses input, so it adds
 * no strictness and removes none (test/unit/sip/fast-path.property.test.ts holds both to the
 * same results).
 *
 * Linear time: every expression is anchored, and each repetition is followed by a character
 * it cannot consume (a label by "." or "-", a token by ";" or "=", an escape starts with "%"
 * that no class holds), so a failed match gives back each choice point once: no nested
 * ambiguous quantifiers. Adversarial inputs for each are in the fuzz and property tests.
 */

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN_RE = "[A-Za-z0-9\\-.!%*_+`'~]+";

/** escaped = "%" HEXDIG HEXDIG */
const ESC = '%[0-9A-Fa-f]{2}';
/** unreserved = alphanum / mark */
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";

/**
 * `1*( [class] / escaped )` unrolled as `[class]* *( escaped [class]* )`: one character-class
 * loop between escapes (irregexp runs those without a backtrack entry per character, about
 * 15 % faster than the alternation), unambiguous since the class holds no "%". The lookahead
 * makes the repetition non-empty.
 */
function escapedRun(cls: string, nonEmpty: boolean): string {
  return `${nonEmpty ? `(?=[${cls}%])` : ''}[${cls}]*(?:${ESC}[${cls}]*)*`;
}

/** user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = & = + $ , ; ? / */
export const USER_RE = escapedRun(`${UNRESERVED}&=+$,;?/`, true);
/** password = *( unreserved / escaped / & = + $ , ) */
export const PASSWORD_RE = escapedRun(`${UNRESERVED}&=+$,`, false);
/** paramchar = param-unreserved / unreserved / escaped; param-unreserved = [ ] / : & + $ */
export const PARAMCHAR_RE = escapedRun(`${UNRESERVED}\\[\\]/:&+$`, true);

/** IPv4address, each octet 1*3DIGIT of at most 255 (leading zeros allowed, as the walk does). */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])';
export const IPV4_RE = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
/**
 * hostname = *( domainlabel "." ) toplabel [ "." ]: labels of alphanum and "-", neither
 * starting nor ending with "-"; the top label starts with a letter. Written as alphanum runs
 * joined by "-" runs so no two repetitions can share a character.
 */
const LABEL = '[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*';
const TOPLABEL = '[A-Za-z][A-Za-z0-9]*(?:-+[A-Za-z0-9]+)*';
export const HOSTNAME_RE = `(?:${LABEL}\\.)*${TOPLABEL}\\.?`;
/** host without the IPv6 reference (that form goes to the walk). */
export const HOST_RE = `(?:${IPV4_RE}|${HOSTNAME_RE})`;
/**
 * port = 1*DIGIT of at most 65535, in at most five digits (leading zeros allowed, as the walk
 * does): a matched port needs no range check after the match.
 */
export const PORT_RE = '(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
