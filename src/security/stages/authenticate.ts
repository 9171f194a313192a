/**
 * Authentication by sipwarden itself (RFC 3261 22, Digest with SHA-256 and MD5 per RFC
 * 8760), against the user store.
 *
 * - `pass-through` (the default): sipwarden challenges nothing by itself; the upstream
 *   challenges and the password-guessing stage watches its answers, as before. Credentials
 *   answering a challenge of sipwarden's own (a policy's "require authentication") are
 *   still verified here.
 * - `local`: out-of-dialog requests of the configured methods from the client side are
 *   challenged (401 for a REGISTER, 407 otherwise, RFC 3261 22.3) unless they come from a
 *   declared trunk's address (one declared without `authenticate`), and verified
 *   (digest-authenticator.ts). A verified request
 *   carries `context.identity`, is forwarded without its credentials (unless
 *   `forwardCredentials`) and with a P-Asserted-Identity naming the user (unless
 *   `assertIdentity` is off, RFC 3325).
 *
 * In both modes P-Asserted-Identity and P-Preferred-Identity from the client side are
 * removed: the client side is outside the trust domain (RFC 3325 section 9.1).
 */
import { z } from 'zod';
import { string } from '../../config/zod-fields.ts';
import { DigestAuthenticator, type DigestAuthenticatorDeps } from '../digest-authenticator.ts';
import { boolean, integer, method, oneOf, parseStageSettings, uniqueList } from '../rule-schema.ts';
import type { Stage, StageDependencies } from '../stage.ts';

const MINUTE = 60_000;

/**
 * The out-of-dialog requests challenged by default: those that register, place calls,
 * send messages, subscribe, publish or transfer. OPTIONS is left out: phones and trunks
 * ping with it and few answer a challenge to a ping.
 */
export const DEFAULT_CHALLENGED_METHODS = ['REGISTER', 'INVITE', 'MESSAGE', 'SUBSCRIBE', 'PUBLISH', 'REFER'];

const settingsSchema = z.strictObject({
  mode: oneOf(['pass-through', 'local']).default('pass-through'),
  /** The realm of every challenge and the domain of every user; absent: the request's own domain. */
  realm: string()
    .regex(/^[A-Za-z0-9.:[\]_-]{1,253}$/, { message: 'must be a domain name (letters, digits, . - _ :)' })
    .transform((realm) => realm.toLowerCase())
    .optional(),
  /** Out-of-dialog methods challenged in `local` mode (ACK and CANCEL cannot be). */
  methods: uniqueList(
    method.refine((m) => m.toUpperCase() !== 'ACK' && m.toUpperCase() !== 'CANCEL', {
      message: 'ACK and CANCEL cannot be challenged (RFC 3261 22.1)',
    }),
    32,
  ).default(DEFAULT_CHALLENGED_METHODS),
  /**
   * The algorithms challenged with, one challenge header each, in this order: the preferred
   * first (RFC 8760 section 2.4). A client that gives up on a first challenge it cannot
   * answer instead of taking the next (sipp 3.6 with SHA-256) needs `[MD5]`.
   */
  algorithms: uniqueList(oneOf(['SHA-256', 'MD5']), 2)
    .min(1, { message: 'must name at least one algorithm' })
    .default(['SHA-256', 'MD5']),
  /** How long a nonce is valid; a later answer gets `stale=true` and a new one. */
  nonceLifetimeMs: integer(
    5_000,
    60 * MINUTE,
    'must be a duration in milliseconds from 5000 to 3600000',
  ).default(5 * MINUTE),
  /** Signs nonces; set it so that nonces survive a restart or work across instances. Random per start when absent. */
  secret: string().min(32, { message: 'must be at least 32 characters' }).optional(),
  /** Keep the credentials for sipwarden's realm on the forwarded request. */
  forwardCredentials: boolean.default(false),
  /** Add P-Asserted-Identity with the verified user to the forwarded request. */
  assertIdentity: boolean.default(true),
  /** Nonce counts remembered for replay protection. */
  maxNonceCounts: integer(1_000, 10_000_000).default(65_536),
});

export type AuthenticateSettings = z.input<typeof settingsSchema>;

/** The authenticator the stages share, from the authenticate stage's settings (throws StageConfigError). */
export function buildAuthenticator(settings: unknown, deps: DigestAuthenticatorDeps): DigestAuthenticator {
  return new DigestAuthenticator(parseStageSettings(settingsSchema, settings), deps);
}

export function createAuthenticateStage(settings: unknown, deps: StageDependencies): Stage {
  const shared = deps.authenticator;
  const authenticator = shared instanceof DigestAuthenticator ? shared : buildAuthenticator(settings, deps);
  // Checked even when shared, so that a bad setting is reported here, at its path.
  if (shared instanceof DigestAuthenticator) parseStageSettings(settingsSchema, settings);
  if (authenticator.settings.mode === 'local' && deps.users === undefined) {
    deps.log.warn('authenticate: mode local without a user store: every authentication fails');
  }
  return {
    name: 'authenticate',
    phase: 'authenticate',
    // When sipwarden authenticates, a failure must not let an unauthenticated request through.
    failMode: authenticator.settings.mode === 'local' ? 'closed' : 'open',
    request: (context, now) => authenticator.authenticate(context, now),
  };
}
