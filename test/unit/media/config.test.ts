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
