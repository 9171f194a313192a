/**
 * The live parts of a gateway that a reload replaces (reloader.ts): the security pipeline
 * (stages, allowlist, trunks, policy) and the TLS certificate.
 */
import type { SipwardenConfig } from '../config/schema.ts';
import type { TlsOptions } from '../transport/options.ts';
import type { TransportLayer } from '../transport/types.ts';
import type { LivePart, PreparedChange } from './reloader.ts';

/**
 * The security pipeline and what goes with it. `build` makes everything the configuration
 * needs without touching the running pipeline and returns the function that swaps it in.
 */
export function securityPart(build: (next: SipwardenConfig) => () => void): LivePart {
  return {
    name: 'security',
    prepare(next, changed): PreparedChange | undefined {
      if (!changed.some((key) => key.startsWith('security.') || key === 'policy')) return undefined;
      return { keys: [], commit: build(next) };
    },
  };
}

export interface TlsPartOptions {
  /** Reads the files `tls` names; throws an Error naming the file it cannot read. */
  readonly read: (config: SipwardenConfig) => TlsOptions | undefined;
  /** What the transport was started or last reloaded with. */
  readonly initial: TlsOptions | undefined;
  readonly transport: Pick<TransportLayer, 'reloadTls'>;
  /** The MSRP relay's TLS listener presents the certificate it started with. */
  readonly msrpTls: boolean;
}

/**
 * The certificate, key, CA and TLS settings, read from their files at every reload (a
 * certificate renewed in place changes no key of the configuration): new connections, in
 * and out, get them; open connections keep what they negotiated.
 */
export function tlsPart(options: TlsPartOptions): LivePart {
  let current = options.initial;
  return {
    name: 'tls',
    prepare(next): PreparedChange | undefined {
      const tls = options.read(next);
      if (tls === undefined || current === undefined || sameTls(current, tls)) return undefined;
      const reloadTls = options.transport.reloadTls;
      if (reloadTls === undefined) throw new Error('tls: this transport cannot change its certificate');
      return {
        keys: ['tls.certificate'],
        warnings: options.msrpTls
          ? [
              'content.msrp.tlsPort: the MSRP relay keeps presenting the certificate it started with until a restart',
            ]
          : [],
        mayFail: true,
        commit: () => {
          reloadTls.call(options.transport, tls);
          current = tls;
        },
      };
    },
  };
}

function sameTls(a: TlsOptions, b: TlsOptions): boolean {
  return (
    String(a.cert) === String(b.cert) &&
    String(a.key) === String(b.key) &&
    JSON.stringify(a.ca ?? null) === JSON.stringify(b.ca ?? null) &&
    a.minVersion === b.minVersion &&
    a.requestClientCert === b.requestClientCert &&
    a.verifyPeer === b.verifyPeer
  );
}
