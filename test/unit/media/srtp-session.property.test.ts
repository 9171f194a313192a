import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { MasterKey } from '../../../src/media/srtp/master-key.ts';
import { estimateRoc, SrtpSession } from '../../../src/media/srtp/session.ts';
import { SRTP_SUITES, type SrtpSuite } from '../../../src/media/srtp/suites.ts';

const suites = [...SRTP_SUITES.values()];
const suiteArb = fc.constantFrom(...suites);

function rtp(seq: number, ssrc: number, payload: Uint8Array, csrcs = 0, extension?: Uint8Array): Buffer {
  const header = Buffer.alloc(12 + csrcs * 4);
  header[0] = 0x80 | csrcs | (extension === undefined ? 0 : 0x10);
  header[1] = 0;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(seq * 160, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  const parts = [header];
  if (extension !== undefined) {
    const ext = Buffer.alloc(4 + Math.ceil(extension.length / 4) * 4);
    ext.writeUInt16BE(0xbede, 0);
    ext.writeUInt16BE((ext.length - 4) / 4, 2);
    Buffer.from(extension).copy(ext, 4);
    parts.push(ext);
  }
  parts.push(Buffer.from(payload));
  return Buffer.concat(parts);
}

function pair(suite: SrtpSuite): { sender: SrtpSession; receiver: SrtpSession } {
  const key = MasterKey.generate(suite);
  return { sender: new SrtpSession(suite, key), receiver: new SrtpSession(suite, key) };
}

test('unprotect(protect(p)) is p for any RTP packet and suite', () => {
  fc.assert(
    fc.property(
      suiteArb,
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.uint8Array({ maxLength: 1400 }),
      fc.integer({ min: 0, max: 15 }),
      fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
      (suite, seq, ssrc, payload, csrcs, extension) => {
        const { sender, receiver } = pair(suite);
        const packet = rtp(seq, ssrc, payload, csrcs, extension);
        const secured = sender.protect(packet);
        assert.ok(Buffer.isBuffer(secured));
        assert.equal(secured.length, packet.length + suite.srtpTagLength);
        assert.deepEqual(receiver.unprotect(secured), packet);
      },
    ),
    { numRuns: 300 },
  );
});

test('any change of one bit of an SRTP packet is refused as not authentic', () => {
  fc.assert(
    fc.property(
      suiteArb,
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.nat(),
      (suite, payload, bit) => {
        const { sender, receiver } = pair(suite);
        const secured = sender.protect(rtp(7, 0x1234, payload)) as Buffer;
        const position = bit % (secured.length * 8);
        secured[position >> 3]! ^= 1 << (position & 7);
        const result = receiver.unprotect(secured);
        // A flip in the first octet (version, extension, CSRC count) may make the header unreadable
        // before any check; every other bit fails authentication.
        assert.ok(result === 'authentication' || (position < 8 && result === 'malformed'), String(result));
      },
    ),
    { numRuns: 300 },
  );
});

test('unprotectRtcp(protectRtcp(p)) is p, and a changed bit is refused', () => {
  fc.assert(
    fc.property(suiteArb, fc.uint8Array({ maxLength: 400 }), fc.nat(), (suite, body, bit) => {
      const { sender, receiver } = pair(suite);
      const packet = Buffer.concat([
        Buffer.from([0x81, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef]),
        Buffer.from(body),
      ]);
      const secured = sender.protectRtcp(packet) as Buffer;
      assert.equal(secured.length, packet.length + 4 + 10);
      const tampered = Buffer.from(secured);
      const position = bit % (tampered.length * 8);
      tampered[position >> 3]! ^= 1 << (position & 7);
      const refused = receiver.unprotectRtcp(tampered);
      assert.ok(refused === 'authentication' || (position < 8 && refused === 'malformed'), String(refused));
      assert.deepEqual(receiver.unprotectRtcp(secured), packet);
    }),
    { numRuns: 200 },
  );
});

test('a replayed SRTP packet is refused, a reordered one within the window is accepted', () => {
  const { sender, receiver } = pair(suites[0]!);
  const packets = [10, 11, 12, 13].map((seq) => sender.protect(rtp(seq, 1, Buffer.alloc(20, seq))) as Buffer);
  assert.ok(Buffer.isBuffer(receiver.unprotect(packets[0]!)));
  assert.ok(Buffer.isBuffer(receiver.unprotect(packets[2]!)));
  assert.ok(Buffer.isBuffer(receiver.unprotect(packets[1]!)), 'reordered, not seen: accepted');
  assert.equal(receiver.unprotect(packets[2]!), 'replay');
  assert.equal(receiver.unprotect(packets[0]!), 'replay');
});

test('a packet older than the replay window is refused', () => {
  const { sender, receiver } = pair(suites[0]!);
  const old = sender.protect(rtp(1, 1, Buffer.alloc(4))) as Buffer;
  const newer = sender.protect(rtp(1 + 200, 1, Buffer.alloc(4))) as Buffer;
  assert.ok(Buffer.isBuffer(receiver.unprotect(newer)));
  assert.equal(receiver.unprotect(old), 'replay');
});

test('a replay SRTCP packet is refused', () => {
  const { sender, receiver } = pair(suites[0]!);
  const secured = sender.protectRtcp(Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 9])) as Buffer;
  assert.ok(Buffer.isBuffer(receiver.unprotectRtcp(secured)));
  assert.equal(receiver.unprotectRtcp(secured), 'replay');
});

test('an unauthentic packet changes no state: the authentic one with its index is accepted after it', () => {
  const { sender, receiver } = pair(suites[0]!);
  const good = sender.protect(rtp(5, 1, Buffer.alloc(8, 1))) as Buffer;
  const forged = Buffer.from(good);
  forged[forged.length - 1]! ^= 0xff;
  assert.equal(receiver.unprotect(forged), 'authentication');
  assert.ok(Buffer.isBuffer(receiver.unprotect(good)));
});

test('the rollover counter follows the sequence number across its wrap, with reordering (RFC 3711 3.3.1)', () => {
  fc.assert(
    fc.property(
      suiteArb,
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 1, max: 300 }),
      fc.nat(),
      (suite, start, count, seed) => {
        const { sender, receiver } = pair(suite);
        const packets: Buffer[] = [];
        const plain: Buffer[] = [];
        for (let i = 0; i < count; i++) {
          const p = rtp((start + i) & 0xffff, 42, Buffer.from([i & 0xff, i >> 8]));
          plain.push(p);
          packets.push(sender.protect(p) as Buffer);
        }
        // Swap neighbours here and there: reordering by one stays within the window. The first
        // packet arrives first: it is where the receiver starts its ROC at 0 (RFC 3711 3.3.1).
        const order = packets.map((_, i) => i);
        for (let i = 1 + (seed % 3); i + 1 < order.length; i += 3)
          [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
        for (const i of order) assert.deepEqual(receiver.unprotect(packets[i]!), plain[i], `packet ${i}`);
      },
    ),
    { numRuns: 100 },
  );
});

test('estimateRoc guesses the index nearest the highest one', () => {
  assert.equal(estimateRoc(3, 0xfff0, 0x0005), 4);
  assert.equal(estimateRoc(4, 0x0005, 0xfff0), 3);
  assert.equal(estimateRoc(4, 0x1000, 0x1001), 4);
  assert.equal(estimateRoc(0, 0x0005, 0xfff0), -1);
});

test('refuses truncated and non-version-2 packets without throwing', () => {
  const { receiver } = pair(suites[0]!);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const result = receiver.unprotect(Buffer.from(bytes));
      const rtcp = receiver.unprotectRtcp(Buffer.from(bytes));
      assert.equal(typeof result, 'string');
      assert.equal(typeof rtcp, 'string');
    }),
  );
});

test('a master key never shows its bytes in text, JSON or inspection', () => {
  const suite = suites[0]!;
  const key = MasterKey.generate(suite);
  const inline = key.toInline();
  const shown = [String(key), JSON.stringify({ key }), inspect(key), inspect({ nested: { key } }), `${key}`];
  for (const text of shown) {
    assert.ok(!text.includes(inline), text);
    assert.ok(!text.includes(key.reveal().key.toString('hex')), text);
    assert.match(text, /redacted/);
  }
});
