/**
 * sipp calls with RTP through sipwarden, their media relayed by Debian's rtpengine
 * (`media.engine: rtpengine`): a sipp UAC plays the RTP of a pcap file to the address the
 * answer names, a sipp UAS (`-rtp_echo`) echoes it back. While each call is up, rtpengine's
 * own statistics (NG `list` and `query`) show packets received from both parties: the UAS can
 * only send what rtpengine relayed to it. Every call completes, and rtpengine holds no call
 * after the last BYE.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import type { Decoded } from '../../../src/media/rtpengine/bencode.ts';
import { NgClient } from '../../../src/media/rtpengine/ng-client.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { freePort } from '../harness/ports.ts';
import { type Rtpengine, rtpengineAvailable, startRtpengine } from '../harness/rtpengine.ts';
import { describeSipp, type SippRun, startSipp } from '../harness/sipp.ts';

const PCAP = '/usr/share/sip-tester/dtmf_2833_1.pcap';
const CALLS = 3;

/** Packets rtpengine received per party (tag) of a call, from its `query` reply. */
function packetsByTag(reply: { readonly [key: string]: Decoded }): number[] {
  const tags = reply.tags;
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return [];
  return Object.values(tags).map((tag) => {
    let packets = 0;
    const medias = typeof tag === 'object' && !Array.isArray(tag) ? tag.medias : undefined;
    for (const media of Array.isArray(medias) ? medias : []) {
      const streams = typeof media === 'object' && !Array.isArray(media) ? media.streams : undefined;
      for (const stream of Array.isArray(streams) ? streams : []) {
        const stats = typeof stream === 'object' && !Array.isArray(stream) ? stream.stats : undefined;
        const n = typeof stats === 'object' && !Array.isArray(stats) ? stats.packets : undefined;
        if (typeof n === 'number') packets += n;
      }
    }
    return packets;
  });
}

describe('sipp calls with RTP relayed by rtpengine', {
  skip: rtpengineAvailable() ? false : 'rtpengine not installed',
}, () => {
  let engine: Rtpengine;
  let control: NgClient;
  let gateway: Gateway;
  let uas: SippRun;
  let sipPort: number;

  before(async () => {
    engine = await startRtpengine();
    control = await NgClient.connect({ host: '127.0.0.1', port: engine.ngPort, timeoutMs: 500 });
    const uasPort = await freePort('127.0.0.1', ['udp']);
    const uasMedia = await freePort('127.0.0.1', ['udp']);
    uas = await startSipp({
      scenario: 'builtin:uas',
      localPort: uasPort,
      timeoutS: 60,
      extraArgs: ['-rtp_echo', '-mp', String(uasMedia)],
    });
    await uas.ready();
    gateway = await startGateway(
      {
        ...coreConfig(uasPort),
        media: {
          ...coreConfig(uasPort).media,
          engine: 'rtpengine',
          rtpengine: {
            ng: { host: '127.0.0.1', port: engine.ngPort },
            timeoutMs: 500,
            retries: 2,
            maxPending: 64,
            upstreamProtocol: 'as-offered',
            clientProtocol: 'as-offered',
          },
        },
      },
      silentLogger,
    );
    sipPort = gateway.listening().find((l) => l.transport === 'udp')!.port;
  });

  after(async () => {
    await gateway?.close();
    await uas?.stop();
    await control?.close();
    await engine?.stop();
  });

  test('every call completes, and rtpengine relays RTP from and to both parties', async () => {
    const uacPort = await freePort('127.0.0.1', ['udp']);
    const uacMedia = await freePort('127.0.0.1', ['udp']);
    const uac = await startSipp({
      scenario: join(import.meta.dirname, 'uac-call-rtp.xml'),
      localPort: uacPort,
      remote: { host: '127.0.0.1', port: sipPort },
      calls: CALLS,
      rate: 1,
      maxConcurrent: CALLS,
      pauseMs: 2000,
      timeoutS: 30,
      keys: { pcap: PCAP },
      extraArgs: ['-mp', String(uacMedia)],
    });
    // While calls are up: each call rtpengine lists has packets from both of its parties.
    const seen = new Map<string, number[]>();
    const deadline = Date.now() + 25_000;
    while (uac.pid > 0 && Date.now() < deadline) {
      const list = await control.command('list', { limit: 100 });
      for (const callId of Array.isArray(list.calls) ? list.calls : []) {
        if (typeof callId !== 'string') continue;
        try {
          const packets = packetsByTag(await control.command('query', { 'call-id': callId }));
          const best = seen.get(callId) ?? [];
          if (packets.filter((p) => p > 0).length >= best.filter((p) => p > 0).length)
            seen.set(callId, packets);
        } catch {
          // Ended between list and query.
        }
      }
      if (seen.size >= CALLS && [...seen.values()].every((p) => p.filter((n) => n > 0).length >= 2)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const result = await uac.done();
    assert.equal(result.successful, CALLS, describeSipp(result));
    assert.equal(result.failed, 0, describeSipp(result));
    assert.equal(seen.size, CALLS, `rtpengine listed ${seen.size} of ${CALLS} calls`);
    for (const [callId, packets] of seen) {
      assert.equal(packets.length, 2, `${callId}: two parties`);
      assert.ok(
        packets.every((p) => p > 0),
        `${callId}: packets from both parties, got ${packets.join(', ')}`,
      );
    }
    // Every BYE answered deleted its call in rtpengine.
    for (let i = 0; i < 50 && gateway.rtpengine!.calls > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(gateway.rtpengine!.calls, 0);
    let listed: Decoded = [];
    for (let i = 0; i < 50; i++) {
      listed = (await control.command('list', { limit: 100 })).calls ?? [];
      if (Array.isArray(listed) && listed.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(listed, []);
  });
});
