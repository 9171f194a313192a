/**
 * The DNS wire format (src/dns/wire.ts): a query and the answers read back, and hostile
 * answers (compression loops, lengths past the end, random bytes) refused with WireError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeResponse, encodeQuery, WireError } from '../../../src/dns/wire.ts';

/** A response to `query` carrying `records` (already encoded) in the answer section. */
function response(query: Buffer, records: Buffer[], flags = 0x8180): Buffer {
  const out = Buffer.from(query.subarray(0, query.length - 11)); // without the OPT record
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(records.length, 6);
  out.writeUInt16BE(0, 10);
  return Buffer.concat([out, ...records]);
}

function rr(name: Buffer, type: number, ttl: number, data: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([name, fixed, data]);
}

/** A pointer to the question name (offset 12). */
const QNAME = Buffer.from([0xc0, 12]);

describe('DNS wire format', () => {
  it('writes a recursive query with EDNS0 and reads SRV and NAPTR with their TTLs, names compressed', () => {
    const query = encodeQuery(0x1234, '_sip._udp.Example.test.', 'SRV');
    assert.equal(query.readUInt16BE(0), 0x1234);
    const srv = Buffer.concat([
      Buffer.from([0, 10, 0, 20, 0x13, 0xc4]),
      Buffer.from([3]),
      Buffer.from('pbx'),
      Buffer.from([0xc0, 22]),
    ]);
    const naptr = Buffer.concat([
      Buffer.from([0, 10, 0, 5, 1]),
      Buffer.from('S'),
      Buffer.from([7]),
      Buffer.from('SIP+D2U'),
      Buffer.from([0]),
      QNAME,
    ]);
    const decoded = decodeResponse(response(query, [rr(QNAME, 33, 77, srv), rr(QNAME, 35, 88, naptr)]));
    assert.equal(decoded.id, 0x1234);
    assert.deepEqual(decoded.question, { name: '_sip._udp.example.test', type: 33 });
    assert.deepEqual(decoded.answers[0], {
      name: '_sip._udp.example.test',
      ttl: 77,
      data: { type: 'SRV', srv: { priority: 10, weight: 20, port: 5060, target: 'pbx.example.test' } },
    });
    assert.equal(decoded.answers[1]!.ttl, 88);
    assert.deepEqual(decoded.answers[1]!.data, {
      type: 'NAPTR',
      naptr: {
        order: 10,
        preference: 5,
        flags: 'S',
        service: 'SIP+D2U',
        regexp: '',
        replacement: '_sip._udp.example.test',
      },
    });
  });

  it('reads AAAA as RFC 5952 text and a TTL with the top bit set as 0', () => {
    const query = encodeQuery(1, 'v6.test', 'AAAA');
    const address = Buffer.alloc(16);
    address.writeUInt16BE(0x2001, 0);
    address.writeUInt16BE(0xdb8, 2);
    address.writeUInt16BE(1, 14);
    const decoded = decodeResponse(response(query, [rr(QNAME, 28, 0x80000000, address)]));
    assert.deepEqual(decoded.answers[0], {
      name: 'v6.test',
      ttl: 0,
      data: { type: 'AAAA', address: '2001:db8::1' },
    });
  });

  it('refuses compression loops, forward pointers and lengths past the end', () => {
    const query = encodeQuery(1, 'a.test', 'A');
    const loop = rr(Buffer.from([0xc0, 0]), 1, 1, Buffer.from([1, 2, 3, 4]));
    // A pointer to itself (at the record's own offset) and one pointing forwards.
    const self = response(query, []);
    const selfPointer = Buffer.concat([self, Buffer.from([0xc0, self.length & 0xff]), loop.subarray(2)]);
    selfPointer.writeUInt16BE(1, 6);
    assert.throws(() => decodeResponse(selfPointer), WireError);
    const forward = response(query, [rr(Buffer.from([0xc0, 0xff]), 1, 1, Buffer.from([1, 2, 3, 4]))]);
    assert.throws(() => decodeResponse(forward), WireError);
    const long = response(query, [rr(QNAME, 1, 1, Buffer.from([1, 2, 3, 4]))]);
    assert.throws(() => decodeResponse(long.subarray(0, long.length - 2)), WireError);
    assert.throws(
      () => decodeResponse(response(query, [rr(QNAME, 1, 1, Buffer.from([1, 2, 3]))])),
      WireError,
    );
    assert.throws(() => encodeQuery(1, `${'a'.repeat(64)}.test`, 'A'), WireError);
  });

  it('random bytes after a valid header: a response or a WireError, nothing else', () => {
    const query = encodeQuery(7, 'fuzz.test', 'SRV');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 70 }), (bytes, count) => {
        const packet = response(query, [Buffer.from(bytes)]);
        packet.writeUInt16BE(count, 6);
        try {
          decodeResponse(packet);
        } catch (error) {
          assert.ok(error instanceof WireError, String(error));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
