/**
 * SIP requests and responses as text, built field by field. The attack tools write their
 * own bytes (some kinds send broken ones on purpose); answers are read with src/sip.
 */
import { randomBytes } from 'node:crypto';
import type { SipMessage, SipResponse } from '../sip/message.ts';
import { type Endpoint, uriHost } from './target.ts';

/** RFC 3261 8.1.1.7: every branch starts with the magic cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface ViaSpec {
  readonly transport?: 'UDP' | 'TCP' | 'TLS';
  readonly host: string;
  readonly port: number;
  readonly branch: string;
}

export interface RequestSpec {
  readonly method: string;
  readonly requestUri: string;
  readonly via: ViaSpec;
  /** More Via lines after the first (forged chains), written as given. */
  readonly moreVia?: readonly string[];
  readonly from: string;
  readonly fromTag: string;
  readonly to: string;
  readonly toTag?: string;
  readonly callId: string;
  readonly cseq: number;
  /** The CSeq method when it differs from the method (never, except in malformed messages). */
  readonly cseqMethod?: string;
  readonly contact?: string;
  readonly route?: readonly string[];
  readonly userAgent?: string;
  readonly maxForwards?: number;
  readonly expires?: number;
  /** Complete header lines (`Name: value`) written before Content-Length. */
  readonly extra?: readonly string[];
  readonly contentType?: string;
  readonly body?: string;
}

export function viaLine(via: ViaSpec): string {
  return `Via: SIP/2.0/${via.transport ?? 'UDP'} ${uriHost(via.host)}:${via.port};branch=${via.branch};rport`;
}

/** A request as wire text (latin1: one character per byte). */
export function requestText(spec: RequestSpec): string {
  let text = `${spec.method} ${spec.requestUri} SIP/2.0\r\n${viaLine(spec.via)}\r\n`;
  for (const via of spec.moreVia ?? []) text += `${via}\r\n`;
  for (const route of spec.route ?? []) text += `Route: ${route}\r\n`;
  text += `Max-Forwards: ${spec.maxForwards ?? 70}\r\n`;
  text += `From: <${spec.from}>;tag=${spec.fromTag}\r\n`;
  text += `To: <${spec.to}>${spec.toTag === undefined ? '' : `;tag=${spec.toTag}`}\r\n`;
  text += `Call-ID: ${spec.callId}\r\n`;
  text += `CSeq: ${spec.cseq} ${spec.cseqMethod ?? spec.method}\r\n`;
  if (spec.contact !== undefined) text += `Contact: <${spec.contact}>\r\n`;
  if (spec.expires !== undefined) text += `Expires: ${spec.expires}\r\n`;
  if (spec.userAgent !== undefined) text += `User-Agent: ${spec.userAgent}\r\n`;
  for (const line of spec.extra ?? []) text += `${line}\r\n`;
  const body = spec.body ?? '';
  if (body !== '') text += `Content-Type: ${spec.contentType ?? 'application/sdp'}\r\n`;
  return `${text}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}

/** `sip:user@host:port` (user optional). */
export function sipUri(user: string | undefined, host: string, port?: number): string {
  return `sip:${user === undefined ? '' : `${user}@`}${uriHost(host)}${port === undefined ? '' : `:${port}`}`;
}

/** A fresh branch carrying a marker the tools match answers on. */
export function branchFor(marker: string): string {
  return `${MAGIC_COOKIE}${marker}`;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A minimal audio offer (RFC 4566), so INVITEs look like calls. */
export function sdpOffer(address: string, port: number, sessionId: number): string {
  const family = address.includes(':') ? 'IP6' : 'IP4';
  return (
    `v=0\r\no=- ${sessionId} ${sessionId} IN ${family} ${address}\r\ns=-\r\nc=IN ${family} ${address}\r\n` +
    `t=0 0\r\nm=audio ${port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n` +
    'a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n'
  );
}

/** The first value of a header in a parsed message (name in lower-case long form). */
export function headerValue(message: SipMessage, name: string): string | undefined {
  for (const header of message.headers) if (header.name === name) return header.value;
  return undefined;
}

/** Every value of a header across its lines, comma lists split (Record-Route, Route, Via). */
export function headerValues(message: SipMessage, name: string): string[] {
  const out: string[] = [];
  for (const header of message.headers) {
    if (header.name !== name) continue;
    for (const value of splitList(header.value)) out.push(value);
  }
  return out;
}

/** Splits a header value at commas outside quotes and angle brackets. */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') depth++;
    else if (c === '>') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last !== '') out.push(last);
  return out;
}

/** The raw header lines of a message (name: value) for copying into a reply or a forgery. */
export function headerLines(message: SipMessage, name: string): string[] {
  return message.headers.filter((h) => h.name === name).map((h) => h.raw ?? `${name}: ${h.value}`);
}

/** The To tag of a parsed message, if any. */
export function toTag(message: SipMessage): string | undefined {
  return message.to.params.get('tag') ?? undefined;
}

/**
 * The ACK for a non-2xx final answer to an INVITE: hop by hop, the INVITE's top Via and
 * From, the answer's To (with its tag), same Call-ID and CSeq number (RFC 3261 17.1.1.3).
 */
export function ackForFailure(response: SipResponse, target: Endpoint, requestUri?: string): string {
  const via = response.via[0]!;
  const lines = [
    `ACK ${requestUri ?? sipUri(undefined, target.address, target.port)} SIP/2.0`,
    `Via: SIP/2.0/${via.transport} ${via.host}${via.port === undefined ? '' : `:${via.port}`};branch=${via.branch ?? ''}`,
    'Max-Forwards: 70',
    `From: ${headerValue(response, 'from') ?? ''}`,
    `To: ${headerValue(response, 'to') ?? ''}`,
    `Call-ID: ${response.callId}`,
    `CSeq: ${response.cseq.seq} ACK`,
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
