import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, parseConfigText } from '../../../src/config/load-config.ts';

function errorsOf(text: string): readonly string[] {
  const result = parseConfigText(text, 'test.yaml');
  return result.ok ? [] : result.errors;
}

test('content scanning is off by default, with clamd at 127.0.0.1:3310, MESSAGE, 403, closed', () => {
  const content = defaultConfig().content;
  assert.equal(content.enabled, false);
  assert.equal(content.clamd.host, '127.0.0.1');
  assert.equal(content.clamd.port, 3310);
  assert.deepEqual(content.methods, ['MESSAGE']);
  assert.equal(content.refuseStatus, 403);
  assert.equal(content.failureMode, 'closed');
  assert.equal(content.failureStatus, 503);
  assert.equal(content.quarantine.enabled, false);
});

test('clamd is TCP (host and port) or a unix socket, not both, not half', () => {
  assert.deepEqual(errorsOf('content:\n  clamd: { socket: /run/clamav/clamd.ctl }\n'), []);
  assert.match(
    errorsOf('content:\n  clamd: { host: 127.0.0.1, port: 3310, socket: /x }\n').join('\n'),
    /content\.clamd\.socket: cannot be given with host and port/,
  );
  assert.match(
    errorsOf('content:\n  clamd: { host: 127.0.0.1 }\n').join('\n'),
    /content\.clamd\.port: is required with a TCP clamd/,
  );
  assert.match(
    errorsOf('content:\n  clamd: { scanTimeoutMs: 1000 }\n').join('\n'),
    /content\.clamd: needs host and port, or socket/,
  );
  assert.match(
    errorsOf('content:\n  failureMode: maybe\n').join('\n'),
    /content\.failureMode: must be one of open, closed/,
  );
  assert.match(
    errorsOf('content:\n  methods: [message]\n').join('\n'),
    /content\.methods\[0\]: must be a SIP method in upper case/,
  );
  assert.match(
    errorsOf('content:\n  refuseStatus: 200\n').join('\n'),
    /content\.refuseStatus: must be a SIP status from 400 to 699/,
  );
  assert.match(errorsOf('content:\n  quarantin: {}\n').join('\n'), /content\.quarantin/);
});

test('content.enabled needs the content stage to run', () => {
  assert.deepEqual(errorsOf('content: { enabled: true }\n'), []);
  assert.match(
    errorsOf('content: { enabled: true }\nsecurity: { enabled: false }\n').join('\n'),
    /content\.enabled: needs security\.enabled/,
  );
  assert.match(
    errorsOf('content: { enabled: true }\nsecurity: { stages: [gate, validate] }\n').join('\n'),
    /security\.stages: must list "content" when content\.enabled is true/,
  );
  assert.deepEqual(errorsOf('content: { enabled: true }\nsecurity: { stages: [gate, content] }\n'), []);
});
