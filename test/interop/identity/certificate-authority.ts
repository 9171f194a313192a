/**
 * A throwaway certificate authority for mutual TLS tests, made with the openssl command line
 * (Debian's openssl): an ECDSA P-256 CA certificate, and client certificates it signs that
 * name a SIP user as a subjectAltName URI (`sip:user@domain`, RFC 5922 section 7.1) and as
 * the subject's common name. Each client's certificate and key are also written together in
 * one PEM file, the form baresip's `sip_certificate` takes.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertificateAuthority {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface ClientCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** Certificate then key, in one file. */
  readonly combinedPath: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15000 });
}

/** A self-signed CA certificate (basicConstraints CA:TRUE) named `name`, valid two days. */
export function createCertificateAuthority(dir: string, name: string): CertificateAuthority {
  const certPath = join(dir, `${name}-ca.pem`);
  const keyPath = join(dir, `${name}-ca.key`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    `/O=sipwarden tests/CN=${name} CA`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { certPath, keyPath };
}

/** A client certificate for `user@domain`, signed by `ca`, valid two days. */
export function issueClientCertificate(
  ca: CertificateAuthority,
  dir: string,
  user: string,
  domain: string,
): ClientCertificate {
  const base = join(
    dir,
    `${user}-${domain}-${ca.certPath
      .split('/')
      .pop()!
      .replace(/\.pem$/, '')}`,
  );
  const keyPath = `${base}.key`;
  const csrPath = `${base}.csr`;
  const certPath = `${base}.pem`;
  const extPath = `${base}.ext`;
  const combinedPath = `${base}-combined.pem`;
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    csrPath,
    '-subj',
    `/CN=${user}@${domain}`,
  ]);
  writeFileSync(
    extPath,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth,serverAuth',
      `subjectAltName=URI:sip:${user}@${domain}`,
      '',
    ].join('\n'),
  );
  openssl([
    'x509',
    '-req',
    '-in',
    csrPath,
    '-CA',
    ca.certPath,
    '-CAkey',
    ca.keyPath,
    '-CAcreateserial',
    '-out',
    certPath,
    '-days',
    '2',
    '-extfile',
    extPath,
  ]);
  writeFileSync(combinedPath, Buffer.concat([readFileSync(certPath), readFileSync(keyPath)]), {
    mode: 0o600,
  });
  return { certPath, keyPath, combinedPath };
}
