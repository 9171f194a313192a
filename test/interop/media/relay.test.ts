/**
 * The built-in RTP relay with real peers: sipp calls through sipwarden (in this process, its
 * defaults: the relay on) to a sipp PBX that echoes RTP (-rtp_echo). The caller plays one of
 * sipp's pcap files (PCMA, or RFC 2833 events with a payload type the offer did not list);
 * the relay's counters show the audio each way, the PBX's echo proving it arrived there. A
 * third address injects into the call's ports. After the BYE, and after a silence longer
 * than the inactivity timeout, the relay's ports can be bound again: they are closed.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ManagementClient } from '../../../src/api/client.ts';
import { defaultConfig } from '../../../src/config/load-config.ts';
import type { SipwardenConfig } from '../../../src/config/schema.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import { type Gateway, startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { gatewayClient } from '../../support/accounts.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, startSipp } from '../harness/sipp.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const PCAPS = '/usr/share/sip-tester';
const AUDIO = join(PCAPS, 'g711a.pcap');
const EVENTS = join(PCAPS, 'dtmf_2833_1.pcap');
/** RTP packets in the pcaps (tshark -r): 236 PCMA packets; 10 telephone-event packets (payload type 101). */
const AUDIO_PACKETS = 236;
const EVENT_PACKETS = 10;
const skip = existsSync(AUDIO) && existsSync(EVENTS) ? false : 'sipp pcap files not installed';

const SCENARIOS = join(import.meta.dirname, 'scenarios');

/** The UAC scenario playing `pcap`, or playing nothing. */
function uacScenario(pcap: string | undefined): string {
  let text = readFileSync(join(SCENARIOS, 'uac-rtp.xml'), 'latin1');
  text = pcap === undefined ? text.replace(/<nop>[\s\S]*?<\/nop>/, '') : text.replace('@PCAP@', pcap);
  const path = join(tempDir('media-scenario'), 'uac-rtp.xml');
  writeFileSync(path, text);
  return path;
}

interface Rig {
  readonly gateway: Gateway;
  readonly port: number;
  readonly pbxPort: number;
  readonly api: ManagementClient;
  close(): Promise<void>;
}

/** An even base in 40000-47999 for the test's relay ranges: 100 ports per side. */
function ranges(): {
  client: { portMin: number; portMax: number };
  upstream: { portMin: number; portMax: number };
} {
  const base = 40_000 + 2 * Math.floor(Math.random() * 3900);
  return {
    client: { portMin: base, portMax: base + 99 },
    upstream: { portMin: base + 100, portMax: base + 199 },
  };
}

async function rig(relay: Record<string, unknown> = {}): Promise<Rig> {
  const base = defaultConfig();
  const pbxPort = await freePort();
  const config: SipwardenConfig = {
    ...base,
    listen: [{ host: '127.0.0.1', port: 0, transports: ['udp'] }],
    upstream: { host: '127.0.0.1', port: pbxPort, transport: 'udp' },
    management: { ...base.management, enabled: true, host: '127.0.0.1', port: 0 },
    events: { ...base.events, database: ':memory:', aggregateWindowMs: 1000 },
    // The defaults, with ranges of this test's own and what the test sets.
    media: { relay: { ...base.media.relay, ...ranges(), ...relay } },
  };
  const gateway = await startGateway(config, silentLogger);
  const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  return {
    gateway,
    port,
    pbxPort,
    api: gatewayClient(gateway),
    close: () => gateway.close(),
  };
}

/** The PBX (answers, echoes RTP) and one call from the UAC; resolves once both sipps ended. */
async function call(
  r: Rig,
  pcap: string | undefined,
  holdMs: number,
  during?: () => Promise<void>,
  expect = { uac: 1, pbx: 1 },
) {
  const pbx = await startSipp({
    scenario: join(SCENARIOS, 'uas-rtp.xml'),
    localPort: r.pbxPort,
    calls: 1,
    timeoutS: 60,
    extraArgs: ['-mp', String(await freePort()), '-rtp_echo'],
  });
  await pbx.ready();
  const uac = await startSipp({
    scenario: uacScenario(pcap),
    localPort: await freePort(),
    remote: { host: '127.0.0.1', port: r.port },
    calls: 1,
    pauseMs: holdMs,
    timeoutS: 60,
    extraArgs: ['-mp', String(await freePort())],
  });
  if (during !== undefined) await during();
  const uacResult = await uac.done();
  const pbxResult = await pbx.done();
  assert.equal(uacResult.successful, expect.uac, describeSipp(uacResult));
  assert.equal(pbxResult.successful, expect.pbx, describeSipp(pbxResult));
}

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function mediaEvents(api: ManagementClient, rule: string): Promise<SecurityEvent[]> {
  let events: SecurityEvent[] = [];
  await until(async () => {
    events = (await api.events({ type: 'media' })).events.filter((e) => e.rule === rule);
    return events.length > 0;
  }, `a media event of rule ${rule}`);
  return events;
}

async function bindable(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  try {
    socket.bind(port, '127.0.0.1');
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

test('audio relayed both ways through the PBX echo; injection from a third address dropped and evented; ports closed after BYE', {
  skip,
}, async () => {
  const r = await rig();
  try {
    const relay = r.gateway.rtpRelay!;
    assert.ok(relay, 'the relay is on by default');
    let ports: { client: number; upstream: number } | undefined;
    await call(r, AUDIO, 8000, async () => {
      await until(() => relay.streams().some((s) => s.open), 'the stream negotiated');
      ports = relay.streams()[0]!;
      await until(() => relay.stats.fromClient > 20, 'audio from the caller');
      assert.equal(await bindable(ports.client), false, 'the client port is bound during the call');
      // A third address sends into both of the call's ports.
      const intruder = createSocket('udp4');
      intruder.bind(0, '127.0.0.3');
      await once(intruder, 'listening');
      const packet = Buffer.alloc(172);
      packet[0] = 0x80;
      packet[1] = 8;
      for (let i = 0; i < 5; i++) {
        intruder.send(packet, ports.client, '127.0.0.1');
        intruder.send(packet, ports.upstream, '127.0.0.1');
      }
      await until(() => relay.stats.injection >= 10, 'the injected packets dropped');
      intruder.close();
    });
    // Loopback loses nothing: every packet of the pcap reached the PBX, and its echo came back.
    assert.ok(
      relay.stats.fromClient >= AUDIO_PACKETS * 0.99,
      `caller to PBX: ${relay.stats.fromClient} of ${AUDIO_PACKETS}`,
    );
    assert.ok(
      relay.stats.fromUpstream >= AUDIO_PACKETS * 0.99,
      `PBX echo to caller: ${relay.stats.fromUpstream} of ${AUDIO_PACKETS}`,
    );
    assert.equal(relay.stats.injection, 10);
    assert.equal(relay.stats.payloadType, 0);
    const events = await mediaEvents(r.api, 'injection');
    assert.ok(events.every((e) => e.source?.address === '127.0.0.3' && e.action === 'drop'));
    // The BYE closed the ports.
    await until(() => relay.streamCount === 0, 'the stream closed with the dialog');
    assert.equal(relay.openPorts, 0);
    assert.equal(await bindable(ports!.client), true, 'client port closed after BYE');
    assert.equal(await bindable(ports!.upstream), true, 'upstream port closed after BYE');
  } finally {
    await r.close();
  }
});

test('a payload type the offer did not list (RFC 2833 events on a PCMA-only call) is dropped and evented', {
  skip,
}, async () => {
  const r = await rig();
  try {
    const relay = r.gateway.rtpRelay!;
    await call(r, EVENTS, 1500);
    assert.equal(relay.stats.payloadType, EVENT_PACKETS);
    assert.equal(relay.stats.fromClient, 0, 'none reached the PBX');
    const events = await mediaEvents(r.api, 'payload-type');
    assert.equal(events[0]!.details?.payloadType, 101);
    assert.equal(events[0]!.action, 'drop');
  } finally {
    await r.close();
  }
});

test('a silent stream has its ports closed after the inactivity timeout while the call goes on', {
  skip,
}, async () => {
  const r = await rig({ inactivityTimeoutMs: 1000 });
  try {
    const relay = r.gateway.rtpRelay!;
    let closedDuringCall = false;
    await call(r, undefined, 5000, async () => {
      await until(() => relay.streams().some((s) => s.open), 'the stream negotiated');
      const ports = relay.streams()[0]!;
      await until(() => relay.streamCount === 0, 'the silent stream closed', 4500);
      closedDuringCall = r.gateway.proxy.dialogCount > 0;
      assert.equal(await bindable(ports.client), true);
      assert.equal(await bindable(ports.upstream), true);
    });
    assert.ok(closedDuringCall, 'the ports closed while the dialog was still up');
    assert.equal(relay.stats.inactivityClosed, 1);
  } finally {
    await r.close();
  }
});

test('floodAction end-call: an RTP flood inside the call ends it with a BYE to both parties', {
  skip,
}, async () => {
  const r = await rig({ floodAction: 'end-call' });
  try {
    const relay = r.gateway.rtpRelay!;
    await call(
      r,
      undefined,
      8000,
      async () => {
        await until(() => relay.streams().some((s) => s.open), 'the stream negotiated');
        const ports = relay.streams()[0]!;
        // The first packet latches the caller's side (the caller itself sends none here); then a flood.
        const flooder = createSocket('udp4');
        flooder.bind(0, '127.0.0.1');
        await once(flooder, 'listening');
        const packet = Buffer.alloc(172);
        packet[0] = 0x80;
        packet[1] = 8;
        for (let i = 0; i < 600; i++) flooder.send(packet, ports.client, '127.0.0.1');
        await until(() => relay.stats.flood > 0, 'the flood dropped');
        flooder.close();
        await until(() => r.gateway.proxy.dialogCount === 0, 'the call ended by sipwarden');
      },
      // The PBX answers sipwarden's BYE and ends as it expects; the caller gets a BYE it did not expect.
      { uac: 0, pbx: 1 },
    );
    const events = await mediaEvents(r.api, 'flood');
    assert.ok(
      events.some((e) => e.action === 'reject'),
      JSON.stringify(events),
    );
    await until(() => relay.streamCount === 0, 'the streams closed with the call');
  } finally {
    await r.close();
  }
});
