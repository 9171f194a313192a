import { header, headers } from './udp-peer.ts';

/**
 * A registrar's 2xx to a forwarded REGISTER: the binding listed with its lifetime (RFC 3261
 * 10.3 item 8), none when the REGISTER asked for 0.
 */
export function registrarOk(forwarded: string): string {
  const contact = header(forwarded, 'contact')!;
  const expires = /expires=0/.test(contact) || header(forwarded, 'expires') === '0' ? 0 : 300;
  return [
    'SIP/2.0 200 OK',
    ...headers(forwarded, 'via').map((v) => `Via: ${v}`),
    `From: ${header(forwarded, 'from')}`,
    `To: ${header(forwarded, 'to')};tag=reg`,
    `Call-ID: ${header(forwarded, 'call-id')}`,
    `CSeq: ${header(forwarded, 'cseq')}`,
    ...(expires === 0 ? [] : [`Contact: ${contact};expires=${expires}`]),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
