import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOverrides } from '../../../src/config/apply-overrides.ts';
import { validateConfig } from '../../../src/config/load-config.ts';

test('upstreams: names unique, routes name known upstreams, tls needs a certificate, not beside upstream', () => {
  const result = validateConfig({
    upstream: { host: '10.0.0.2', port: 5060 },
    upstreams: [
      { name: 'a', host: 'pbx.example.com' },
      { name: 'a', host: '10.0.0.1', transport: 'tls' },
    ],
    upstreamRoutes: [{ userPrefix: '+', upstreams: ['b'] }],
  });
  assert.equal(result.ok, false);
  assert.deepEqual(!result.ok && result.errors, [
    'upstreams[1].name: repeats the name a',
    'upstreams[1].transport: needs tls: sipwarden connects to it over TLS',
    'upstream: must not be set with upstreams (list that upstream in upstreams)',
    'upstreamRoutes[0].upstreams[0]: names no upstream: b',
  ]);
});

test('upstreams with routes, health and DNS servers is a valid configuration; --upstream beside it is refused', () => {
  const result = validateConfig({
    upstreams: [
      { name: 'pbx', host: 'pbx.example.com', priority: 1, weight: 3 },
      { name: 'trunk', host: '192.0.2.20', port: 5060 },
    ],
    upstreamRoutes: [
      { userPrefix: '+', upstreams: ['trunk'] },
      { domain: '*.pbx.example.com', source: ['10.0.0.0/8'], upstreams: ['pbx'] },
    ],
    upstreamHealth: { intervalMs: 1000, downAfter: 2 },
    dns: { servers: ['127.0.0.1:5353', '[::1]:53'] },
  });
  assert.ok(result.ok, JSON.stringify(result));
  if (!result.ok) return;
  assert.equal(result.config.upstreams?.[0]?.weight, 3);
  assert.equal(result.config.upstreamHealth.failoverAfterMs, 4000);
  const overridden = applyOverrides(result.config, { upstream: '10.0.0.9:5060' });
  assert.equal(overridden.ok, false);
});

test('a route with an upstream list but no upstreams is refused', () => {
  const result = validateConfig({ upstreamRoutes: [{ domain: 'example.com', upstreams: ['pbx'] }] });
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.errors.some((e) => e.startsWith('upstreamRoutes: needs upstreams')));
});
