/**
 * Stable error codes of the state layer. Address and CIDR parsing returns `undefined` or a
 * result on bad input; these errors are thrown only for settings checked once at start (an
 * allowlist entry, a store bound) and for a block whose key does not fit its scope, which a
 * caller avoids by checking the key first with `parseBlockKey`.
 */
export const STATE_ERRORS = Object.freeze({
  /** An option of a store or table is out of range (a bound of 0, a precision of 20...). */
  SW_ERR_STATE_OPTION: 'invalid state option',
  /** An allowlist entry is neither an IP address nor a CIDR network. */
  SW_ERR_STATE_ADDRESS_LIST: 'invalid address list entry',
  /** A block's key does not fit its scope (an `address` block on a user name...). */
  SW_ERR_STATE_BLOCK_KEY: 'invalid block key',
} as const);

export type StateErrorCode = keyof typeof STATE_ERRORS;

export class StateError extends Error {
  readonly code: StateErrorCode;

  constructor(code: StateErrorCode, message: string) {
    super(message);
    this.name = 'StateError';
    this.code = code;
  }
}
