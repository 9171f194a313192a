/**
 * sipwarden's own Digest authentication (RFC 3261 22, RFC 7616, RFC 8760): the engine of the
 * authenticate stage, and the `Authenticator` service other stages challenge with.
 *
 * The order of checks on credentials in our realm, cheapest first and state last:
 * 1. their form (RFC 7616 3.4; a 400 when they cannot be checked). The digest-uri is hashed
 *    as the client sent it but not compared with the Request-URI (RFC 2617 3.2.2.5 says
 *    SHOULD): clients differ (sipp answers an INVITE with the address it sends to), and the
 *    nonce count (5.) already keeps a response from being used twice;
 * 2. the nonce's signature, for this source (stateless: an invalid nonce gets a fresh
 *    challenge and costs one HMAC, nothing stored);
 * 3. the response against the user's HA1 for the algorithm, in constant time, computed
 *    even for an unknown user so that the answer and its timing do not tell users apart; a
 *    failure is a failed guess for the password-guessing stage;
 * 4. a correct response with a stale nonce gets `stale=true` (RFC 7616 3.3);
 * 5. the nonce count, recorded only now that the password is proven (no sender without it
 *    can fill the table); a count not above the last one seen for the nonce is a replay;
 * 6. the user's allowed networks, and that the user acts for itself: the To user of a
 *    REGISTER (the address-of-record it binds, RFC 3261 10.3 step 6), the From user and
 *    domain of anything else.
 */
import type { RequestContext } from '../core/inspector.ts';
import type { EventInput } from '../events/types.ts';
import {
  challengeValue,
  computeResponse,
  type DigestAlgorithm,
  type DigestCredentials,
  isDigest,
  parseCredentials,
  realmOf,
  responseMatches,
} from '../identity/digest/digest.ts';
import { NonceIssuer } from '../identity/digest/nonce.ts';
import { NonceCounts } from '../identity/digest/nonce-counts.ts';
import type { VerifiedIdentity } from '../identity/identity.ts';
import { identityOf, userFromCertificate } from '../identity/tls-identity.ts';
import type { StoredUser, UserDirectory } from '../identity/user-directory.ts';
import { appendHeader, removeHeader, removeHeaderWhere } from '../sip/edit.ts';
import type { SipRequest } from '../sip/message.ts';
import { AddressSet } from '../state/cidr.ts';
import type { TrustTable } from '../state/types.ts';
import { boundedText, domainOf, userOf } from './attributes.ts';
import { userKey } from './block-keys.ts';
import { authParam } from './credentials.ts';
import { eventFor } from './event-input.ts';
import { type Authenticator, type AuthFailures, STAGE_PASS, type StageVerdict } from './stage.ts';
import type { TrunkTable } from './trunks.ts';

const STAGE = 'authenticate';
/** Credentials headers read per request: one per algorithm and realm is the most a UA sends. */
const MAX_CREDENTIALS = 8;
/** Stands in for the HA1 of an unknown user: the response is computed all the same. */
const UNKNOWN_HA1 = '0'.repeat(64);
/** Allowed-network lists parsed and kept at once (users share few distinct lists). */
const MAX_NETWORK_SETS = 1024;
/** Requests that cannot be challenged (RFC 3261 22.1: ACK and CANCEL carry no credentials of their own). */
const NEVER_CHALLENGED: ReadonlySet<string> = new Set(['ACK', 'CANCEL']);
/** Requests whose verification earns the source trust, as an accepted registration or call does. */
const TRUST_EARNING: ReadonlySet<string> = new Set(['REGISTER', 'INVITE']);

export interface DigestAuthenticatorSettings {
  readonly mode: 'pass-through' | 'local';
  /** The one realm (and user domain) of every challenge; absent: the request's domain. */
  readonly realm?: string | undefined;
  /** Challenged with, in this order (RFC 8760 2.4: the preferred first); only these are verified. */
  readonly algorithms: readonly DigestAlgorithm[];
  /** Out-of-dialog methods challenged in `local` mode. */
  readonly methods: readonly string[];
  readonly nonceLifetimeMs: number;
  /** Server secret signing nonces; random per start when absent. */
  readonly secret?: string | undefined;
  readonly forwardCredentials: boolean;
  readonly assertIdentity: boolean;
  readonly maxNonceCounts: number;
}

export interface DigestAuthenticatorDeps {
  readonly users?: UserDirectory | undefined;
  readonly trust: TrustTable;
  readonly trunks?: TrunkTable | undefined;
  readonly authFailures?: AuthFailures | undefined;
}

type Answer = Extract<StageVerdict, { action: 'answer' }>;

/** The Digest credentials for `realm` among the request's headers, as written, and the header's name. */
function credentialsFor(request: SipRequest, realm: string): string | undefined {
  let read = 0;
  for (const h of request.headers) {
    if (h.name !== 'authorization' && h.name !== 'proxy-authorization') continue;
    if (++read > MAX_CREDENTIALS) break;
    if (isDigest(h.value) && realmOf(h.value)?.toLowerCase() === realm) return h.value;
  }
  return undefined;
}

function hasField(request: SipRequest, name: string): boolean {
  return request.headers.some((h) => h.name === name);
}

export class DigestAuthenticator implements Authenticator {
  readonly settings: DigestAuthenticatorSettings;
  readonly #deps: DigestAuthenticatorDeps;
  readonly #nonces: NonceIssuer;
  readonly #counts: NonceCounts;
  readonly #methods: ReadonlySet<string>;
  readonly #networks = new Map<string, AddressSet>();

  constructor(settings: DigestAuthenticatorSettings, deps: DigestAuthenticatorDeps) {
    this.settings = settings;
    this.#deps = deps;
    this.#nonces = new NonceIssuer({
      lifetimeMs: settings.nonceLifetimeMs,
      ...(settings.secret === undefined ? {} : { secret: settings.secret }),
    });
    this.#counts = new NonceCounts(settings.maxNonceCounts);
    this.#methods = new Set(settings.methods.map((m) => m.toUpperCase()));
  }

  /** Nonce counts held (for stats and tests). */
  get nonceCounts(): number {
    return this.#counts.size;
  }

  /** The realm of a request: the configured one, else the domain of the To URI of a REGISTER (its address-of-record) or of the From URI. */
  realmFor(request: SipRequest): string {
    if (this.settings.realm !== undefined) return this.settings.realm;
    return domainOf(request.method === 'REGISTER' ? request.to.uri : request.from.uri);
  }

  challenge(context: RequestContext, now: number): StageVerdict {
    return this.#challenge(context, now, false);
  }

  ownsCredentials(request: SipRequest, source: string): boolean {
    const value = credentialsFor(request, this.realmFor(request));
    if (value === undefined) return false;
    const nonce = authParam(value, 'nonce');
    return nonce !== undefined && this.#nonces.check(nonce, source, Date.now()).status !== 'invalid';
  }

  /** The authenticate stage's request hook. */
  authenticate(context: RequestContext, now: number): StageVerdict {
    if (context.direction !== 'client') return STAGE_PASS;
    const request = context.request;
    if (!NEVER_CHALLENGED.has(request.method) && !context.inDialog) {
      // Mutual TLS: a client certificate naming a user of the store proves it; no challenge.
      const users = this.#deps.users;
      const certified =
        users === undefined
          ? undefined
          : userFromCertificate(context.flow.tlsPeer, users, this.settings.realm);
      if (certified !== undefined)
        return this.#admit(context, certified, certified.domain, 'tls-certificate', now);
      const realm = this.realmFor(request);
      const value = realm.length > 0 ? credentialsFor(request, realm) : undefined;
      const source = context.flow.remoteAddress;
      if (value !== undefined && (this.settings.mode === 'local' || this.#isOurs(value, source, now))) {
        return this.#verify(context, value, realm, now);
      }
      if (
        this.settings.mode === 'local' &&
        this.#methods.has(request.method) &&
        !(this.#deps.trunks?.exemptFromChallenge(source) ?? false)
      ) {
        return this.#challenge(context, now, false);
      }
    }
    this.#stripAsserted(context);
    return STAGE_PASS;
  }

  /** In pass-through mode only credentials for a nonce of ours are ours (the upstream's pass untouched). */
  #isOurs(value: string, source: string, now: number): boolean {
    const nonce = authParam(value, 'nonce');
    return nonce !== undefined && this.#nonces.check(nonce, source, now).status !== 'invalid';
  }

  /** RFC 3325 9.1: identity asserted by the untrusted side is never passed on. */
  #stripAsserted(context: RequestContext): void {
    const request = context.forward ?? context.request;
    if (!hasField(request, 'p-asserted-identity') && !hasField(request, 'p-preferred-identity')) return;
    context.forward = removeHeader(removeHeader(request, 'p-asserted-identity'), 'p-preferred-identity');
  }

  #challenge(context: RequestContext, now: number, stale: boolean, event?: EventInput): Answer {
    const request = context.request;
    const realm = this.realmFor(request);
    const nonce = this.#nonces.issue(context.flow.remoteAddress, now);
    // RFC 3261 22.3: a registrar challenges with 401, a proxy with 407.
    const register = request.method === 'REGISTER';
    const name = register ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    return {
      action: 'answer',
      status: register ? 401 : 407,
      reason: register ? 'Unauthorized' : 'Proxy Authentication Required',
      headers: this.settings.algorithms.map((algorithm) => ({
        name,
        value: challengeValue(realm, nonce, algorithm, stale),
      })),
      ...(event === undefined ? {} : { event }),
    };
  }

  #event(context: RequestContext, rule: string, user: string, reason: string, status: number): EventInput {
    return eventFor(context.flow, {
      type: 'authentication',
      stage: STAGE,
      rule,
      action: 'reject',
      status,
      ...(user.length > 0 ? { key: userKey(user) } : {}),
      reason,
      details: { method: context.request.method, ...(user.length > 0 ? { user } : {}) },
    });
  }

  #refuse(
    context: RequestContext,
    status: number,
    reason: string,
    rule: string,
    user: string,
    why: string,
  ): Answer {
    return {
      action: 'answer',
      status,
      reason,
      event: this.#event(context, rule, user, why, status),
    };
  }

  #verify(context: RequestContext, value: string, realm: string, now: number): StageVerdict {
    const request = context.request;
    const source = context.flow.remoteAddress;
    const credentials = parseCredentials(value);
    if (typeof credentials === 'string') {
      return this.#refuse(
        context,
        400,
        'Bad Request',
        'malformed-credentials',
        '',
        `credentials refused: ${credentials}`,
      );
    }
    const user = boundedText(credentials.username.toLowerCase());
    if (!this.settings.algorithms.includes(credentials.algorithm)) {
      return this.#refuse(
        context,
        400,
        'Bad Request',
        'malformed-credentials',
        user,
        `credentials refused: algorithm ${credentials.algorithm} not offered`,
      );
    }
    const nonce = this.#nonces.check(credentials.nonce, source, now);
    // Not a nonce of ours for this source (another instance's, a restart's, forged): a fresh challenge.
    if (nonce.status === 'invalid') return this.#challenge(context, now, false);

    const stored = this.#deps.users?.find(user, realm);
    if (
      !this.#responseIsRight(stored, credentials, request.method) ||
      stored === undefined ||
      !stored.enabled
    ) {
      const rule =
        stored === undefined ? 'unknown-user' : !stored.enabled ? 'disabled-user' : 'wrong-password';
      return this.#failed(context, user, rule, now);
    }
    // RFC 7616 3.3: the password was right, only the nonce is old.
    if (nonce.status === 'stale') return this.#challenge(context, now, true);
    const counted = this.#counts.count(
      credentials.nonce,
      credentials.qop?.count ?? 1,
      nonce.issuedAt,
      nonce.issuedAt + this.#nonces.lifetimeMs,
      now,
    );
    if (counted === 'forgotten') return this.#challenge(context, now, true);
    if (counted === 'replayed') {
      const status = request.method === 'REGISTER' ? 401 : 407;
      return this.#challenge(
        context,
        now,
        false,
        this.#event(
          context,
          'replayed-nonce-count',
          user,
          'nonce count not above the last one seen for this nonce (a replay)',
          status,
        ),
      );
    }
    return this.#admit(context, stored, realm, 'digest', now);
  }

  /** A proven user: from an allowed network, acting for itself, its identity goes on with the request. */
  #admit(
    context: RequestContext,
    stored: StoredUser,
    realm: string,
    method: VerifiedIdentity['method'],
    now: number,
  ): StageVerdict {
    const request = context.request;
    const user = stored.user;
    if (!this.#networkAllowed(stored, context.flow.remoteAddress)) {
      return this.#refuse(
        context,
        403,
        'Forbidden',
        'network-not-allowed',
        user,
        `user ${user} may not authenticate from this network`,
      );
    }
    // The user acts for itself: it registers its own address-of-record (To user), and it
    // calls as itself: the From URI is the verified identity's, user and domain, so that
    // every limit counting calls by caller (the dialogs' From user@host, call-limit) counts
    // them by verified identity, however the sender varies its From.
    const register = request.method === 'REGISTER';
    const uri = register ? request.to.uri : request.from.uri;
    const claimed = register ? userOf(uri) : `${userOf(uri)}@${domainOf(uri)}`;
    const expected = register ? stored.user : `${stored.user}@${stored.domain}`;
    if (claimed !== expected) {
      return this.#refuse(
        context,
        403,
        'Forbidden',
        'identity-mismatch',
        user,
        `authenticated as ${expected} but the ${register ? 'To user' : 'From URI'} is ${boundedText(claimed)}`,
      );
    }
    this.#accept(context, stored, realm, method, now);
    return STAGE_PASS;
  }

  #responseIsRight(stored: StoredUser | undefined, credentials: DigestCredentials, method: string): boolean {
    const ha1 =
      stored === undefined ? undefined : credentials.algorithm === 'MD5' ? stored.ha1Md5 : stored.ha1Sha256;
    const expected = computeResponse(ha1 && ha1.length > 0 ? ha1 : UNKNOWN_HA1, {
      algorithm: credentials.algorithm,
      method,
      uri: credentials.uri,
      nonce: credentials.nonce,
      ...(credentials.qop ? { qop: credentials.qop } : {}),
    });
    return ha1 !== undefined && ha1.length > 0 && responseMatches(expected, credentials.response);
  }

  /** A wrong password (or an unknown or disabled user, answered alike): a fresh challenge, counted as a failed guess. */
  #failed(context: RequestContext, user: string, rule: string, now: number): Answer {
    const register = context.request.method === 'REGISTER';
    const status = register ? 401 : 407;
    const reasons: Record<string, string> = {
      'unknown-user': `no user ${user} in this realm`,
      'disabled-user': `user ${user} is disabled`,
      'wrong-password': `wrong password for user ${user}`,
    };
    const challenge = this.#challenge(
      context,
      now,
      false,
      this.#event(context, rule, user, reasons[rule]!, status),
    );
    const detection = this.#deps.authFailures?.report({ flow: context.flow, user, status }, now);
    return detection === undefined ? challenge : { ...challenge, detection };
  }

  #networkAllowed(user: StoredUser, source: string): boolean {
    if (user.allowedNetworks.length === 0) return true;
    const key = user.allowedNetworks.join(',');
    let set = this.#networks.get(key);
    if (set === undefined) {
      const parsed = AddressSet.parse(user.allowedNetworks, 'allowedNetworks');
      // A list the store let through but that does not parse allows nothing.
      if (!parsed.ok) return false;
      if (this.#networks.size >= MAX_NETWORK_SETS) this.#networks.clear();
      set = parsed.set;
      this.#networks.set(key, set);
    }
    return set.has(source);
  }

  /** Proven: the identity travels with the request, the credentials stay here (unless configured otherwise). */
  #accept(
    context: RequestContext,
    user: StoredUser,
    realm: string,
    method: VerifiedIdentity['method'],
    now: number,
  ): void {
    context.identity = identityOf(user, method);
    if (TRUST_EARNING.has(context.request.method))
      this.#deps.trust.succeed(context.flow.remoteAddress, user.user, now);
    let forward = context.forward ?? context.request;
    if (!this.settings.forwardCredentials) {
      const ours = (value: string) => isDigest(value) && realmOf(value)?.toLowerCase() === realm;
      forward = removeHeaderWhere(
        removeHeaderWhere(forward, 'authorization', ours),
        'proxy-authorization',
        ours,
      );
    }
    forward = removeHeader(removeHeader(forward, 'p-asserted-identity'), 'p-preferred-identity');
    // RFC 3325 9.1: the identity this proxy verified, for the trusted upstream.
    if (this.settings.assertIdentity) {
      forward = appendHeader(forward, 'p-asserted-identity', `<sip:${user.user}@${user.domain}>`);
    }
    if (forward !== context.request) context.forward = forward;
  }
}
