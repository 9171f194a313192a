/**
 * Topology hiding on the wire. Two phones (sipp, on their own loopback addresses) register
 * through sipwarden with its defaults to a real Kamailio registrar behind it, on an address
 * of its own, that record-routes under a host name of its own (an alias) and tells too much
 * (Server in its replies, Warning with its address in the replies it makes itself). The
 * phones call each other through sipwarden, Kamailio and sipwarden again (the spiral of
 * Path and Record-Route): hang-up from either side, a re-INVITE, a transfer (REFER with its
 * NOTIFY), a CANCEL, and a call to nobody that Kamailio refuses with 404.
 *
 * tshark captures the untrusted side on lo: every datagram to or from sipwarden's port that
 * is not to or from Kamailio's address. No byte of it may name Kamailio's address, port or
 * host name, or the product; and every call completes as its phones expect.
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kamailio, startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { type ManagedProcess, startProcess, stopAll } from '../harness/process.ts';
import { describeSipp, type SippRun, startSipp } from '../harness/sipp.ts';
import { type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const SIPWARDEN_HOST = '127.0.0.1';
const PBX_ADDRESS = '127.0.0.66';
const PBX_NAME = 'pbx.trusted.test';
const PHONE_A = '127.0.0.21';
const PHONE_B = '127.0.0.22';
const MARKER = '127.0.0.23';
const DOMAIN = 'edge.test';
const CALLER_TAG = 'caller-tag-1';
const CALLEE_TAG = 'callee-tag-1';

const workDir = tempDir('topology-wire');

// ---- sipp scenarios, written per case ----

function send(lines: string[], retrans = false): string {
  return `<send${retrans ? ' retrans="500"' : ''}><![CDATA[\n\n${lines.join('\n')}\n\n]]></send>`;
}
const log = (message: string) => `<action><log message="${message}" /></action>`;
const contact = (user: string) => `Contact: <sip:${user}@[local_ip]:[local_port];transport=[transport]>`;
const via = 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]';
const SDP = [
  'v=0',
  'o=phone 1 1 IN IP[local_ip_type] [local_ip]',
  's=-',
  'c=IN IP[media_ip_type] [media_ip]',
  't=0 0',
  'm=audio [media_port] RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
];
const body = (sdp: boolean) =>
  sdp ? ['Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP] : ['Content-Length: 0'];

function register(user: string): string {
  return [
    send(
      [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        via,
        `From: <sip:${user}@${DOMAIN}>;tag=reg-[pid]`,
        `To: <sip:${user}@${DOMAIN}>`,
        'Call-ID: [call_id]',
        'CSeq: 1 REGISTER',
        contact(user),
        'Expires: 300',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ],
      true,
    ),
    `<recv response="200">${log('registered')}</recv>`,
  ].join('\n');
}

/** A request in the dialog along the route set and to the remote target the phone was given. */
function inDialog(
  method: string,
  cseq: number,
  from: { user: string; tag: string },
  to: { user: string; tag: string },
  extra: string[] = [],
  sdp = false,
): string {
  return send(
    [
      `${method} [next_url] SIP/2.0`,
      via,
      '[routes]',
      `From: <sip:${from.user}@${DOMAIN}>;tag=${from.tag}`,
      `To: <sip:${to.user}@${DOMAIN}>;tag=${to.tag}`,
      'Call-ID: [call_id]',
      `CSeq: ${cseq} ${method}`,
      contact(from.user),
      'Max-Forwards: 70',
      ...extra,
      ...(extra.some((l) => l.startsWith('Content-Length')) ? [] : body(sdp)),
    ],
    method !== 'ACK',
  );
}

function reply(status: string, user: string | undefined, sdp = false, extra: string[] = []): string {
  return send(
    [
      `SIP/2.0 ${status}`,
      '[last_Via:]',
      '[last_From:]',
      '[last_To:]',
      '[last_Call-ID:]',
      '[last_CSeq:]',
      ...(user === undefined ? [] : [contact(user)]),
      ...extra,
      ...body(sdp),
    ],
    status.startsWith('200') && sdp,
  );
}

type Case = 'caller-hangs-up' | 'callee-hangs-up' | 'reinvite' | 'refer' | 'cancel' | 'not-found';

function callerScenario(user: string, callee: string, kind: Case): string {
  const me = { user, tag: CALLER_TAG };
  const peer = { user: callee, tag: CALLEE_TAG };
  const steps = [
    register(user),
    send(
      [
        `INVITE sip:${kind === 'not-found' ? 'nobody' : callee}@${DOMAIN} SIP/2.0`,
        via,
        `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
        `To: <sip:${callee}@${DOMAIN}>`,
        'Call-ID: [call_id]',
        'CSeq: 2 INVITE',
        contact(user),
        'Max-Forwards: 70',
        ...body(true),
      ],
      true,
    ),
    '<recv response="100" optional="true" />',
  ];
  const ackFailure = (uriUser: string) =>
    send([
      `ACK sip:${uriUser}@${DOMAIN} SIP/2.0`,
      '[last_Via:]',
      `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
      '[last_To:]',
      'Call-ID: [call_id]',
      'CSeq: 2 ACK',
      'Max-Forwards: 70',
      'Content-Length: 0',
    ]);
  if (kind === 'not-found') {
    steps.push('<recv response="404" />', ackFailure('nobody'));
    return scenario('caller', steps);
  }
  if (kind === 'cancel') {
    steps.push(
      '<recv response="180" />',
      send(
        [
          `CANCEL sip:${callee}@${DOMAIN} SIP/2.0`,
          '[last_Via:]',
          `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
          `To: <sip:${callee}@${DOMAIN}>`,
          'Call-ID: [call_id]',
          'CSeq: 2 CANCEL',
          'Max-Forwards: 70',
          'Content-Length: 0',
        ],
        true,
      ),
      '<recv response="200" />',
      '<recv response="487" />',
      ackFailure(callee),
    );
    return scenario('caller', steps);
  }
  steps.push(
    '<recv response="180" optional="true" />',
    '<recv response="200" rrs="true" />',
    inDialog('ACK', 2, me, peer),
  );
  if (kind === 'callee-hangs-up') {
    steps.push('<recv request="BYE" />', reply('200 OK', undefined));
    return scenario('caller', steps);
  }
  steps.push('<pause />');
  let cseq = 3;
  if (kind === 'reinvite') {
    steps.push(
      inDialog('INVITE', cseq, me, peer, [], true),
      '<recv response="100" optional="true" />',
      '<recv response="200" />',
      inDialog('ACK', cseq++, me, peer),
    );
  }
  if (kind === 'refer') {
    steps.push(
      inDialog('REFER', cseq++, me, peer, [
        `Refer-To: <sip:carol@${DOMAIN}>`,
        `Referred-By: <sip:${user}@${DOMAIN}>`,
      ]),
      '<recv response="202" />',
      '<recv request="NOTIFY" />',
      reply('200 OK', user),
    );
  }
  steps.push(inDialog('BYE', cseq, me, peer), '<recv response="200" />');
  return scenario('caller', steps);
}

function calleeMainScenario(user: string): string {
  return scenario('callee', [register(user), '<pause milliseconds="60000" />']);
}

function calleeCallScenario(user: string, caller: string, kind: Case): string {
  const me = { user, tag: CALLEE_TAG };
  const peer = { user: caller, tag: CALLER_TAG };
  const tagged = (status: string, sdp = false) =>
    send(
      [
        `SIP/2.0 ${status}`,
        '[last_Via:]',
        '[last_Record-Route:]',
        '[last_From:]',
        `[last_To:];tag=${CALLEE_TAG}`,
        '[last_Call-ID:]',
        '[last_CSeq:]',
        contact(user),
        ...body(sdp),
      ],
      status.startsWith('200'),
    );
  const keepCSeq =
    '<action><ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq" /></action>';
  const steps = [
    `<recv request="INVITE" rrs="true">${kind === 'cancel' ? keepCSeq : ''}</recv>`,
    tagged('180 Ringing'),
  ];
  if (kind === 'cancel') {
    // The CANCEL carries the INVITE's Via set as the callee saw it: sipwarden's one Via.
    steps.push(
      `<recv request="CANCEL">${log('cancelled')}</recv>`,
      reply('200 OK', undefined),
      send([
        'SIP/2.0 487 Request Terminated',
        '[last_Via:]',
        '[last_From:]',
        `[last_To:];tag=${CALLEE_TAG}`,
        '[last_Call-ID:]',
        'CSeq: [$invite_cseq]',
        'Content-Length: 0',
      ]),
      `<recv request="ACK">${log('done')}</recv>`,
    );
    return scenario('callee-call', steps);
  }
  steps.push(tagged('200 OK', true), `<recv request="ACK">${log('acked')}</recv>`);
  if (kind === 'reinvite') {
    steps.push('<recv request="INVITE" />', reply('200 OK', user, true), '<recv request="ACK" />');
  }
  if (kind === 'refer') {
    steps.push(
      '<recv request="REFER" />',
      reply('202 Accepted', user),
      inDialog('NOTIFY', 1, me, peer, [
        'Event: refer',
        'Subscription-State: terminated;reason=noresource',
        'Content-Type: message/sipfrag',
        'Content-Length: [len]',
        '',
        'SIP/2.0 200 OK',
      ]),
      '<recv response="200" />',
    );
  }
  if (kind === 'callee-hangs-up') {
    steps.push(
      '<pause milliseconds="300" />',
      inDialog('BYE', 1, me, peer),
      `<recv response="200">${log('done')}</recv>`,
    );
  } else {
    steps.push(`<recv request="BYE">${log('done')}</recv>`, reply('200 OK', undefined));
  }
  steps.push('<timewait milliseconds="2000" />');
  return scenario('callee-call', steps);
}

let written = 0;
function scenario(name: string, steps: string[]): string {
  const path = join(workDir, `${name}-${++written}.xml`);
  writeFileSync(
    path,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="topology ${name}">\n${steps.join('\n')}\n</scenario>\n`,
  );
  return path;
}

async function logLines(run: SippRun): Promise<string[]> {
  const files = await readdir(run.workDir);
  const name = files.find((f) => f.endsWith(`_${run.pid}_logs.log`));
  if (!name) return [];
  return (await readFile(join(run.workDir, name), 'latin1')).split('\n').filter((l) => l !== '');
}

async function waitForLog(run: SippRun, line: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await logLines(run)).includes(line)) {
    if (Date.now() > deadline)
      throw new Error(`${run.process.name}: no "${line}" log line\n${run.process.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---- the capture ----

/** UDP payloads of a classic pcap file (Ethernet, as Linux's lo, or Linux cooked captures), with their source. */
function udpPayloads(file: Buffer): { source: string; payload: Buffer }[] {
  const magic = file.readUInt32LE(0);
  assert.ok(magic === 0xa1b2c3d4 || magic === 0xa1b23c4d, 'a little-endian pcap file');
  const linkType = file.readUInt32LE(20);
  const linkHeader = { 1: 14, 113: 16, 276: 20 }[linkType];
  assert.ok(linkHeader !== undefined, `link type ${linkType}`);
  const out: { source: string; payload: Buffer }[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const captured = file.readUInt32LE(at + 8);
    const frame = file.subarray(at + 16, at + 16 + captured);
    at += 16 + captured;
    const ip = frame.subarray(linkHeader);
    if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    const udp = ip.subarray((ip[0]! & 0x0f) * 4);
    out.push({ source: [...ip.subarray(12, 16)].join('.'), payload: udp.subarray(8, udp.readUInt16BE(4)) });
  }
  return out;
}

async function startCapture(filter: string, file: string): Promise<ManagedProcess> {
  const capture = startProcess('tshark', ['-i', 'lo', '-f', filter, '-F', 'pcap', '-w', file, '-q'], {
    name: 'tshark',
  });
  await capture.waitFor(/Capturing on/, 15000, 'stderr');
  return capture;
}

describe('topology hiding on the wire: phones through sipwarden to a Kamailio registrar', () => {
  let kamailio: Kamailio;
  let sipwarden: Sipwarden;
  let capture: ManagedProcess;
  let trustedCapture: ManagedProcess;
  let kamailioPort: number;
  const pcap = join(workDir, 'untrusted-side.pcap');
  const trustedPcap = join(workDir, 'trusted-side.pcap');
  let cases = 0;

  before(async () => {
    kamailioPort = await freePort(PBX_ADDRESS);
    kamailio = await startKamailio({
      variant: 'registrar',
      host: PBX_ADDRESS,
      port: kamailioPort,
      defines: { WITH_REVEALING_HEADERS: true, RR_HOST: PBX_NAME, RR_NAME: `${PBX_NAME}:${kamailioPort}` },
    });
    const port = await freePort();
    // The untrusted side: sipwarden's port, but not the datagrams to and from Kamailio.
    capture = await startCapture(`udp port ${port} and not host ${PBX_ADDRESS}`, pcap);
    // The trusted side, to show that Kamailio did say what must not cross.
    trustedCapture = await startCapture(`udp and host ${PBX_ADDRESS}`, trustedPcap);
    sipwarden = await startSipwarden({
      host: SIPWARDEN_HOST,
      port,
      upstream: { host: PBX_ADDRESS, port: kamailioPort },
      config: { upstream: { host: PBX_ADDRESS, port: kamailioPort, transport: 'udp' } },
      listenKinds: ['udp', 'tcp'],
      extraArgs: ['--log-level', 'warn'],
    });
  });

  after(async () => {
    await capture?.stop();
    await trustedCapture?.stop();
    await sipwarden?.stop();
    await kamailio?.stop();
  });

  /** Both phones register, the caller calls; the callee's log must end with `done`. */
  async function placeCall(kind: Case, callerHost: string, calleeHost: string): Promise<void> {
    const n = ++cases;
    const caller = `a${n}`;
    const callee = `b${n}`;
    const remote = { host: SIPWARDEN_HOST, port: sipwarden.port };
    const calleeRun = await startSipp({
      scenario: calleeMainScenario(callee),
      localHost: calleeHost,
      localPort: await freePort(calleeHost),
      remote,
      transport: 'u1',
      calls: 1,
      timeoutS: 40,
      timeoutIsError: false,
      extraArgs: ['-oocsf', calleeCallScenario(callee, caller, kind), '-trace_logs'],
      name: `sipp-callee-${n}`,
    });
    try {
      await waitForLog(calleeRun, 'registered').catch((error: Error) => {
        throw new Error(`${error.message}\n${sipwarden.process.tail()}\n${kamailio.process.tail(1500)}`);
      });
      const callerRun = await startSipp({
        scenario: callerScenario(caller, callee, kind),
        localHost: callerHost,
        localPort: await freePort(callerHost),
        remote,
        transport: 'u1',
        calls: 1,
        timeoutS: 30,
        pauseMs: 200,
        extraArgs: ['-cid_str', `topology-${n}-%u@${DOMAIN}`],
        name: `sipp-caller-${n}`,
      });
      const result = await callerRun.done();
      const context = `${describeSipp(result)}\ncallee log: ${(await logLines(calleeRun)).join(' | ')}\n${sipwarden.process.tail()}\n${kamailio.process.tail(1500)}`;
      assert.equal(result.failed, 0, context);
      assert.equal(result.successful, 1, context);
      if (kind !== 'not-found') await waitForLog(calleeRun, 'done');
    } finally {
      await calleeRun.stop();
    }
  }

  test('A calls B, A hangs up', () => placeCall('caller-hangs-up', PHONE_A, PHONE_B));
  test('B calls A, A hangs up (the callee)', () => placeCall('callee-hangs-up', PHONE_B, PHONE_A));
  test('A calls B, re-INVITE, A hangs up', () => placeCall('reinvite', PHONE_A, PHONE_B));
  test('A calls B and transfers B (REFER, NOTIFY), then hangs up', () =>
    placeCall('refer', PHONE_A, PHONE_B));
  test('A calls B and cancels while it rings', () => placeCall('cancel', PHONE_A, PHONE_B));
  test('A calls nobody: Kamailio answers 404', () => placeCall('not-found', PHONE_A, PHONE_B));

  test('no byte on the untrusted side names Kamailio: address, port, host name or product', async () => {
    // A last datagram on each side, from an address nothing else uses (a keepalive, RFC 5626
    // 4.4.1): once it is in a capture, so is everything sent before it.
    const marker = createSocket('udp4');
    await new Promise<void>((resolve) => marker.bind(0, MARKER, resolve));
    marker.send('\r\n\r\n', sipwarden.port, SIPWARDEN_HOST);
    marker.send('\r\n\r\n', kamailioPort, PBX_ADDRESS);
    // The capture reads the kernel's buffer on its own time: give it a moment before it stops.
    await sleep(1000);
    marker.close();
    for (const running of [capture, trustedCapture]) {
      running.signal('SIGINT');
      await running.waitForExit(10000);
    }
    const untrustedPackets = udpPayloads(readFileSync(pcap));
    const trustedPackets = udpPayloads(readFileSync(trustedPcap));
    for (const packets of [untrustedPackets, trustedPackets]) {
      assert.ok(
        packets.some((p) => p.source === MARKER),
        'the capture is complete',
      );
    }
    const trusted = trustedPackets.map((p) => p.payload.toString('latin1')).join('\n');
    // What Kamailio wrote on its side: its host name in Record-Route, its product, its Warning.
    for (const said of [PBX_NAME, 'Server: kamailio', `Warning: 392 ${PBX_ADDRESS}:${kamailioPort}`]) {
      assert.ok(trusted.includes(said), `the trusted side never showed "${said}"`);
    }
    const payloads = untrustedPackets.map((p) => p.payload.toString('latin1'));
    // The capture saw the calls: each kind of message crossed the untrusted side.
    for (const start of ['REGISTER ', 'INVITE ', 'ACK ', 'BYE ', 'CANCEL ', 'REFER ', 'NOTIFY ']) {
      assert.ok(
        payloads.some((p) => p.startsWith(start)),
        `no ${start.trim()} in the capture`,
      );
    }
    for (const status of ['SIP/2.0 200 ', 'SIP/2.0 202 ', 'SIP/2.0 404 ', 'SIP/2.0 487 ']) {
      assert.ok(
        payloads.some((p) => p.startsWith(status)),
        `no ${status.trim()} in the capture`,
      );
    }
    const port = new RegExp(`(?<![0-9])${kamailioPort}(?![0-9])`);
    for (const payload of payloads) {
      assert.ok(!payload.includes(PBX_ADDRESS), `Kamailio's address shows:\n${payload}`);
      assert.ok(!payload.toLowerCase().includes(PBX_NAME), `Kamailio's host name shows:\n${payload}`);
      assert.ok(!port.test(payload), `Kamailio's port shows:\n${payload}`);
      assert.ok(!/kamailio/i.test(payload), `the product shows:\n${payload}`);
      assert.ok(!/^Warning:/im.test(payload), `a Warning shows:\n${payload}`);
    }
  });
});
