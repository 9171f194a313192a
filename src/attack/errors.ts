/**
 * Errors of the attack tools. Each carries a stable code; the command line prints the
 * message (written for the operator) and exits with the usage code.
 */
export type AttackErrorCode =
  | 'SW_ERR_ATTACK_OPTION'
  | 'SW_ERR_ATTACK_TARGET'
  | 'SW_ERR_ATTACK_REMOTE_REFUSED'
  | 'SW_ERR_ATTACK_RANGE'
  | 'SW_ERR_ATTACK_BIND'
  | 'SW_ERR_ATTACK_WORDLIST'
  | 'SW_ERR_ATTACK_API';

export class AttackError extends Error {
  readonly code: AttackErrorCode;

  constructor(code: AttackErrorCode, message: string) {
    super(message);
    this.name = 'AttackError';
    this.code = code;
  }
}

export function attackError(code: AttackErrorCode, message: string): AttackError {
  return new AttackError(code, message);
}

export function isAttackError(value: unknown): value is AttackError {
  return value instanceof AttackError;
}
