import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, validateConfig } from '../../../src/config/load-config.ts';

const upstream = { upstream: { host: '127.0.0.1', port: 5080 } };

test('content.msrp: off by default, with its bounds', () => {
  const msrp = defaultConfig().content.msrp;
  assert.equal(msrp.enabled, false);
  assert.equal(msrp.port, 2855);
  assert.equal(msrp.tlsPort, undefined);
  assert.equal(msrp.failureMode, 'closed');
  assert.ok(msrp.maxMessageBytes > 0 && msrp.maxBufferedBytes >= msrp.maxMessageBytes);
});

test('content.msrp.tlsPort needs tls; a misspelt key or an out-of-bounds value is an error', () => {
  const noTls = validateConfig({ ...upstream, content: { msrp: { enabled: true, tlsPort: 2856 } } });
  assert.equal(noTls.ok, false);
  assert.deepEqual(noTls.ok ? [] : noTls.errors, [
    'content.msrp.tlsPort: needs tls: the relay presents its certificate',
  ]);
  assert.equal(validateConfig({ ...upstream, content: { msrp: { maxMesageBytes: 1 } } }).ok, false);
  assert.equal(validateConfig({ ...upstream, content: { msrp: { maxIncompleteMessages: 0 } } }).ok, false);
  assert.equal(validateConfig({ ...upstream, content: { msrp: { failureMode: 'maybe' } } }).ok, false);
  assert.equal(validateConfig({ ...upstream, content: { msrp: { enabled: true, port: 0 } } }).ok, true);
});
