/** Stable error codes of the user store. */
export const USER_STORE_ERRORS = {
  /** The database file cannot be opened or the users table created. */
  SW_ERR_USER_STORE_OPEN: {},
  /** A read or write failed (the file went away, the disk failed, the database stayed locked). */
  SW_ERR_USER_STORE_FAILED: {},
  /** The store was used after close(). */
  SW_ERR_USER_STORE_CLOSED: {},
  /** A user with that name exists already in that domain. */
  SW_ERR_USER_EXISTS: {},
  /** No user with that name in that domain. */
  SW_ERR_NO_SUCH_USER: {},
} as const;

export type UserStoreErrorCode = keyof typeof USER_STORE_ERRORS;

export class UserStoreError extends Error {
  readonly code: UserStoreErrorCode;

  constructor(code: UserStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserStoreError';
    this.code = code;
  }
}
