import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_DNS, SipResolver } from '../../../src/dns/sip-resolver.ts';
import { TtlCache } from '../../../src/dns/ttl-cache.ts';
import { orderSrv } from '../../../src/util/weighted-order.ts';
import { type Dnsmasq, dnsmasqAvailable, startDnsmasq } from '../../interop/harness/dnsmasq.ts';

const skip = dnsmasqAvailable() ? false : 'dnsmasq is not installed';

describe('RFC 3263 resolution against dnsmasq', { skip }, () => {
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq({
      ttl: 1,
      zone: [
        'local=/test/',
        // NAPTR: TCP preferred over UDP by order; each to its SRV.
        'naptr-record=example.test,20,10,S,SIP+D2U,,_sip._udp.example.test',
        'naptr-record=example.test,10,10,S,SIP+D2T,,_sip._tcp.example.test',
        'srv-host=_sip._tcp.example.test,pbx-b.example.test,5072,10,10',
        'srv-host=_sip._udp.example.test,pbx-b.example.test,5071,20,10',
        'srv-host=_sip._udp.example.test,pbx-a.example.test,5070,10,10',
        // No NAPTR: SRV for UDP.
        'srv-host=_sip._udp.srv-only.test,pbx-a.example.test,5090,1,1',
      ],
      hosts: ['127.0.0.1 pbx-a.example.test', '127.0.0.2 pbx-b.example.test', '127.0.0.3 plain.test'],
    });
  });
  after(async () => {
    await dns?.stop();
  });

  function resolver(overrides: Partial<typeof DEFAULT_DNS> = {}): SipResolver {
    return new SipResolver({ ...DEFAULT_DNS, servers: [dns.server], minTtlS: 1, ...overrides });
  }

  it('follows NAPTR in order, then SRV by priority, then A', async () => {
    const targets = await resolver().resolve('example.test', { transports: ['udp', 'tcp'] });
    assert.deepEqual(targets, [
      { transport: 'tcp', address: '127.0.0.2', port: 5072 },
      { transport: 'udp', address: '127.0.0.1', port: 5070 },
      { transport: 'udp', address: '127.0.0.2', port: 5071 },
    ]);
  });

  it('skips NAPTR records for transports it cannot use', async () => {
    const targets = await resolver().resolve('example.test', { transports: ['udp'] });
    assert.deepEqual(
      targets.map((t) => `${t.transport}:${t.address}:${t.port}`),
      ['udp:127.0.0.1:5070', 'udp:127.0.0.2:5071'],
    );
  });

  it('uses SRV when there is no NAPTR, and A with the default port when there is neither', async () => {
    const r = resolver();
    assert.deepEqual(await r.resolve('srv-only.test', { transports: ['udp', 'tcp'] }), [
      { transport: 'udp', address: '127.0.0.1', port: 5090 },
    ]);
    assert.deepEqual(await r.resolve('plain.test', { transports: ['udp', 'tcp'] }), [
      { transport: 'udp', address: '127.0.0.3', port: 5060 },
    ]);
  });

  it('asks only A/AAAA when the port is given, and nothing for an address', async () => {
    const srvBefore = dns.queries('SRV', '_sip._udp.srv-only.test');
    const naptrBefore = dns.queries('NAPTR', 'srv-only.test');
    const r = resolver();
    assert.deepEqual(await r.resolve('srv-only.test', { port: 6000, transports: ['udp'] }), []);
    assert.deepEqual(
      await r.resolve('pbx-a.example.test', { port: 6000, transport: 'tcp', transports: ['udp'] }),
      [{ transport: 'tcp', address: '127.0.0.1', port: 6000 }],
    );
    assert.equal(dns.queries('SRV', '_sip._udp.srv-only.test'), srvBefore);
    assert.equal(dns.queries('NAPTR', 'srv-only.test'), naptrBefore);
    assert.deepEqual(await r.resolve('[::1]', { transports: ['udp'] }), [
      { transport: 'udp', address: '::1', port: 5060 },
    ]);
  });

  it('keeps an address for its TTL, then asks again', async () => {
    await dns.setHosts([
      '127.0.0.1 pbx-a.example.test',
      '127.0.0.2 pbx-b.example.test',
      '127.0.0.3 plain.test',
      '127.0.0.4 moving.test',
    ]);
    const r = resolver();
    const first = await r.resolve('moving.test', { port: 5060, transports: ['udp'] });
    assert.equal(first[0]?.address, '127.0.0.4');
    const asked = dns.queries('A', 'moving.test');
    await dns.setHosts(['127.0.0.1 pbx-a.example.test', '127.0.0.5 moving.test']);
    // Within the TTL: from the cache, the server not asked.
    const cached = await r.resolve('moving.test', { port: 5060, transports: ['udp'] });
    assert.equal(cached[0]?.address, '127.0.0.4');
    assert.equal(dns.queries('A', 'moving.test'), asked);
    // The TTL (1 s) over: asked again, the new address.
    await sleep(1300);
    const fresh = await r.resolve('moving.test', { port: 5060, transports: ['udp'] });
    assert.equal(fresh[0]?.address, '127.0.0.5');
    assert.equal(dns.queries('A', 'moving.test'), asked + 1);
  });

  it('caches a name that does not exist (negative caching)', async () => {
    const r = resolver({ negativeTtlS: 60 });
    assert.deepEqual(await r.resolve('missing.test', { port: 5060, transports: ['udp'] }), []);
    assert.deepEqual(await r.resolve('missing.test', { port: 5060, transports: ['udp'] }), []);
    assert.deepEqual(await r.resolve('missing.test', { port: 5060, transports: ['udp'] }), []);
    assert.equal(dns.queries('A', 'missing.test'), 1);
    assert.ok(r.stats.negativeHits >= 2);
  });

  it('shares one query among concurrent resolutions of a name', async () => {
    const r = resolver();
    const all = await Promise.all(
      Array.from({ length: 20 }, () => r.resolve('pbx-a.example.test', { port: 5060, transports: ['udp'] })),
    );
    assert.ok(all.every((targets) => targets[0]?.address === '127.0.0.1'));
    assert.equal(r.stats.queries, 2, 'one A and one AAAA query for twenty resolutions');
  });
});

describe('TtlCache', () => {
  it('holds at most maxEntries, dropping the least recently used', () => {
    let now = 0;
    const cache = new TtlCache<number>(2, () => now);
    cache.set('a', { ok: true, value: 1 }, 1000);
    cache.set('b', { ok: true, value: 2 }, 1000);
    cache.get('a');
    cache.set('c', { ok: true, value: 3 }, 1000);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined);
    assert.deepEqual(cache.get('a'), { ok: true, value: 1 });
    now = 1000;
    assert.equal(cache.get('a'), undefined, 'expired at its TTL');
  });
});

describe('orderSrv (RFC 2782)', () => {
  it('orders by priority, and by weight in proportion within one', () => {
    const records = [
      { priority: 20, weight: 1, id: 'late' },
      { priority: 10, weight: 90, id: 'heavy' },
      { priority: 10, weight: 10, id: 'light' },
    ];
    let heavyFirst = 0;
    let seed = 1;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 1000; i++) {
      const ordered = orderSrv(records, random);
      assert.equal(ordered[2]!.id, 'late');
      if (ordered[0]!.id === 'heavy') heavyFirst++;
    }
    assert.ok(heavyFirst > 800 && heavyFirst < 980, `heavy first ${heavyFirst} times of 1000`);
  });
});
