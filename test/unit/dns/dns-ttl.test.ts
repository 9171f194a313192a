/**
 * The resolver keeps each answer for the TTL the server gave it (SRV and NAPTR included,
 * which node:dns does not report), within minTtlS and maxTtlS, and negative answers for the
 * SOA's negative TTL (RFC 2308). Against dnsmasq on a loopback port with zones the test
 * writes and TTLs it chooses; the cache's clock is the test's, so nothing waits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_DNS,
  type DnsSettings,
  MAX_QUERIES_PER_RESOLUTION,
  SipResolver,
} from '../../../src/dns/sip-resolver.ts';
import { parseServer, UdpDnsClient } from '../../../src/dns/udp-client.ts';
import { type Dnsmasq, dnsmasqAvailable, startDnsmasq } from '../../interop/harness/dnsmasq.ts';

const skip = dnsmasqAvailable() ? false : 'dnsmasq is not installed';

let barriers = 0;

/**
 * Waits until dnsmasq's log, as read here, holds every query it received so far: a query of
 * its own (barrier-N.test) is logged after them, so once its line is here they are.
 */
async function settled(dns: Dnsmasq): Promise<void> {
  const name = `barrier-${++barriers}.test`;
  const client = new UdpDnsClient([parseServer(dns.server)!], 2000, 2);
  await client.query(name, 'A').catch(() => undefined);
  const deadline = Date.now() + 10_000;
  while (dns.queries('A', name) === 0) {
    assert.ok(Date.now() < deadline, 'the barrier query was never logged');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const ZONE = [
  'srv-host=_sip._udp.ttl.test,pbx.ttl.test,5070,1,1',
  'naptr-record=ttl.test,10,10,S,SIP+D2U,,_sip._udp.ttl.test',
];

describe('DNS TTLs against dnsmasq', { skip }, () => {
  /** Answers with TTL 20 s (local mode: no SOA in negative answers). */
  let short: Dnsmasq;
  /** Answers with TTL 3600 s. */
  let long: Dnsmasq;
  /** Authoritative for auth.test, TTL 40 s: its NXDOMAIN and NODATA carry a SOA. */
  let auth: Dnsmasq;
  before(async () => {
    [short, long, auth] = await Promise.all([
      startDnsmasq({ ttl: 20, zone: ['local=/test/', ...ZONE], hosts: ['127.0.0.7 pbx.ttl.test'] }),
      startDnsmasq({ ttl: 3600, zone: ['local=/test/', ...ZONE], hosts: ['127.0.0.7 pbx.ttl.test'] }),
      startDnsmasq({
        zone: [
          'auth-zone=auth.test',
          'auth-server=ns.auth.test,127.0.0.1',
          'auth-soa=1,hostmaster.auth.test,1200,120,1209600',
          'auth-ttl=40',
          'host-record=pbx.auth.test,127.0.0.8',
        ],
      }),
    ]);
  });
  after(async () => {
    await Promise.all([short?.stop(), long?.stop(), auth?.stop()]);
  });

  function resolver(dns: Dnsmasq, settings: Partial<DnsSettings> = {}) {
    let now = 1_000_000;
    const r = new SipResolver(
      { ...DEFAULT_DNS, servers: [dns.server], minTtlS: 1, negativeTtlS: 300, ...settings },
      { now: () => now },
    );
    return { r, advance: (seconds: number) => (now += seconds * 1000) };
  }

  const counts = async (dns: Dnsmasq) => {
    await settled(dns);
    return {
      naptr: dns.queries('NAPTR', 'ttl.test'),
      srv: dns.queries('SRV', '_sip._udp.ttl.test'),
      a: dns.queries('A', 'pbx.ttl.test'),
    };
  };

  it('keeps NAPTR, SRV and A answers for their TTL (20 s), and asks again after it', async () => {
    const { r, advance } = resolver(short);
    const start = await counts(short);
    const expected = [{ transport: 'udp', address: '127.0.0.7', port: 5070 }];
    assert.deepEqual(await r.resolve('ttl.test', { transports: ['udp'] }), expected);
    assert.deepEqual(await counts(short), { naptr: start.naptr + 1, srv: start.srv + 1, a: start.a + 1 });
    advance(19);
    assert.deepEqual(await r.resolve('ttl.test', { transports: ['udp'] }), expected);
    assert.deepEqual(
      await counts(short),
      { naptr: start.naptr + 1, srv: start.srv + 1, a: start.a + 1 },
      'within the TTL',
    );
    advance(2);
    assert.deepEqual(await r.resolve('ttl.test', { transports: ['udp'] }), expected);
    assert.deepEqual(
      await counts(short),
      { naptr: start.naptr + 2, srv: start.srv + 2, a: start.a + 2 },
      'after it',
    );
  });

  it('the same zone with TTL 3600: still cached after 21 s, asked again after 3600 s', async () => {
    const { r, advance } = resolver(long);
    const start = await counts(long);
    await r.resolve('ttl.test', { transports: ['udp'] });
    advance(21);
    await r.resolve('ttl.test', { transports: ['udp'] });
    assert.deepEqual(await counts(long), { naptr: start.naptr + 1, srv: start.srv + 1, a: start.a + 1 });
    advance(3600);
    await r.resolve('ttl.test', { transports: ['udp'] });
    assert.deepEqual(await counts(long), { naptr: start.naptr + 2, srv: start.srv + 2, a: start.a + 2 });
  });

  it('holds TTLs within maxTtlS (ceiling) and minTtlS (floor)', async () => {
    const capped = resolver(long, { maxTtlS: 30 });
    const before = await counts(long);
    await capped.r.resolve('ttl.test', { transports: ['udp'] });
    capped.advance(31);
    await capped.r.resolve('ttl.test', { transports: ['udp'] });
    assert.equal((await counts(long)).srv, before.srv + 2, 'TTL 3600 kept only maxTtlS (30 s)');

    const floored = resolver(short, { minTtlS: 300 });
    const start = await counts(short);
    await floored.r.resolve('ttl.test', { transports: ['udp'] });
    floored.advance(200);
    await floored.r.resolve('ttl.test', { transports: ['udp'] });
    assert.equal((await counts(short)).srv, start.srv + 1, 'TTL 20 kept minTtlS (300 s)');
    floored.advance(101);
    await floored.r.resolve('ttl.test', { transports: ['udp'] });
    assert.equal((await counts(short)).srv, start.srv + 2);
  });

  it("keeps NXDOMAIN and NODATA for the SOA's negative TTL (40 s), not negativeTtlS (300 s)", async () => {
    const { r, advance } = resolver(auth);
    const both = async () => {
      await settled(auth);
      return [auth.queries('A', 'missing.auth.test'), auth.queries('AAAA', 'pbx.auth.test')];
    };
    const [nx0, nodata0] = (await both()) as [number, number];
    assert.deepEqual(await r.resolve('missing.auth.test', { port: 5060, transports: ['udp'] }), []);
    assert.deepEqual(await r.resolve('pbx.auth.test', { port: 5060, transports: ['udp'] }), [
      { transport: 'udp', address: '127.0.0.8', port: 5060 },
    ]);
    advance(39);
    await r.resolve('missing.auth.test', { port: 5060, transports: ['udp'] });
    await r.resolve('pbx.auth.test', { port: 5060, transports: ['udp'] });
    assert.deepEqual(await both(), [nx0 + 1, nodata0 + 1], 'negative answers cached');
    assert.ok(r.stats.negativeHits >= 2);
    advance(2);
    await r.resolve('missing.auth.test', { port: 5060, transports: ['udp'] });
    await r.resolve('pbx.auth.test', { port: 5060, transports: ['udp'] });
    assert.deepEqual(await both(), [nx0 + 2, nodata0 + 2], 'asked again after the SOA TTL');
  });

  it('a negative answer without a SOA is kept negativeTtlS', async () => {
    const { r, advance } = resolver(short, { negativeTtlS: 100 });
    const asked = async () => {
      await settled(short);
      return short.queries('A', 'gone.test');
    };
    const before = await asked();
    await r.resolve('gone.test', { port: 5060, transports: ['udp'] });
    advance(99);
    await r.resolve('gone.test', { port: 5060, transports: ['udp'] });
    assert.equal(await asked(), before + 1);
    advance(2);
    await r.resolve('gone.test', { port: 5060, transports: ['udp'] });
    assert.equal(await asked(), before + 2);
  });
});

describe('the work one resolution can cause', { skip }, () => {
  /** 8 NAPTR records, each to an SRV name of 16 targets that do not resolve: 265 questions unbounded. */
  const zone = ['local=/test/'];
  for (let n = 0; n < 8; n++) {
    zone.push(`naptr-record=wide.test,${n},10,S,SIP+D2U,,_sip._udp.s${n}.wide.test`);
    for (let t = 0; t < 16; t++)
      zone.push(`srv-host=_sip._udp.s${n}.wide.test,t${t}.s${n}.wide.test,5060,${t},1`);
  }
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq({ ttl: 60, zone });
  });
  after(async () => {
    await dns?.stop();
  });

  it(`asks at most ${MAX_QUERIES_PER_RESOLUTION} questions, the rest refused`, async () => {
    const r = new SipResolver({ ...DEFAULT_DNS, servers: [dns.server], minTtlS: 1 });
    assert.deepEqual(await r.resolve('wide.test', { transports: ['udp'] }), []);
    assert.equal(r.stats.queries, MAX_QUERIES_PER_RESOLUTION);
    assert.ok(r.stats.refused > 0);
    const asked = dns
      .output()
      .split('\n')
      .filter((line) => /(query|auth)\[/.test(line)).length;
    assert.equal(asked, MAX_QUERIES_PER_RESOLUTION);
  });
});
