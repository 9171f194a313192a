/**
 * A trunk that authenticates every call with one account (a customer's PBX with its trunk
 * account: one fixed identity, Digest on each INVITE, dozens of calls at once) through
 * sipwarden's own authentication (`authenticate.mode: local`): sipp places the calls with
 * `[authentication]` (MD5) from the trunk's address, declared under `security.trunks` with
 * `authenticate: true` and the trunk's limits. Every call is challenged once (407) and
 * passes with its credentials; the PBX (a sipp UAS) gets each INVITE with the trunk's
 * identity as P-Asserted-Identity; the per-identity limit of 5 does not refuse the trunk's
 * calls, yet each call's record names the identity Digest proved.
 *
 * The same account from an address that is not the trunk's is a user's: held to the
 * per-identity limit (its 6th call at once refused with 403).
 *
 * The user is added with `sipwarden users add --password-stdin` to the database the process
 * opens. Loopback only, free ports, every process stopped by its pid; each run bounded in
 * calls and time.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import { openCdrReader } from '../../../src/cdr/cdr-store.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippResult, startSipp } from '../harness/sipp.ts';
import { SIPWARDEN_BIN, type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const TRUNK_ADDRESS = '127.0.5.1';
const ELSEWHERE = '127.0.5.2';
const DOMAIN = 'trunk.example.com';
const USER = 'office-pbx';
// No spaces: sipp's [authentication] keyword ends its password at one.
const PASSWORD = 'trunk-secret-42';
/** Calls the trunk places, at most this many open at once, each held this long. */
const CALLS = 120;
const AT_ONCE = 60;
const HOLD_MS = 3000;
/** "Dozens at once": the calls open together that the records must show. */
const MIN_OVERLAP = 24;

/** What the UAS logged of each INVITE's P-Asserted-Identity (uas-call-asserted.xml, -trace_logs). */
function assertedIdentities(run: SippResult): string[] {
  const out: string[] = [];
  for (const file of readdirSync(run.workDir).filter((f) => f.endsWith('_logs.log'))) {
    for (const line of readFileSync(join(run.workDir, file), 'latin1').split('\n')) {
      const m = /asserted (\S+)/.exec(line);
      if (m) out.push(m[1]!);
    }
  }
  return out;
}

/** The most records whose answer-to-end intervals overlap at one instant. */
function mostOpenAtOnce(records: readonly CallDetailRecord[]): number {
  const edges: [number, number][] = [];
  for (const r of records) {
    if (r.answerTime === null) continue;
    edges.push([r.answerTime, 1], [r.endTime, -1]);
  }
  // Ends before starts at the same instant: a call that ended is not open with the next.
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, delta] of edges) {
    open += delta;
    most = Math.max(most, open);
  }
  return most;
}

describe('a trunk authenticating every call with one account, dozens of calls at once', () => {
  let sipwarden: Sipwarden;
  let port: number;
  let uasPort: number;
  let database: string;
  let callers: string;

  before(async () => {
    uasPort = await freePort();
    port = await freePort();
    const dir = tempDir('identity-trunk');
    database = join(dir, 'sipwarden.db');
    execFileSync(
      process.execPath,
      [SIPWARDEN_BIN, 'users', 'add', `${USER}@${DOMAIN}`, '--password-stdin', '--db', database],
      { input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    // One caller, the trunk's account, for every call (sipp's injection file).
    callers = join(dir, 'callers.csv');
    writeFileSync(callers, `SEQUENTIAL\n${USER};[authentication username=${USER} password=${PASSWORD}]\n`);
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: uasPort },
      cwd: dir,
      extraArgs: ['--log-level', 'warn'],
      config: {
        events: { database },
        security: {
          trunks: [
            {
              name: 'office-pbx',
              addresses: [TRUNK_ADDRESS],
              identity: USER,
              authenticate: true,
              maxConcurrentCalls: 100,
              // Above sipp's bursts: held at -l, sipp makes up for lost time with calls at once
              // (the trunk's rate limit is not what this test is about).
              maxCallsPerSecond: 1000,
            },
          ],
          settings: {
            // sipp 3.6 stops at a first challenge it cannot answer (SHA-256) instead of taking the next.
            authenticate: { mode: 'local', realm: DOMAIN, algorithms: ['MD5'] },
          },
        },
      },
    });
  });

  after(async () => {
    await sipwarden?.stop();
  });

  /** The trunk's calls from `source` to a sipp UAS behind sipwarden; both runs' results. */
  async function placeCalls(source: string, calls: number, atOnce: number, rate: number) {
    const uas = await startSipp({
      scenario: 'uas-call-asserted.xml',
      localPort: uasPort,
      timeoutS: 60,
      extraArgs: ['-trace_logs'],
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-call-digest.xml',
      localHost: source,
      localPort: await freePort(source),
      remote: { host: HOST, port },
      service: '4930123456',
      keys: { domain: DOMAIN },
      calls,
      rate,
      maxConcurrent: atOnce,
      pauseMs: HOLD_MS,
      timeoutS: 45,
      extraArgs: ['-inf', callers],
    });
    const pbx = await uas.stop();
    return { uac, pbx };
  }

  test(`${CALLS} calls, ${AT_ONCE} at once, each challenged once and authenticated: all answered, the PBX sees the trunk's identity`, async () => {
    const { uac, pbx } = await placeCalls(TRUNK_ADDRESS, CALLS, AT_ONCE, 40);
    const both = `${describeSipp(uac)}\n${describeSipp(pbx)}\n${sipwarden.process.tail(4000)}`;
    assert.equal(uac.successful, CALLS, both);
    assert.equal(uac.failed, 0, both);
    // Each call was challenged (its 407) and sent again with credentials.
    assert.equal(uac.messageCounts['2_407_Recv'], CALLS, both);
    // One INVITE per call reached the PBX, each naming the trunk, none with credentials.
    assert.equal(pbx.messageCounts['0_INVITE_Recv'], CALLS, both);
    assert.equal(pbx.failed, 0, both);
    assert.deepEqual(assertedIdentities(pbx), Array(CALLS).fill(`sip:${USER}@${DOMAIN}`));
  });

  test('the same account from another address is a user: its sixth call at once is refused', async () => {
    const { uac } = await placeCalls(ELSEWHERE, 10, 10, 50);
    // The per-identity limit (5): calls over it get 403 (sipp counts them failed).
    assert.ok(uac.successful <= 5, describeSipp(uac));
    assert.ok(uac.failed >= 5, describeSipp(uac));
    assert.equal(uac.successful + uac.failed, 10, describeSipp(uac));
  });

  test("each answered call's record names the trunk's account as Digest proved it, dozens open at once", async () => {
    // A stop writes every pending record.
    await sipwarden.stop();
    const reader = openCdrReader(database);
    let records: CallDetailRecord[];
    try {
      records = reader.query({ limit: 1000 });
    } finally {
      reader.close();
    }
    const trunkCalls = records.filter((r) => r.sourceAddress === TRUNK_ADDRESS);
    assert.equal(trunkCalls.length, CALLS);
    for (const r of trunkCalls) {
      assert.deepEqual(
        [r.disposition, r.authUser, r.authDomain, r.authMethod],
        ['answered', USER, DOMAIN, 'digest'],
        r.callId,
      );
    }
    const most = mostOpenAtOnce(trunkCalls);
    assert.ok(most >= MIN_OVERLAP, `at most ${most} of the trunk's calls were open at once`);
    const refused = records.filter((r) => r.sourceAddress === ELSEWHERE && r.status === 403);
    assert.ok(
      refused.every((r) => r.refusalStage === 'call-limit'),
      JSON.stringify(refused.map((r) => [r.refusalStage, r.refusalRule])),
    );
  });
});
