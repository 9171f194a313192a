import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SdpSession } from '../../../src/sdp/model.ts';
import { formatConnection, serializeSdp } from '../../../src/sdp/serialize.ts';

test('writes every line of a model in RFC 8866 order, each ended by CRLF', () => {
  const model: SdpSession = {
    version: 0,
    origin: {
      username: '-',
      sessionId: '1',
      sessionVersion: '2',
      netType: 'IN',
      addrType: 'IP4',
      address: '192.0.2.1',
    },
    name: '-',
    information: 'info',
    emails: ['a@example.com'],
    phones: [],
    connection: { netType: 'IN', addrType: 'IP4', address: '192.0.2.1' },
    bandwidths: [{ type: 'AS', value: 64 }],
    timings: [{ start: '0', stop: '0', repeats: ['7d 1h 0'] }],
    zone: '2882844526 -1h',
    attributes: [{ name: 'sendrecv' }],
    media: [
      {
        type: 'audio',
        port: 4000,
        portCount: 2,
        proto: 'RTP/AVP',
        formats: ['0', '101'],
        connections: [],
        bandwidths: [],
        key: 'prompt',
        attributes: [{ name: 'rtpmap', value: '101 telephone-event/8000' }],
        rtpmaps: [{ payloadType: 101, encoding: 'telephone-event', clockRate: 8000 }],
      },
    ],
  };
  assert.equal(
    serializeSdp(model),
    'v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\ni=info\r\ne=a@example.com\r\nc=IN IP4 192.0.2.1\r\n' +
      'b=AS:64\r\nt=0 0\r\nr=7d 1h 0\r\nz=2882844526 -1h\r\na=sendrecv\r\n' +
      'm=audio 4000/2 RTP/AVP 0 101\r\nk=prompt\r\na=rtpmap:101 telephone-event/8000\r\n',
  );
});

test('writes multicast TTL and count after the address', () => {
  assert.equal(
    formatConnection({ netType: 'IN', addrType: 'IP4', address: '224.2.1.1', ttl: 127, count: 3 }),
    'IN IP4 224.2.1.1/127/3',
  );
  assert.equal(
    formatConnection({ netType: 'IN', addrType: 'IP6', address: 'ff15::1', count: 2 }),
    'IN IP6 ff15::1/2',
  );
});
