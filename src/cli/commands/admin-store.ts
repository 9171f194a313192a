/**
 * The account store as the admin commands open it, with where their changes are audited.
 */
import { AccountStore } from '../../api/auth/account-store.ts';
import type { AuditRecorder } from '../../api/auth/audit.ts';
import { createAuditLog, type SqliteAuditLog } from '../../audit/audit-log.ts';
import { CliError, EXIT_FAILURE } from '../cli-error.ts';

export interface OpenedAccounts {
  readonly store: AccountStore;
  readonly audit: AuditRecorder;
  close(): void;
}

export function openAccounts(database: string): OpenedAccounts {
  let store: AccountStore;
  try {
    store = new AccountStore({ database });
  } catch (error) {
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  // The same audit table the running gateway writes (actor `local`).
  let audit: SqliteAuditLog;
  try {
    audit = createAuditLog({ database });
  } catch (error) {
    store.close();
    throw new CliError(EXIT_FAILURE, [(error as Error).message]);
  }
  return {
    store,
    audit,
    close() {
      store.close();
      audit.close();
    },
  };
}
