/**
 * What the access control writes to the audit log (src/audit/audit-log.ts): the part of
 * its interface used here, so that access works, and is tested, with any recorder.
 */
export interface AuditRecord {
  readonly actor: string;
  readonly address: string;
  readonly action: string;
  readonly target?: string;
  readonly detail?: Record<string, unknown>;
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly at?: number;
}

export interface AuditRecorder {
  record(entry: AuditRecord): void;
}

export const NO_AUDIT: AuditRecorder = { record() {} };
