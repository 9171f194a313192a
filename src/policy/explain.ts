/**
 * `sipwarden policy explain`: which rule decides a request described on the command line,
 * and why, following the rules exactly as the policy stage does (policy.ts), without
 * traffic. Each rule before the deciding one is listed with the first condition that did
 * not hold, or with why it let the request go on (a requirement met, a limit that only
 * traffic can exceed).
 */
import { identityKey } from '../identity/identity.ts';
import { parseAddress } from '../state/ip.ts';
import type { Policy, PolicyRequest, PolicyRule } from './policy.ts';

export interface Explanation {
  /** The deciding rule's name; `default` when none decided. */
  readonly rule: string;
  readonly decision: 'allow' | 'deny' | 'challenge';
  /** The lines printed, the last one the decision. */
  readonly lines: readonly string[];
}

export function describeRequest(request: PolicyRequest): string {
  const who =
    request.identity === undefined
      ? 'an unauthenticated request'
      : `${identityKey(request.identity)} (groups: ${request.identity.groups.join(', ') || 'none'}; roles: ${request.identity.roles.join(', ') || 'none'}${request.identity.organisation === undefined ? '' : `; organisation: ${request.identity.organisation}`})`;
  const from =
    parseAddress(request.address) !== undefined ? `from ${request.address}` : 'from an address not given';
  const to = request.destination === '' ? '' : ` to ${request.destination}`;
  return `${who} ${from} over ${request.transport}: ${request.method}${to} at ${new Date(request.now).toISOString()}`;
}

function label(rule: PolicyRule): string {
  return `rule ${rule.index + 1} ${rule.name} (${rule.action.kind})`;
}

export function explainPolicy(policy: Policy, request: PolicyRequest): Explanation {
  const lines = [`request: ${describeRequest(request)}`];
  const decide = (rule: string, decision: Explanation['decision'], why: string): Explanation => {
    lines.push(`decision: ${decision} by ${rule === 'default' ? 'policy.default' : `rule ${rule}`}: ${why}`);
    return { rule, decision, lines };
  };
  for (const rule of policy.rules) {
    const miss = policy.firstMiss(rule, request);
    if (miss !== undefined) {
      lines.push(`  ${label(rule)}: no match: ${miss.key}: ${miss.miss(request)}`);
      continue;
    }
    const action = rule.action;
    switch (action.kind) {
      case 'allow':
        lines.push(`  ${label(rule)}: matches`);
        return decide(rule.name, 'allow', 'allowed');
      case 'deny':
        lines.push(`  ${label(rule)}: matches`);
        return decide(rule.name, 'deny', `answered ${action.status} ${action.reason}`);
      case 'require-authentication':
        if (request.identity !== undefined) {
          lines.push(`  ${label(rule)}: matches; authenticated, goes on`);
          continue;
        }
        lines.push(`  ${label(rule)}: matches`);
        return decide(rule.name, 'challenge', 'no verified identity: challenged for credentials');
      case 'require-tls':
        if (request.transport === 'tls') {
          lines.push(`  ${label(rule)}: matches; came over tls, goes on`);
          continue;
        }
        lines.push(`  ${label(rule)}: matches`);
        return decide(rule.name, 'deny', `not over TLS: answered ${action.status} ${action.reason}`);
      case 'require-encrypted-media': {
        const applies =
          request.method === 'INVITE'
            ? `a call whose offer has no SRTP keys (a=crypto) sipwarden can use would be answered ${action.status} ${action.reason} (the offer is read on live traffic only)`
            : 'applies to calls (INVITE) only';
        lines.push(`  ${label(rule)}: matches; ${applies}; goes on`);
        continue;
      }
      case 'limit': {
        const limits = [
          action.concurrentCalls === undefined ? '' : `${action.concurrentCalls} concurrent calls`,
          action.callsPerMinute === undefined ? '' : `${action.callsPerMinute} calls per minute`,
        ]
          .filter((t) => t !== '')
          .join(' and ');
        const applies =
          request.method === 'INVITE'
            ? `a call over ${limits} would be answered ${action.status} (counted on live traffic only)`
            : 'limits count calls (INVITE) only';
        lines.push(`  ${label(rule)}: matches; ${applies}; goes on`);
        continue;
      }
    }
  }
  if (policy.defaultAction === 'deny') {
    const d = policy.defaultDeny;
    return decide('default', 'deny', `no rule decided: answered ${d.status} ${d.reason}`);
  }
  return decide('default', 'allow', 'no rule decided');
}
