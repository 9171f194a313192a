/**
 * The `content` stage: the bodies of MESSAGE requests (RFC 3428), and of any other method
 * listed in `content.methods`, are scanned for malware (clamd) before they are forwarded.
 * Each leaf of the body's MIME structure is scanned decoded (body-parts.ts), one after the
 * other, up to the first finding, all within one `clamd.scanTimeoutMs`.
 *
 * - Infected: refused with `content.refuseStatus` (403) and its standard reason phrase: the
 *   sender learns nothing of the signature, which is in the event (type `content`, rule
 *   `infected`) for the operator. With `content.quarantine.enabled`, the request as received
 *   is kept in the quarantine directory and the event names its file.
 * - Clean: passes; the request is forwarded unchanged (the stage never edits it).
 * - The scan failed (clamd down, slow, busy, the content larger than it accepts): rule
 *   `scan-failed`; `failureMode: closed` refuses with `failureStatus` (503), `open` forwards
 *   with an alert.
 * - A body that cannot be taken apart (a bad multipart, an unknown transfer encoding, too
 *   many parts or too deep, a Content-Encoding other than gzip): rule `unscannable`, refused
 *   with `unscannableStatus` (415).
 *
 * Phase `policy`: it holds for allowlisted sources too (a trusted peer can be infected), and
 * a dry run reports without refusing. A request retransmitted while its scan is pending shares
 * that scan: the in-flight table is bounded by the scanner's own bound on scans.
 */
import { z } from 'zod';
import { bodyParts } from '../../content/body-parts.ts';
import type { ScanResult } from '../../content/scanner.ts';
import type { RequestContext } from '../../core/inspector.ts';
import type { EventAction } from '../../events/types.ts';
import { reasonPhrase } from '../../sip/response.ts';
import { serializeMessage } from '../../sip/serialize.ts';
import { eventFor } from '../event-input.ts';
import { parseStageSettings } from '../rule-schema.ts';
import { STAGE_PASS, type Stage, type StageDependencies, type StageVerdict } from '../stage.ts';

/** Its settings are the top-level `content:` section: none under security.settings. */
const settingsSchema = z.strictObject({});

/** Content-Encodings whose content clamd sees: none, and gzip, which clamd decompresses itself. */
const SCANNABLE_CODINGS: ReadonlySet<string> = new Set(['identity', 'gzip', 'x-gzip']);

/** Pending scans shared by retransmissions, at most (a scanner bounds its own queue too). */
const MAX_IN_FLIGHT = 100_000;

/** ASCII, bounded: clamd's words go into events, never raw bytes. */
function printable(text: string, max = 120): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

function header(context: RequestContext, name: string): string | undefined {
  for (const field of context.request.headers) if (field.name === name) return field.value;
  return undefined;
}

export function createContentStage(raw: unknown, deps: StageDependencies): Stage {
  parseStageSettings(settingsSchema, raw);
  const content = deps.content;
  // Not enabled (`content.enabled: false`): a stage with no hook costs nothing.
  if (content === undefined) return { name: 'content', phase: 'policy', failMode: 'open' };
  const { scanner, settings, quarantine } = content;
  const methods = new Set(settings.methods);
  const limits = { maxParts: settings.maxParts, maxDepth: settings.maxDepth };
  const inFlight = new Map<string, Promise<StageVerdict>>();

  function verdict(
    context: RequestContext,
    rule: 'infected' | 'scan-failed' | 'unscannable',
    refuse: boolean,
    status: number,
    reason: string,
    details: Record<string, string | number>,
  ): StageVerdict {
    const action: EventAction = refuse ? 'reject' : 'alert';
    const event = eventFor(context.flow, {
      type: 'content',
      stage: 'content',
      rule,
      action,
      reason,
      ...(refuse ? { status } : {}),
      details: { method: context.request.method, ...details },
    });
    return refuse
      ? { action: 'reject', status, reason: reasonPhrase(status), event }
      : { action: 'alert', event };
  }

  async function inspect(context: RequestContext, now: number): Promise<StageVerdict> {
    const request = context.request;
    // RFC 3261 20.12: a body may be compressed. clamd opens gzip itself; any other coding
    // would carry content past it unseen, so it is refused (RFC 3261 21.4.13: 415).
    const coding = header(context, 'content-encoding')?.trim().toLowerCase();
    if (coding !== undefined && coding !== '' && !SCANNABLE_CODINGS.has(coding)) {
      return verdict(
        context,
        'unscannable',
        true,
        settings.unscannableStatus,
        `body not scannable: Content-Encoding ${printable(coding, 40)}`,
        { bytes: request.body.length },
      );
    }
    const found = bodyParts(
      header(context, 'content-type'),
      header(context, 'content-transfer-encoding'),
      request.body,
      limits,
    );
    if (!found.ok) {
      return verdict(
        context,
        'unscannable',
        true,
        settings.unscannableStatus,
        `body not scannable: ${found.reason}`,
        {
          bytes: request.body.length,
        },
      );
    }
    // One deadline for the whole message, however many parts it has.
    const deadline = AbortSignal.timeout(settings.clamd.scanTimeoutMs);
    for (let index = 0; index < found.parts.length; index++) {
      const part = found.parts[index]!;
      let result: ScanResult = await scanner.scan(part.content, deadline);
      if (result.verdict === 'error' && deadline.aborted) {
        result = {
          verdict: 'error',
          reason: `message not scanned within ${settings.clamd.scanTimeoutMs} ms`,
        };
      }
      if (result.verdict === 'clean') continue;
      const details: Record<string, string | number> = {
        part: index + 1,
        parts: found.parts.length,
        partType: printable(part.type, 80),
        bytes: part.encodedBytes,
      };
      if (result.verdict === 'error') {
        const closed = settings.failureMode === 'closed';
        details.failureMode = settings.failureMode;
        return verdict(
          context,
          'scan-failed',
          closed,
          settings.failureStatus,
          `content not scanned: ${printable(result.reason)}`,
          details,
        );
      }
      details.signature = printable(result.signature);
      if (quarantine !== undefined) {
        const file = await quarantine.keep(serializeMessage(request), now);
        details.quarantine = file ?? 'not kept';
      }
      return verdict(
        context,
        'infected',
        true,
        settings.refuseStatus,
        `infected content: ${details.signature}`,
        details,
      );
    }
    return STAGE_PASS;
  }

  return {
    name: 'content',
    phase: 'policy',
    failMode: settings.failureMode,
    request(context, now) {
      const request = context.request;
      if (request.body.length === 0 || !methods.has(request.method)) return STAGE_PASS;
      const flow = context.flow;
      // The request's server transaction (RFC 3261 17.2.3), from this sender.
      const key = `${flow.transport} ${flow.remoteAddress} ${flow.remotePort} ${request.via[0]!.branch ?? ''} ${request.callId} ${request.cseq.seq} ${request.method}`;
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      const scanned = inspect(context, now);
      if (inFlight.size < MAX_IN_FLIGHT) {
        inFlight.set(key, scanned);
        const forget = () => inFlight.delete(key);
        scanned.then(forget, forget);
      }
      return scanned;
    },
  };
}
