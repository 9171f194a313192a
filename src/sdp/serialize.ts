/**
 * Writes a session description from its model, lines in the order of RFC 8866 section 5,
 * each ended by CRLF. The result is latin1 text: `Buffer.from(text, 'latin1')` gives the
 * bytes. rtpmaps are written from `attributes`, where the parser keeps them.
 */
import type { SdpBandwidth, SdpConnection, SdpMedia, SdpSession } from './model.ts';

const CRLF = '\r\n';

export function formatConnection(c: SdpConnection): string {
  let out = `${c.netType} ${c.addrType} ${c.address}`;
  if (c.ttl !== undefined) out += '/' + c.ttl;
  if (c.count !== undefined) out += '/' + c.count;
  return out;
}

function bandwidths(list: readonly SdpBandwidth[]): string {
  let out = '';
  for (const b of list) out += `b=${b.type}:${b.value}${CRLF}`;
  return out;
}

function attributes(list: SdpSession['attributes']): string {
  let out = '';
  for (const a of list) out += a.value === undefined ? `a=${a.name}${CRLF}` : `a=${a.name}:${a.value}${CRLF}`;
  return out;
}

function mediaSection(m: SdpMedia): string {
  const port = m.portCount === undefined ? String(m.port) : `${m.port}/${m.portCount}`;
  let out = `m=${m.type} ${port} ${m.proto} ${m.formats.join(' ')}${CRLF}`;
  if (m.information !== undefined) out += `i=${m.information}${CRLF}`;
  for (const c of m.connections) out += `c=${formatConnection(c)}${CRLF}`;
  out += bandwidths(m.bandwidths);
  if (m.key !== undefined) out += `k=${m.key}${CRLF}`;
  return out + attributes(m.attributes);
}

export function serializeSdp(s: SdpSession): string {
  const o = s.origin;
  let out = `v=${s.version}${CRLF}`;
  out += `o=${o.username} ${o.sessionId} ${o.sessionVersion} ${o.netType} ${o.addrType} ${o.address}${CRLF}`;
  out += `s=${s.name}${CRLF}`;
  if (s.information !== undefined) out += `i=${s.information}${CRLF}`;
  if (s.uri !== undefined) out += `u=${s.uri}${CRLF}`;
  for (const e of s.emails) out += `e=${e}${CRLF}`;
  for (const p of s.phones) out += `p=${p}${CRLF}`;
  if (s.connection !== undefined) out += `c=${formatConnection(s.connection)}${CRLF}`;
  out += bandwidths(s.bandwidths);
  for (const t of s.timings) {
    out += `t=${t.start} ${t.stop}${CRLF}`;
    for (const r of t.repeats) out += `r=${r}${CRLF}`;
  }
  if (s.zone !== undefined) out += `z=${s.zone}${CRLF}`;
  if (s.key !== undefined) out += `k=${s.key}${CRLF}`;
  out += attributes(s.attributes);
  for (const m of s.media) out += mediaSection(m);
  return out;
}
