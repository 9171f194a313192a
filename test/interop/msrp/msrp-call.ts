/**
 * A call that negotiates an MSRP stream through sipwarden, with hand-written SIP peers over
 * UDP: the caller on the untrusted side, the upstream (PBX and callee in one) behind it.
 */
import { answer, header, headers, type UdpPeer } from '../../support/udp-peer.ts';

export interface MsrpCall {
  readonly callId: string;
  readonly n: number;
  /** The INVITE as the upstream got it, and the 200 as the caller got it. */
  readonly forwarded: string;
  readonly answered: string;
  /** The 200 as the upstream sent it (to retransmit). */
  readonly ok: string;
  /** The relay URIs given to the callee (in the offer) and to the caller (in the answer). */
  readonly toCallee: string;
  readonly toCaller: string;
}

export interface CallPeers {
  readonly caller: UdpPeer;
  readonly upstream: UdpPeer;
  /** sipwarden's UDP port. */
  readonly sipPort: number;
}

let seq = 0;

/** An SDP offer or answer with one MSRP stream at `path` (TCP/TLS/MSRP for msrps), with a=setup `setup` (RFC 6135). */
export function msrpDescription(path: string, setup: string): string {
  const proto = path.startsWith('msrps:') ? 'TCP/TLS/MSRP' : 'TCP/MSRP';
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=message ${/:(\d+)\//.exec(path)![1]} ${proto} *`,
    'a=accept-types:*',
    `a=path:${path}`,
    `a=setup:${setup}`,
    '',
  ].join('\r\n');
}

/** A message of udp-peer's `answer` form (ending in an empty body) given an SDP body. */
export function withSdp(message: string, body: string): string {
  return `${message.replace(/Content-Length: 0\r\n\r\n$/, '')}Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export const pathIn = (text: string): string | undefined => /a=path:(\S+)/.exec(text)?.[1];

/** INVITE with the caller's offer, 200 with the callee's answer, ACK; the relay URIs each got. */
export async function placeMsrpCall(
  peers: CallPeers,
  callerPath: string,
  calleePath: string,
): Promise<MsrpCall> {
  const { caller, upstream, sipPort } = peers;
  const n = ++seq;
  const callId = `msrp-${n}-${process.pid}@caller`;
  const invite = withSdp(
    [
      'INVITE sip:bob@pbx.example.com SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-msrp-${n};rport`,
      'Max-Forwards: 70',
      `From: <sip:alice@example.com>;tag=alice-${n}`,
      'To: <sip:bob@pbx.example.com>',
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:alice@127.0.0.1:${caller.port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    msrpDescription(callerPath, 'actpass'),
  );
  caller.send(invite, sipPort);
  const forwarded = await upstream.next((t) => t.startsWith('INVITE ') && t.includes(callId));
  const ok = withSdp(
    answer(forwarded, 200, 'OK', [`Contact: <sip:bob@127.0.0.1:${upstream.port}>`]),
    msrpDescription(calleePath, 'active'),
  );
  upstream.send(ok, sipPort);
  const answered = await caller.next((t) => t.startsWith('SIP/2.0 200') && t.includes(callId));
  caller.send(inDialog('ACK', 1, { callId, n, answered }, peers), sipPort);
  await upstream.next((t) => t.startsWith('ACK ') && t.includes(callId));
  return { callId, n, forwarded, answered, ok, toCallee: pathIn(forwarded)!, toCaller: pathIn(answered)! };
}

/** A call the upstream refuses (486) after the offer went through; resolves with the relay URI the callee was given. */
export async function refusedMsrpCall(peers: CallPeers, callerPath: string): Promise<string> {
  const { caller, upstream, sipPort } = peers;
  const n = ++seq;
  const callId = `msrp-${n}-${process.pid}@caller`;
  caller.send(
    withSdp(
      [
        'INVITE sip:bob@pbx.example.com SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-msrp-${n};rport`,
        'Max-Forwards: 70',
        `From: <sip:alice@example.com>;tag=alice-${n}`,
        'To: <sip:bob@pbx.example.com>',
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      msrpDescription(callerPath, 'actpass'),
    ),
    sipPort,
  );
  const forwarded = await upstream.next((t) => t.startsWith('INVITE ') && t.includes(callId));
  upstream.send(answer(forwarded, 486, 'Busy Here'), sipPort);
  await caller.next((t) => t.startsWith('SIP/2.0 486') && t.includes(callId));
  return pathIn(forwarded)!;
}

/** The caller hangs up: BYE through sipwarden, 200 from the upstream back to the caller. */
export async function hangUp(peers: CallPeers, call: MsrpCall): Promise<void> {
  const { caller, upstream, sipPort } = peers;
  caller.send(inDialog('BYE', 2, call, peers), sipPort);
  const forwarded = await upstream.next((t) => t.startsWith('BYE ') && t.includes(call.callId));
  upstream.send(answer(forwarded, 200, 'OK'), sipPort);
  await caller.next((t) => t.startsWith('SIP/2.0 200') && /CSeq: 2 BYE/.test(t) && t.includes(call.callId));
}

function inDialog(
  method: string,
  cseq: number,
  call: Pick<MsrpCall, 'callId' | 'n' | 'answered'>,
  peers: CallPeers,
): string {
  // RFC 3261 12.1.2: the caller's route set is the Record-Route of the 2xx, reversed.
  const routes = headers(call.answered, 'record-route').reverse();
  return [
    `${method} sip:bob@127.0.0.1:${peers.upstream.port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${peers.caller.port};branch=z9hG4bK-${method.toLowerCase()}-${call.n};rport`,
    ...routes.map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    `From: ${header(call.answered, 'from')}`,
    `To: ${header(call.answered, 'to')}`,
    `Call-ID: ${call.callId}`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
