/**
 * Floods against sipwarden with its default settings, with real peers: a sipp UAC placing
 * legitimate calls at a steady 20 calls/s (each from another caller, as from a trunk: see
 * scenarios/uac-call-callers.xml) from an address that is not allowlisted, through
 * sipwarden (a child process), to a sipp PBX (scenarios/uas-pbx.xml); meanwhile, one after
 * the other, the project's own attack tools send an INVITE flood from one source, a REGISTER
 * flood spread over 1024 loopback addresses (127.1.0.0 - 127.1.3.255), and a flood of
 * malformed datagrams. Each flood must be detected (events through the management API),
 * its sources blocked (the blocks API), the PBX must see far fewer attack messages than
 * were sent (sipp's own message counts), and the legitimate calls must keep at least
 * 99.9 % success (sipp's own successful and failed counts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAddressRange } from '../../src/attack/address-range.ts';
import { runFlood } from '../../src/attack/kinds/flood.ts';
import { runMalformed } from '../../src/attack/kinds/malformed.ts';
import { freePort } from '../interop/harness/ports.ts';
import { stopAll } from '../interop/harness/process.ts';
import { describeSipp, type SippResult, type SippRun, startSipp } from '../interop/harness/sipp.ts';
import {
  allBlocks,
  CALLERS_SCENARIO,
  currentCounts,
  delta,
  eventsOf,
  type Guarded,
  LEGIT_USER,
  PBX_SCENARIO,
  startGuard,
  until,
  waitForEvent,
  whyGone,
} from '../interop/security/helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
/** The legitimate caller: not allowlisted, not in any attack's range. */
const LEGIT_HOST = '127.0.5.1';
const INVITE_FLOODER = '127.0.6.1';
const FUZZER = '127.0.7.1';
/** 1024 sources: the attack tool's default pool size, taken from this /16 in order. */
const REGISTER_POOL = '127.1.0.0/16';
const REGISTER_SOURCES = 1024;

const LEGIT_CALLS = 1000;
const LEGIT_RATE = 20;

/** Waits for sipp's counts file to catch up (it is written every second). */
const settle = () => sleep(2200);

describe('floods against sipwarden with its defaults, legitimate calls alongside', () => {
  let pbx: SippRun;
  let guard: Guarded;
  let uac: SippRun;
  let legit: SippResult | undefined;

  before(async () => {
    const pbxPort = await freePort();
    pbx = await startSipp({ scenario: PBX_SCENARIO, localPort: pbxPort, timeoutS: 150, name: 'sipp-pbx' });
    await pbx.ready();
    guard = await startGuard(pbxPort);
    uac = await startSipp({
      scenario: CALLERS_SCENARIO,
      localHost: LEGIT_HOST,
      localPort: await freePort(LEGIT_HOST),
      remote: { host: TARGET_HOST, port: guard.port },
      service: LEGIT_USER,
      calls: LEGIT_CALLS,
      rate: LEGIT_RATE,
      timeoutS: 120,
      name: 'sipp-legit-uac',
    });
    // The calls are under way before the first flood.
    assert.ok(
      await until(async () => (await uac.snapshot()).successful >= 20, 15_000),
      'no legitimate call got through',
    );
  });

  after(async () => {
    const gone = guard && whyGone(guard);
    if (gone) console.log(gone);
    await uac?.stop();
    await pbx?.stop();
    await guard?.sipwarden.stop();
  });

  test('an INVITE flood from one source is detected, its source blocked, and the PBX sees a fraction of it', async () => {
    const sent = 2000;
    const countsBefore = await currentCounts(pbx);
    const report = await runFlood({
      method: 'INVITE',
      user: '100',
      target: { address: TARGET_HOST, port: guard.port },
      sources: parseAddressRange(INVITE_FLOODER),
      limits: { count: sent, durationMs: 20_000, rate: 500 },
      answerWaitMs: 1000,
    });
    assert.equal(report.answers.sent, sent);
    await settle();
    const countsAfter = await currentCounts(pbx);
    // Only the flood calls user 100: the PBX answers those 404.
    const reached = delta(countsBefore, countsAfter, '404_Sent');
    const blocks = await allBlocks(guard);
    const block = blocks.find((b) => b.key === INVITE_FLOODER);
    assert.ok(block, JSON.stringify(blocks.slice(0, 5)));
    assert.equal(block.rule, 'invite-flood');
    const invite = await waitForEvent(
      guard,
      'flood',
      INVITE_FLOODER,
      (e) => e.rule === 'invite-flood' && e.action === 'block',
    );
    assert.ok(invite.event, JSON.stringify(invite.events));
    // invite-flood: 200 INVITEs in 2 s; the 201st sets the block.
    assert.ok(reached >= 150 && reached <= 250, `${reached} flood INVITEs reached the PBX`);
    console.log(
      `INVITE flood: ${sent} sent at ${report.rate.achieved}/s, ${reached} reached the PBX, ` +
        `the flooder had answers to ${report.answers.blockedAfter?.messages ?? report.answers.answered}; ` +
        `block hits ${block.hits}`,
    );
  });

  test('a REGISTER flood over 1024 loopback sources is detected and its sources blocked by register-distributed', async () => {
    const sent = 32_000;
    const countsBefore = await currentCounts(pbx);
    const report = await runFlood({
      method: 'REGISTER',
      target: { address: TARGET_HOST, port: guard.port },
      sources: parseAddressRange(REGISTER_POOL),
      maxSources: REGISTER_SOURCES,
      limits: { count: sent, durationMs: 30_000, rate: 2500 },
      sendBufferBytes: 1 << 20,
      answerWaitMs: 1000,
    });
    assert.equal(report.answers.sent, sent);
    assert.equal(report.sources.count, REGISTER_SOURCES);
    await settle();
    const countsAfter = await currentCounts(pbx);
    const reached = delta(countsBefore, countsAfter, 'REGISTER_Recv');
    const blocks = await allBlocks(guard);
    const pool = blocks.filter((b) => b.key.startsWith('127.1.'));
    const byRule = new Map<string, number>();
    for (const b of pool) byRule.set(b.rule, (byRule.get(b.rule) ?? 0) + 1);
    // Every one of the 1024 sources sent about 31 REGISTERs and ignored every challenge.
    assert.ok(
      pool.length >= 1000,
      `${pool.length} of ${REGISTER_SOURCES} sources blocked: ${JSON.stringify([...byRule])}`,
    );
    assert.ok((byRule.get('register-distributed') ?? 0) >= 1000, JSON.stringify([...byRule]));
    const events = (await eventsOf(guard, 'flood')).filter((e) => e.rule === 'register-distributed');
    assert.ok(events.length > 0);
    const first = events[0]!;
    assert.equal(first.action, 'block');
    assert.match(first.key ?? '', /^flood:register-distributed\|source=127\.1\./);
    assert.equal(typeof first.details?.challenged, 'number');
    assert.equal(typeof first.details?.surgeCount, 'number');
    // Each source gets through until 3 of its challenges have gone unanswered for 2 s during
    // the surge: a handful of REGISTERs per source, however long the flood lasts.
    const perSource = reached / REGISTER_SOURCES;
    assert.ok(perSource <= 10, `${reached} of ${sent} flood REGISTERs reached the PBX`);
    assert.ok(reached < sent / 3, `${reached} of ${sent} flood REGISTERs reached the PBX`);
    console.log(
      `REGISTER flood: ${sent} sent from ${report.sources.count} sources at ${report.rate.achieved}/s, ` +
        `${reached} reached the PBX (${((100 * reached) / sent).toFixed(1)} %, ${(reached / REGISTER_SOURCES).toFixed(1)} per source); ` +
        `blocked: ${JSON.stringify(Object.fromEntries(byRule))}`,
    );
  });

  test('a flood of malformed datagrams is detected and its source blocked', async () => {
    const sent = 400;
    const countsBefore = await currentCounts(pbx);
    const report = await runMalformed({
      target: { address: TARGET_HOST, port: guard.port },
      sources: parseAddressRange(FUZZER),
      batch: 100,
      seed: 3,
      limits: { count: sent, durationMs: 20_000, rate: 400 },
      answerWaitMs: 500,
    });
    assert.equal(report.answers.sent, sent);
    await settle();
    const countsAfter = await currentCounts(pbx);
    const reached =
      delta(countsBefore, countsAfter, 'INVITE_Recv') +
      delta(countsBefore, countsAfter, 'REGISTER_Recv') +
      delta(countsBefore, countsAfter, 'OPTIONS_Recv') +
      delta(countsBefore, countsAfter, 'MESSAGE_Recv') -
      delta(countsBefore, countsAfter, '180_Sent');
    const blocks = await allBlocks(guard);
    const block = blocks.find((b) => b.key === FUZZER);
    assert.ok(block, 'the fuzzer is not blocked');
    assert.equal(block.rule, 'malformed-rate');
    const malformed = await waitForEvent(
      guard,
      'malformed',
      FUZZER,
      (e) => e.rule === 'malformed-rate' && e.action === 'block',
    );
    assert.ok(malformed.event, JSON.stringify(malformed.events));
    // malformed-rate blocks at the 21st malformed message in 10 s; a few mutations stay valid and are forwarded.
    assert.ok(reached < 40, `${reached} of the fuzzer's messages reached the PBX`);
    // sipwarden stayed up and answering throughout.
    assert.equal(report.details.stoppedAnswering ?? null, null, report.outcome);
    console.log(
      `malformed flood: ${sent} sent (${report.details.malformed} malformed), ${reached} reached the PBX, block hits ${block.hits}`,
    );
  });

  test('the legitimate calls keep at least 99.9 % success, and their caller is never blocked', async () => {
    legit = await uac.done();
    const placed = legit.successful + legit.failed;
    assert.equal(placed, LEGIT_CALLS, describeSipp(legit));
    const rate = legit.successful / LEGIT_CALLS;
    console.log(
      `legitimate calls: ${legit.successful} of ${LEGIT_CALLS} succeeded (${(100 * rate).toFixed(2)} %)`,
    );
    assert.ok(rate >= 0.999, describeSipp(legit));
    const blocks = await allBlocks(guard);
    assert.equal(
      blocks.some((b) => b.key === LEGIT_HOST),
      false,
    );
    assert.equal(guard.sipwarden.process.running, true, guard.sipwarden.process.tail());
  });
});
