/**
 * MSRP URIs (RFC 4975 section 9): msrp[s]://[userinfo@]host[:port]/session-id;transport
 * *(;param). Two URIs name the same resource when scheme, host, port, session-id and
 * transport match (RFC 4975 6.1: the session-id compares case-sensitively, the rest not).
 */

export interface MsrpUri {
  readonly secure: boolean;
  /** Lower-cased; an IPv6 literal without its brackets. */
  readonly host: string;
  readonly port: number;
  readonly sessionId: string;
  /** Lower-cased: `tcp` for TCP/MSRP (TLS is `msrps` over `tcp`). */
  readonly transport: string;
}

const URI =
  /^(msrps?):\/\/(?:[^@/\s]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?\/([A-Za-z0-9\-._~%!$&'()*+,=:@]{1,64});([A-Za-z0-9]+)(?:;[^\s]*)?$/i;

export function parseMsrpUri(text: string): MsrpUri | undefined {
  const m = URI.exec(text);
  if (!m) return undefined;
  const secure = m[1]!.toLowerCase() === 'msrps';
  const port = m[3] === undefined ? 2855 : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const rawHost = m[2]!.toLowerCase();
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  return { secure, host, port, sessionId: m[4]!, transport: m[5]!.toLowerCase() };
}

export function formatMsrpUri(uri: MsrpUri): string {
  const host = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  return `${uri.secure ? 'msrps' : 'msrp'}://${host}:${uri.port}/${uri.sessionId};${uri.transport}`;
}

/** RFC 4975 6.1: the same resource. */
export function sameMsrpUri(a: MsrpUri, b: MsrpUri): boolean {
  return (
    a.secure === b.secure &&
    a.host === b.host &&
    a.port === b.port &&
    a.sessionId === b.sessionId &&
    a.transport === b.transport
  );
}
