import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { TransportError } from './errors.ts';

export interface SelfSignedOptions {
  /** Subject common name, usually the host name the proxy is reached by. */
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName; the common name is always included. */
  readonly altNames?: readonly string[];
  /** Validity from now; default 365. */
  readonly days?: number;
}

export interface CertificatePair {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
}

/** X.520 upper bound for a common name. */
const MAX_COMMON_NAME = 64;
const MAX_DAYS = 36_500;
const MAX_ALT_NAMES = 100;
/** RSA rather than ECDSA: many deployed SIP phones still support only RSA certificates. */
const ALGORITHM = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

/**
 * A self-signed certificate for a TLS listener, good for tests and for a first start before
 * a real certificate is installed. It is its own trust anchor: a peer verifies it by listing
 * the certificate itself as CA.
 */
export async function generateSelfSignedCertificate(options: SelfSignedOptions): Promise<CertificatePair> {
  const commonName = options.commonName;
  if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME) {
    throw new TransportError(
      'SW_ERR_TRANSPORT_CONFIG',
      `common name must be 1 to ${MAX_COMMON_NAME} characters`,
    );
  }
  const days = options.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new TransportError('SW_ERR_TRANSPORT_CONFIG', `days must be an integer from 1 to ${MAX_DAYS}`);
  }
  const names = [...new Set([commonName, ...(options.altNames ?? [])])];
  if (names.length > MAX_ALT_NAMES || names.some((name) => name.length === 0 || name.length > 253)) {
    throw new TransportError(
      'SW_ERR_TRANSPORT_CONFIG',
      'alt names must be 1 to 253 characters, at most 100 of them',
    );
  }
  // @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API:
  // loaded here, on demand, so that only certificate generation pays for the global.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const crypto = webcrypto;
  x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER (RFC 5280 section 4.1.2.2)
  const notBefore = new Date(Date.now() - 60_000); // tolerate a peer's clock a little behind
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      // CA so that OpenSSL accepts it as its own trust anchor on the verifying side.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment |
          x509.KeyUsageFlags.keyCertSign,
        true,
      ),
      // Server and client: the same pair serves the listener and mutual TLS to the upstream.
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => (isIP(name) === 0 ? { type: 'dns', value: name } : { type: 'ip', value: name })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: certificate.toString('pem'), key: toPem('PRIVATE KEY', pkcs8) };
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
