import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import { deriveSessionKey, LABEL } from '../../../src/media/srtp/key-derivation.ts';
import { MasterKey } from '../../../src/media/srtp/master-key.ts';
import { SrtpSession } from '../../../src/media/srtp/session.ts';
import { srtpSuite } from '../../../src/media/srtp/suites.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3: the initial key derivation, kdr 0.
test('derives the session keys of RFC 3711 B.3', () => {
  const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const salt = hex('0EC675AD498AFEEBB6960B3AABE6');
  assert.equal(
    deriveSessionKey(key, salt, LABEL.srtpEncryption, 16).toString('hex'),
    'c61e7a93744f39ee10734afe3ff7a087',
  );
  assert.equal(
    deriveSessionKey(key, salt, LABEL.srtpSalt, 14).toString('hex'),
    '30cbbc08863d8c85d49db34a9ae1',
  );
  // The RFC lists 94 octets of auth key; HMAC-SHA1 uses the first 20, all checked here.
  assert.deepEqual(
    deriveSessionKey(key, salt, LABEL.srtpAuthentication, 94),
    hex(`CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
         E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
         6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2`),
  );
});

// RFC 6188 section 7.2: the AES_256_CM_PRF.
test('derives the session keys of RFC 6188 7.2 with a 256-bit master key', () => {
  const key = hex('f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6');
  const salt = hex('3b04803de51ee7c96423ab5b78d2');
  assert.equal(
    deriveSessionKey(key, salt, LABEL.srtpEncryption, 32).toString('hex'),
    '5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4',
  );
  assert.equal(
    deriveSessionKey(key, salt, LABEL.srtpSalt, 14).toString('hex'),
    'fa31791685ca444a9e07c6c64e93',
  );
  assert.equal(
    deriveSessionKey(key, salt, LABEL.srtpAuthentication, 20).toString('hex'),
    'fd9c32d39ed5fbb5a9dc96b30818454d1313dc05',
  );
});

/**
 * The keystream the session XORs into a payload, read back by protecting an all-zero payload
 * of SSRC 0, sequence 0, ROC 0 under the given session key and salt: the session is built from
 * a master key whose derived keys are replaced, so the AES-CM of RFC 3711 4.1.1 is checked alone.
 */
function keystreamOf(sessionKey: Buffer, sessionSalt: Buffer, blocks: number): Buffer {
  // The counter-mode segment of B.2 is the AES-CTR keystream from IV = salt * 2^16.
  const iv = Buffer.concat([sessionSalt, Buffer.alloc(2)]);
  const cipher = createCipheriv(sessionKey.length === 32 ? 'aes-256-ctr' : 'aes-128-ctr', sessionKey, iv);
  return cipher.update(Buffer.alloc(blocks * 16));
}

// RFC 3711 Appendix B.2 and RFC 6188 7.1: AES-CM keystream blocks 0, 1, 2 and 0xFEFF..0xFF01.
test('the AES-CM keystream of RFC 3711 B.2 and RFC 6188 7.1 is what the session XORs', () => {
  const salt = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
  const cases = [
    {
      key: hex('2B7E151628AED2A6ABF7158809CF4F3C'),
      first:
        'E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0',
      last: 'EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44',
    },
    {
      key: hex('57f82fe3613fd170a85ec93c40b1f092 2ec4cb0dc025b58272147cc438944a98'),
      first:
        '92bdd28a93c3f52511c677d08b5515a4 9da71b2378a854f67050756ded165bac 63c4868b7096d88421b563b8c94c9a31',
    },
  ];
  for (const c of cases) {
    const stream = keystreamOf(c.key, salt, 0xff02);
    assert.deepEqual(stream.subarray(0, 48), hex(c.first));
    if (c.last !== undefined) assert.deepEqual(stream.subarray(0xfeff * 16, 0xff02 * 16), hex(c.last));
    // The session's own counter mode over the same key and salt gives the same first blocks.
    const session = sessionWithKeys(c.key, salt);
    const rtp = Buffer.concat([hex('800000000000000000000000'), Buffer.alloc(48)]);
    const out = session.protect(rtp);
    assert.ok(Buffer.isBuffer(out));
    assert.deepEqual(out.subarray(12, 60), hex(c.first));
  }
});

/** A session whose SRTP session keys are exactly these (a master key is found by no search: the test patches the derivation). */
function sessionWithKeys(sessionKey: Buffer, sessionSalt: Buffer): SrtpSession {
  const suite = srtpSuite(sessionKey.length === 32 ? 'AES_256_CM_HMAC_SHA1_80' : 'AES_CM_128_HMAC_SHA1_80')!;
  return SrtpSession.withSessionKeys(suite, {
    encryption: sessionKey,
    authentication: Buffer.alloc(20),
    salt: sessionSalt,
  });
}

// libSRTP's srtp_driver known answers (its test_key: the master key and salt of RFC 3711 B.3):
// an RTP packet of SSRC 0xcafebabe, sequence 0x1234, sixteen 0xab octets.
test('protects and unprotects the known packet of AES_CM_128_HMAC_SHA1_80 and AES_256_CM_HMAC_SHA1_80', () => {
  const plain = hex(`800f1234decafbadcafebabe${'ab'.repeat(16)}`);
  const cases = [
    {
      suite: 'AES_CM_128_HMAC_SHA1_80',
      key: 'e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6',
      cipher: '800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb',
    },
    {
      suite: 'AES_256_CM_HMAC_SHA1_80',
      key: 'f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b63b04803de51ee7c96423ab5b78d2',
      cipher: '800f1234decafbadcafebabef1d9de17ff251ff1aa007774b0b4b40da08d9d9a5b3a55d8873b',
    },
  ];
  for (const c of cases) {
    const suite = srtpSuite(c.suite)!;
    const master = MasterKey.fromConcatenated(hex(c.key), suite)!;
    assert.deepEqual(new SrtpSession(suite, master).protect(plain), hex(c.cipher), c.suite);
    assert.deepEqual(new SrtpSession(suite, master).unprotect(hex(c.cipher)), plain, c.suite);
  }
});
