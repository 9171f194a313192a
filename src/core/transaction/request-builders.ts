import type { HeaderField, SipRequest, SipResponse } from '../../sip/message.ts';

/** Requests a proxy builds itself from one it forwarded: CANCEL (RFC 3261 9.1) and ACK for a non-2xx (17.1.1.3). */

function values(request: SipRequest, name: string): string[] {
  const out: string[] = [];
  for (const header of request.headers) if (header.name === name) out.push(header.value);
  return out;
}

function first(headers: readonly HeaderField[], name: string): string {
  for (const header of headers) if (header.name === name) return header.value;
  return '';
}

function build(method: string, forwarded: SipRequest, to: string): Buffer {
  // Same Request-URI, Call-ID, From, CSeq number and Route set; only our top Via, so the
  // target matches it to the INVITE's transaction by branch.
  const lines = [
    `${method} ${forwarded.uriText} SIP/2.0`,
    // Our Via is the first field line: prependHeader gave it a line of its own.
    `Via: ${values(forwarded, 'via')[0] ?? ''}`,
    ...values(forwarded, 'route').map((route) => `Route: ${route}`),
    'Max-Forwards: 70',
    `From: ${first(forwarded.headers, 'from')}`,
    `To: ${to}`,
    `Call-ID: ${forwarded.callId}`,
    `CSeq: ${forwarded.cseq.seq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

export function buildCancel(forwarded: SipRequest): Buffer {
  return build('CANCEL', forwarded, first(forwarded.headers, 'to'));
}

/** The ACK's To carries the tag of the response it acknowledges. */
export function buildAck(forwarded: SipRequest, response: SipResponse): Buffer {
  return build('ACK', forwarded, first(response.headers, 'to'));
}
