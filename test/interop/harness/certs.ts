/**
 * Throwaway self-signed certificates for TLS tests, made by the openssl command line
 * (Debian's openssl package): an ECDSA P-256 key and a certificate for localhost and
 * 127.0.0.1, valid two days.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface CertificateFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

export function selfSignedCertificate(dir: string, commonName = 'localhost'): CertificateFiles {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
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
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15000 },
  );
  return { certPath, keyPath };
}
