import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, validateConfig } from '../../../src/config/load-config.ts';

const upstream = { host: '127.0.0.1', port: 5080 };

function errorsOf(state: unknown): readonly string[] {
  const result = validateConfig({ upstream, state });
  assert.equal(result.ok, false, 'expected the config to be refused');
  return result.ok ? [] : result.errors;
}

test('the state stays in memory by default', () => {
  assert.equal(defaultConfig().state.backend, 'memory');
  assert.equal(defaultConfig().state.redis, undefined);
});

test('the redis backend takes a URL and fills in the rest', () => {
  const result = validateConfig({
    upstream,
    state: { backend: 'redis', redis: { url: 'redis://10.0.0.5:6379/0' } },
  });
  assert.ok(result.ok);
  assert.deepEqual(result.config.state.redis, {
    url: 'redis://10.0.0.5:6379/0',
    keyPrefix: 'sipwarden:',
    syncIntervalMs: 100,
    connectTimeoutMs: 2000,
    commandTimeoutMs: 1000,
    maxReconnectDelayMs: 2000,
    maxTrackedKeys: 100_000,
    maxKeysPerSync: 2000,
  });
});

test('the redis backend without its settings, a bad URL or out-of-range numbers are refused by name', () => {
  assert.match(errorsOf({ backend: 'redis' }).join('\n'), /state\.redis.*required when backend is redis/);
  assert.match(errorsOf({ backend: 'cluster' }).join('\n'), /state\.backend.*memory, redis/);
  assert.match(
    errorsOf({ backend: 'redis', redis: { url: 'http://x' } }).join('\n'),
    /state\.redis\.url.*redis:\/\//,
  );
  assert.match(
    errorsOf({ backend: 'redis', redis: { url: 'redis://x', syncIntervalMs: 0 } }).join('\n'),
    /state\.redis\.syncIntervalMs/,
  );
  assert.match(
    errorsOf({ backend: 'redis', redis: { url: 'redis://x', nodeId: 'a b' } }).join('\n'),
    /state\.redis\.nodeId/,
  );
  assert.match(errorsOf({ backend: 'redis', redis: { url: 'redis://x', extra: 1 } }).join('\n'), /extra/);
});
