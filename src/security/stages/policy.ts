/**
 * The identity policy (`policy:` in the configuration; what it means: src/policy/policy.ts)
 * enforced on every out-of-dialog request from the client side, after the authenticate
 * stage has set the verified identity. Requests within a dialog, ACK and CANCEL follow the
 * fate of the request that opened them; the upstream's requests are not the callers'.
 *
 * Every refusal reports a `policy` event naming the rule that refused (`rule`), or
 * `default` for `policy.default: deny`. With no rules (the default), everything passes.
 *
 * A `limit` rule's calls per minute are counted per verified identity (else per source
 * address) in the activity store, under `policy:<rule>|identity=<user@domain>`; only calls
 * the policy let through count. Its concurrent calls are the caller's open calls as the
 * proxy counts them for every new INVITE (RequestContext.activeDialogs).
 */
import { z } from 'zod';
import type { RequestContext } from '../../core/inspector.ts';
import { identityKey } from '../../identity/identity.ts';
import { offerEncryption } from '../../media/offer-encryption.ts';
import type { PolicyRequest, PolicyRule } from '../../policy/policy.ts';
import { detach } from '../../util/detach.ts';
import { boundedText } from '../attributes.ts';
import { attributeKey, policyKeyPrefix, sourceKey } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';

const STAGE = 'policy';
const MINUTE_MS = 60_000;

/** The rules live under the top-level `policy:` key; the stage itself has no settings yet. */
const settingsSchema = z.strictObject({});

const EXEMPT_METHODS: ReadonlySet<string> = new Set(['ACK', 'CANCEL']);
/** In-dialog requests that can carry a new offer (RFC 3261 14, RFC 3311). */
const REOFFER_METHODS: ReadonlySet<string> = new Set(['INVITE', 'UPDATE']);
/** Calls held to encrypted media at once (the oldest forgotten first) and how long each is held. */
const MAX_ENCRYPTED_CALLS = 100_000;
const ENCRYPTED_CALL_MS = 12 * 60 * 60_000;

/** A call a require-encrypted-media rule admitted: the rule, its answer, and until when it holds. */
interface EncryptedCall {
  readonly until: number;
  readonly rule: string;
  readonly status: number;
  readonly reason: string;
}

/** Whose calls a limit counts, and the key events aggregate on. */
function subjectKey(request: PolicyRequest): string {
  return request.identity === undefined
    ? sourceKey(request.address)
    : attributeKey('identity', identityKey(request.identity));
}

export function createPolicyStage(raw: unknown, deps: StageDependencies): Stage {
  parseStageSettings(settingsSchema, raw);
  const { store, authenticator } = deps;
  if (deps.policy === undefined || deps.policy.empty) {
    return { name: STAGE, phase: 'policy', failMode: 'closed' };
  }
  const policy = deps.policy;
  /**
   * Calls a require-encrypted-media rule admitted, by Call-ID and the caller's tag, with
   * when they stop being held to it: a re-INVITE or UPDATE from the caller that offers
   * plain RTP is refused like the first offer would have been. In-dialog requests carry no
   * new proof of identity, so the rule's conditions cannot be evaluated again; the call keeps
   * the rule it was admitted under. Bounded in count and time.
   */
  const encryptedCalls = new Map<string, EncryptedCall>();

  function callKey(context: RequestContext): string {
    return `${context.request.callId}\n${context.request.from.params.get('tag') ?? ''}`;
  }

  function holdToEncryptedMedia(
    context: RequestContext,
    held: Omit<EncryptedCall, 'until'>,
    now: number,
  ): void {
    const key = detach(callKey(context));
    encryptedCalls.delete(key);
    if (encryptedCalls.size >= MAX_ENCRYPTED_CALLS) {
      const oldest = encryptedCalls.keys().next().value;
      if (oldest !== undefined) encryptedCalls.delete(oldest);
    }
    encryptedCalls.set(key, { ...held, until: now + ENCRYPTED_CALL_MS });
  }

  /** A new offer inside a call held to encrypted media: refused when it is not encrypted. */
  function reoffer(context: RequestContext, now: number): StageVerdict {
    if (encryptedCalls.size === 0 || context.request.body.length === 0) return STAGE_PASS;
    const key = callKey(context);
    const held = encryptedCalls.get(key);
    if (held === undefined) return STAGE_PASS;
    if (held.until <= now) {
      encryptedCalls.delete(key);
      return STAGE_PASS;
    }
    const offer = offerEncryption(context.request);
    if (offer.ok) return STAGE_PASS;
    return refuseUnencrypted(
      context,
      policy.requestOf(context, now),
      held.rule,
      held.status,
      held.reason,
      offer.why,
    );
  }

  function refuseUnencrypted(
    context: RequestContext,
    input: PolicyRequest,
    rule: string,
    status: number,
    reason: string,
    why: string,
  ): StageVerdict {
    // RFC 3261 20.43: warn-code 303, incompatible transport protocol (RTP/AVP where RTP/SAVP is required).
    // The reason names the offer's own tokens: printable, unquoted and short in a header.
    const said = why.replace(/[^\x20-\x7e]|["\\]/g, '').slice(0, 120);
    const warning = `303 sipwarden "encrypted media required: ${said}"`;
    return refuse(context, input, rule, status, reason, `encrypted media required: ${said}`, {}, [
      { name: 'Warning', value: warning },
    ]);
  }

  function refuse(
    context: RequestContext,
    request: PolicyRequest,
    rule: string,
    status: number,
    reason: string,
    why: string,
    details: Record<string, string | number> = {},
    headers?: readonly { readonly name: string; readonly value: string }[],
  ): StageVerdict {
    if (request.identity !== undefined) details.identity = identityKey(request.identity);
    const destination = request.destination || policy.destinationOf(context);
    if (destination !== '') details.destination = boundedText(destination);
    details.method = boundedText(request.method);
    return {
      action: 'reject',
      status,
      reason,
      ...(headers === undefined ? {} : { headers }),
      event: eventFor(context.flow, {
        type: 'policy',
        stage: STAGE,
        rule,
        action: 'reject',
        status,
        key: subjectKey(request),
        reason: `rule ${rule}: ${why}`,
        details,
      }),
    };
  }

  /** The authenticate stage's challenge; an event it carries is reported as this rule's decision. */
  function challenge(
    context: RequestContext,
    request: PolicyRequest,
    rule: PolicyRule,
    now: number,
  ): StageVerdict {
    if (authenticator === undefined) {
      // check-config and start refuse such a rule without an authenticator: never reached.
      return refuse(
        context,
        request,
        rule.name,
        403,
        'Forbidden',
        'authentication required, but none is configured',
      );
    }
    const verdict = authenticator.challenge(context, now);
    // A challenge without an event is the protocol's first step, not a refusal: as it is.
    if (verdict.action === 'pass' || verdict.event === undefined) return verdict;
    return {
      ...verdict,
      event: {
        ...verdict.event,
        type: 'policy',
        stage: STAGE,
        rule: rule.name,
        key: subjectKey(request),
        reason: `rule ${rule.name}: authentication required`,
      },
    };
  }

  function request(context: RequestContext, now: number): StageVerdict {
    if (context.direction !== 'client' || EXEMPT_METHODS.has(context.request.method)) return STAGE_PASS;
    if (context.inDialog)
      return REOFFER_METHODS.has(context.request.method) ? reoffer(context, now) : STAGE_PASS;
    const input = policy.requestOf(context, now);
    /** Rate counters of the limits passed: counted only if the request goes through. */
    let counted: string[] | undefined;
    for (const rule of policy.rules) {
      if (policy.firstMiss(rule, input) !== undefined) continue;
      const action = rule.action;
      switch (action.kind) {
        case 'allow':
          count(counted, now);
          return STAGE_PASS;
        case 'deny':
          return refuse(context, input, rule.name, action.status, action.reason, 'denied');
        case 'require-authentication':
          if (input.identity !== undefined) continue;
          return challenge(context, input, rule, now);
        case 'require-tls':
          if (input.transport === 'tls') continue;
          return refuse(
            context,
            input,
            rule.name,
            action.status,
            action.reason,
            `TLS required (came over ${input.transport})`,
          );
        case 'require-encrypted-media': {
          if (input.method !== 'INVITE') continue;
          const offer = offerEncryption(context.request);
          if (offer.ok) {
            holdToEncryptedMedia(
              context,
              { rule: rule.name, status: action.status, reason: action.reason },
              now,
            );
            continue;
          }
          return refuseUnencrypted(context, input, rule.name, action.status, action.reason, offer.why);
        }
        case 'limit': {
          if (input.method !== 'INVITE') continue;
          const active = context.activeDialogs;
          if (
            action.concurrentCalls !== undefined &&
            active !== undefined &&
            active >= action.concurrentCalls
          ) {
            return refuse(
              context,
              input,
              rule.name,
              action.status,
              action.reason,
              'over its concurrent calls',
              {
                active,
                limit: action.concurrentCalls,
              },
            );
          }
          if (action.callsPerMinute !== undefined) {
            const key = policyKeyPrefix(rule.name) + subjectKey(input);
            const calls = store.peek(key, MINUTE_MS, now) + 1;
            if (calls > action.callsPerMinute) {
              return refuse(
                context,
                input,
                rule.name,
                action.status,
                action.reason,
                'over its calls per minute',
                {
                  calls: Math.round(calls),
                  limit: action.callsPerMinute,
                },
              );
            }
            counted ??= [];
            counted.push(key);
          }
          continue;
        }
      }
    }
    if (policy.defaultAction === 'deny') {
      const d = policy.defaultDeny;
      return refuse(context, input, d.rule, d.status, d.reason, 'no rule allows the request');
    }
    count(counted, now);
    return STAGE_PASS;
  }

  function count(keys: string[] | undefined, now: number): void {
    if (keys === undefined) return;
    for (const key of keys) store.hit(key, MINUTE_MS, now);
  }

  return { name: STAGE, phase: 'policy', failMode: 'closed', request };
}
