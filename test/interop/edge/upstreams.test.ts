/**
 * Two upstreams (sipp UASs) found through DNS (dnsmasq on a loopback port, SRV records the
 * test writes), sipwarden in front, a sipp UAC placing calls: one upstream is killed during
 * the load. New calls go on succeeding on the other; the calls that fail are at most those
 * in flight when it died (their dialogs lived on the dead upstream).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { dnsmasqAvailable, startDnsmasq } from '../harness/dnsmasq.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, startSipp } from '../harness/sipp.ts';
import { startSipwarden } from '../harness/sipwarden.ts';

after(() => stopAll());

const HOST = '127.0.0.1';
const CALLS = 300;
const RATE = 30;

describe('failover between two upstreams found by DNS', {
  skip: dnsmasqAvailable() ? false : 'no dnsmasq',
}, () => {
  test('killing one upstream during a call load: new calls succeed on the other', {
    timeout: 120_000,
  }, async () => {
    const [port1, port2] = [await freePort(HOST, ['udp']), await freePort(HOST, ['udp'])];
    const dns = await startDnsmasq({
      zone: [
        'local=/test/',
        `srv-host=_sip._udp.one.test,pbx1.test,${port1},10,10`,
        `srv-host=_sip._udp.two.test,pbx2.test,${port2},10,10`,
      ],
      hosts: [`${HOST} pbx1.test`, `${HOST} pbx2.test`],
    });
    const uas1 = await startSipp({
      scenario: 'uas-call-or-options.xml',
      localPort: port1,
      timeoutS: 90,
      name: 'uas-1',
    });
    const uas2 = await startSipp({
      scenario: 'uas-call-or-options.xml',
      localPort: port2,
      timeoutS: 90,
      name: 'uas-2',
    });
    await uas1.ready();
    await uas2.ready();
    const sipwarden = await startSipwarden({
      port: await freePort(),
      extraArgs: ['--log-level', 'info'],
      config: {
        // Two upstreams by name only: SRV (RFC 3263 4.2) gives each its port, A its address.
        upstreams: [
          { name: 'one', host: 'one.test', transport: 'udp', priority: 1, weight: 1 },
          { name: 'two', host: 'two.test', transport: 'udp', priority: 1, weight: 1 },
        ],
        dns: { servers: [dns.server] },
        // Generous waits: on a loaded test machine a live peer can be slow for a second.
        upstreamHealth: { intervalMs: 500, timeoutMs: 1000, downAfter: 3, upAfter: 2, failoverAfterMs: 3000 },
        security: { trunks: [{ name: 'sipp', addresses: [HOST], identity: `sipp@${HOST}` }] },
      },
    });
    try {
      // The names were resolved through dnsmasq: SRV, then A.
      assert.equal(dns.queries('SRV', '_sip._udp.one.test'), 1);
      assert.ok(dns.queries('A', 'pbx2.test') >= 1);

      const uac = await startSipp({
        scenario: 'uac-call.xml',
        localPort: await freePort(HOST, ['udp']),
        remote: { host: HOST, port: sipwarden.port },
        calls: CALLS,
        rate: RATE,
        timeoutS: 90,
        name: 'uac',
      });
      // A third of the load with both upstreams, then upstream one dies.
      let before = await uac.snapshot();
      while (before.created < CALLS / 3) {
        await sleep(200);
        before = await uac.snapshot();
      }
      const atKill1 = await uas1.snapshot();
      const atKill2 = await uas2.snapshot();
      assert.ok(atKill1.created > 0 && atKill2.created > 0, 'both upstreams took calls before the kill');
      const inFlightBefore = before.current;
      uas1.process.signal('SIGKILL');
      await uas1.process.waitForExit(5000);
      // Calls open at the UAC right after the kill too (its statistics are written each second).
      await sleep(1100);
      const inFlight = Math.max(inFlightBefore, (await uac.snapshot()).current);

      const result = await uac.done();
      const uas2After = await uas2.snapshot();
      const summary = `${describeSipp(result)}; in flight at the kill: ${inFlight}`;
      assert.equal(result.created, CALLS, summary);
      assert.ok(result.failed <= inFlight, summary);
      assert.ok(result.successful >= CALLS - inFlight, summary);
      // The calls after the kill went to upstream two.
      assert.ok(uas2After.created - atKill2.created >= (CALLS * 2) / 3 - inFlight - atKill1.created, summary);
      // The change was seen: a log line (and an event) for upstream one.
      await sipwarden.process.waitFor(/upstream endpoint down/, 5000);
      assert.match(sipwarden.process.output(), /"upstream":"one"/);
      console.log(`# ${summary}; failed ${result.failed}`);
    } finally {
      await sipwarden.stop();
      await uas2.stop();
      await dns.stop();
    }
  });
});
