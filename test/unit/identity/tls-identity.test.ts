import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certificateNames, identityFromCertificate } from '../../../src/identity/tls-identity.ts';
import type { StoredUser, UserDirectory } from '../../../src/identity/user-directory.ts';
import type { TlsPeer } from '../../../src/transport/types.ts';

function user(name: string, domain: string, extra: Partial<StoredUser> = {}): StoredUser {
  return {
    user: name,
    domain,
    ha1Md5: '',
    ha1Sha256: '',
    groups: ['staff'],
    roles: ['phone'],
    allowedNetworks: [],
    enabled: true,
    ...extra,
  };
}

/** A directory over a list: the lookup the stage makes of the store. */
function directory(users: StoredUser[]): UserDirectory {
  return { find: (name, domain) => users.find((u) => u.user === name && u.domain === domain) };
}

const peer = (fields: Partial<TlsPeer>): TlsPeer => ({ authorized: true, altNames: [], ...fields });

describe('identityFromCertificate', () => {
  const users = directory([
    user('alice', 'example.com'),
    user('bob', 'example.com', { enabled: false }),
    user('carol', 'pbx.test', { organisation: 'acme' }),
  ]);

  it('takes the user from a sip: subjectAltName URI', () => {
    const identity = identityFromCertificate(
      peer({ altNames: ['DNS:phone1', 'URI:sip:Alice@Example.com'] }),
      users,
    );
    assert.deepEqual(identity, {
      user: 'alice',
      domain: 'example.com',
      groups: ['staff'],
      roles: ['phone'],
      method: 'tls-certificate',
    });
  });

  it('falls back to the common name, as user@domain or as a user of the default domain', () => {
    assert.equal(
      identityFromCertificate(peer({ subjectCommonName: 'carol@pbx.test' }), users)?.organisation,
      'acme',
    );
    assert.equal(
      identityFromCertificate(peer({ subjectCommonName: 'alice' }), users, 'example.com')?.user,
      'alice',
    );
    assert.equal(identityFromCertificate(peer({ subjectCommonName: 'alice' }), users), undefined);
  });

  it('proves nothing from a certificate the CA did not sign, an unknown user or a disabled one', () => {
    assert.equal(
      identityFromCertificate(peer({ authorized: false, altNames: ['URI:sip:alice@example.com'] }), users),
      undefined,
    );
    assert.equal(
      identityFromCertificate(peer({ altNames: ['URI:sip:mallory@example.com'] }), users),
      undefined,
    );
    assert.equal(identityFromCertificate(peer({ altNames: ['URI:sip:bob@example.com'] }), users), undefined);
    assert.equal(identityFromCertificate(undefined, users), undefined);
  });

  it('reads a bounded number of names, each bounded', () => {
    const many = Array.from({ length: 100 }, (_, i) => `URI:sip:u${i}@example.com`);
    assert.equal(certificateNames(peer({ altNames: many })).length, 16);
    assert.deepEqual(certificateNames(peer({ altNames: [`URI:sip:${'a'.repeat(300)}@x`] })), []);
  });
});
