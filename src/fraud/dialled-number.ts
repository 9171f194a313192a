/**
 * The dialled number as E.164 digits (no `+`), from the Request-URI user (RFC 3261 19.1.1)
 * or a tel URI (RFC 3966): visual separators (`-`, `.`, `(`, `)`, spaces) are removed; `+`
 * starts an international number; so does the site's international (exit) prefix (`00` in
 * most of the world, `011` in North America); a number starting with the national (trunk)
 * prefix (`0`, or `1` in North America) is a national number of the site's own country code.
 * Any other string of digits is a subscriber or extension number, which has no E.164 form.
 */

export interface NumberingPlan {
  /** Dialled before an international number: `00`, `011`. Empty: none. */
  readonly internationalPrefix: string;
  /** Dialled before a national number: `0`, `1`. Empty: none. */
  readonly nationalPrefix: string;
  /** The site's country code (`33`, `1`); without it national numbers stay unknown. */
  readonly countryCode?: string | undefined;
}

export const DEFAULT_NUMBERING: NumberingPlan = Object.freeze({
  internationalPrefix: '00',
  nationalPrefix: '0',
});

const SEPARATORS = /[-.() ]/g;
const DIGITS = /^\d{1,15}$/;

/** E.164 digits, or undefined when the user part is no telephone number in E.164 terms. */
export function e164Of(user: string, plan: NumberingPlan): string | undefined {
  let text = user.replace(/%2b/gi, '+').replace(/%20/g, ' ');
  const semicolon = text.indexOf(';');
  // Parameters of a telephone-subscriber (RFC 3966 5.1: `;phone-context=...`).
  if (semicolon >= 0) text = text.slice(0, semicolon);
  text = text.replace(SEPARATORS, '');
  let digits: string | undefined;
  if (text.startsWith('+')) digits = text.slice(1);
  else if (plan.internationalPrefix !== '' && text.startsWith(plan.internationalPrefix))
    digits = text.slice(plan.internationalPrefix.length);
  else if (
    plan.nationalPrefix !== '' &&
    plan.countryCode !== undefined &&
    text.startsWith(plan.nationalPrefix)
  )
    digits = plan.countryCode + text.slice(plan.nationalPrefix.length);
  return digits !== undefined && DIGITS.test(digits) ? digits : undefined;
}
