import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateConfig } from '../../../src/config/load-config.ts';
import { natSettings } from '../../../src/config/nat-schema.ts';

test('nat: on by default, keepalives every 30 s, dead after 3 misses, unregistration on', () => {
  const result = validateConfig({});
  assert.ok(result.ok);
  assert.deepEqual(natSettings(result.config.nat), {
    maxFlows: 100_000,
    maxBindingsPerFlow: 16,
    unregister: true,
    keepalive: { intervalMs: 30_000, maxMisses: 3 },
  });
});

test('nat: keepalives or the whole of it can be turned off', () => {
  const noKeepalive = validateConfig({ nat: { keepalive: { enabled: false }, unregisterDeadFlows: false } });
  assert.ok(noKeepalive.ok);
  const settings = natSettings(noKeepalive.config.nat);
  assert.equal(settings?.keepalive, undefined);
  assert.equal(settings?.unregister, false);
  const off = validateConfig({ nat: { enabled: false } });
  assert.ok(off.ok);
  assert.equal(natSettings(off.config.nat), undefined);
});

test('nat: out-of-range values and unknown keys are refused, named', () => {
  const result = validateConfig({ nat: { keepalive: { intervalS: 0, maxMisses: 1000 }, maxFlow: 5 } });
  assert.equal(result.ok, false);
  const errors = result.ok ? [] : result.errors;
  assert.ok(
    errors.some((e) => e.startsWith('nat.keepalive.intervalS: must be 1..3600')),
    errors.join('\n'),
  );
  assert.ok(
    errors.some((e) => e.startsWith('nat.keepalive.maxMisses: must be 1..100')),
    errors.join('\n'),
  );
  assert.ok(
    errors.some((e) => e.includes('maxFlow')),
    errors.join('\n'),
  );
});
