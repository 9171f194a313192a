/**
 * The SIP message model (RFC 3261 section 7). Pure data: no I/O, no config, no logging.
 *
 * A parsed message keeps the exact bytes of every header line it received (`raw`), so a
 * forwarded message re-emits every byte it does not need to change. Text is held as
 * latin1 strings: one character per byte, so offsets and lengths are byte counts and
 * `Buffer.from(s, 'latin1')` gives the original bytes back, UTF-8 included.
 */

/** One header field line (after unfolding), in the order received. */
export interface HeaderField {
  /** Canonical lower-case long name: compact forms expanded (`v` -> `via`, `i` -> `call-id`). */
  readonly name: string;
  /** The value: leading/trailing whitespace trimmed, line folding (CRLF + WSP) replaced by one space. */
  readonly value: string;
  /**
   * The whole header line exactly as received (name, colon, value, folding), without the
   * final CRLF. Absent on a header the proxy added or changed: the serializer then writes
   * `Canonical-Name: value`.
   */
  readonly raw?: string;
  // A Contact, Route, Record-Route or Path field keeps its parsed values once read, under a
  // symbol key (src/sip/address-headers.ts nameAddrsOf).
}

export interface SipUri {
  readonly scheme: 'sip' | 'sips';
  /** User part, still %-escaped as received; undefined when the URI has no user part. */
  readonly user?: string;
  readonly password?: string;
  /** Host as written: a domain name, an IPv4 address, or an IPv6 reference with brackets (`[::1]`). */
  readonly host: string;
  readonly port?: number;
  /** URI parameters, names lower-cased; a parameter without `=` maps to null. */
  readonly params: ReadonlyMap<string, string | null>;
  /** URI headers (`?a=b&c=d`), still escaped. */
  readonly headers: ReadonlyMap<string, string>;
}

export interface TelUri {
  readonly scheme: 'tel';
  readonly number: string;
  readonly params: ReadonlyMap<string, string | null>;
}

/** Any other absolute URI (RFC 3261 allows them in Request-URI and name-addr). */
export interface OtherUri {
  readonly scheme: string;
  readonly text: string;
}

export type Uri = SipUri | TelUri | OtherUri;

/** name-addr or addr-spec with header parameters (From, To, Contact, Route, Record-Route...). */
export interface NameAddr {
  readonly displayName?: string;
  /** The URI text between < > (or the addr-spec), exactly as written. */
  readonly uriText: string;
  readonly uri: Uri;
  /** Header parameters (after the URI), names lower-cased; value null when there is no `=`. */
  readonly params: ReadonlyMap<string, string | null>;
}

export interface Via {
  /** `SIP/2.0/UDP` etc: the transport token upper-cased (UDP, TCP, TLS, SCTP, WS, WSS, or other token). */
  readonly transport: string;
  /** sent-by host as written (IPv6 with brackets). */
  readonly host: string;
  readonly port?: number;
  /** Via parameters, names lower-cased (branch, received, rport, maddr, ttl...). */
  readonly params: ReadonlyMap<string, string | null>;
  /** The branch parameter, if any. */
  readonly branch?: string;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

interface MessageCommon {
  /** All header fields in order, including those summarised below. */
  readonly headers: readonly HeaderField[];
  /** The body: exactly Content-Length bytes (or the rest of a UDP datagram when absent). */
  readonly body: Buffer;
  /** Summaries of the headers every stage needs, parsed and checked up front. */
  readonly callId: string;
  readonly cseq: CSeq;
  readonly from: NameAddr;
  readonly to: NameAddr;
  /** Every Via value across all Via header fields, top first. Never empty. */
  readonly via: readonly Via[];
  /** Max-Forwards, when present. */
  readonly maxForwards?: number;
  /** Content-Length as declared, when present. */
  readonly contentLength?: number;
}

export interface SipRequest extends MessageCommon {
  readonly kind: 'request';
  /** Method token, case-sensitive as received (RFC 3261 section 7.1). */
  readonly method: string;
  /** Request-URI text exactly as received. */
  readonly uriText: string;
  readonly uri: Uri;
}

export interface SipResponse extends MessageCommon {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
}

export type SipMessage = SipRequest | SipResponse;
