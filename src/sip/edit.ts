/**
 * Pure edits of a message: each returns a new message and keeps the summaries (`via`,
 * `from`, `to`, `callId`, `cseq`, `maxForwards`, `contentLength`) consistent with the new
 * header fields. Values given here come from the proxy itself, not the network: a value that
 * does not parse for a summarised header is a programming error and throws a TypeError.
 */
import { SipParseError } from './errors.ts';
import { longName } from './header-names.ts';
import { parseCSeq } from './headers/cseq.ts';
import { parseNameAddr } from './headers/name-addr.ts';
import { isCallId, parseDigits } from './headers/scalar.ts';
import { parseViaValues } from './headers/via.ts';
import type { HeaderField, SipMessage, SipRequest, Uri, Via } from './message.ts';
import { parseUri } from './uri.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Fields whose new value lines are added at the very top (RFC 3261 16.6 steps 4 and 8). */
const TOP = new Set(['via', 'record-route', 'path']);

function invalid(name: string, why: string): TypeError {
  return new TypeError(`invalid ${name} value given to a SIP edit: ${why}`);
}

/** Recomputes the summary of `name` from `headers` onto a copy of `m`. */
function withHeaders<M extends SipMessage>(m: M, headers: HeaderField[], name: string): M {
  const out = { ...m, headers } as Mutable<M>;
  switch (name) {
    case 'via': {
      const via: Via[] = [];
      for (const h of headers) {
        if (h.name !== 'via') continue;
        const r = parseViaValues(h.value);
        if (r instanceof SipParseError) throw invalid('Via', r.reason);
        via.push(...r);
      }
      out.via = via;
      break;
    }
    case 'from':
    case 'to': {
      const h = headers.find((f) => f.name === name);
      if (h === undefined) throw invalid(name, 'mandatory header removed');
      const r = parseNameAddr(h.value);
      if (r instanceof SipParseError) throw invalid(name, r.reason);
      if (name === 'from') out.from = r;
      else out.to = r;
      break;
    }
    case 'call-id': {
      const h = headers.find((f) => f.name === name);
      if (h === undefined || !isCallId(h.value)) throw invalid('Call-ID', 'missing or malformed');
      out.callId = h.value;
      break;
    }
    case 'cseq': {
      const h = headers.find((f) => f.name === name);
      const r = h === undefined ? undefined : parseCSeq(h.value);
      if (r === undefined || r instanceof SipParseError) throw invalid('CSeq', 'missing or malformed');
      out.cseq = r;
      break;
    }
    case 'max-forwards':
    case 'content-length': {
      const h = headers.find((f) => f.name === name);
      let v: number | undefined;
      if (h !== undefined) {
        v = parseDigits(h.value, 10);
        if (v < 0) throw invalid(name, 'not a number');
      }
      if (name === 'max-forwards') out.maxForwards = v;
      else out.contentLength = v;
      break;
    }
  }
  return out;
}

/**
 * Adds a header field line before the first field of that name; Via, Record-Route and Path
 * go at the very top. `name` may be in any case or compact form. With `before`, the line goes
 * before the first field named `before` instead (at the end when there is none).
 */
export function prependHeader<M extends SipMessage>(m: M, name: string, value: string, before?: string): M {
  const lname = longName(name);
  const field: HeaderField = { name: lname, value };
  let index = 0;
  if (!TOP.has(lname)) {
    const anchor = before === undefined ? lname : longName(before);
    index = m.headers.findIndex((h) => h.name === anchor);
    if (index < 0) index = m.headers.length;
  }
  const headers = m.headers.slice();
  headers.splice(index, 0, field);
  if (lname === 'via') {
    // The new line is the topmost Via: its values go before the ones already summarised.
    const added = parseViaValues(value);
    if (added instanceof SipParseError) throw invalid('Via', added.reason);
    return { ...m, headers, via: added.concat(m.via) };
  }
  return withHeaders(m, headers, lname);
}

/** Adds a header field line after every other field. */
export function appendHeader<M extends SipMessage>(m: M, name: string, value: string): M {
  const lname = longName(name);
  const headers = m.headers.slice();
  headers.push({ name: lname, value });
  return withHeaders(m, headers, lname);
}

/**
 * Index of the first comma that separates values (outside quoted strings and `<>`), or -1.
 */
export function firstValueEnd(value: string): number {
  let inQuote = false;
  let inAngle = false;
  for (let k = 0; k < value.length; k++) {
    const c = value.charCodeAt(k);
    if (inQuote) {
      if (c === 0x5c) k++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) return k;
  }
  return -1;
}

/**
 * Removes the first value of a possibly comma-separated header (the topmost Via or Route
 * value); the field line goes when it held only that value.
 */
export function removeFirstValue<M extends SipMessage>(m: M, name: string): M {
  const lname = longName(name);
  const index = m.headers.findIndex((h) => h.name === lname);
  if (index < 0) return m;
  const field = m.headers[index]!;
  const comma = firstValueEnd(field.value);
  const headers = m.headers.slice();
  if (comma < 0) headers.splice(index, 1);
  else headers[index] = { name: lname, value: field.value.slice(comma + 1).trim() };
  if (lname === 'via') {
    // Cheaper than re-parsing: the first Via value is the first summary entry.
    return { ...m, headers, via: m.via.slice(1) };
  }
  return withHeaders(m, headers, lname);
}

/** Replaces every field of that name with one field (at the place of the first, or at the end). */
export function setHeader<M extends SipMessage>(m: M, name: string, value: string): M {
  const lname = longName(name);
  const headers: HeaderField[] = [];
  let placed = false;
  for (const h of m.headers) {
    if (h.name !== lname) headers.push(h);
    else if (!placed) {
      headers.push({ name: lname, value });
      placed = true;
    }
  }
  if (!placed) {
    if (TOP.has(lname)) headers.unshift({ name: lname, value });
    else headers.push({ name: lname, value });
  }
  return withHeaders(m, headers, lname);
}

/** Removes every field of that name. */
export function removeHeader<M extends SipMessage>(m: M, name: string): M {
  const lname = longName(name);
  if (!m.headers.some((h) => h.name === lname)) return m;
  return withHeaders(
    m,
    m.headers.filter((h) => h.name !== lname),
    lname,
  );
}

/**
 * Replaces the body, writing Content-Length (and Content-Type when given; an empty body
 * without a type loses its Content-Type).
 */
export function withBody<M extends SipMessage>(m: M, body: Buffer, contentType?: string): M {
  let out: M = { ...m, body };
  if (contentType !== undefined) {
    // A new Content-Type goes before Content-Length, where it is usually written.
    out = m.headers.some((h) => h.name === 'content-type')
      ? setHeader(out, 'content-type', contentType)
      : prependHeader(out, 'content-type', contentType, 'content-length');
  } else if (body.length === 0) out = removeHeader(out, 'content-type');
  return setHeader(out, 'content-length', String(body.length));
}

/** Replaces the Request-URI. */
export function withRequestUri(req: SipRequest, uriText: string): SipRequest {
  const uri: Uri | SipParseError = parseUri(uriText);
  if (uri instanceof SipParseError) throw invalid('Request-URI', uri.reason);
  return { ...req, uriText, uri };
}

/** Removes the fields of that name whose value `drop` selects (the others stay in place). */
export function removeHeaderWhere<M extends SipMessage>(
  m: M,
  name: string,
  drop: (value: string) => boolean,
): M {
  const lname = longName(name);
  if (!m.headers.some((h) => h.name === lname && drop(h.value))) return m;
  return withHeaders(
    m,
    m.headers.filter((h) => h.name !== lname || !drop(h.value)),
    lname,
  );
}
