import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../../src/config/load-config.ts';

test('the media relay is on by default, with a port range per side', () => {
  const result = parseConfigText('', 'empty.yaml');
  assert.ok(result.ok);
  const relay = result.config.media.relay;
  assert.equal(relay.enabled, true);
  assert.deepEqual([relay.client.portMin, relay.client.portMax], [12000, 21999]);
  assert.deepEqual([relay.upstream.portMin, relay.upstream.portMax], [22000, 31999]);
  assert.equal(relay.inactivityTimeoutMs, 120_000);
  assert.equal(relay.floodAction, 'alert');
  assert.equal(relay.latch, 'first-packet');
});

test('an operator turns it off', () => {
  const result = parseConfigText('media: { relay: { enabled: false } }\n', 't.yaml');
  assert.ok(result.ok);
  assert.equal(result.config.media.relay.enabled, false);
});

test('overlapping or too small ranges are refused', () => {
  const overlap = parseConfigText(
    'media: { relay: { client: { portMin: 30000, portMax: 31000 }, upstream: { portMin: 30500, portMax: 32000 } } }\n',
    't.yaml',
  );
  assert.equal(overlap.ok, false);
  const small = parseConfigText(
    'media: { relay: { client: { portMin: 30000, portMax: 30001 } } }\n',
    't.yaml',
  );
  assert.equal(small.ok, false);
  const action = parseConfigText('media: { relay: { floodAction: block } }\n', 't.yaml');
  assert.equal(action.ok, false);
});

test('SRTP is terminated by default, with every suite accepted; mode, upstream offers and suites are checked', () => {
  const result = parseConfigText('', 'empty.yaml');
  assert.ok(result.ok);
  const srtp = result.config.media.relay.srtp;
  assert.equal(srtp.mode, 'terminate');
  assert.equal(srtp.upstreamOffers, 'as-offered');
  assert.deepEqual(srtp.suites, [
    'AES_CM_128_HMAC_SHA1_80',
    'AES_CM_128_HMAC_SHA1_32',
    'AES_256_CM_HMAC_SHA1_80',
    'AES_256_CM_HMAC_SHA1_32',
  ]);
  const set = parseConfigText(
    'media: { relay: { srtp: { mode: both, upstreamOffers: srtp, suites: [AES_256_CM_HMAC_SHA1_80] } } }\n',
    't.yaml',
  );
  assert.ok(set.ok);
  assert.equal(set.config.media.relay.srtp.mode, 'both');
  for (const bad of [
    'media: { relay: { srtp: { mode: encrypt } } }\n',
    'media: { relay: { srtp: { suites: [AEAD_AES_128_GCM] } } }\n',
    'media: { relay: { srtp: { suites: [] } } }\n',
    'media: { relay: { srtp: { suites: [AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_80] } } }\n',
    'media: { relay: { srtp: { key: abc } } }\n',
  ]) {
    assert.equal(parseConfigText(bad, 't.yaml').ok, false, bad);
  }
});
