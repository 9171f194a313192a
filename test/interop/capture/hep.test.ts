/**
 * HEP v3 capture on a real sipwarden process: a Homer-like receiver on a loopback UDP port
 * decodes what arrives while sipp calls through sipwarden and a scanner is refused: the SIP
 * messages of both sides (client to sipwarden, sipwarden to upstream and back) and the
 * security decision as a HEP log packet.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, test } from 'node:test';
import { decodeHep, HEP_CHUNK, type HepChunk } from '../../../src/events/export/hep-encoder.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, startSipp } from '../harness/sipp.ts';
import { startSipwarden } from '../harness/sipwarden.ts';

after(() => stopAll());

interface Captured {
  readonly type: number;
  readonly from: string;
  readonly to: string;
  readonly first: string;
  readonly callId?: string;
  readonly payload: string;
}

function captured(chunks: readonly HepChunk[]): Captured {
  const get = (type: number): Buffer | undefined =>
    chunks.find((c) => c.vendor === 0 && c.type === type)?.value;
  const address = (type: number) => [...(get(type) ?? [])].join('.');
  const port = (type: number) => get(type)?.readUInt16BE(0) ?? -1;
  const payload = get(HEP_CHUNK.payload)?.toString('utf8') ?? '';
  const callId = get(HEP_CHUNK.correlationId)?.toString('latin1');
  return {
    type: get(HEP_CHUNK.protocolType)?.readUInt8(0) ?? -1,
    from: `${address(HEP_CHUNK.ipv4Source)}:${port(HEP_CHUNK.sourcePort)}`,
    to: `${address(HEP_CHUNK.ipv4Destination)}:${port(HEP_CHUNK.destinationPort)}`,
    first: payload.split('\r\n')[0] ?? '',
    ...(callId === undefined ? {} : { callId }),
    payload,
  };
}

test('HEP capture: both sides of a call and the security decisions reach the capture server', async () => {
  const server = createSocket('udp4');
  const packets: Captured[] = [];
  const undecodable: Buffer[] = [];
  server.on('message', (data) => {
    const chunks = decodeHep(data);
    if (chunks === undefined) undecodable.push(data);
    else packets.push(captured(chunks));
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  try {
    const uasPort = await freePort();
    const uas = await startSipp({ scenario: 'uas-call.xml', localPort: uasPort, timeoutS: 60 });
    await uas.ready();
    const sipwarden = await startSipwarden({
      port: await freePort(),
      upstream: { host: '127.0.0.1', port: uasPort },
      config: { events: { hep: { host: '127.0.0.1', port: server.address().port, captureId: 4242 } } },
    });
    const uacPort = await freePort();
    const calls = await runSipp({
      scenario: 'uac-call.xml',
      localPort: uacPort,
      remote: { host: '127.0.0.1', port: sipwarden.port },
      calls: 3,
      rate: 10,
      timeoutS: 30,
    });
    assert.equal(calls.successful, 3, describeSipp(calls));
    // A scanner's OPTIONS: dropped, blocked, and the decision captured as a log packet.
    const scanner = createSocket('udp4');
    await new Promise<void>((resolve) => scanner.bind(0, '127.0.0.7', resolve));
    const scannerPort = scanner.address().port;
    scanner.send(
      [
        `OPTIONS sip:127.0.0.1:${sipwarden.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.7:${scannerPort};branch=z9hG4bKscan1`,
        'Max-Forwards: 70',
        'From: <sip:100@127.0.0.7>;tag=1',
        `To: <sip:100@127.0.0.1:${sipwarden.port}>`,
        'Call-ID: scan-1@127.0.0.7',
        'CSeq: 1 OPTIONS',
        'User-Agent: friendly-scanner',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      sipwarden.port,
      '127.0.0.1',
    );
    const client = `127.0.0.1:${uacPort}`;
    const ours = `127.0.0.1:${sipwarden.port}`;
    const upstream = `127.0.0.1:${uasPort}`;
    const has = (from: string, to: string, first: RegExp) =>
      packets.some((p) => p.type === 1 && p.from === from && p.to === to && first.test(p.first));
    const expected: [string, string, RegExp][] = [
      [client, ours, /^INVITE /],
      [ours, upstream, /^INVITE /],
      [upstream, ours, /^SIP\/2\.0 200 /],
      [ours, client, /^SIP\/2\.0 200 /],
      [client, ours, /^BYE /],
      [ours, upstream, /^BYE /],
    ];
    const decided = () => packets.some((p) => p.type === 100 && p.from.startsWith('127.0.0.7:'));
    for (let i = 0; i < 100 && !(expected.every(([f, t, r]) => has(f, t, r)) && decided()); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    scanner.close();
    await sipwarden.stop();
    await uas.stop();
    assert.deepEqual(undecodable, []);
    for (const [from, to, first] of expected) {
      assert.ok(has(from, to, first), `no ${first} from ${from} to ${to} in ${packets.length} packets`);
    }
    const invites = packets.filter((p) => p.type === 1 && /^INVITE /.test(p.first));
    assert.ok(invites.every((p) => p.callId !== undefined && p.payload.includes(`Call-ID: ${p.callId}`)));
    // The scanner's message itself, as received, and the decision taken on it.
    assert.ok(
      packets.some((p) => p.type === 1 && p.from === `127.0.0.7:${scannerPort}` && /^OPTIONS /.test(p.first)),
    );
    const decision = packets.find((p) => p.type === 100 && p.from.startsWith('127.0.0.7:'));
    assert.ok(decision, 'no decision captured');
    const json = JSON.parse(decision.payload) as { type: string; action: string };
    assert.equal(json.type, 'scanner');
  } finally {
    server.close();
  }
});
