/** fast-check arbitraries of valid SDP models (RFC 8866), for round-trip properties. */
import fc from 'fast-check';
import type {
  SdpAttribute,
  SdpBandwidth,
  SdpConnection,
  SdpMedia,
  SdpOrigin,
  SdpRtpMap,
  SdpSession,
  SdpTiming,
} from '../../../src/sdp/model.ts';

/** fast-check builds records without a prototype; the parser builds plain objects. */
const plain = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => a.map((o) => ({ ...o }));

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+\-.^_`{|}~]{1,10}$/);
/** byte-string without NUL, CR, LF: printable ASCII and some latin1 / UTF-8 bytes. */
const text = fc.stringMatching(/^[ -~\x80-\xff]{1,24}$/);
const digits = fc.stringMatching(/^[0-9]{1,20}$/);

const octet = fc.integer({ min: 0, max: 255 });
const ipv4Unicast = fc
  .tuple(fc.integer({ min: 1, max: 223 }), octet, octet, octet)
  .map((parts) => parts.join('.'));
const ipv4Multicast = fc
  .tuple(fc.integer({ min: 224, max: 239 }), octet, octet, octet)
  .map((parts) => parts.join('.'));
const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const ipv6Unicast = fc.oneof(
  fc
    .tuple(fc.constant('2001'), fc.array(group, { minLength: 7, maxLength: 7 }))
    .map(([a, r]) => [a, ...r].join(':')),
  fc.tuple(group, group).map(([a, b]) => `2001:db8::${a}:${b}`),
  ipv4Unicast.map((v4) => `::ffff:${v4}`),
);
const ipv6Multicast = group.map((g) => `ff0e::${g}`);
const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,6}[a-z0-9])?$/);
const fqdn = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

const origin: fc.Arbitrary<SdpOrigin> = plain<SdpOrigin>(
  fc.oneof(
    fc.record({
      username: fc.oneof(fc.constant('-'), token),
      sessionId: digits,
      sessionVersion: digits,
      netType: fc.constant('IN' as const),
      addrType: fc.constant('IP4' as const),
      address: fc.oneof(ipv4Unicast, fqdn),
    }),
    fc.record({
      username: token,
      sessionId: digits,
      sessionVersion: digits,
      netType: fc.constant('IN' as const),
      addrType: fc.constant('IP6' as const),
      address: fc.oneof(ipv6Unicast, fqdn),
    }),
  ),
);

const connection: fc.Arbitrary<SdpConnection> = plain<SdpConnection>(
  fc.oneof(
    fc.record({
      netType: fc.constant('IN' as const),
      addrType: fc.constant('IP4' as const),
      address: fc.oneof(ipv4Unicast, fqdn),
    }),
    fc.record({
      netType: fc.constant('IN' as const),
      addrType: fc.constant('IP6' as const),
      address: fc.oneof(ipv6Unicast, fqdn),
    }),
    fc.record(
      {
        netType: fc.constant('IN' as const),
        addrType: fc.constant('IP4' as const),
        address: ipv4Multicast,
        ttl: fc.integer({ min: 0, max: 255 }),
        count: fc.integer({ min: 1, max: 256 }),
      },
      { requiredKeys: ['netType', 'addrType', 'address', 'ttl'] },
    ),
    fc.record(
      {
        netType: fc.constant('IN' as const),
        addrType: fc.constant('IP6' as const),
        address: ipv6Multicast,
        count: fc.integer({ min: 1, max: 256 }),
      },
      { requiredKeys: ['netType', 'addrType', 'address'] },
    ),
  ),
);

const bandwidth: fc.Arbitrary<SdpBandwidth> = plain(
  fc.record({
    type: token,
    value: fc.integer({ min: 0, max: 0xffffffff }),
  }),
);

const typedTime = fc
  .tuple(fc.integer({ min: 0, max: 999999 }), fc.constantFrom('', 'd', 'h', 'm', 's'))
  .map(([n, u]) => `${n}${u}`);
const timing: fc.Arbitrary<SdpTiming> = plain(
  fc.record({
    start: digits,
    stop: digits,
    repeats: fc.array(
      fc.array(typedTime, { minLength: 3, maxLength: 5 }).map((t) => t.join(' ')),
      { maxLength: 2 },
    ),
  }),
);
const zone = fc
  .array(fc.tuple(digits, fc.tuple(fc.constantFrom('', '-'), typedTime)), { minLength: 1, maxLength: 3 })
  .map((pairs) => pairs.map(([t, [sign, o]]) => `${t} ${sign}${o}`).join(' '));

/** Names whose values the parser checks: generated apart, with valid values. */
const CHECKED = new Set(['rtpmap', 'fmtp', 'rtcp', 'ptime', 'maxptime', 'candidate']);
const attribute: fc.Arbitrary<SdpAttribute> = fc.oneof(
  token.filter((n) => !CHECKED.has(n)).map((name) => ({ name })),
  plain(fc.record({ name: token.filter((n) => !CHECKED.has(n)), value: text })),
  fc.integer({ min: 10, max: 120 }).map((ms) => ({ name: 'ptime', value: String(ms) })),
  fc.integer({ min: 1, max: 65535 }).map((port) => ({ name: 'rtcp', value: String(port) })),
);

const RTP_PROTOS = ['RTP/AVP', 'RTP/SAVP', 'RTP/AVPF', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVPF', 'TCP/RTP/AVP'];
const OTHER_PROTOS = ['udp', 'TCP/MSRP', 'TCP/TLS/MSRP', 'udptl', 'UDP/DTLS/SCTP', 'TCP/BFCP'];

const encoding = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);

const rtpMedia: fc.Arbitrary<SdpMedia> = fc
  .record(
    {
      type: fc.constantFrom('audio', 'video', 'text'),
      port: fc.integer({ min: 0, max: 65535 }),
      proto: fc.constantFrom(...RTP_PROTOS),
      payloadTypes: fc.uniqueArray(fc.integer({ min: 0, max: 127 }), { minLength: 1, maxLength: 8 }),
      mapped: fc.array(
        fc.record(
          {
            encoding,
            clockRate: fc.integer({ min: 1, max: 0xffffffff }),
            channels: fc.integer({ min: 1, max: 8 }),
          },
          { requiredKeys: ['encoding', 'clockRate'] },
        ),
        { maxLength: 8 },
      ),
      fmtp: fc.boolean(),
      information: text,
      connections: fc.array(connection, { maxLength: 2 }),
      bandwidths: fc.array(bandwidth, { maxLength: 2 }),
      key: fc.constantFrom('prompt', 'clear:secret'),
      attributes: fc.array(attribute, { maxLength: 5 }),
    },
    {
      requiredKeys: [
        'type',
        'port',
        'proto',
        'payloadTypes',
        'mapped',
        'fmtp',
        'connections',
        'bandwidths',
        'attributes',
      ],
    },
  )
  .map((g) => {
    const formats = g.payloadTypes.map(String);
    const rtpmaps: SdpRtpMap[] = g.mapped
      .slice(0, g.payloadTypes.length)
      .map((m, k) => ({ payloadType: g.payloadTypes[k]!, ...m }));
    const attributes: SdpAttribute[] = rtpmaps.map((r) => ({
      name: 'rtpmap',
      value: `${r.payloadType} ${r.encoding}/${r.clockRate}${r.channels === undefined ? '' : '/' + r.channels}`,
    }));
    if (g.fmtp) attributes.push({ name: 'fmtp', value: `${formats[0]} mode=1;x=y` });
    attributes.push(...g.attributes);
    const media: { -readonly [K in keyof SdpMedia]: SdpMedia[K] } = {
      type: g.type,
      port: g.port,
      proto: g.proto,
      formats,
      connections: g.connections,
      bandwidths: g.bandwidths,
      attributes,
      rtpmaps,
    };
    if (g.information !== undefined) media.information = g.information;
    if (g.key !== undefined) media.key = g.key;
    return media;
  });

const otherMedia: fc.Arbitrary<SdpMedia> = fc
  .record(
    {
      type: fc.constantFrom('message', 'image', 'application'),
      port: fc.integer({ min: 0, max: 65535 }),
      portCount: fc.integer({ min: 1, max: 2 }),
      proto: fc.constantFrom(...OTHER_PROTOS),
      formats: fc.array(token, { minLength: 1, maxLength: 4 }),
      connections: fc.array(connection, { maxLength: 2 }),
      bandwidths: fc.array(bandwidth, { maxLength: 1 }),
      attributes: fc.array(attribute, { maxLength: 4 }),
    },
    { requiredKeys: ['type', 'port', 'proto', 'formats', 'connections', 'bandwidths', 'attributes'] },
  )
  .map((g) => {
    const { portCount, ...rest } = g;
    const media: { -readonly [K in keyof SdpMedia]: SdpMedia[K] } = { ...rest, rtpmaps: [] };
    if (portCount !== undefined && g.port + 2 * (portCount - 1) <= 65535) media.portCount = portCount;
    return media;
  });

/** A valid session description model, as the parser builds it. */
export const session: fc.Arbitrary<SdpSession> = fc
  .record(
    {
      origin,
      name: fc.oneof(fc.constant('-'), fc.constant(''), text),
      information: text,
      uri: fc.constant('http://www.example.com/seminars/sdp.pdf'),
      emails: fc.array(text, { maxLength: 2 }),
      phones: fc.array(text, { maxLength: 2 }),
      connection,
      bandwidths: fc.array(bandwidth, { maxLength: 2 }),
      timings: fc.array(timing, { minLength: 1, maxLength: 2 }),
      zone,
      key: fc.constantFrom('prompt', 'base64:c2VjcmV0'),
      attributes: fc.array(attribute, { maxLength: 5 }),
      media: fc.array(fc.oneof(rtpMedia, otherMedia), { maxLength: 4 }),
    },
    { requiredKeys: ['origin', 'name', 'emails', 'phones', 'bandwidths', 'timings', 'attributes', 'media'] },
  )
  .map((g) => {
    // RFC 8866 5.7: without a session-level c=, every media description with a port has its own.
    const fallback: SdpConnection = { netType: 'IN', addrType: 'IP4', address: '192.0.2.1' };
    const media =
      g.connection !== undefined
        ? g.media
        : g.media.map((m) =>
            m.port !== 0 && m.connections.length === 0 ? { ...m, connections: [fallback] } : m,
          );
    return { version: 0 as const, ...g, media };
  });
