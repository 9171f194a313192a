/**
 * Scanner detection: the tools that sweep the internet for SIP services (SIPVicious and its
 * kin) named by their signatures, and SIPVicious recognised by the shape of what it sends
 * even when its User-Agent was changed. A scanner is blocked and gets no answer at all by
 * default: it learns nothing, not even that something listens.
 *
 * Signatures are case-insensitive substrings of the User-Agent and of the From and To
 * display names (svmap sends `From: "sipvicious"<sip:100@1.1.1.1>`).
 *
 * Fingerprints, read in SIPVicious 0.3.3 (`sipvicious/libs/svhelper.py`, makeRequest and
 * createTag, used by svmap, svwar and svcrack alike):
 * - Via branch `z9hG4bK-` followed by a decimal 32-bit number (`random.getrandbits(32)`),
 *   a dash no other stack we know puts there, with `;rport`;
 * - From tag made by createTag: the hex of `<text> 0x01 <decimal number>` (svmap: the
 *   target's address and port; svwar: the extension; svcrack: `user:password`), or svcrack's
 *   fixed first tag `3206210844`;
 * - the default Contact `sip:123@1.1.1.1` (svcrack) and From/To `sip:100@1.1.1.1` (svmap).
 * The branch shape together with any of the others is SIPVicious: one alone is not
 * enough to block.
 */
import { z } from 'zod';
import type { RequestContext } from '../../core/inspector.ts';
import type { SipRequest } from '../../sip/message.ts';
import { headerValue } from '../attributes.ts';
import { sourceKey } from '../block-keys.ts';
import { eventFor } from '../event-input.ts';
import { actionFields, blockSpec, boolean, oneOf, parseStageSettings, uniqueList } from '../rule-schema.ts';
import {
  STAGE_PASS,
  type Stage,
  type StageDependencies,
  type StageFactory,
  type StageVerdict,
} from '../stage.ts';
import { verdictFor } from '../verdicts.ts';

const STAGE = 'detect:scanner';

/** Known scanner and attack tool names, lower-case. */
export const DEFAULT_SIGNATURES: readonly string[] = [
  'friendly-scanner', // SIPVicious svmap/svwar/svcrack default User-Agent
  'sipvicious',
  'sipcli',
  'vaxsipuseragent',
  'pplsip',
  'sipsak',
  'sundayddr',
  'iwar',
  'sivus',
  'sipscan',
  'sip-scan',
  'smap',
  'gulp',
  'voiper',
  'usaairport',
  'siparmyknife',
];

/** Only so much of a header is searched: signatures sit at the start of real User-Agents. */
const MAX_SEARCHED = 256;

const signature = z
  .string({ error: (issue) => (issue.input === undefined ? undefined : 'must be a string') })
  .regex(/^[\x20-\x7e]{3,64}$/, { error: 'must be 3 to 64 printable ASCII characters' })
  .transform((s) => s.toLowerCase());

const settingsSchema = z
  .strictObject({
    /** More signatures (case-insensitive substrings). */
    addSignatures: uniqueList(signature, 256).default([]),
    /** Built-in signatures to leave out (say `sipsak`, when a monitoring system uses it). */
    removeSignatures: uniqueList(signature, 64).default([]),
    /** Recognise SIPVicious by the shape of its requests, whatever its User-Agent. */
    fingerprints: boolean.default(true),
    direction: oneOf(['client', 'upstream', 'any']).default('client'),
    ...actionFields,
    action: actionFields.action.default('block'),
    block: blockSpec.default({ scope: 'address', durationMs: 60 * 60 * 1000 }),
  })
  .superRefine((s, ctx) => {
    s.removeSignatures.forEach((name, i) => {
      if (!DEFAULT_SIGNATURES.includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['removeSignatures', i],
          message: `${name} is not a built-in signature`,
        });
      }
    });
    if (s.status !== undefined && s.action !== 'reject' && s.action !== 'block' && s.action !== 'tarpit') {
      ctx.addIssue({
        code: 'custom',
        path: ['status'],
        message: 'only applies when action is reject, block or tarpit',
      });
    }
  });

export type ScannerSettings = z.input<typeof settingsSchema>;

/** `z9hG4bK-` and 1 to 10 decimal digits: SIPVicious's `'z9hG4bK-%s' % random.getrandbits(32)`. */
export function isSipviciousBranch(branch: string | undefined): boolean {
  if (branch === undefined || branch.length < 9 || branch.length > 18 || !branch.startsWith('z9hG4bK-'))
    return false;
  for (let i = 8; i < branch.length; i++) {
    const c = branch.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * A tag made by SIPVicious's createTag: `b2a_hex(text + b'\x01' + str(random 32-bit))`,
 * lower-case hex of printable text, the byte 0x01, then 1 to 10 ASCII digits.
 */
export function isSipviciousTag(tag: string | null | undefined): boolean {
  if (tag === undefined || tag === null) return false;
  const n = tag.length;
  if (n < 6 || n > 512 || n % 2 !== 0) return false;
  let i = n;
  let digits = 0;
  // From the end: the digits of the random number.
  for (; i >= 2; i -= 2) {
    const hi = hexValue(tag.charCodeAt(i - 2));
    const lo = hexValue(tag.charCodeAt(i - 1));
    if (hi < 0 || lo < 0) return false;
    if (hi === 3 && lo <= 9) digits++;
    else break;
  }
  if (digits < 1 || digits > 10 || i < 4) return false;
  // Then the 0x01 separator.
  if (tag.charCodeAt(i - 2) !== 0x30 || tag.charCodeAt(i - 1) !== 0x31) return false;
  i -= 2;
  // Then printable text.
  for (; i >= 2; i -= 2) {
    const hi = hexValue(tag.charCodeAt(i - 2));
    const lo = hexValue(tag.charCodeAt(i - 1));
    if (hi < 0 || lo < 0) return false;
    const byte = hi * 16 + lo;
    if (byte < 0x20 || byte > 0x7e) return false;
  }
  return true;
}

/** svcrack's fixed From tag on its first, credential-less REGISTER. */
const SVCRACK_TAG = '3206210844';

/** The evidence that a request was built by SIPVicious, or undefined. */
export function sipviciousEvidence(request: SipRequest): string | undefined {
  if (!isSipviciousBranch(request.via[0]?.branch)) return undefined;
  const tag = request.from.params.get('tag');
  if (isSipviciousTag(tag)) return 'branch z9hG4bK-<decimal>, From tag hex(text 0x01 number)';
  if (tag === SVCRACK_TAG) return 'branch z9hG4bK-<decimal>, svcrack From tag';
  if (request.from.uriText === 'sip:100@1.1.1.1')
    return 'branch z9hG4bK-<decimal>, svmap From sip:100@1.1.1.1';
  const contact = headerValue(request, 'contact');
  if (contact?.includes('sip:123@1.1.1.1') === true)
    return 'branch z9hG4bK-<decimal>, Contact sip:123@1.1.1.1';
  return undefined;
}

function searched(text: string | undefined): string {
  if (text === undefined || text.length === 0) return '';
  return (text.length > MAX_SEARCHED ? text.slice(0, MAX_SEARCHED) : text).toLowerCase();
}

export const createScannerStage: StageFactory = (settings: unknown, _deps: StageDependencies): Stage => {
  const s = parseStageSettings(settingsSchema, settings);
  const removed = new Set(s.removeSignatures);
  const signatures = [...new Set([...DEFAULT_SIGNATURES.filter((x) => !removed.has(x)), ...s.addSignatures])];
  const trust = _deps.trust;

  /**
   * Any signature, any case, anywhere: a test that most values fail, so that they are
   * neither cut nor lower-cased. Message text is latin1, where only A-Z lower-case to
   * ASCII, so this finds whatever the lower-cased search would.
   */
  const anySignature =
    signatures.length === 0
      ? undefined
      : new RegExp(signatures.map((sig) => sig.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'i');

  /** The first signature, in list order, in the searched part of `value`. */
  function find(value: string | undefined): string | undefined {
    if (value === undefined || value.length === 0 || anySignature?.test(value) !== true) return undefined;
    const text = searched(value);
    for (const sig of signatures) if (text.includes(sig)) return sig;
    return undefined;
  }

  function decide(
    context: RequestContext,
    rule: string,
    details: Record<string, string | number>,
    why: string,
    now: number,
  ): StageVerdict {
    const flow = context.flow;
    const key = sourceKey(flow.remoteAddress);
    // An address that authenticated lately (an office where someone runs a scan against
    // their own PBX) is not blocked: the scan gets nothing, the office keeps working.
    if (s.action === 'block' && trust.isTrusted(flow.remoteAddress, now)) {
      return {
        action: 'drop',
        event: eventFor(flow, {
          type: 'scanner',
          stage: STAGE,
          rule,
          action: 'drop',
          key,
          reason: `${why} (trusted source: not blocked)`,
          details,
        }),
      };
    }
    return verdictFor(s, flow, {
      type: 'scanner',
      stage: STAGE,
      rule,
      key,
      reason: why,
      details,
      defaultStatus: 403,
    });
  }

  return {
    name: 'scanner',
    phase: 'detect',
    failMode: 'open',

    request(context: RequestContext, now: number): StageVerdict {
      if (s.direction !== 'any' && s.direction !== context.direction) return STAGE_PASS;
      const request = context.request;
      let field = 'User-Agent';
      let sig = find(headerValue(request, 'user-agent'));
      if (sig === undefined) {
        field = 'From display name';
        sig = find(request.from.displayName);
      }
      if (sig === undefined) {
        field = 'To display name';
        sig = find(request.to.displayName);
      }
      if (sig !== undefined) {
        return decide(
          context,
          'signature',
          { signature: sig, field, method: request.method.slice(0, 32) },
          `scanner signature "${sig}" in ${field}`,
          now,
        );
      }
      if (s.fingerprints) {
        const evidence = sipviciousEvidence(request);
        if (evidence !== undefined) {
          return decide(
            context,
            'sipvicious-fingerprint',
            { evidence, method: request.method.slice(0, 32) },
            `SIPVicious request shape: ${evidence}`,
            now,
          );
        }
      }
      return STAGE_PASS;
    },
  };
};
