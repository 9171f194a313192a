/**
 * Require, Proxy-Require, Supported and Unsupported (RFC 3261 20.32, 20.29, 20.37, 20.40):
 *   option-tag *( COMMA option-tag ), option-tag = token
 * Supported and Unsupported may be empty ( [ option-tag *( COMMA option-tag ) ] ).
 */
import { isToken } from '../chars.ts';

/** Most option tags one value may list. */
export const MAX_OPTION_TAGS = 64;

/** True when `value` is a list of option tags; `optional` allows an empty value. */
export function isOptionTagList(value: string, optional: boolean): boolean {
  if (value === '') return optional;
  let tags = 0;
  for (const part of value.split(',', MAX_OPTION_TAGS + 1)) {
    if (++tags > MAX_OPTION_TAGS || !isToken(part.trim())) return false;
  }
  return true;
}
