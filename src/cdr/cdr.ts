/**
 * A call detail record: one per call attempt (an INVITE out of dialog), answered or not.
 * Times are epoch milliseconds. Absent values are null, so that every record has every
 * column (CSV, JSON and the database row alike).
 */

/** What became of the attempt. */
export const DISPOSITIONS = [
  /** A 2xx: the call was set up. */
  'answered',
  /** 486 Busy Here or 600 Busy Everywhere. */
  'busy',
  /** 408, 480, or 487 without a CANCEL from the caller (Timer C). */
  'no-answer',
  /** The caller sent CANCEL before the answer. */
  'cancelled',
  /** Another final status from the far side. */
  'failed',
  /** sipwarden refused it (a security stage, policy, or the core): see refusal_stage and refusal_rule. */
  'refused',
  /** 401 or 407, and no retry with credentials followed within 32 s. */
  'challenged',
  /** sipwarden stopped (or lost track of the call) before the attempt ended. */
  'interrupted',
] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

/** Who ended the call (answered: who sent the BYE; unanswered: whose message ended the attempt). */
export type EndedBy = 'caller' | 'callee' | 'sipwarden';

/**
 * How it ended: `bye`, `final-response` (an unanswered attempt's final status),
 * `refused`, `session-timeout` (sipwarden's maximum session length: it sent BYE to both
 * parties), `media-flood` (the media relay's flood rule ended it with BYE to both parties),
 * `evicted` (the dialog or open-call table was full), `shutdown`.
 */
export type EndReason =
  | 'bye'
  | 'final-response'
  | 'refused'
  | 'session-timeout'
  | 'media-flood'
  | 'evicted'
  | 'shutdown';

export interface CallDetailRecord {
  /** Row id, once stored. */
  readonly id?: number;
  readonly callId: string;
  /** The side the INVITE came from: `client` (the untrusted side) or `upstream` (the PBX). */
  readonly direction: 'client' | 'upstream';
  /** Times the call passed sipwarden: 2 for a call between two phones behind it (a spiral). */
  readonly legs: number;
  readonly startTime: number;
  readonly answerTime: number | null;
  readonly endTime: number;
  /** Answer to end, in milliseconds; null when unanswered. */
  readonly durationMs: number | null;
  /** As signalled: From, To and Request-URI user and domain. */
  readonly fromUser: string | null;
  readonly fromDomain: string | null;
  readonly toUser: string | null;
  readonly toDomain: string | null;
  readonly requestUser: string | null;
  readonly requestDomain: string | null;
  /** As authenticated by sipwarden (`digest`, `tls-certificate`), when a stage proved it. */
  readonly authUser: string | null;
  readonly authDomain: string | null;
  readonly authMethod: string | null;
  readonly sourceAddress: string;
  readonly sourcePort: number;
  readonly sourceTransport: string;
  readonly disposition: Disposition;
  /** The final SIP status the caller got; null when dropped unanswered or interrupted. */
  readonly status: number | null;
  readonly endedBy: EndedBy | null;
  readonly endReason: EndReason;
  /** When sipwarden refused the INVITE: the stage (`core` for the core's own) and its rule. */
  readonly refusalStage: string | null;
  readonly refusalRule: string | null;
  readonly refusalReason: string | null;
}

/** The columns in order, as the CSV export and the table name them. */
export const CDR_COLUMNS = [
  'id',
  'callId',
  'direction',
  'legs',
  'startTime',
  'answerTime',
  'endTime',
  'durationMs',
  'fromUser',
  'fromDomain',
  'toUser',
  'toDomain',
  'requestUser',
  'requestDomain',
  'authUser',
  'authDomain',
  'authMethod',
  'sourceAddress',
  'sourcePort',
  'sourceTransport',
  'disposition',
  'status',
  'endedBy',
  'endReason',
  'refusalStage',
  'refusalRule',
  'refusalReason',
] as const satisfies readonly (keyof CallDetailRecord)[];
