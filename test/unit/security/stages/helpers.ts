/** Test helpers for the detection stages: real parsed SIP text, real state tables, simulated time. */

import assert from 'node:assert/strict';
import type { OutcomeContext, PacketContext, RequestContext } from '../../../../src/core/inspector.ts';
import type { EventInput } from '../../../../src/events/types.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { ChallengeProof } from '../../../../src/security/challenge-proof.ts';
import { SecurityPipeline } from '../../../../src/security/pipeline.ts';
import type { Stage, StageDependencies, StageVerdict } from '../../../../src/security/stage.ts';
import type { SipRequest, SipResponse } from '../../../../src/sip/message.ts';
import { parseMessage } from '../../../../src/sip/parse.ts';
import { createMemoryActivityStore } from '../../../../src/state/memory-activity-store.ts';
import { createMemoryBlockTable, type MemoryBlockTable } from '../../../../src/state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../../../src/state/memory-trust-table.ts';
import type { Flow } from '../../../../src/transport/types.ts';

/** An arbitrary fixed epoch; time moves only as the tests say. */
export const T0 = 1_700_000_000_000;

export interface TestDeps extends StageDependencies {
  readonly blocks: MemoryBlockTable;
}

export function makeDeps(): TestDeps {
  return {
    store: createMemoryActivityStore({ maxKeys: 100_000, hashSeed: 0x5eed }),
    blocks: createMemoryBlockTable({ maxEntries: 10_000 }),
    trust: createMemoryTrustTable(),
    log: silentLogger,
    challenges: new ChallengeProof(),
  };
}

export function flow(address: string, port = 5060, transport: Flow['transport'] = 'udp'): Flow {
  return { transport, localAddress: '127.0.0.1', localPort: 5060, remoteAddress: address, remotePort: port };
}

function parse(text: string): SipRequest | SipResponse {
  const r = parseMessage(Buffer.from(text, 'latin1'));
  assert.ok(r.ok, r.ok ? '' : `refused: ${r.error.code} ${r.error.reason}\n${text}`);
  return r.message;
}

export function parseRequest(text: string): SipRequest {
  const m = parse(text);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

export function parseResponse(text: string): SipResponse {
  const m = parse(text);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

export interface RequestOptions {
  readonly method?: string;
  /** Request-URI user; '' for none (`sip:pbx.example.com`). */
  readonly ruriUser?: string;
  readonly fromUser?: string;
  readonly fromDomain?: string;
  readonly fromDisplay?: string;
  readonly toUser?: string;
  readonly toTag?: string;
  readonly callId?: string;
  readonly cseq?: number;
  readonly userAgent?: string;
  /** A Digest Authorization header for this user name. */
  readonly authUser?: string;
  /** The credentials' nonce and realm (default `5f1d2c`, `pbx.example.com`). */
  readonly nonce?: string;
  readonly realm?: string;
  readonly proxyAuth?: boolean;
  readonly branch?: string;
  readonly fromTag?: string;
  readonly contact?: string;
  /** A body (an SDP offer), sent with `contentType` (default application/sdp). */
  readonly body?: string;
  readonly contentType?: string;
}

let counter = 0;

/** A well-formed request as a phone would send it (literal SIP text, parsed). */
export function request(o: RequestOptions = {}): SipRequest {
  counter++;
  const method = o.method ?? 'INVITE';
  const domain = o.fromDomain ?? 'pbx.example.com';
  const ruriUser = o.ruriUser ?? (method === 'REGISTER' ? '' : (o.toUser ?? '200'));
  const ruri = ruriUser === '' ? 'sip:pbx.example.com' : `sip:${ruriUser}@pbx.example.com`;
  const fromUser = o.fromUser ?? '100';
  const toUser = o.toUser ?? (method === 'REGISTER' ? fromUser : ruriUser || '200');
  const display = o.fromDisplay === undefined ? '' : `"${o.fromDisplay}" `;
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 198.51.100.10:5060;branch=${o.branch ?? `z9hG4bK${counter.toString(16)}a7f3`};rport`,
    'Max-Forwards: 70',
    `From: ${display}<sip:${fromUser}@${domain}>;tag=${o.fromTag ?? `f${counter}`}`,
    `To: <sip:${toUser}@pbx.example.com>${o.toTag === undefined ? '' : `;tag=${o.toTag}`}`,
    `Call-ID: ${o.callId ?? `c${counter}@198.51.100.10`}`,
    `CSeq: ${o.cseq ?? 1} ${method}`,
    `Contact: ${o.contact ?? `<sip:${fromUser}@198.51.100.10:5060>`}`,
  ];
  if (o.userAgent !== undefined) lines.push(`User-Agent: ${o.userAgent}`);
  if (o.authUser !== undefined) {
    lines.push(
      `${o.proxyAuth ? 'Proxy-Authorization' : 'Authorization'}: Digest username="${o.authUser}", realm="${o.realm ?? 'pbx.example.com'}", nonce="${o.nonce ?? '5f1d2c'}", uri="${ruri}", response="0123456789abcdef0123456789abcdef", algorithm=MD5`,
    );
  }
  if (o.body !== undefined) {
    lines.push(`Content-Type: ${o.contentType ?? 'application/sdp'}`);
    lines.push(`Content-Length: ${Buffer.byteLength(o.body)}`, '', o.body);
    return parseRequest(lines.join('\r\n'));
  }
  lines.push('Content-Length: 0', '', '');
  return parseRequest(lines.join('\r\n'));
}

export function requestContext(
  req: SipRequest,
  from: Flow,
  options: { direction?: 'client' | 'upstream'; inDialog?: boolean } = {},
): RequestContext {
  return {
    flow: from,
    direction: options.direction ?? 'client',
    request: req,
    inDialog: options.inDialog ?? false,
  };
}

export function outcomeContext(
  req: SipRequest,
  from: Flow,
  status: number,
  direction: 'client' | 'upstream' = 'client',
): OutcomeContext {
  return { flow: from, direction, request: req, status };
}

export function packet(from: Flow, text = 'garbage\r\n\r\n'): PacketContext {
  return { flow: from, data: Buffer.from(text, 'latin1'), direction: 'client' };
}

/** The verdict's action, for short assertions. */
export function actionOf(v: StageVerdict | Promise<StageVerdict>): string {
  assert.ok(!(v instanceof Promise), 'detection stages answer synchronously');
  return v.action;
}

export function eventOf(v: StageVerdict | Promise<StageVerdict>): EventInput {
  assert.ok(!(v instanceof Promise));
  assert.ok(v.action !== 'pass' && v.event !== undefined, 'expected a verdict with an event');
  return v.event;
}

/**
 * The stages run by the real pipeline runner, as in production: verdicts carried out, blocks
 * written to the block table, events collected. Time is `clock.now`.
 */
export class Harness {
  readonly deps: TestDeps;
  readonly events: EventInput[] = [];
  readonly pipeline: SecurityPipeline;
  readonly clock = { now: T0 };

  constructor(stages: (deps: TestDeps) => Stage[], allowlist: readonly string[] = []) {
    this.deps = makeDeps();
    this.pipeline = new SecurityPipeline({
      stages: stages(this.deps),
      blocks: this.deps.blocks,
      events: { emit: (event) => this.events.push(event) },
      log: silentLogger,
      isAllowlisted: (address) => allowlist.includes(address),
      now: () => this.clock.now,
    });
  }

  /** True when the source is blocked (what the gate checks first for every packet). */
  blocked(address: string): boolean {
    return this.deps.blocks.match(address, this.clock.now) !== undefined;
  }

  /** A request, as the core hands it over once the gate let it in; its verdict's action. */
  send(req: SipRequest, from: Flow, inDialog = false): string {
    if (this.blocked(from.remoteAddress)) return 'blocked';
    const v = this.pipeline.inspectRequest(requestContext(req, from, { inDialog }));
    assert.ok(!(v instanceof Promise));
    return v.action;
  }

  /** The final response to a forwarded request: its response hook, then its outcome. */
  answer(req: SipRequest, from: Flow, status: number, extraHeaders = ''): void {
    const response = parseResponse(responseText(req, status, extraHeaders));
    this.pipeline.inspectResponse(requestContext(req, from), response);
    this.pipeline.outcome(outcomeContext(req, from, status));
  }

  /** Events other than alerts: what was acted on. */
  actions(): EventInput[] {
    return this.events.filter((e) => e.action !== 'alert');
  }
}

/** A response to `req` with the same dialog identifiers (RFC 3261 8.2.6.2). */
export function responseText(req: SipRequest, status: number, extraHeaders = ''): string {
  const header = (name: string) => req.headers.find((h) => h.name === name)!.value;
  return [
    `SIP/2.0 ${status} Reason`,
    `Via: ${header('via')}`,
    `From: ${header('from')}`,
    `To: ${req.to.params.has('tag') ? header('to') : `${header('to')};tag=pbx1`}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.cseq.seq} ${req.cseq.method}`,
    ...(extraHeaders === '' ? [] : [extraHeaders]),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
