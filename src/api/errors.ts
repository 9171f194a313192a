/**
 * Stable error codes of the management API, each with its HTTP status. Every error answer
 * has the body `{ "error": { "code": "SW_ERR_...", "message": "..." } }`.
 */
export const API_ERRORS = {
  /** The body, query or path does not match the route's schema. */
  SW_ERR_BAD_REQUEST: { status: 400 },
  /** Not an IP address or a network in CIDR form. */
  SW_ERR_BAD_ADDRESS: { status: 400 },
  /** Not a duration (`30m`, `1h`, `3600s`, seconds) or out of range. */
  SW_ERR_BAD_DURATION: { status: 400 },
  /** `since` or `until` is not `10m`, an ISO 8601 time or epoch milliseconds. */
  SW_ERR_BAD_TIME: { status: 400 },
  /** The Host header names neither an IP address, localhost nor the configured host. */
  SW_ERR_FORBIDDEN_HOST: { status: 403 },
  SW_ERR_NOT_FOUND: { status: 404 },
  /** No block with that address or key. */
  SW_ERR_NO_SUCH_BLOCK: { status: 404 },
  /** No fraud hold on that identity. */
  SW_ERR_NO_SUCH_HOLD: { status: 404 },
  SW_ERR_BODY_TOO_LARGE: { status: 413 },
  /** A body that is not JSON. */
  SW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  SW_ERR_INTERNAL: { status: 500 },
  /** The event store cannot answer (file gone, disk failure). */
  SW_ERR_EVENT_STORE: { status: 503 },
  /** A user field is wrong (name, domain, list, network, password, HA1). */
  SW_ERR_BAD_USER: { status: 400 },
  /** No user with that name in that domain. */
  SW_ERR_NO_SUCH_USER: { status: 404 },
  /** A user with that name exists already in that domain. */
  SW_ERR_USER_EXISTS: { status: 409 },
  /** The user store cannot answer (file gone, disk failure, locked too long). */
  SW_ERR_USER_STORE: { status: 503 },
  /** As many live streams (GET /api/live) are open as the server serves at once. */
  SW_ERR_TOO_MANY_LIVE: { status: 503 },
  // Access (src/api/auth/): the codes the console reads are short words.
  /** No credentials, or wrong ones (user, password, token, expired session). */
  unauthenticated: { status: 401 },
  /** Right password, but the account needs a TOTP code (absent), or must enrol one first. */
  'totp-required': { status: 401 },
  /** A cookie-authenticated change without the session's x-csrf-token, or from another origin. */
  csrf: { status: 403 },
  /** The caller's role is below what the route needs. */
  forbidden: { status: 403 },
  /** Too many failed logins for this account or from this address: try after Retry-After. */
  throttled: { status: 429 },
  /** The client's address is not in management.allow. */
  SW_ERR_FORBIDDEN_ADDRESS: { status: 403 },
  /** An account or token field is wrong (name, role, password). */
  SW_ERR_BAD_ACCOUNT: { status: 400 },
  SW_ERR_NO_SUCH_ACCOUNT: { status: 404 },
  SW_ERR_ACCOUNT_EXISTS: { status: 409 },
  SW_ERR_NO_SUCH_TOKEN: { status: 404 },
  /** The audit log cannot answer (file gone, disk failure). */
  SW_ERR_AUDIT_LOG: { status: 503 },
  /** A configuration reload was refused (its `errors` are check-config's lines); the running one stays. */
  SW_ERR_CONFIG_REFUSED: { status: 422 },
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** What every error answer carries. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;

  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code].status;
  }
}
