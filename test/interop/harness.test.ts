/**
 * Proves the interop harness on the real daemons: sipp to sipp directly, through Kamailio
 * (plain, secure and TLS variants), REGISTER with digest, OPTIONS. Everything on loopback,
 * on free ports, every daemon stopped by pid.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { selfSignedCertificate } from './harness/certs.ts';
import { type Kamailio, startKamailio } from './harness/kamailio.ts';
import { freePort, isListening, isPortFree, waitForListening } from './harness/ports.ts';
import { liveProcesses, processGroupMembers, startProcess, stopAll } from './harness/process.ts';
import { describeSipp, runSipp, type SippResult, type SippTransport, startSipp } from './harness/sipp.ts';
import { sipwardenAvailable, startSipwarden } from './harness/sipwarden.ts';
import { startTlsUas } from './harness/tls-uas.ts';
import { tempDir } from './harness/workdir.ts';

after(() => stopAll());

const HOST = '127.0.0.1';

interface CallRun {
  readonly uac: SippResult;
  readonly uas: SippResult;
}

/**
 * `calls` calls from a sipp UAC to a sipp UAS, sent to `via` (a proxy) or straight to the UAS.
 * The UAS is stopped once the UAC is done (it would otherwise wait out its timewait).
 */
async function calls(options: {
  readonly count: number;
  readonly transport: SippTransport;
  readonly uasPort: number;
  readonly via?: number;
  readonly uasScenario?: string;
  readonly uacScenario?: string;
}): Promise<CallRun> {
  const uas = await startSipp({
    scenario: options.uasScenario ?? 'uas-call.xml',
    localPort: options.uasPort,
    transport: options.transport,
    timeoutS: 60,
  });
  await uas.ready();
  const uac = await runSipp({
    scenario: options.uacScenario ?? 'uac-call.xml',
    localPort: await freePort(),
    remote: { host: HOST, port: options.via ?? options.uasPort },
    transport: options.transport,
    calls: options.count,
    rate: 100,
    timeoutS: 30,
    responseTimes: true,
  });
  return { uac, uas: await uas.stop() };
}

function assertAllCallsPassed(run: CallRun, count: number): void {
  assert.equal(run.uac.successful, count, describeSipp(run.uac));
  assert.equal(run.uac.failed, 0, describeSipp(run.uac));
  assert.equal(run.uac.exit.code, 0, describeSipp(run.uac));
  // Over TCP the UAC's exit closes the connection; a UAS call still finishing its last step
  // then counts as FailedTcpClosed. That is the end of the run, not a failed call.
  const closed = run.uas.failedBy.FailedTcpClosed ?? 0;
  assert.equal(run.uas.failed - closed, 0, describeSipp(run.uas));
}

describe('harness plumbing', () => {
  test('freePort returns a port that is free on both UDP and TCP', async () => {
    const port = await freePort();
    assert.ok(await isPortFree(port, HOST, ['udp', 'tcp']));
  });

  test('freePort never hands out the same port twice', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length);
  });

  test('stop() ends a process and every process it forked', async () => {
    const child = startProcess('sh', ['-c', 'sleep 30 & sleep 30 & echo started; wait'], { name: 'sleeper' });
    await child.waitFor(/started/, 5000);
    assert.equal(processGroupMembers(child.pid).length, 3);
    await child.stop(1000);
    assert.equal(child.running, false);
    assert.ok(!liveProcesses().includes(child));
    assert.deepEqual(processGroupMembers(child.pid), []);
  });

  test('waitFor rejects with the output when the process exits first', async () => {
    const child = startProcess('sh', ['-c', 'echo bye; exit 3'], { name: 'short' });
    await assert.rejects(child.waitFor(/never/, 5000), /exited \(code 3\)[\s\S]*bye/);
  });

  test('output is bounded to the last 64 KiB', async () => {
    const child = startProcess('sh', ['-c', 'head -c 300000 /dev/zero | tr "\\0" x; echo END'], {
      name: 'chatty',
    });
    await child.exited;
    assert.ok(child.stdout().length <= 64 * 1024);
    assert.ok(child.stdout().endsWith('END\n'));
  });
});

describe('sipp UAC to sipp UAS, directly', () => {
  test('50 calls over UDP all succeed, with ACK and BYE reaching the UAS', async () => {
    const run = await calls({ count: 50, transport: 'u1', uasPort: await freePort() });
    assertAllCallsPassed(run, 50);
    assert.equal(run.uas.messageCounts['3_ACK_Recv'], 50);
    assert.equal(run.uas.messageCounts['4_BYE_Recv'], 50);
    assert.equal(run.uac.responseTimesMs.length, 50);
    assert.ok(run.uac.responseTimeP99 !== undefined && run.uac.responseTimeP99 > 0);
  });

  test('50 calls over TCP (one connection) all succeed', async () => {
    const run = await calls({ count: 50, transport: 't1', uasPort: await freePort() });
    assertAllCallsPassed(run, 50);
    assert.equal(run.uas.messageCounts['4_BYE_Recv'], 50);
  });

  test('20 calls over TCP with one connection per call all succeed', async () => {
    const run = await calls({ count: 20, transport: 'tn', uasPort: await freePort() });
    assertAllCallsPassed(run, 20);
    assert.equal(run.uas.messageCounts['4_BYE_Recv'], 20);
  });

  test('REGISTER with digest authentication succeeds with the right password', async () => {
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-register-digest.xml',
      localPort: uasPort,
      timeoutS: 30,
      keys: { user: 'alice', password: 's3cret' },
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-register-digest.xml',
      localPort: await freePort(),
      remote: { host: HOST, port: uasPort },
      service: 'alice',
      auth: { username: 'alice', password: 's3cret' },
      calls: 5,
      rate: 50,
      timeoutS: 15,
    });
    const uasResult = await uas.stop();
    assert.equal(uac.successful, 5, describeSipp(uac));
    assert.equal(uac.failed, 0, describeSipp(uac));
    assert.equal(uasResult.messageCounts['1_401_Sent'], 5);
  });

  test('REGISTER with a wrong password is refused by the challenging UAS', async () => {
    const uasPort = await freePort();
    const uas = await startSipp({
      scenario: 'uas-register-digest.xml',
      localPort: uasPort,
      timeoutS: 30,
      keys: { user: 'alice', password: 's3cret' },
    });
    await uas.ready();
    const uac = await runSipp({
      scenario: 'uac-register-digest.xml',
      localPort: await freePort(),
      remote: { host: HOST, port: uasPort },
      service: 'alice',
      auth: { username: 'alice', password: 'guess' },
      calls: 1,
      rate: 10,
      timeoutS: 15,
    });
    await uas.stop();
    assert.equal(uac.successful, 0, describeSipp(uac));
    assert.equal(uac.failed, 1, describeSipp(uac));
  });

  test('OPTIONS is answered 200', async () => {
    const run = await calls({
      count: 20,
      transport: 'u1',
      uasPort: await freePort(),
      uasScenario: 'uas-options.xml',
      uacScenario: 'uac-options.xml',
    });
    assertAllCallsPassed(run, 20);
  });
});

describe('through Kamailio (proxy.cfg: stateful, record-routing)', () => {
  async function withKamailio<T>(
    upstreamPort: number,
    transport: 'udp' | 'tcp',
    body: (kamailio: Kamailio) => Promise<T>,
  ): Promise<T> {
    const kamailio = await startKamailio({
      port: await freePort(),
      upstream: { host: HOST, port: upstreamPort, transport },
      dialogLog: true,
    });
    try {
      return await body(kamailio);
    } finally {
      await kamailio.stop();
    }
  }

  test('50 calls over UDP all succeed and ACK and BYE follow the Record-Route', async () => {
    const uasPort = await freePort();
    await withKamailio(uasPort, 'udp', async (kamailio) => {
      const run = await calls({ count: 50, transport: 'u1', uasPort, via: kamailio.port });
      assertAllCallsPassed(run, 50);
      // loose_route() matched Kamailio's own Route entry on every ACK and BYE.
      assert.equal(kamailio.countLog(/sw-interop: loose-route ACK/), 50, kamailio.process.tail());
      assert.equal(kamailio.countLog(/sw-interop: loose-route BYE/), 50, kamailio.process.tail());
      assert.equal(run.uas.messageCounts['3_ACK_Recv'], 50);
    });
  });

  test('50 calls over TCP all succeed through Kamailio', async () => {
    const uasPort = await freePort();
    await withKamailio(uasPort, 'tcp', async (kamailio) => {
      const run = await calls({ count: 50, transport: 't1', uasPort, via: kamailio.port });
      assertAllCallsPassed(run, 50);
      assert.equal(kamailio.countLog(/sw-interop: loose-route BYE/), 50, kamailio.process.tail());
    });
  });

  test('Kamailio runs as one process per worker, all stopped with it', async () => {
    const uasPort = await freePort();
    const kamailio = await startKamailio({ port: await freePort(), upstream: { host: HOST, port: uasPort } });
    const pid = kamailio.pid;
    assert.ok(await isListening(kamailio.port, 'udp'));
    // main, UDP worker, TCP main, TCP worker, timers...: more than one process.
    assert.ok(processGroupMembers(pid).length > 2);
    await kamailio.stop();
    assert.equal(kamailio.process.running, false);
    assert.deepEqual(processGroupMembers(pid), []);
    assert.equal(await isListening(kamailio.port, 'udp'), false);
  });
});

describe('Kamailio secure variant (proxy-secure.cfg: ban table, pike, sanity)', () => {
  test('forwards well-formed requests, answers a malformed one 400, bans a flooding source', async () => {
    const uasPort = await freePort();
    const kamailio = await startKamailio({
      variant: 'proxy-secure',
      port: await freePort(),
      upstream: { host: HOST, port: uasPort },
      defines: { PIKE_SAMPLING_S: 2, PIKE_DENSITY: 40, BAN_SECONDS: 60 },
    });
    try {
      const run = await calls({
        count: 10,
        transport: 'u1',
        uasPort,
        via: kamailio.port,
        uasScenario: 'uas-options.xml',
        uacScenario: 'uac-options.xml',
      });
      assertAllCallsPassed(run, 10);

      // RFC 3261 8.1.1.5: CSeq method must match the request method; sanity answers 400.
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.2', resolve));
      const { port: localPort } = socket.address();
      const malformed =
        `OPTIONS sip:x@${HOST} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.2:${localPort};branch=z9hG4bK-malformed-1\r\n` +
        'From: <sip:a@127.0.0.2>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: malformed-1\r\n' +
        'CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
      socket.send(malformed, kamailio.port, HOST);
      const [reply] = (await once(socket, 'message')) as [Buffer];
      socket.close();
      assert.match(reply.toString('latin1'), /^SIP\/2\.0 400 CSeq method does not match request method\r\n/);
      // The script logs after sanity has replied: wait for the line rather than race it.
      await kamailio.process.waitFor(/sw-interop: sanity fail 127\.0\.0\.2/, 5000);

      // A flood of OPTIONS from one source: pike flags it, the ban table drops the rest.
      const flood = await runSipp({
        scenario: 'uac-options.xml',
        localHost: '127.0.0.3',
        localPort: await freePort('127.0.0.3'),
        remote: { host: HOST, port: kamailio.port },
        calls: 300,
        rate: 300,
        timeoutS: 4,
        timeoutIsError: false,
        extraArgs: ['-max_non_invite_retrans', '1'],
      });
      assert.ok(flood.successful < 300, describeSipp(flood));
      assert.equal(kamailio.countLog(/sw-interop: ban 127\.0\.0\.3 /), 1, kamailio.process.tail());
    } finally {
      await kamailio.stop();
    }
  });
});

describe('Kamailio secure variant with topoh (WITH_TOPOH: the benchmark reference for topology hiding)', () => {
  test('calls complete, and the caller sees the callee only as the mask address', async () => {
    const uasPort = await freePort();
    const kamailio = await startKamailio({
      variant: 'proxy-secure',
      port: await freePort(),
      upstream: { host: HOST, port: uasPort },
      defines: { WITH_TOPOH: true },
    });
    try {
      const uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, timeoutS: 60 });
      await uas.ready();
      const uac = await runSipp({
        scenario: 'uac-call.xml',
        localPort: await freePort(),
        remote: { host: HOST, port: kamailio.port },
        calls: 3,
        rate: 10,
        // Beyond timer F (32 s): a datagram lost on a busy machine is recovered by retransmission.
        timeoutS: 40,
        extraArgs: ['-trace_msg'],
      });
      await uas.stop();
      const log = readdirSync(uac.workDir).find((name) => name.endsWith('_messages.log'));
      assert.ok(log, 'sipp wrote no message log');
      const received = readFileSync(join(uac.workDir, log), 'latin1');
      assert.equal(
        uac.successful,
        3,
        `${describeSipp(uac)}\nKamailio:\n${kamailio.process.tail()}\nthe UAC's messages:\n${received.slice(-6000)}`,
      );
      // The 200's Contact towards the caller: topoh's mask address, never the callee's port.
      assert.match(received, /^Contact: <sip:198\.51\.100\.1;line=sr-/m);
      assert.doesNotMatch(received, new RegExp(`:${uasPort}\\b`));
      assert.equal(kamailio.countLog(/could not allocate/), 0);
    } finally {
      await kamailio.stop();
    }
  });
});

describe('Kamailio TLS variant (tls.cfg: UDP in, TLS out)', () => {
  test('relays a call over TLS to a TLS endpoint, ACK and BYE included', async () => {
    const certificate = selfSignedCertificate(tempDir('tls-peer'));
    const peer = await startTlsUas(certificate, HOST);
    const kamailio = await startKamailio({
      variant: 'tls',
      port: await freePort(),
      tlsPort: await freePort(HOST, ['tcp']),
      upstream: { host: HOST, port: peer.port, transport: 'tls' },
      dialogLog: true,
    });
    try {
      const uac = await runSipp({
        scenario: 'uac-call.xml',
        localPort: await freePort(),
        remote: { host: HOST, port: kamailio.port },
        calls: 5,
        rate: 10,
        timeoutS: 20,
      });
      assert.equal(uac.successful, 5, `${describeSipp(uac)}\n${kamailio.process.tail()}`);
      const methods = peer.received.map((r) => r.method);
      assert.equal(methods.filter((m) => m === 'INVITE').length, 5);
      assert.equal(methods.filter((m) => m === 'ACK').length, 5);
      assert.equal(methods.filter((m) => m === 'BYE').length, 5);
      // Kamailio double-record-routes across the transport change: one entry per side.
      const invite = peer.received.find((r) => r.method === 'INVITE')!;
      const recordRoutes = invite.headers.filter((h) => /^record-route\s*:/i.test(h));
      assert.equal(recordRoutes.length, 2, invite.headers.join('\n'));
      assert.ok(recordRoutes.some((h) => /transport=tls/i.test(h)));
      assert.ok(peer.connections >= 1);
    } finally {
      await kamailio.stop();
      await peer.close();
    }
  });
});

describe('through sipwarden started as a child process', () => {
  const skip = sipwardenAvailable() ? false : 'bin/sipwarden.js is not in this checkout';

  test('50 calls over UDP all succeed and the process is stopped by its pid', { skip }, async () => {
    const uasPort = await freePort();
    const sipwarden = await startSipwarden({
      port: await freePort(),
      upstream: { host: HOST, port: uasPort },
      // This proves the plumbing: the load source is trusted, as an operator trusts a trunk.
      config: { security: { allowlist: ['127.0.0.0/8'] } },
      extraArgs: ['--log-level', 'warn'],
    });
    try {
      const run = await calls({ count: 50, transport: 'u1', uasPort, via: sipwarden.port });
      assertAllCallsPassed(run, 50);
      assert.equal(run.uas.messageCounts['4_BYE_Recv'], 50);
    } finally {
      await sipwarden.stop();
    }
    assert.equal(sipwarden.process.running, false);
    assert.equal(await isListening(sipwarden.port, 'udp'), false);
  });
});

describe('sipp (UDP) to Kamailio (TLS out) to sipwarden (TLS in, UDP out) to sipp', () => {
  const skip = sipwardenAvailable() ? false : 'bin/sipwarden.js is not in this checkout';

  test('5 calls over the TLS hop all succeed', { skip }, async () => {
    const dir = tempDir('sipwarden-tls');
    const { certPath, keyPath } = selfSignedCertificate(dir);
    const uasPort = await freePort();
    const sipwardenPort = await freePort();
    const sipwardenTlsPort = await freePort(HOST, ['tcp']);
    const uas = await startSipp({ scenario: 'uas-call.xml', localPort: uasPort, timeoutS: 60 });
    await uas.ready();
    const sipwarden = await startSipwarden({
      port: sipwardenPort,
      upstream: { host: HOST, port: uasPort },
      config: {
        listen: [
          { host: HOST, port: sipwardenPort, transports: ['udp', 'tcp'] },
          { host: HOST, port: sipwardenTlsPort, transports: ['tls'] },
        ],
        tls: { cert: certPath, key: keyPath },
        upstream: { host: HOST, port: uasPort, transport: 'udp' },
        security: { allowlist: ['127.0.0.0/8'] },
      },
      extraArgs: ['--log-level', 'warn'],
    });
    await waitForListening(sipwardenTlsPort, ['tcp'], 10000);
    const kamailio = await startKamailio({
      variant: 'tls',
      port: await freePort(),
      tlsPort: await freePort(HOST, ['tcp']),
      upstream: { host: HOST, port: sipwardenTlsPort, transport: 'tls' },
      dialogLog: true,
    });
    try {
      const uac = await runSipp({
        scenario: 'uac-call.xml',
        localPort: await freePort(),
        remote: { host: HOST, port: kamailio.port },
        calls: 5,
        rate: 10,
        timeoutS: 20,
      });
      const uasResult = await uas.stop();
      const context = `${describeSipp(uac)}\n${kamailio.process.tail()}\n${sipwarden.process.tail()}`;
      assert.equal(uac.successful, 5, context);
      assert.equal(uasResult.messageCounts['4_BYE_Recv'], 5, context);
      assert.equal(kamailio.countLog(/sw-interop: loose-route BYE/), 5, context);
    } finally {
      await kamailio.stop();
      await sipwarden.stop();
    }
  });
});
