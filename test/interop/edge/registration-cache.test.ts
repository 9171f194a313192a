/**
 * Registration caching against a real registrar. Phones (UDP sockets on loopback addresses
 * of their own) register through sipwarden, with `registrationCache` on, to Kamailio as the
 * registrar (usrloc in memory, Path honoured), which logs every REGISTER it receives. The
 * phones re-register every few hundred milliseconds: Kamailio must see a fraction of them
 * (the first REGISTER of each phone and its refreshes once the binding has run below
 * refreshBelowPercent), every phone must get a 200 each time, a call to a phone answered
 * from the cache must still reach it, a REGISTER with a phone's Call-ID from another
 * address must reach Kamailio rather than get the cached 200, and an unregistration must
 * reach Kamailio at once. Loopback only, free ports, every process stopped by its pid.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { answer, header, startLine, UdpPeer } from '../../support/udp-peer.ts';
import { type Kamailio, startKamailio } from '../harness/kamailio.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { SIPWARDEN_BIN, type Sipwarden, startSipwarden } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const DOMAIN = 'cache.test';
const PHONES = 10;
/** Each phone re-registers this often, for STORM_MS. */
const INTERVAL_MS = 400;
const STORM_MS = 8_000;
/** Kamailio's min_expires is 60: what each phone asks for and gets. */
const EXPIRES_S = 60;
/** Forward once less than 90 % of the 60 s is left: a refresh every 6 s or so. */
const REFRESH_BELOW_PERCENT = 90;

interface Phone {
  readonly user: string;
  readonly peer: UdpPeer;
  readonly callId: string;
  cseq: number;
}

let kamailio: Kamailio;
let sipwarden: Sipwarden;
let api = '';
let token = '';
const phones: Phone[] = [];
let branches = 0;

function registerText(phone: Phone, options: { expires?: number; from?: UdpPeer } = {}): string {
  const peer = options.from ?? phone.peer;
  return [
    `REGISTER sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bK-rc${++branches};rport`,
    `From: <sip:${phone.user}@${DOMAIN}>;tag=f-${phone.user}`,
    `To: <sip:${phone.user}@${DOMAIN}>`,
    `Call-ID: ${phone.callId}`,
    `CSeq: ${phone.cseq} REGISTER`,
    `Contact: <sip:${phone.user}@${phone.peer.address}:${phone.peer.port}>`,
    `Expires: ${options.expires ?? EXPIRES_S}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Sends one REGISTER of `phone` (from its own socket unless `from`) and returns the final answer. */
async function register(phone: Phone, options: { expires?: number; from?: UdpPeer } = {}): Promise<string> {
  phone.cseq++;
  const peer = options.from ?? phone.peer;
  const cseq = `${phone.cseq} REGISTER`;
  peer.send(registerText(phone, options), sipwarden.port, HOST);
  return peer.next(
    (text) => text.startsWith('SIP/2.0 ') && !text.startsWith('SIP/2.0 1') && header(text, 'cseq') === cseq,
    5000,
  );
}

let barriers = 0;

/**
 * Waits until Kamailio's log, as read here, holds every line it wrote so far: a REGISTER sent
 * straight to it (Call-ID `barrier-N`) is logged after them, so once its line is here they are.
 */
async function settled(registrar: Kamailio): Promise<void> {
  const callId = `barrier-${++barriers}-${process.pid}`;
  const probe = await UdpPeer.bind(HOST);
  try {
    probe.send(
      [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP ${HOST}:${probe.port};branch=z9hG4bK-${callId}`,
        `From: <sip:barrier@${DOMAIN}>;tag=b`,
        `To: <sip:barrier@${DOMAIN}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 REGISTER',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      registrar.port,
      registrar.host,
    );
    await probe.next((text) => text.startsWith('SIP/2.0 200'), 5000);
    const deadline = Date.now() + 10_000;
    while (registrar.countLog(new RegExp(`sw-interop: register ${callId} `)) === 0) {
      assert.ok(Date.now() < deadline, 'the barrier REGISTER was never logged');
      await sleep(20);
    }
  } finally {
    probe.close();
  }
}

/** REGISTERs Kamailio received through sipwarden: all of them, or those of one Call-ID (and CSeq). */
async function registrarSaw(callId?: string, cseq?: number, registrar: Kamailio = kamailio): Promise<number> {
  await settled(registrar);
  if (callId === undefined) return registrar.countLog(/sw-interop: register (?!barrier-)/);
  const escaped = callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return registrar.countLog(new RegExp(`sw-interop: register ${escaped} ${cseq ?? '\\d+'} `));
}

async function metricsText(): Promise<string> {
  const response = await fetch(`${api}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  });
  return response.text();
}

function metric(text: string, name: string): number {
  const escaped = name.replace(/[{}"]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** An INVITE from `caller` to `user`, through sipwarden; the final answer it gets (ACKed). */
async function call(caller: UdpPeer, user: string, n: number): Promise<string> {
  const branch = `z9hG4bK-call${n}`;
  const common = [
    `From: <sip:caller@${DOMAIN}>;tag=caller-${n}`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: call-${n}@cache.test`,
  ];
  caller.send(
    [
      `INVITE sip:${user}@${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP ${caller.address}:${caller.port};branch=${branch};rport`,
      ...common,
      `CSeq: 1 INVITE`,
      `Contact: <sip:caller@${caller.address}:${caller.port}>`,
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipwarden.port,
    HOST,
  );
  const final = await caller.next(
    (text) => /^SIP\/2\.0 [2-6]\d\d /.test(text) && header(text, 'call-id') === `call-${n}@cache.test`,
    8000,
  );
  caller.send(
    [
      `ACK sip:${user}@${DOMAIN} SIP/2.0`,
      `Via: SIP/2.0/UDP ${caller.address}:${caller.port};branch=${branch};rport`,
      common[0],
      `To: ${header(final, 'to')}`,
      common[2],
      'CSeq: 1 ACK',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipwarden.port,
    HOST,
  );
  return final;
}

describe('registration caching with Kamailio as the registrar', () => {
  before(async () => {
    const kamailioPort = await freePort();
    kamailio = await startKamailio({
      variant: 'registrar',
      port: kamailioPort,
      defines: { WITH_REGISTER_LOG: true },
    });
    const port = await freePort();
    const apiPort = await freePort(HOST, ['tcp']);
    sipwarden = await startSipwarden({
      port,
      upstream: { host: HOST, port: kamailioPort },
      config: {
        management: { port: apiPort },
        registrationCache: { enabled: true, refreshBelowPercent: REFRESH_BELOW_PERCENT },
      },
      extraArgs: ['--log-level', 'warn'],
    });
    api = `http://${HOST}:${apiPort}`;
    token = await sipwarden.apiToken('admin');
    for (let i = 0; i < PHONES; i++) {
      const peer = await UdpPeer.bind(`127.0.0.${40 + i}`);
      phones.push({ user: `p${i}`, peer, callId: `reg-${i}-${process.pid}@cache.test`, cseq: 0 });
    }
  });

  after(async () => {
    for (const phone of phones) phone.peer.close();
    await sipwarden?.stop();
    await kamailio?.stop();
  });

  test(`${PHONES} phones re-registering every ${INTERVAL_MS} ms: each gets 200 every time, the registrar sees a fraction`, async () => {
    let sent = 0;
    const expiries: number[] = [];
    const started = Date.now();
    await Promise.all(
      phones.map(async (phone) => {
        while (Date.now() - started < STORM_MS) {
          const reply = await register(phone);
          sent++;
          assert.equal(startLine(reply), 'SIP/2.0 200 OK', reply);
          const expires = /expires=(\d+)/.exec(header(reply, 'contact') ?? '');
          assert.ok(expires, `a Contact with its expiry: ${reply}`);
          expiries.push(Number(expires[1]));
          await sleep(INTERVAL_MS);
        }
      }),
    );
    const seen = await registrarSaw();
    const text = await metricsText();
    const answered = metric(text, 'sipwarden_registrations_cached_answers_total');
    const refreshed = metric(text, 'sipwarden_registrations_forwarded_total{reason="refresh"}');
    console.log(
      `# ${sent} REGISTERs sent by ${PHONES} phones in ${STORM_MS} ms; the registrar saw ${seen}; ` +
        `${answered} answered from the cache, ${refreshed} forwarded as refreshes`,
    );
    // The first REGISTER of each phone, then a refresh about every 6 s: at most 3 each.
    assert.ok(seen >= PHONES && seen <= 3 * PHONES, `the registrar saw ${seen} of ${sent}`);
    assert.ok(refreshed >= PHONES, 'each phone refreshed the PBX at least once');
    assert.equal(answered + seen, sent, 'every REGISTER was answered from the cache or forwarded');
    // Never more than the PBX granted, nor a binding already run out.
    assert.ok(
      expiries.every((e) => e > 0 && e <= EXPIRES_S),
      `expiries given: ${[...new Set(expiries)].join(',')}`,
    );
  });

  test('a call to a phone whose re-REGISTERs are answered from the cache reaches it', async () => {
    const phone = phones[1]!;
    const before = await registrarSaw(phone.callId);
    assert.equal(startLine(await register(phone)), 'SIP/2.0 200 OK');
    assert.equal(await registrarSaw(phone.callId), before, 'that re-REGISTER was answered from the cache');
    const caller = await UdpPeer.bind('127.0.0.60');
    try {
      const answered = (async () => {
        const invite = await phone.peer.next((text) => text.startsWith('INVITE '), 8000);
        phone.peer.send(
          answer(invite, 486, 'Busy Here At Phone', [
            `Contact: <sip:${phone.user}@${phone.peer.address}:${phone.peer.port}>`,
          ]),
          sipwarden.port,
          HOST,
        );
        return invite;
      })();
      const final = await call(caller, phone.user, 1);
      const invite = await answered;
      assert.match(
        startLine(invite),
        new RegExp(
          `^INVITE sip:${phone.user}@${phone.peer.address.replace(/\./g, '\\.')}:${phone.peer.port}`,
        ),
      );
      assert.equal(startLine(final), 'SIP/2.0 486 Busy Here At Phone');
    } finally {
      caller.close();
    }
  });

  test("a REGISTER with a phone's Call-ID from another address goes to the registrar, not answered from the cache", async () => {
    const phone = phones[2]!;
    assert.equal(startLine(await register(phone)), 'SIP/2.0 200 OK');
    const attacker = await UdpPeer.bind('127.0.0.99');
    try {
      const before = await metricsText();
      await register(phone, { from: attacker });
      assert.equal(
        await registrarSaw(phone.callId, phone.cseq),
        1,
        'the registrar received it: the cache did not answer',
      );
      const afterwards = await metricsText();
      const key = 'sipwarden_registrations_forwarded_total{reason="other-flow"}';
      assert.equal(metric(afterwards, key) - metric(before, key), 1);
      assert.equal(
        metric(afterwards, 'sipwarden_registrations_cached_answers_total'),
        metric(before, 'sipwarden_registrations_cached_answers_total'),
      );
    } finally {
      attacker.close();
    }
  });

  test('an unregistration reaches the registrar at once, and the phone is no longer reachable', async () => {
    const phone = phones[3]!;
    const before = await registrarSaw(phone.callId);
    assert.equal(startLine(await register(phone)), 'SIP/2.0 200 OK');
    assert.equal(await registrarSaw(phone.callId), before, 'answered from the cache');
    const reply = await register(phone, { expires: 0 });
    assert.equal(startLine(reply), 'SIP/2.0 200 OK');
    assert.equal(
      await registrarSaw(phone.callId, phone.cseq),
      1,
      'the registrar received the unregistration',
    );
    const caller = await UdpPeer.bind('127.0.0.61');
    try {
      const final = await call(caller, phone.user, 2);
      assert.equal(startLine(final), 'SIP/2.0 404 Not Found');
    } finally {
      caller.close();
    }
    // And a REGISTER after it goes to the registrar again (nothing cached for it any more).
    assert.equal(startLine(await register(phone)), 'SIP/2.0 200 OK');
    assert.equal(await registrarSaw(phone.callId, phone.cseq), 1);
  });
});

describe('registration caching with sipwarden checking Digest itself (authenticate mode local)', () => {
  const PASSWORD = 'correct-horse-battery';
  let registrar: Kamailio;
  let warden: Sipwarden;
  let phone: UdpPeer;
  const callId = `auth-reg-${process.pid}@cache.test`;
  let cseq = 0;
  let nc = 0;
  let challenge: { realm: string; nonce: string } | undefined;

  before(async () => {
    const registrarPort = await freePort();
    registrar = await startKamailio({
      variant: 'registrar',
      port: registrarPort,
      defines: { WITH_REGISTER_LOG: true },
    });
    const port = await freePort();
    const dir = tempDir('regcache-auth');
    const database = join(dir, 'sipwarden.db');
    execFileSync(
      process.execPath,
      [SIPWARDEN_BIN, 'users', 'add', `alice@${DOMAIN}`, '--password-stdin', '--db', database],
      { input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    warden = await startSipwarden({
      port,
      cwd: dir,
      upstream: { host: HOST, port: registrarPort },
      config: {
        events: { database },
        registrationCache: { enabled: true },
        security: { settings: { authenticate: { mode: 'local', realm: DOMAIN, algorithms: ['MD5'] } } },
      },
      extraArgs: ['--log-level', 'warn'],
    });
    phone = await UdpPeer.bind('127.0.0.70');
  });

  after(async () => {
    phone?.close();
    await warden?.stop();
    await registrar?.stop();
  });

  /** One REGISTER of alice; credentials for the last challenge unless `credentials` is false. */
  async function send(credentials: boolean, password = PASSWORD): Promise<string> {
    cseq++;
    const uri = `sip:${DOMAIN}`;
    let authorization: string[] = [];
    if (credentials && challenge !== undefined) {
      nc++;
      const count = nc.toString(16).padStart(8, '0');
      const cnonce = randomBytes(8).toString('hex');
      const md5 = (text: string) => createHash('md5').update(text).digest('hex');
      const ha1 = md5(`alice:${challenge.realm}:${password}`);
      const ha2 = md5(`REGISTER:${uri}`);
      const response = md5(`${ha1}:${challenge.nonce}:${count}:${cnonce}:auth:${ha2}`);
      authorization = [
        `Authorization: Digest username="alice", realm="${challenge.realm}", nonce="${challenge.nonce}", ` +
          `uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${count}, cnonce="${cnonce}"`,
      ];
    }
    phone.send(
      [
        `REGISTER ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${phone.address}:${phone.port};branch=z9hG4bK-auth${cseq};rport`,
        `From: <sip:alice@${DOMAIN}>;tag=f-alice`,
        `To: <sip:alice@${DOMAIN}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq} REGISTER`,
        `Contact: <sip:alice@${phone.address}:${phone.port}>`,
        `Expires: ${EXPIRES_S}`,
        ...authorization,
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      warden.port,
      HOST,
    );
    const reply = await phone.next(
      (text) => /^SIP\/2\.0 [2-6]/.test(text) && header(text, 'cseq') === `${cseq} REGISTER`,
      5000,
    );
    const www = header(reply, 'www-authenticate');
    if (www !== undefined) {
      challenge = { realm: /realm="([^"]+)"/.exec(www)![1]!, nonce: /nonce="([^"]+)"/.exec(www)![1]! };
      nc = 0;
    }
    return reply;
  }

  const seen = () => registrarSaw(undefined, undefined, registrar);

  test('only a re-REGISTER that passes the Digest check gets the cached 200', async () => {
    assert.equal(startLine(await send(false)), 'SIP/2.0 401 Unauthorized');
    assert.equal(startLine(await send(true)), 'SIP/2.0 200 OK');
    assert.equal(await seen(), 1, 'the verified REGISTER reached the registrar');
    // Verified again (the same nonce, the next count): answered from the cache.
    assert.equal(startLine(await send(true)), 'SIP/2.0 200 OK');
    assert.equal(await seen(), 1, 'answered from the cache');
    // Same flow, Call-ID and Contact, higher CSeq, but no credentials: challenged, not answered.
    assert.equal(startLine(await send(false)), 'SIP/2.0 401 Unauthorized');
    // A wrong password: challenged again.
    assert.equal(startLine(await send(true, 'wrong-password')), 'SIP/2.0 401 Unauthorized');
    assert.equal(await seen(), 1, 'nothing of the unverified ones reached the registrar');
    assert.equal(startLine(await send(true)), 'SIP/2.0 200 OK');
    assert.equal(await seen(), 1, 'verified again: from the cache');
  });
});
