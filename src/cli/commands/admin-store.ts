/**
 * The account store as the admin commands open it, with where their changes are audited.
 */
import { AccountStore } from '../../api/auth/account-store.ts';
import { type AuditRecorder, NO_AUDIT } from '../../api/auth/audit.ts';
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
  // AUDIT: the audit log (src/audit/) is wired here once it is in the tree.
  const audit: AuditRecorder = NO_AUDIT;
  return {
    store,
    audit,
    close() {
      store.close();
    },
  };
}
