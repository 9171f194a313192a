/**
 * Creating and changing accounts, the same way for the API and the command line: the
 * checks (name, role, password length, TOTP for the roles that need it), the hashing and
 * the TOTP enrolment.
 */
import { type Account, type AccountStore, AccountStoreError, accountNameProblem } from './account-store.ts';
import { hashPassword, newTotpSecret, passwordProblem, totpUri } from './credentials.ts';
import { isRole, type Role } from './roles.ts';

export interface NewAccount {
  readonly name: string;
  readonly role: Role;
  readonly password: string;
  /** Enrol a TOTP second factor; refused false for a role in totpRequired. */
  readonly totp: boolean;
}

export interface CreatedAccount {
  readonly account: Account;
  /** The enrolment, shown once: the secret and the otpauth URI an authenticator app reads. */
  readonly totp?: { readonly secret: string; readonly uri: string };
}

/** The problems of a new account, before anything is hashed or written. */
export function newAccountProblems(request: NewAccount, totpRequired: ReadonlySet<Role>): string[] {
  const problems: string[] = [];
  const name = accountNameProblem(request.name);
  if (name !== undefined) problems.push(name);
  if (!isRole(request.role)) problems.push('role: must be viewer, operator or admin');
  const password = passwordProblem(request.password);
  if (password !== undefined) problems.push(password);
  if (!request.totp && totpRequired.has(request.role)) {
    problems.push(`the ${request.role} role needs a TOTP second factor (management.totpRequired)`);
  }
  return problems;
}

export async function createAccount(
  store: AccountStore,
  request: NewAccount,
  totpRequired: ReadonlySet<Role>,
): Promise<CreatedAccount> {
  const problems = newAccountProblems(request, totpRequired);
  if (problems.length > 0) throw new AccountStoreError('SW_ERR_BAD_ACCOUNT', problems.join('; '));
  const secret = request.totp ? newTotpSecret() : null;
  const account = store.create({
    name: request.name,
    role: request.role,
    passwordHash: await hashPassword(request.password),
    totpSecret: secret,
  });
  return secret === null ? { account } : { account, totp: { secret, uri: totpUri(account.name, secret) } };
}
