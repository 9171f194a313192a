/**
 * Calls between two phones that both registered through sipwarden, with Kamailio as the
 * registrar and proxy behind it honouring Path (RFC 3327): phone A -> sipwarden -> Kamailio
 * -> sipwarden (along the Path added at REGISTER) -> phone B. The dialog passes sipwarden
 * twice with one Call-ID and tag pair (a spiral). The phones are sipp instances on distinct
 * loopback addresses (over UDP a party is its address, so phones sharing one address would
 * hide a mix-up of the two legs), over UDP and TCP, with sipwarden's defaults.
 *
 * Each phone is one sipp process that registers first: the caller's scenario then places
 * its call (one sipp call, so its REGISTER and INVITE share a Call-ID); the callee's main
 * scenario only registers and waits, and it answers the incoming call with its out-of-call
 * scenario (-oocsf), over the flow it registered on. The scenarios are written per case
 * from the steps below. What the callee did is read from its -trace_logs lines.
 *
 * Each call is one call detail record of two legs (it passed sipwarden twice), written to
 * a database file: the last test of each run stops sipwarden and checks them against what
 * the phones did, with the durations the caller measured (gettimeofday at the 200 and at
 * the BYE) within a tolerance for the hops through Kamailio on loopback.
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallDetailRecord, Disposition, EndedBy } from '../../src/cdr/cdr.ts';
import { openCdrReader } from '../../src/cdr/cdr-store.ts';
import { defaultConfig } from '../../src/config/load-config.ts';
import { startGateway } from '../../src/gateway.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { header, startLine, UdpPeer } from '../support/udp-peer.ts';
import { type Kamailio, startKamailio } from './harness/kamailio.ts';
import { freePort } from './harness/ports.ts';
import { stopAll } from './harness/process.ts';
import { describeSipp, type SippRun, type SippTransport, startSipp } from './harness/sipp.ts';
import { type Sipwarden, startSipwarden } from './harness/sipwarden.ts';
import { tempDir } from './harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const PHONE_A = '127.0.0.21';
const PHONE_B = '127.0.0.22';
const FORGER = '127.0.0.23';
const DOMAIN = 'spiral.test';
const CALLER_TAG = 'caller-tag-1';
const CALLEE_TAG = 'callee-tag-1';

const scenarioDir = tempDir('spiral-scenarios');

/** A sipp <send> of `lines` (sipp trims each line and ends them with CRLF). */
function send(lines: string[], retrans = false): string {
  return `<send${retrans ? ' retrans="500"' : ''}><![CDATA[\n\n${lines.join('\n')}\n\n]]></send>`;
}

function log(message: string): string {
  return `<action><log message="${message}" /></action>`;
}

/** Logs `name <s> <us>` (gettimeofday) to the -trace_logs file. */
function stamp(name: string): string {
  return `<action><gettimeofday assign_to="${name}_s,${name}_us" /><log message="${name} [$${name}_s] [$${name}_us]" /></action>`;
}

const SDP = [
  'v=0',
  'o=phone 1 1 IN IP[local_ip_type] [local_ip]',
  's=-',
  'c=IN IP[media_ip_type] [media_ip]',
  't=0 0',
  'm=audio [media_port] RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
];

const contact = (user: string) => `Contact: <sip:${user}@[local_ip]:[local_port];transport=[transport]>`;
const via = 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]';

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

/** The caller's side of the dialog: requests along the route set from the 2xx (rrs). */
function callerRequest(method: string, cseq: number, user: string, callee: string, body = false): string {
  return send(
    [
      `${method} [next_url] SIP/2.0`,
      via,
      '[routes]',
      `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
      `To: <sip:${callee}@${DOMAIN}>;tag=${CALLEE_TAG}`,
      'Call-ID: [call_id]',
      `CSeq: ${cseq} ${method}`,
      contact(user),
      'Max-Forwards: 70',
      ...(body
        ? ['Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP]
        : ['Content-Length: 0']),
    ],
    method !== 'ACK',
  );
}

function invite(user: string, callee: string): string {
  return send(
    [
      `INVITE sip:${callee}@${DOMAIN} SIP/2.0`,
      via,
      `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
      `To: <sip:${callee}@${DOMAIN}>`,
      'Call-ID: [call_id]',
      'CSeq: 2 INVITE',
      contact(user),
      'Max-Forwards: 70',
      'Content-Type: application/sdp',
      'Content-Length: [len]',
      '',
      ...SDP,
    ],
    true,
  );
}

/** Answers a request of the dialog with 200 (BYE, or a re-INVITE when `body`). */
function ok(user: string, body = false): string {
  return send([
    'SIP/2.0 200 OK',
    '[last_Via:]',
    '[last_From:]',
    '[last_To:]',
    '[last_Call-ID:]',
    '[last_CSeq:]',
    contact(user),
    ...(body
      ? ['Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP]
      : ['Content-Length: 0']),
  ]);
}

/** What the caller does once the call is answered and acknowledged. */
type CallerEnd = 'bye' | 'reinvite-then-bye' | 'await-bye';

function callerScenario(user: string, callee: string, end: CallerEnd | 'cancel'): string {
  const steps = [
    register(user),
    invite(user, callee),
    '<recv response="100" optional="true" />',
    `<recv response="180"${end === 'cancel' ? '' : ' optional="true"'} />`,
  ];
  if (end === 'cancel') {
    // RFC 3261 9.1: the CANCEL names the INVITE's Request-URI, top Via, Call-ID, From, To and CSeq number.
    steps.push(
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
      send([
        `ACK sip:${callee}@${DOMAIN} SIP/2.0`,
        '[last_Via:]',
        `From: <sip:${user}@${DOMAIN}>;tag=${CALLER_TAG}`,
        '[last_To:]',
        'Call-ID: [call_id]',
        'CSeq: 2 ACK',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ]),
    );
    return scenario('caller', steps);
  }
  steps.push(
    `<recv response="200" rrs="true">${stamp('answered')}</recv>`,
    callerRequest('ACK', 2, user, callee),
  );
  if (end === 'await-bye') {
    steps.push(`<recv request="BYE">${stamp('bye')}</recv>`, ok(user));
  } else {
    steps.push('<pause />');
    if (end === 'reinvite-then-bye') {
      steps.push(
        callerRequest('INVITE', 3, user, callee, true),
        '<recv response="100" optional="true" />',
        '<recv response="200" />',
        callerRequest('ACK', 3, user, callee),
      );
    }
    steps.push(
      callerRequest('BYE', end === 'reinvite-then-bye' ? 4 : 3, user, callee).replace(
        '</send>',
        `${stamp('bye')}</send>`,
      ),
      '<recv response="200" />',
    );
  }
  return scenario('caller', steps);
}

/** The callee's main scenario: it registers and waits; the test ends it. */
function calleeMainScenario(user: string): string {
  return scenario('callee', [register(user), '<pause milliseconds="60000" />']);
}

type CalleeEnd = 'answer' | 'answer-reinvite' | 'hang-up' | 'ring';

/** The callee's out-of-call scenario: the incoming call. */
function calleeCallScenario(user: string, caller: string, end: CalleeEnd): string {
  const response = (status: string, body = false) =>
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
        ...(body
          ? ['Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP]
          : ['Content-Length: 0']),
      ],
      status.startsWith('200'),
    );
  // The INVITE's Via set and CSeq, for the 487 that follows a CANCEL (which has only one Via).
  // One Via reaches the callee: sipwarden's. Topology hiding (on by default towards the phones)
  // keeps Kamailio's, its own first pass and the caller's, and puts them back on the 487.
  const VIAS = 1;
  const keep = `<action>${Array.from(
    { length: VIAS },
    (_, i) =>
      `<ereg regexp=".*" search_in="hdr" header="Via:" occurrence="${i + 1}" assign_to="invite_via${i}" />`,
  ).join('')}<ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq" /></action>`;
  const steps = [
    `<recv request="INVITE" rrs="true">${end === 'ring' ? keep : ''}</recv>`,
    response('180 Ringing'),
  ];
  if (end === 'ring') {
    steps.push(
      `<recv request="CANCEL">${log('cancelled')}</recv>`,
      send([
        'SIP/2.0 200 OK',
        '[last_Via:]',
        '[last_From:]',
        '[last_To:]',
        '[last_Call-ID:]',
        '[last_CSeq:]',
        'Content-Length: 0',
      ]),
      send([
        'SIP/2.0 487 Request Terminated',
        ...Array.from({ length: VIAS }, (_, i) => `Via: [$invite_via${i}]`),
        '[last_From:]',
        `[last_To:];tag=${CALLEE_TAG}`,
        '[last_Call-ID:]',
        'CSeq: [$invite_cseq]',
        'Content-Length: 0',
      ]),
      `<recv request="ACK">${log('acked-487')}</recv>`,
    );
    return scenario('callee-call', steps);
  }
  steps.push(response('200 OK', true), `<recv request="ACK">${log('acked')}</recv>`);
  if (end === 'answer-reinvite') {
    steps.push(
      `<recv request="INVITE">${log('reinvited')}</recv>`,
      ok(user, true),
      `<recv request="ACK">${log('reacked')}</recv>`,
    );
  }
  if (end === 'hang-up') {
    steps.push(
      '<pause milliseconds="300" />',
      send(
        [
          'BYE [next_url] SIP/2.0',
          via,
          '[routes]',
          `From: <sip:${user}@${DOMAIN}>;tag=${CALLEE_TAG}`,
          `To: <sip:${caller}@${DOMAIN}>;tag=${CALLER_TAG}`,
          'Call-ID: [call_id]',
          'CSeq: 1 BYE',
          'Max-Forwards: 70',
          'Content-Length: 0',
        ],
        true,
      ),
      `<recv response="200">${log('bye-answered')}</recv>`,
    );
  } else {
    steps.push(`<recv request="BYE">${log('bye')}</recv>`, ok(user));
  }
  // Stay a while for retransmissions (UDP).
  steps.push('<timewait milliseconds="2000" />');
  return scenario('callee-call', steps);
}

let written = 0;
function scenario(name: string, steps: string[]): string {
  const path = join(scenarioDir, `${name}-${++written}.xml`);
  writeFileSync(
    path,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="sipwarden spiral ${name}">\n${steps.join('\n')}\n</scenario>\n`,
  );
  return path;
}

/** The <log> lines a sipp run has written so far. */
async function logLines(run: SippRun): Promise<string[]> {
  const files = await readdir(run.workDir);
  const name = files.find((f) => f.endsWith(`_${run.pid}_logs.log`));
  if (!name) return [];
  return (await readFile(join(run.workDir, name), 'latin1')).split('\n').filter((l) => l !== '');
}

/** The `name s us` stamps a sipp run logged, as epoch ms by name. */
async function stamps(run: SippRun): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of await logLines(run)) {
    const m = /^(\w+) (\d+)(?:\.\d+)? (\d+)(?:\.\d+)?$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]) * 1000 + Number(m[3]) / 1000);
  }
  return out;
}

/** What a call's record must say, from what its phones did. */
interface ExpectedRecord {
  readonly callId: string;
  readonly disposition: Disposition;
  readonly status: number;
  readonly endedBy: EndedBy;
  /** The call's length as the caller measured it (200 to BYE); undefined when unanswered. */
  readonly durationMs?: number;
}

/** How far sipwarden's duration may be from the caller's: the hops through Kamailio on loopback. */
const DURATION_TOLERANCE_MS = 250;

async function waitForLog(run: SippRun, line: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await logLines(run)).includes(line)) {
    if (Date.now() > deadline)
      throw new Error(`${run.process.name}: no "${line}" log line\n${run.process.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Over TCP the registrar opens its own connection to sipwarden for the INVITE along the Path,
// from a port of its choosing: the case where sipwarden must still know it for the upstream.
for (const upstreamTransport of ['udp', 'tcp'] as const)
  describe(`calls between two phones registered through sipwarden, Kamailio as registrar over ${upstreamTransport.toUpperCase()} (a spiral)`, () => {
    let kamailio: Kamailio;
    let sipwarden: Sipwarden;
    let cases = 0;
    const database = join(tempDir('spiral-db'), 'sipwarden.db');
    const expected: ExpectedRecord[] = [];

    before(async () => {
      const kamailioPort = await freePort();
      kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort });
      sipwarden = await startSipwarden({
        port: await freePort(),
        upstream: { host: HOST, port: kamailioPort },
        config: {
          upstream: { host: HOST, port: kamailioPort, transport: upstreamTransport },
          events: { database },
        },
        listenKinds: ['udp', 'tcp'],
        extraArgs: ['--log-level', 'warn'],
      });
    });

    after(async () => {
      await sipwarden.stop();
      await kamailio.stop();
    });

    interface CallCase {
      readonly transport: SippTransport;
      readonly callerHost: string;
      readonly calleeHost: string;
      readonly callerEnd: CallerEnd | 'cancel';
      readonly calleeEnd: CalleeEnd;
      /** -d for the caller's <pause/> between the ACK and its next request. */
      readonly pauseMs?: number;
      /** Runs while the call is up (after the callee saw the ACK). */
      readonly during?: (call: { callId: string; caller: string; callee: string }) => Promise<void>;
    }

    /** Both phones register, then the caller calls the callee; returns the callee's log lines. */
    async function placeCall(c: CallCase): Promise<string[]> {
      const n = ++cases;
      const caller = `a${n}`;
      const callee = `b${n}`;
      const callId = `spiral-${n}-1@${DOMAIN}`;
      const remote = { host: HOST, port: sipwarden.port };
      const calleeRun = await startSipp({
        scenario: calleeMainScenario(callee),
        localHost: c.calleeHost,
        localPort: await freePort(c.calleeHost),
        remote,
        transport: c.transport,
        calls: 1,
        timeoutS: 40,
        timeoutIsError: false,
        extraArgs: ['-oocsf', calleeCallScenario(callee, caller, c.calleeEnd), '-trace_logs'],
        name: `sipp-callee-${n}`,
      });
      try {
        await waitForLog(calleeRun, 'registered');
        const callerRun = await startSipp({
          scenario: callerScenario(caller, callee, c.callerEnd),
          localHost: c.callerHost,
          localPort: await freePort(c.callerHost),
          remote,
          transport: c.transport,
          calls: 1,
          timeoutS: 30,
          pauseMs: c.pauseMs ?? 200,
          extraArgs: ['-cid_str', `spiral-${n}-%u@${DOMAIN}`, '-trace_logs'],
          name: `sipp-caller-${n}`,
        });
        if (c.during) {
          await waitForLog(calleeRun, 'acked');
          await c.during({ callId, caller, callee });
        }
        const result = await callerRun.done();
        const context = `${describeSipp(result)}\ncallee log: ${(await logLines(calleeRun)).join(' | ')}\n${sipwarden.process.tail()}`;
        assert.equal(result.failed, 0, context);
        assert.equal(result.successful, 1, context);
        const last = {
          bye: 'bye',
          'reinvite-then-bye': 'bye',
          'await-bye': 'bye-answered',
          cancel: 'acked-487',
        }[c.callerEnd];
        await waitForLog(calleeRun, last);
        const measured = await stamps(callerRun);
        const answered = measured.get('answered');
        const bye = measured.get('bye');
        expected.push(
          c.callerEnd === 'cancel'
            ? { callId, disposition: 'cancelled', status: 487, endedBy: 'caller' }
            : {
                callId,
                disposition: 'answered',
                status: 200,
                endedBy: c.callerEnd === 'await-bye' ? 'callee' : 'caller',
                ...(answered === undefined || bye === undefined ? {} : { durationMs: bye - answered }),
              },
        );
        return await logLines(calleeRun);
      } finally {
        await calleeRun.stop();
      }
    }

    for (const [transport, label] of [
      ['u1', 'UDP'],
      ['t1', 'TCP'],
    ] as const) {
      test(`${label}: A calls B, A hangs up`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_A,
          calleeHost: PHONE_B,
          callerEnd: 'bye',
          calleeEnd: 'answer',
        });
        assert.deepEqual(log, ['registered', 'acked', 'bye']);
      });

      test(`${label}: B calls A, B hangs up`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_B,
          calleeHost: PHONE_A,
          callerEnd: 'bye',
          calleeEnd: 'answer',
        });
        assert.deepEqual(log, ['registered', 'acked', 'bye']);
      });

      test(`${label}: A calls B, B hangs up`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_A,
          calleeHost: PHONE_B,
          callerEnd: 'await-bye',
          calleeEnd: 'hang-up',
        });
        assert.deepEqual(log, ['registered', 'acked', 'bye-answered']);
      });

      test(`${label}: B calls A, A hangs up`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_B,
          calleeHost: PHONE_A,
          callerEnd: 'await-bye',
          calleeEnd: 'hang-up',
        });
        assert.deepEqual(log, ['registered', 'acked', 'bye-answered']);
      });

      test(`${label}: A re-INVITEs B during the call, then hangs up`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_A,
          calleeHost: PHONE_B,
          callerEnd: 'reinvite-then-bye',
          calleeEnd: 'answer-reinvite',
        });
        assert.deepEqual(log, ['registered', 'acked', 'reinvited', 'reacked', 'bye']);
      });

      test(`${label}: A cancels its call while B is ringing`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_A,
          calleeHost: PHONE_B,
          callerEnd: 'cancel',
          calleeEnd: 'ring',
        });
        assert.deepEqual(log, ['registered', 'cancelled', 'acked-487']);
      });

      test(`${label}: a BYE forged from a third address gets 481, and the call goes on to its real BYE`, async () => {
        const log = await placeCall({
          transport,
          callerHost: PHONE_A,
          calleeHost: PHONE_B,
          callerEnd: 'bye',
          calleeEnd: 'answer',
          // Long enough for the forged BYE and its answer while the call is up.
          pauseMs: 3000,
          during: async ({ callId, caller, callee }) => {
            const forger = await UdpPeer.bind(FORGER);
            try {
              const forged = [
                `BYE sip:${callee}@${PHONE_B} SIP/2.0`,
                `Via: SIP/2.0/UDP ${FORGER}:${forger.port};branch=z9hG4bK-forged-${caller};rport`,
                'Max-Forwards: 70',
                `From: <sip:${caller}@${DOMAIN}>;tag=${CALLER_TAG}`,
                `To: <sip:${callee}@${DOMAIN}>;tag=${CALLEE_TAG}`,
                `Call-ID: ${callId}`,
                'CSeq: 10 BYE',
                'Content-Length: 0',
                '',
                '',
              ].join('\r\n');
              forger.send(forged, sipwarden.port, HOST);
              const reply = await forger.next((t) => header(t, 'call-id') === callId);
              // "Not A Party": the dialog exists and the forger is none of its parties.
              assert.equal(startLine(reply), 'SIP/2.0 481 Not A Party Of This Dialog');
            } finally {
              forger.close();
            }
          },
        });
        assert.deepEqual(log, ['registered', 'acked', 'bye']);
      });
    }

    test('each call has one record of two legs whose disposition, status, who hung up and duration match what the phones did', async () => {
      // A stop writes every pending record.
      await sipwarden.stop();
      const reader = openCdrReader(database);
      let records: CallDetailRecord[];
      try {
        records = reader.query({});
      } finally {
        reader.close();
      }
      const context = JSON.stringify(records, null, 1);
      assert.equal(records.length, expected.length, context);
      for (const call of expected) {
        const matching = records.filter((r) => r.callId === call.callId);
        assert.equal(matching.length, 1, `${call.callId}: ${context}`);
        const record = matching[0]!;
        assert.deepEqual(
          [record.disposition, record.status, record.endedBy, record.legs, record.direction],
          [call.disposition, call.status, call.endedBy, 2, 'client'],
          call.callId,
        );
        if (call.disposition !== 'answered') {
          assert.equal(record.durationMs, null, call.callId);
          continue;
        }
        assert.ok(call.durationMs !== undefined, `${call.callId}: the caller logged no times`);
        assert.ok(record.durationMs !== null, call.callId);
        assert.ok(
          Math.abs(record.durationMs - call.durationMs) <= DURATION_TOLERANCE_MS,
          `${call.callId}: sipwarden recorded ${record.durationMs} ms, the caller measured ${call.durationMs.toFixed(1)} ms`,
        );
      }
    });
  });

describe('the maximum session length of a call between two phones through Kamailio (a spiral)', () => {
  test('both legs end at once: each phone gets a BYE from sipwarden, the PBX none, and the one record says sipwarden ended it', async () => {
    const kamailioPort = await freePort();
    const kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort, dialogLog: true });
    const database = join(tempDir('spiral-session-db'), 'sipwarden.db');
    const base = defaultConfig();
    const gateway = await startGateway(
      {
        ...base,
        listen: [{ host: HOST, port: await freePort(), transports: ['udp'] }],
        upstream: { host: HOST, port: kamailioPort, transport: 'udp' },
        management: { ...base.management, enabled: false },
        events: { ...base.events, database },
      },
      silentLogger,
      // The configuration's minimum is a minute; the gateway option lets a test wait two seconds.
      { sessionTimeoutMs: 2000 },
    );
    const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
    const remote = { host: HOST, port };
    const callId = `spiral-session-1@${DOMAIN}`;
    try {
      // Neither phone hangs up: both wait for a BYE.
      const calleeRun = await startSipp({
        scenario: calleeMainScenario('bs'),
        localHost: PHONE_B,
        localPort: await freePort(PHONE_B),
        remote,
        calls: 1,
        timeoutS: 40,
        timeoutIsError: false,
        extraArgs: ['-oocsf', calleeCallScenario('bs', 'as', 'answer'), '-trace_logs'],
        name: 'sipp-callee-session',
      });
      try {
        await waitForLog(calleeRun, 'registered');
        const callerRun = await startSipp({
          scenario: callerScenario('as', 'bs', 'await-bye'),
          localHost: PHONE_A,
          localPort: await freePort(PHONE_A),
          remote,
          calls: 1,
          timeoutS: 30,
          extraArgs: ['-cid_str', `spiral-session-%u@${DOMAIN}`, '-trace_logs'],
          name: 'sipp-caller-session',
        });
        const result = await callerRun.done();
        assert.equal(result.failed, 0, describeSipp(result));
        assert.equal(result.successful, 1, describeSipp(result));
        await waitForLog(calleeRun, 'bye');
        assert.deepEqual(await logLines(calleeRun), ['registered', 'acked', 'bye']);
        const measured = await stamps(callerRun);
        // Only sipwarden's own BYEs: none passed Kamailio.
        assert.equal(kamailio.countLog(/loose-route BYE/), 0, kamailio.process.tail());
        assert.equal(gateway.proxy.dialogCount, 0);
        await gateway.close();
        const reader = openCdrReader(database);
        const records = reader.query({});
        reader.close();
        assert.equal(records.length, 1, JSON.stringify(records));
        const [record] = records;
        assert.deepEqual(
          [record?.callId, record?.legs, record?.disposition, record?.endedBy, record?.endReason],
          [callId, 2, 'answered', 'sipwarden', 'session-timeout'],
        );
        const peers = measured.get('bye')! - measured.get('answered')!;
        assert.ok(
          record?.durationMs !== null && Math.abs((record?.durationMs ?? 0) - peers) <= DURATION_TOLERANCE_MS,
          `sipwarden recorded ${record?.durationMs} ms, the caller measured ${peers.toFixed(1)} ms`,
        );
      } finally {
        await calleeRun.stop();
      }
    } finally {
      await gateway.close();
      await kamailio.stop();
    }
  });
});
