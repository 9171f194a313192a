/**
 * Mutual TLS with a real phone: Debian's baresip (libre's TLS) presents a client certificate
 * that the site's CA signed and that names its user (`URI:sip:alice@mtls.test`); sipwarden,
 * with `tls.requestClientCert` and `tls.ca`, takes the identity from the certificate and
 * authenticates the phone's REGISTER and INVITE without a Digest challenge (the phones have
 * no password at all), in front of Kamailio as the registrar (Path, RFC 3327). The call
 * passes sipwarden twice (phone A -> sipwarden -> Kamailio -> sipwarden -> phone B); the
 * callee receives the caller's identity as P-Asserted-Identity, which only the certificate
 * can have given.
 *
 * Refused: a phone without a certificate, and one whose certificate names the same user but
 * was signed by another CA, are challenged like any phone without proof (the handshake
 * itself succeeds, see README "TLS") and, without the password, never registered; a phone
 * whose valid certificate names alice cannot register as bob. The registrar has no
 * authentication of its own: a 401 can come only from sipwarden.
 *
 * The users are added with `sipwarden users add --password-stdin` to the database the process
 * opens. All phones' TLS connections come from 127.0.0.1 (libre does not bind the connections
 * it opens), so the refusals, which the password-guessing stage counts, run last, under
 * raised password-guessing thresholds.
 * Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import { openCdrReader } from '../../../src/cdr/cdr-store.ts';
import { type Baresip, type BaresipEvent, baresipAvailable, startBaresip } from '../harness/baresip.ts';
import { type CertificateFiles, selfSignedCertificate } from '../harness/certs.ts';
import { type Kamailio, startKamailio } from '../harness/kamailio.ts';
import { freePort, waitForListening } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { SIPWARDEN_BIN, type Sipwarden, sipwardenAvailable, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';
import {
  type ClientCertificate,
  createCertificateAuthority,
  issueClientCertificate,
} from './certificate-authority.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const PHONE_A = '127.0.0.31';
const PHONE_B = '127.0.0.32';
const PHONE_C = '127.0.0.33';
const DOMAIN = 'mtls.test';

const skip = !baresipAvailable()
  ? 'baresip is not installed (scripts/install-test-deps.sh installs it)'
  : !sipwardenAvailable()
    ? 'bin/sipwarden.js is not in this checkout'
    : false;

const isCall = (type: string, callId: string) => (event: BaresipEvent) =>
  event.type === type && event.id === callId;

/** The value of the first `name` header of a traced message. */
function headerOf(message: string, name: string): string | undefined {
  return new RegExp(`^${name}:[ \\t]*([^\\r\\n]+)`, 'im').exec(message)?.[1]?.trim();
}

/** Adds a user with the CLI, a password on stdin that no phone here knows. */
function addUser(database: string, user: string): void {
  execFileSync(
    process.execPath,
    [SIPWARDEN_BIN, 'users', 'add', `${user}@${DOMAIN}`, '--password-stdin', '--db', database],
    { input: `${randomBytes(16).toString('hex')}\n`, stdio: ['pipe', 'pipe', 'pipe'] },
  );
}

describe('mutual TLS with baresip: the identity comes from the client certificate', () => {
  let serverCertificate: CertificateFiles;
  let alice: ClientCertificate;
  let bob: ClientCertificate;
  let aliceFromOtherCa: ClientCertificate;
  let kamailio: Kamailio;
  let sipwarden: Sipwarden;
  let tlsPort: number;
  let database: string;
  const phones: Baresip[] = [];
  /** The calls placed: Call-ID and the caller's user. */
  const calls: { callId: string; caller: string }[] = [];

  before(async () => {
    if (skip) return;
    const dir = tempDir('identity-mtls');
    serverCertificate = selfSignedCertificate(dir);
    const site = createCertificateAuthority(dir, 'site');
    const other = createCertificateAuthority(dir, 'other');
    alice = issueClientCertificate(site, dir, 'alice', DOMAIN);
    bob = issueClientCertificate(site, dir, 'bob', DOMAIN);
    aliceFromOtherCa = issueClientCertificate(other, dir, 'alice', DOMAIN);
    database = join(dir, 'sipwarden.db');
    addUser(database, 'alice');
    addUser(database, 'bob');

    const kamailioPort = await freePort();
    kamailio = await startKamailio({ variant: 'registrar', port: kamailioPort, dialogLog: true });
    const port = await freePort();
    tlsPort = await freePort(HOST, ['tcp']);
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: kamailioPort },
      cwd: dir,
      config: {
        listen: [
          { host: HOST, port, transports: ['udp'] },
          { host: HOST, port: tlsPort, transports: ['tls'] },
        ],
        tls: {
          cert: serverCertificate.certPath,
          key: serverCertificate.keyPath,
          ca: site.certPath,
          requestClientCert: true,
        },
        upstream: { host: HOST, port: kamailioPort, transport: 'udp' },
        events: { database },
        security: {
          settings: {
            authenticate: { mode: 'local', realm: DOMAIN },
            // Every phone's TLS connection comes from 127.0.0.1, and libre answers a rejected
            // password again at once, several times: the refused phones' failures must not
            // block the address (or alice) for the cases after them.
            'password-guessing': { perSource: { failures: 1000 }, perUser: { failures: 1000 } },
          },
        },
      },
      extraArgs: ['--log-level', 'warn'],
    });
    await waitForListening(tlsPort, ['tcp'], 10000);
  });

  afterEach(async () => {
    await Promise.all(phones.splice(0).map((phone) => phone.stop()));
  });

  after(async () => {
    await sipwarden?.stop();
    await kamailio?.stop();
  });

  /** A phone on `host` that trusts sipwarden's certificate and presents `certificate`, if any. */
  async function phone(name: string, host: string, certificate?: ClientCertificate): Promise<Baresip> {
    const baresip = await startBaresip({
      name: `baresip-${name}`,
      host,
      caFile: serverCertificate.certPath,
      ...(certificate === undefined ? {} : { certificateFile: certificate.combinedPath }),
    });
    phones.push(baresip);
    return baresip;
  }

  /** The account line for `user`, every request over TLS to sipwarden; `extra` appended. */
  function account(user: string, extra: string[] = []): string {
    return [
      `<sip:${user}@${DOMAIN};transport=tls>`,
      `outbound="sip:${HOST}:${tlsPort};transport=tls"`,
      'answermode=auto',
      'regint=300',
      'audio_codecs=pcmu',
      ...extra,
    ].join(';');
  }

  /** Adds an account that must be refused; resolves with the phone's REGISTER_FAIL event. */
  async function refusedRegistration(baresip: Baresip, line: string): Promise<BaresipEvent> {
    const added = await baresip.command('uanew', line);
    assert.ok(added.ok, `uanew: ${added.data}`);
    const outcome = await baresip.waitForEvent(
      (e) => e.type === 'REGISTER_OK' || e.type === 'REGISTER_FAIL',
      'the outcome of its REGISTER',
    );
    assert.equal(outcome.type, 'REGISTER_FAIL', `registered without proof\n${baresip.process.tail()}`);
    return outcome;
  }

  /** Status lines of the answers to REGISTER the phone received (its SIP trace). */
  function registerAnswers(baresip: Baresip): string[] {
    return [
      ...baresip.process
        .stdout()
        .matchAll(/^SIP\/2\.0 (\d{3})[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*?CSeq:\s*\d+ REGISTER/gm),
    ].map((m) => m[1]!);
  }

  test('two phones with certificates of the CA register and call each other without a challenge; the callee gets the caller as P-Asserted-Identity', {
    skip,
  }, async () => {
    const a = await phone('alice', PHONE_A, alice);
    const b = await phone('bob', PHONE_B, bob);
    // No auth_pass: a challenge could not be answered, the certificate is the only proof.
    await a.addAccount(account('alice'));
    await b.addAccount(account('bob'));

    for (const [caller, callee, callerUser, calleeUser] of [
      [a, b, 'alice', 'bob'],
      [b, a, 'bob', 'alice'],
    ] as const) {
      // The calls this phone had before: the new one is the one not among them.
      const earlier = new Set(callee.allEvents().map((e) => e.id));
      const dialled = await caller.command('dial', `sip:${calleeUser}@${DOMAIN}`);
      assert.ok(dialled.ok, `dial: ${dialled.data}`);
      const established = await callee.waitForEvent(
        (e) => e.type === 'CALL_ESTABLISHED' && !earlier.has(e.id),
        'CALL_ESTABLISHED',
      );
      const callId = established.id;
      assert.ok(callId, 'CALL_ESTABLISHED without a Call-ID');
      await caller.waitForEvent(isCall('CALL_ESTABLISHED', callId), 'CALL_ESTABLISHED');
      calls.push({ callId, caller: callerUser });

      // The INVITE that reached the callee (its second pass through sipwarden, from the PBX
      // side) names the caller the certificate proved.
      const invite = callee.tracedMessages(callId).find((m) => /^INVITE /m.test(m));
      assert.ok(invite, `no INVITE in ${calleeUser}'s trace`);
      assert.equal(headerOf(invite, 'P-Asserted-Identity'), `<sip:${callerUser}@${DOMAIN}>`, invite);
      // Neither phone was ever challenged for this call.
      for (const p of [caller, callee]) {
        const challenged: string[] = p.tracedMessages(callId).filter((m) => /^SIP\/2\.0 40[17] /m.test(m));
        assert.deepEqual(challenged, [], `a challenge in the call's trace`);
      }

      // The callee hangs up the first call, the caller the second.
      const hangingUp = callerUser === 'alice' ? callee : caller;
      const other = hangingUp === caller ? callee : caller;
      const hungUp = await hangingUp.command('hangup');
      assert.ok(hungUp.ok, `hangup: ${hungUp.data}`);
      await other.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
      await hangingUp.waitForEvent(isCall('CALL_CLOSED', callId), 'CALL_CLOSED');
      await kamailio.process.waitFor(
        new RegExp(`BYE ${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\}`),
        5000,
        'stderr',
      );
    }
    // Registered without a single 401.
    for (const p of [a, b]) assert.deepEqual(registerAnswers(p), ['200'], p.process.tail());
  });

  test('a certificate of the CA naming alice cannot register as bob', { skip }, async () => {
    const c = await phone('alice-as-bob', PHONE_C, alice);
    await refusedRegistration(c, account('bob', ['auth_pass=not-bobs-password']));
    // The certificate proves alice; a REGISTER must act for its own address of record.
    const answers = registerAnswers(c);
    assert.equal(answers[0], '403', c.process.tail());
    assert.ok(!answers.includes('200'), c.process.tail());
  });

  test('a phone without a certificate is challenged and, without the password, not registered', {
    skip,
  }, async () => {
    const c = await phone('no-certificate', PHONE_C);
    await refusedRegistration(c, account('alice', ['auth_pass=not-the-password']));
    const answers = registerAnswers(c);
    assert.equal(answers[0], '401', c.process.tail());
    assert.ok(!answers.includes('200'), c.process.tail());
  });

  test('a certificate naming alice from another CA proves nothing: challenged, not registered', {
    skip,
  }, async () => {
    const c = await phone('other-ca', PHONE_C, aliceFromOtherCa);
    await refusedRegistration(c, account('alice', ['auth_pass=not-the-password']));
    const answers = registerAnswers(c);
    assert.equal(answers[0], '401', c.process.tail());
    assert.ok(!answers.includes('200'), c.process.tail());
  });

  test("each call's record names its caller as proved by the certificate", { skip }, async () => {
    assert.equal(calls.length, 2, 'the calls of the first case');
    // A stop writes every pending record.
    await sipwarden.stop();
    const reader = openCdrReader(database);
    let records: CallDetailRecord[];
    try {
      records = reader.query({});
    } finally {
      reader.close();
    }
    for (const call of calls) {
      const record = records.find((r) => r.callId === call.callId);
      assert.ok(record, `no record of ${call.callId}: ${JSON.stringify(records)}`);
      assert.deepEqual(
        [record.authUser, record.authDomain, record.authMethod, record.disposition, record.legs],
        [call.caller, DOMAIN, 'tls-certificate', 'answered', 2],
      );
    }
  });
});
