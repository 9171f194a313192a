import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../../src/config/load-config.ts';

const upstream = 'upstream: { host: 127.0.0.1, port: 5080 }\n';

test('media.engine is absent by default', () => {
  const result = parseConfigText(upstream, 'test');
  assert.ok(result.ok);
  assert.equal(result.config.media.engine, undefined);
});

test('media.engine rtpengine reads the NG address and the defaults', () => {
  const result = parseConfigText(
    `${upstream}media:\n  engine: rtpengine\n  rtpengine:\n    ng: 127.0.0.1:2223\n`,
    'test',
  );
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.config.media.rtpengine, {
    ng: { host: '127.0.0.1', port: 2223 },
    timeoutMs: 1000,
    retries: 2,
    maxPending: 1024,
    upstreamProtocol: 'as-offered',
    clientProtocol: 'as-offered',
  });
  const v6 = parseConfigText(
    `${upstream}media: { engine: rtpengine, rtpengine: { ng: "[::1]:2223" } }\n`,
    'test',
  );
  assert.ok(v6.ok);
  assert.deepEqual(v6.config.media.rtpengine?.ng, { host: '::1', port: 2223 });
});

test('refuses rtpengine without its NG address, a host name, a bad port and unknown keys', () => {
  const bad = [
    'media: { engine: rtpengine }',
    'media: { engine: rtpengine, rtpengine: { ng: "localhost:2223" } }',
    'media: { engine: rtpengine, rtpengine: { ng: "127.0.0.1:70000" } }',
    'media: { engine: rtpengine, rtpengine: { ng: "127.0.0.1:2223", upstreamProtocol: SRTP } }',
    'media: { engine: kernel }',
    'media: { rtpengin: {} }',
  ];
  for (const text of bad) {
    const result = parseConfigText(`${upstream}${text}\n`, 'test');
    assert.equal(result.ok, false, text);
  }
});
