/**
 * The one spelling of rule keys: what a detector counts on, what its events show, and what
 * a `key`-scope block names. Every writer (the stages' verdicts, an operator) and the one
 * reader that enforces key blocks for every stage (the gate, once a request is parsed)
 * build keys here, so that a block written is a block enforced.
 *
 * A key is `<kind>=<value>` (`user=alice`, `source=203.0.113.9`), or for a flood rule
 * `flood:<rule>|<kind>=<value>|...` (its counters' key; the flood stage enforces those
 * itself, since only it knows which messages a rule matches), or for a caller identity
 * `identity:<user>@<domain>` (the fraud stage enforces those itself). Values are bounded and
 * printable (attributes.ts), so a key can go into a store, an event and a log line as it is.
 */
import { identityKey, type VerifiedIdentity } from '../identity/identity.ts';
import type { SipRequest } from '../sip/message.ts';
import { boundedText, headerValue, userOf } from './attributes.ts';
import { credentialsOf } from './credentials.ts';

/** The kinds of key the gate enforces on every request, whichever stage wrote the block. */
export const KEY_KINDS = ['source', 'user', 'fromUser', 'toUser', 'userAgent'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** `kind=value`: one attribute as a key (a counter's, an event's, a block's). */
export function attributeKey(kind: string, value: string): string {
  return `${kind}=${value}`;
}

/** A source address as a key (a `key`-scope block on it refuses everything from it). */
export function sourceKey(address: string): string {
  return attributeKey('source', address);
}

/**
 * The account a request acts for, as a key: refused from every source but that user's
 * known-good ones while blocked (password guessing spread over many sources).
 */
export function userKey(user: string): string {
  return attributeKey('user', user);
}

/**
 * The prefix of an identity's block key. Like a flood rule's keys, the stage that wrote it
 * (fraud) enforces it itself, on every new call of the identity: the gate runs before
 * authentication, so it cannot know who a request's sender is.
 */
export const IDENTITY_KEY_PREFIX = 'identity:';

/** A caller identity (`user@domain`, verified or the From user) as a block key: `identity:alice@example.com`. */
export function identityBlockKey(identity: string): string {
  return `${IDENTITY_KEY_PREFIX}${identity}`;
}

/** A verified identity (`identity=alice@pbx.example.com`) as a key: what limits on it report. */
export function verifiedIdentityKey(identity: VerifiedIdentity): string {
  return attributeKey('identity', identityKey(identity));
}

/** The prefix of a flood rule's keys (`flood:invite-flood|`). */
export function floodKeyPrefix(rule: string): string {
  return `flood:${rule}|`;
}

/** The prefix of a policy rule's call counters (`policy:<rule>|`), followed by whose calls they count. */
export function policyKeyPrefix(rule: string): string {
  return `policy:${rule}|`;
}

/**
 * The user a request authenticates as, or would: the digest user name when it carries
 * credentials, else the To user of a REGISTER (RFC 3261 10.2: the address-of-record), else
 * the From user. '' when none.
 */
export function accountOf(request: SipRequest, username?: string): string {
  const name = username ?? credentialsOf(request)?.username ?? '';
  if (name.length > 0) return name;
  return request.method === 'REGISTER' ? userOf(request.to.uri) : userOf(request.from.uri);
}

/** One key of a request the gate looks up. */
export interface RequestKey {
  readonly key: string;
  readonly kind: KeyKind;
  readonly value: string;
}

/**
 * The keys of a parsed request that a key block may name, in the order the gate looks them
 * up (its source's key is looked up before parsing, for every packet). Built only when some
 * key is blocked (BlockTable.hasKeyBlocks).
 */
export function requestKeys(request: SipRequest): RequestKey[] {
  const keys: RequestKey[] = [];
  const add = (kind: KeyKind, value: string) => {
    if (value.length > 0) keys.push({ key: attributeKey(kind, value), kind, value });
  };
  add('user', accountOf(request));
  add('fromUser', userOf(request.from.uri));
  add('toUser', userOf(request.to.uri));
  const userAgent = headerValue(request, 'user-agent');
  // As the userAgent attribute spells it: cut and made printable, case kept.
  if (userAgent !== undefined) add('userAgent', boundedText(userAgent));
  return keys;
}
