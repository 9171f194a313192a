/**
 * Identity policy with verified identities on the wire: sipwarden authenticates by itself
 * (local Digest, users added with `sipwarden users add --groups ... --password-stdin`), sipp
 * callers answer its challenges (`[authentication]`, MD5), and the policy decides on the
 * groups of the user the authenticate stage verified:
 *
 * - alice (group sales) calls through (rule sales-calls);
 * - dave (group support) is verified, then refused with 403 by the rule `others`, whose
 *   event names him as the verified identity; the PBX never sees his calls.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ManagementClient } from '../../../src/api/client.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippRun, startSipp } from '../harness/sipp.ts';
import { SIPWARDEN_BIN, type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';
import { currentCounts, stepCount, until } from './helpers.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const DOMAIN = 'pbx.example.com';
const PASSWORD = 'correct-horse-battery';

function addUser(database: string, user: string, groups: string): void {
  execFileSync(
    process.execPath,
    [
      SIPWARDEN_BIN,
      'users',
      'add',
      `${user}@${DOMAIN}`,
      '--groups',
      groups,
      '--password-stdin',
      '--db',
      database,
    ],
    { input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

describe('policy on verified identities, sipp authenticating through sipwarden', () => {
  let sipwarden: Sipwarden;
  let port: number;
  let uas: SippRun;
  let api: ManagementClient;
  let workDir: string;

  before(async () => {
    const uasPort = await freePort(HOST, ['udp']);
    uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, transport: 'u1', timeoutS: 120 });
    await uas.ready();
    port = await freePort();
    const apiPort = await freePort(HOST, ['tcp']);
    workDir = tempDir('sw-policy-identity-');
    const database = join(workDir, 'sipwarden.db');
    addUser(database, 'alice', 'sales');
    addUser(database, 'dave', 'support');
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: uasPort },
      cwd: workDir,
      extraArgs: ['--log-level', 'warn'],
      config: {
        management: { port: apiPort },
        events: { database, aggregateWindowMs: 1000 },
        security: {
          // sipp 3.6 answers only the first challenge it is offered: MD5 alone.
          settings: { authenticate: { mode: 'local', realm: DOMAIN, algorithms: ['MD5'] } },
        },
        policy: {
          rules: [
            { name: 'sales-calls', match: { groups: 'sales' }, action: 'allow' },
            { name: 'others', match: { methods: 'INVITE' }, action: 'deny', reason: 'Not Allowed' },
          ],
        },
      },
    });
    api = sipwarden.client();
    await until(async () => {
      try {
        await api.blocks();
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  });

  after(async () => {
    await sipwarden?.stop();
    await uas?.stop();
  });

  async function callsAs(user: string, address: string, calls: number) {
    const callers = join(workDir, `${user}.csv`);
    writeFileSync(callers, `SEQUENTIAL\n${user};[authentication username=${user} password=${PASSWORD}]\n`);
    return runSipp({
      scenario: 'uac-call-digest.xml',
      localHost: address,
      localPort: await freePort(address),
      remote: { host: HOST, port },
      service: '2001',
      keys: { domain: DOMAIN },
      calls,
      rate: 5,
      timeoutS: 20,
      timeoutIsError: false,
      extraArgs: ['-inf', callers],
    });
  }

  async function invitesAtPbx(): Promise<number> {
    // sipp rewrites its counts every second.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return stepCount(await currentCounts(uas), 'INVITE_Recv');
  }

  test('a verified member of sales calls through', async () => {
    const before = await invitesAtPbx();
    const run = await callsAs('alice', '127.0.9.5', 3);
    assert.equal(run.successful, 3, describeSipp(run));
    assert.equal((await invitesAtPbx()) - before, 3);
  });

  test('a verified user outside sales is refused with 403 after authenticating, the event naming the rule and the identity', async () => {
    const before = await invitesAtPbx();
    const run = await callsAs('dave', '127.0.9.6', 2);
    assert.equal(run.successful, 0, describeSipp(run));
    assert.equal(run.failedBy.FailedUnexpectedMessage, 2, describeSipp(run));
    assert.match(run.errors, /SIP\/2\.0 403 Not Allowed/, describeSipp(run));
    assert.equal(await invitesAtPbx(), before);
    let refusal: { rule?: string; key?: string; status?: number } | undefined;
    await until(async () => {
      refusal = (await api.events({ type: 'policy' })).events.find((e) => e.rule === 'others');
      return refusal !== undefined;
    }, 5000);
    assert.equal(refusal?.status, 403);
    assert.equal(refusal?.key, `identity=dave@${DOMAIN}`);
  });
});
