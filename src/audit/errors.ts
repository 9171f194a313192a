/** Stable error codes of the audit log. */
export const AUDIT_ERRORS = {
  /** The database file cannot be opened or the audit table created. */
  SW_ERR_AUDIT_OPEN: {},
  /** A query failed (the file went away, the disk failed), or the log is closed. */
  SW_ERR_AUDIT_QUERY: {},
} as const;

export type AuditErrorCode = keyof typeof AUDIT_ERRORS;

export class AuditLogError extends Error {
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditLogError';
    this.code = code;
  }
}
