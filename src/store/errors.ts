/** Stable error codes of the stores. */
export const STORE_ERRORS = {
  /** The database file cannot be opened or its schema created. */
  SW_ERR_EVENT_STORE_OPEN: {},
  /** A query failed (the file went away, the disk failed). */
  SW_ERR_EVENT_STORE_QUERY: {},
  /** The store was used after close(). */
  SW_ERR_EVENT_STORE_CLOSED: {},
  /** The call detail records' table cannot be opened or created. */
  SW_ERR_CDR_STORE_OPEN: {},
  /** A query of the call detail records failed. */
  SW_ERR_CDR_STORE_QUERY: {},
} as const;

export type StoreErrorCode = keyof typeof STORE_ERRORS;

export class EventStoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EventStoreError';
    this.code = code;
  }
}
