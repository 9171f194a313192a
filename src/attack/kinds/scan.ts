/**
 * scan: an OPTIONS sweep over an address range and a list of ports, like SIPVicious svmap:
 * one probe per address and port, from one source, User-Agent `friendly-scanner` unless
 * told otherwise; every answer names a SIP service and often its software (User-Agent or
 * Server), which is what a scanner is after.
 */
import type { RemoteInfo } from 'node:dgram';
import type { SipResponse } from '../../sip/message.ts';
import {
  achievedRate,
  type CommonOptions,
  DEFAULT_ANSWER_WAIT_MS,
  defaultSourceAddress,
  waitForAnswers,
} from '../context.ts';
import { pace } from '../pacer.ts';
import { Random, SCANNER_USER_AGENT } from '../random.ts';
import type { AttackReport, JsonValue } from '../report.ts';
import { headerValue, MAGIC_COOKIE, requestText, sipUri } from '../sip-text.ts';
import { seqFromBranch, Tally } from '../tally.ts';
import type { ScanTarget } from '../target.ts';
import { formatEndpoint } from '../target.ts';
import { SipEndpoint } from '../ua/endpoint.ts';

export interface ScanOptions extends Omit<CommonOptions, 'target'> {
  readonly scan: ScanTarget;
}

/** Services listed in a report at most. */
const MAX_FOUND = 1000;

export interface FoundService {
  readonly address: string;
  readonly port: number;
  readonly status: number;
  /** User-Agent or Server of the answer, bounded and printable. */
  readonly software: string;
}

export function printable(text: string | undefined, max = 80): string {
  if (text === undefined) return '';
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

export async function runScan(options: ScanOptions): Promise<AttackReport> {
  const { scan, limits } = options;
  const total = Math.min(limits.count, scan.range.size * scan.ports.length);
  const random = new Random(options.seed);
  const runId = random.token(8);
  const branchPrefix = `${MAGIC_COOKIE}${runId}-`;
  const probeAt = (i: number) => ({
    address: scan.range.at(Math.floor(i / scan.ports.length)),
    port: scan.ports[i % scan.ports.length]!,
  });
  const sourceAddress =
    options.sources?.at(0) ?? defaultSourceAddress({ address: scan.range.at(0), port: scan.ports[0]! });
  const endpoint = await SipEndpoint.bind(sourceAddress);
  const tally = new Tally(total);
  const found: FoundService[] = [];
  const seen = new Set<number>();
  endpoint.onAnyResponse = (response: SipResponse, from: RemoteInfo) => {
    const seq = seqFromBranch(response.via[0]?.branch, branchPrefix);
    tally.answer(seq, response.status);
    if (seq === undefined || seen.has(seq) || found.length >= MAX_FOUND) return;
    seen.add(seq);
    found.push({
      address: from.address,
      port: from.port,
      status: response.status,
      software: printable(headerValue(response, 'user-agent') ?? headerValue(response, 'server')),
    });
  };
  const started = performance.now();
  const startedAt = new Date().toISOString();
  try {
    const paced = await pace(
      { ...limits, count: total, ...(options.signal ? { signal: options.signal } : {}) },
      (i) => {
        const probe = probeAt(i);
        const user = String(100 + random.int(900));
        const text = requestText({
          method: 'OPTIONS',
          requestUri: sipUri(user, probe.address),
          via: { host: endpoint.address, port: endpoint.port, branch: `${branchPrefix}${i}` },
          from: sipUri(user, probe.address),
          fromTag: random.token(10),
          to: sipUri(user, probe.address),
          callId: random.token(24),
          cseq: 1,
          contact: sipUri(user, endpoint.address, endpoint.port),
          userAgent: options.userAgent ?? SCANNER_USER_AGENT,
          extra: ['Accept: application/sdp'],
        });
        tally.sentOne(i);
        endpoint.send(text, probe);
        return undefined;
      },
    );
    await waitForAnswers(options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS, () => false, options.signal);
    const summary = tally.summary();
    // Silence from the other addresses of a sweep is no block: only a one-host sweep can tell.
    const { blockedAfter: _ignored, ...unblocked } = summary;
    const answers = scan.range.size === 1 ? summary : unblocked;
    found.sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
    const first = probeAt(0);
    const last = probeAt(Math.max(0, paced.sent - 1));
    const swept =
      scan.range.size === 1 && scan.ports.length === 1
        ? formatEndpoint(first)
        : `${scan.range.text} ports ${scan.ports.length === 1 ? scan.ports[0] : `${scan.ports[0]}..${scan.ports.at(-1)}`}`;
    return {
      kind: 'scan',
      target: swept,
      transport: 'udp',
      startedAt,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      unit: 'probe',
      rate: { asked: limits.rate, achieved: achievedRate(paced.sent, paced.elapsedMs) },
      sources: { count: 1, first: endpoint.address, last: endpoint.address },
      sendErrors: endpoint.sendErrors,
      answers,
      succeeded: found.length > 0,
      applicable: true,
      outcome:
        found.length > 0
          ? `the sweep found ${found.length} SIP service${found.length === 1 ? '' : 's'}`
          : `no SIP service answered the ${paced.sent} probes (${formatEndpoint(first)} .. ${formatEndpoint(last)})`,
      details: {
        seed: random.seed,
        found: found.map((f) => ({ ...f }) as { [key: string]: JsonValue }),
      },
      notes: found
        .slice(0, 20)
        .map((f) => `found     ${formatEndpoint(f)} ${f.status}${f.software ? ` "${f.software}"` : ''}`)
        .concat(found.length > 20 ? [`found     ... and ${found.length - 20} more`] : []),
    };
  } finally {
    endpoint.close();
  }
}
