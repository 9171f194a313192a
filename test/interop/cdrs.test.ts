/**
 * Call detail records from real calls: sipp UAC -> sipwarden -> sipp UAS over UDP, one
 * sipwarden per case writing its database to a file, read back once it has stopped (every
 * exit path writes what is pending). Each case checks the records against what the peers
 * did: their number, disposition, status, who hung up, and the duration against the one
 * sipp measured itself (gettimeofday at the 200 and at the BYE, logged by the scenario),
 * within a tolerance for the hops between sipp and sipwarden on loopback.
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CallDetailRecord } from '../../src/cdr/cdr.ts';
import { openCdrReader } from '../../src/cdr/cdr-store.ts';
import { startGateway } from '../../src/gateway.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { coreConfig } from '../support/core-gateway.ts';
import { freePort } from './harness/ports.ts';
import { stopAll } from './harness/process.ts';
import { describeSipp, type SippRun, startSipp } from './harness/sipp.ts';
import { type SipwardenConfig, startSipwarden } from './harness/sipwarden.ts';
import { tempDir } from './harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
/** How far sipwarden's duration may be from sipp's: the hops of the 200 and the BYE on loopback. */
const TOLERANCE_MS = 250;
const scenarioDir = tempDir('cdr-scenarios');

function send(lines: string[], retrans = false): string {
  return `<send${retrans ? ' retrans="500"' : ''}><![CDATA[\n\n${lines.join('\n')}\n\n]]></send>`;
}

/** Logs `name <s> <us>` (gettimeofday) to the -trace_logs file. */
function stamp(name: string): string {
  return `<action><gettimeofday assign_to="${name}_s,${name}_us" /><log message="${name} [$${name}_s] [$${name}_us]" /></action>`;
}

let written = 0;
function scenario(name: string, steps: string[]): string {
  const path = join(scenarioDir, `${name}-${++written}.xml`);
  writeFileSync(
    path,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="sipwarden cdr ${name}">\n${steps.join('\n')}\n</scenario>\n`,
  );
  return path;
}

const SDP = [
  'v=0',
  'o=u 1 1 IN IP4 [local_ip]',
  's=-',
  'c=IN IP4 [local_ip]',
  't=0 0',
  'm=audio [media_port] RTP/AVP 0',
];
const UAC_FROM = 'From: <sip:alice@cdr.test>;tag=[pid]-[call_number]';
const UAC_VIA = 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]';
const UAC_CONTACT = 'Contact: <sip:alice@[local_ip]:[local_port];transport=[transport]>';

const INVITE = send(
  [
    'INVITE sip:bob@cdr.test SIP/2.0',
    UAC_VIA,
    UAC_FROM,
    'To: <sip:bob@cdr.test>',
    'Call-ID: [call_id]',
    'CSeq: 1 INVITE',
    UAC_CONTACT,
    'Max-Forwards: 70',
    'Content-Type: application/sdp',
    'Content-Length: [len]',
    '',
    ...SDP,
  ],
  true,
);

function uacInDialog(method: string, cseq: number): string {
  return send(
    [
      `${method} [next_url] SIP/2.0`,
      UAC_VIA,
      '[routes]',
      UAC_FROM,
      'To: <sip:bob@cdr.test>[peer_tag_param]',
      'Call-ID: [call_id]',
      `CSeq: ${cseq} ${method}`,
      UAC_CONTACT,
      'Max-Forwards: 70',
      'Content-Length: 0',
    ],
    method !== 'ACK',
  );
}

/** A response from the UAS to the last request, with its To tag and the Record-Route echoed. */
function uasResponse(status: string, body = false): string {
  return send(
    [
      `SIP/2.0 ${status}`,
      '[last_Via:]',
      '[last_Record-Route:]',
      '[last_From:]',
      '[last_To:];tag=uas-[call_number]',
      '[last_Call-ID:]',
      '[last_CSeq:]',
      'Contact: <sip:bob@[local_ip]:[local_port];transport=[transport]>',
      ...(body
        ? ['Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP]
        : ['Content-Length: 0']),
    ],
    status.startsWith('200'),
  );
}

const OK_TO_LAST = send([
  'SIP/2.0 200 OK',
  '[last_Via:]',
  '[last_From:]',
  '[last_To:]',
  '[last_Call-ID:]',
  '[last_CSeq:]',
  'Content-Length: 0',
]);

/** The UAC of an answered call that hangs up after -d ms. */
const uacHangsUp = () =>
  scenario('uac-hangs-up', [
    INVITE,
    '<recv response="100" optional="true" />',
    '<recv response="180" optional="true" />',
    `<recv response="200" rrs="true">${stamp('answered')}</recv>`,
    uacInDialog('ACK', 1),
    '<pause />',
    uacInDialog('BYE', 2).replace('</send>', `${stamp('bye')}</send>`),
    '<recv response="200" />',
  ]);

const uasAnswers = () =>
  scenario('uas-answers', [
    '<recv request="INVITE" rrs="true" />',
    uasResponse('180 Ringing'),
    uasResponse('200 OK', true),
    '<recv request="ACK" />',
    '<recv request="BYE" />',
    OK_TO_LAST,
    '<timewait milliseconds="1000" />',
  ]);

/** The UAS that answers, then hangs up itself after -d ms: its BYE goes along the route set. */
const uasHangsUp = () =>
  scenario('uas-hangs-up', [
    '<recv request="INVITE" rrs="true"><action>' +
      '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller" /></action></recv>',
    uasResponse('180 Ringing'),
    uasResponse('200 OK', true).replace('</send>', `${stamp('answered')}</send>`),
    '<recv request="ACK" />',
    '<pause />',
    send(
      [
        'BYE [next_url] SIP/2.0',
        'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]',
        '[routes]',
        'From: <sip:bob@cdr.test>;tag=uas-[call_number]',
        'To: [$caller]',
        'Call-ID: [call_id]',
        'CSeq: 1 BYE',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ],
      true,
    ).replace('</send>', `${stamp('bye')}</send>`),
    '<recv response="200" />',
    '<timewait milliseconds="1000" />',
  ]);

const uacAwaitsBye = () =>
  scenario('uac-awaits-bye', [
    INVITE,
    '<recv response="100" optional="true" />',
    '<recv response="180" optional="true" />',
    '<recv response="200" rrs="true" />',
    uacInDialog('ACK', 1),
    '<recv request="BYE" />',
    OK_TO_LAST,
    '<timewait milliseconds="1000" />',
  ]);

/** A UAC whose INVITE gets `status` (a non-2xx final), which it acknowledges. */
function uacRefused(status: number): string {
  return scenario(`uac-gets-${status}`, [
    INVITE,
    '<recv response="100" optional="true" />',
    '<recv response="180" optional="true" />',
    `<recv response="${status}" />`,
    send([
      'ACK sip:bob@cdr.test SIP/2.0',
      '[last_Via:]',
      UAC_FROM,
      '[last_To:]',
      'Call-ID: [call_id]',
      'CSeq: 1 ACK',
      'Max-Forwards: 70',
      'Content-Length: 0',
    ]),
  ]);
}

const uasBusy = () =>
  scenario('uas-busy', [
    '<recv request="INVITE" />',
    uasResponse('486 Busy Here'),
    '<recv request="ACK" />',
    '<timewait milliseconds="500" />',
  ]);

/** The UAC that cancels its INVITE once it rings. */
const uacCancels = () =>
  scenario('uac-cancels', [
    INVITE,
    '<recv response="100" optional="true" />',
    '<recv response="180" />',
    send(
      [
        'CANCEL sip:bob@cdr.test SIP/2.0',
        '[last_Via:]',
        UAC_FROM,
        'To: <sip:bob@cdr.test>',
        'Call-ID: [call_id]',
        'CSeq: 1 CANCEL',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ],
      true,
    ),
    '<recv response="200" />',
    '<recv response="487" />',
    send([
      'ACK sip:bob@cdr.test SIP/2.0',
      '[last_Via:]',
      UAC_FROM,
      '[last_To:]',
      'Call-ID: [call_id]',
      'CSeq: 1 ACK',
      'Max-Forwards: 70',
      'Content-Length: 0',
    ]),
  ]);

/** The UAS that rings until cancelled: 200 to the CANCEL, 487 to the INVITE (its two Vias kept). */
const uasRings = () =>
  scenario('uas-rings', [
    '<recv request="INVITE"><action>' +
      '<ereg regexp=".*" search_in="hdr" header="Via:" occurrence="1" assign_to="via0" />' +
      '<ereg regexp=".*" search_in="hdr" header="Via:" occurrence="2" assign_to="via1" />' +
      '</action></recv>',
    uasResponse('180 Ringing'),
    '<recv request="CANCEL" />',
    OK_TO_LAST,
    send([
      'SIP/2.0 487 Request Terminated',
      'Via: [$via0]',
      'Via: [$via1]',
      '[last_From:]',
      '[last_To:];tag=uas-[call_number]',
      '[last_Call-ID:]',
      'CSeq: 1 INVITE',
      'Content-Length: 0',
    ]),
    '<recv request="ACK" />',
    '<timewait milliseconds="500" />',
  ]);

/** `name s us` lines of a sipp run's -trace_logs file, as epoch ms by name. */
async function stamps(run: SippRun): Promise<Map<string, number>> {
  const files = await readdir(run.workDir);
  const name = files.find((f) => f.endsWith(`_${run.pid}_logs.log`));
  const out = new Map<string, number>();
  if (!name) return out;
  for (const line of (await readFile(join(run.workDir, name), 'latin1')).split('\n')) {
    const m = /^(\w+) (\d+)(?:\.\d+)? (\d+)(?:\.\d+)?/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]) * 1000 + Number(m[3]) / 1000);
  }
  return out;
}

async function waitForStamp(run: SippRun, name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await stamps(run)).has(name)) {
    if (Date.now() > deadline)
      throw new Error(`${run.process.name}: no "${name}" log line\n${run.process.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface CallCase {
  readonly uac: string;
  readonly uas: string;
  /** -d of the party that pauses. */
  readonly pauseMs?: number;
  readonly config?: SipwardenConfig;
  /** Runs while the UAS runs, instead of one UAC run: returns the UAC runs it made. */
  readonly drive?: (remote: { host: string; port: number }) => Promise<SippRun[]>;
}

/** Runs the case through a fresh sipwarden and returns its records, the UAC runs and the UAS run. */
async function runCase(c: CallCase): Promise<{ records: CallDetailRecord[]; uacs: SippRun[]; uas: SippRun }> {
  const dir = tempDir('cdr-db');
  const database = join(dir, 'sipwarden.db');
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: c.uas,
    localPort: uasPort,
    timeoutS: 30,
    ...(c.pauseMs === undefined ? {} : { pauseMs: c.pauseMs }),
    extraArgs: ['-trace_logs'],
  });
  await uas.ready();
  const sipwarden = await startSipwarden({
    port: await freePort(),
    upstream: { host: HOST, port: uasPort },
    config: { events: { database }, ...c.config },
    extraArgs: ['--log-level', 'warn'],
  });
  const remote = { host: HOST, port: sipwarden.port };
  let uacs: SippRun[];
  try {
    if (c.drive) {
      uacs = await c.drive(remote);
    } else {
      const uac = await startSipp({
        scenario: c.uac,
        localPort: await freePort(),
        remote,
        calls: 1,
        timeoutS: 20,
        ...(c.pauseMs === undefined ? {} : { pauseMs: c.pauseMs }),
        extraArgs: ['-trace_logs'],
      });
      const result = await uac.done();
      assert.equal(result.failed, 0, `${describeSipp(result)}\n${sipwarden.process.tail()}`);
      uacs = [uac];
    }
  } finally {
    await uas.stop();
    // A stop writes what is pending: the records are in the file once it has exited.
    await sipwarden.stop();
  }
  const reader = openCdrReader(database);
  try {
    return { records: reader.query({}).reverse(), uacs, uas };
  } finally {
    reader.close();
  }
}

function assertDuration(record: CallDetailRecord | undefined, measured: Map<string, number>): void {
  const answered = measured.get('answered');
  const bye = measured.get('bye');
  assert.ok(answered !== undefined && bye !== undefined, `sipp logged ${[...measured.keys()]}`);
  const peers = bye - answered;
  assert.ok(record?.durationMs !== null && record?.durationMs !== undefined, JSON.stringify(record));
  assert.ok(
    Math.abs(record.durationMs - peers) <= TOLERANCE_MS,
    `sipwarden recorded ${record.durationMs} ms, the peers' call lasted ${peers.toFixed(1)} ms`,
  );
}

test('an answered call hung up by the caller: one record, answered, ended by the caller, with the duration sipp measured', async () => {
  const { records, uacs } = await runCase({ uac: uacHangsUp(), uas: uasAnswers(), pauseMs: 1500 });
  assert.equal(records.length, 1, JSON.stringify(records));
  const [record] = records;
  assert.equal(record?.disposition, 'answered');
  assert.equal(record?.status, 200);
  assert.equal(record?.endedBy, 'caller');
  assert.equal(record?.endReason, 'bye');
  assert.deepEqual(
    [
      record?.fromUser,
      record?.fromDomain,
      record?.requestUser,
      record?.toUser,
      record?.direction,
      record?.legs,
    ],
    ['alice', 'cdr.test', 'bob', 'bob', 'client', 1],
  );
  assert.deepEqual([record?.sourceAddress, record?.sourceTransport], [HOST, 'udp']);
  assertDuration(record, await stamps(uacs[0]!));
});

test('an answered call hung up by the callee: ended by the callee, with the duration sipp measured', async () => {
  const { records, uas } = await runCase({ uac: uacAwaitsBye(), uas: uasHangsUp(), pauseMs: 1200 });
  assert.equal(records.length, 1, JSON.stringify(records));
  const [record] = records;
  assert.equal(record?.disposition, 'answered');
  assert.equal(record?.endedBy, 'callee');
  assertDuration(record, await stamps(uas));
});

test('a call answered 486: one record, busy, ended by the callee, no duration', async () => {
  const { records } = await runCase({ uac: uacRefused(486), uas: uasBusy() });
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.deepEqual(
    [
      records[0]?.disposition,
      records[0]?.status,
      records[0]?.endedBy,
      records[0]?.durationMs,
      records[0]?.answerTime,
    ],
    ['busy', 486, 'callee', null, null],
  );
});

test('a call cancelled by the caller while ringing: one record, cancelled, 487, ended by the caller', async () => {
  const { records } = await runCase({ uac: uacCancels(), uas: uasRings() });
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.deepEqual(
    [records[0]?.disposition, records[0]?.status, records[0]?.endedBy, records[0]?.durationMs],
    ['cancelled', 487, 'caller', null],
  );
});

test('a call refused by the call-limit stage has its record with the stage and the rule; the call it exceeds is recorded too', async () => {
  const { records } = await runCase({
    uac: '',
    uas: uasAnswers(),
    config: { security: { settings: { 'call-limit': { maxConcurrentCalls: 1 } } } },
    drive: async (remote) => {
      // The first call holds the caller's one allowed call for 3 s ...
      const first = await startSipp({
        scenario: uacHangsUp(),
        localPort: await freePort(),
        remote,
        calls: 1,
        timeoutS: 20,
        pauseMs: 3000,
        extraArgs: ['-trace_logs'],
      });
      await waitForStamp(first, 'answered');
      // ... so the same caller's second call is refused by sipwarden.
      const second = await startSipp({
        scenario: uacRefused(403),
        localPort: await freePort(),
        remote,
        calls: 1,
        timeoutS: 20,
      });
      for (const run of [await second.done(), await first.done()])
        assert.equal(run.failed, 0, describeSipp(run));
      return [first, second];
    },
  });
  assert.equal(records.length, 2, JSON.stringify(records));
  const [answered, refused] = records;
  assert.equal(answered?.disposition, 'answered');
  assert.deepEqual(
    [refused?.disposition, refused?.status, refused?.endedBy, refused?.refusalStage, refused?.refusalRule],
    ['refused', 403, 'sipwarden', 'call-limit', 'max-concurrent-calls'],
  );
  assert.equal(refused?.fromUser, 'alice');
});

/** The BYE sipwarden sends at the maximum session length, checked by sipp against what RFC 3261 12.2.1.1 asks. */
function byeFromSipwarden(cseq: number): string {
  return (
    '<recv request="BYE"><action>' +
    `<ereg regexp="^ *${cseq} BYE$" search_in="hdr" header="CSeq:" check_it="true" assign_to="cseq" />` +
    '<ereg regexp="maximum session length" search_in="hdr" header="Reason:" check_it="true" assign_to="why" />' +
    `<gettimeofday assign_to="bye_s,bye_us" /><log message="bye [$bye_s] [$bye_us] [$cseq] [$why]" /></action></recv>`
  );
}

test('the maximum session length ends an answered call with a BYE to each party, and its record says sipwarden ended it', async () => {
  const dir = tempDir('cdr-session');
  const database = join(dir, 'sipwarden.db');
  // The callee never sent a request in the dialog: its side's CSeq starts at 1; the caller's INVITE was 1: 2.
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: scenario('uas-until-bye', [
      '<recv request="INVITE" rrs="true" />',
      uasResponse('180 Ringing'),
      uasResponse('200 OK', true),
      '<recv request="ACK" />',
      byeFromSipwarden(2),
      OK_TO_LAST,
      '<timewait milliseconds="500" />',
    ]),
    localPort: uasPort,
    timeoutS: 30,
  });
  await uas.ready();
  const base = coreConfig(uasPort);
  const gateway = await startGateway({ ...base, events: { ...base.events, database } }, silentLogger, {
    // The configuration's minimum is a minute; the gateway option lets a test wait two seconds.
    sessionTimeoutMs: 2000,
  });
  const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
  let dialogsAfter = -1;
  let uac: SippRun | undefined;
  try {
    uac = await startSipp({
      scenario: scenario('uac-until-bye', [
        INVITE,
        '<recv response="100" optional="true" />',
        '<recv response="180" optional="true" />',
        `<recv response="200" rrs="true">${stamp('answered')}</recv>`,
        uacInDialog('ACK', 1),
        byeFromSipwarden(1),
        OK_TO_LAST,
        '<timewait milliseconds="500" />',
      ]),
      localPort: await freePort(),
      remote: { host: HOST, port },
      calls: 1,
      timeoutS: 20,
      extraArgs: ['-trace_logs'],
    });
    const result = await uac.done();
    assert.equal(result.failed, 0, describeSipp(result));
    assert.equal(result.successful, 1, describeSipp(result));
    dialogsAfter = gateway.proxy.dialogCount;
  } finally {
    const uasResult = await uas.stop();
    await gateway.close();
    // The callee's scenario ends only with sipwarden's BYE, checked and answered.
    assert.equal(uasResult.successful, 1, describeSipp(uasResult));
  }
  assert.equal(dialogsAfter, 0, 'the dialog is gone');
  const reader = openCdrReader(database);
  const records = reader.query({});
  reader.close();
  assert.equal(records.length, 1, JSON.stringify(records));
  const [record] = records;
  assert.deepEqual(
    [record?.disposition, record?.endedBy, record?.endReason, record?.status],
    ['answered', 'sipwarden', 'session-timeout', 200],
  );
  assertDuration(record, await stamps(uac!));
});
