import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOverrides, parseHostPort } from '../../../src/config/apply-overrides.ts';
import { defaultConfig, parseConfigText } from '../../../src/config/load-config.ts';

function errorsOf(result: ReturnType<typeof applyOverrides>): readonly string[] {
  assert.equal(result.ok, false, 'expected the overrides to be refused');
  return result.ok ? [] : result.errors;
}

test('parses an IPv4 HOST:PORT', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:5060', '--listen'), {
    ok: true,
    value: { host: '127.0.0.1', port: 5060 },
  });
});

test('parses a bracketed IPv6 address with a port', () => {
  assert.deepEqual(parseHostPort('[::1]:5062', '--listen'), { ok: true, value: { host: '::1', port: 5062 } });
});

test('parses a hostname with a port', () => {
  assert.deepEqual(parseHostPort('pbx.example.com:5080', '--upstream'), {
    ok: true,
    value: { host: 'pbx.example.com', port: 5080 },
  });
});

test('refuses text without a port as not HOST:PORT', () => {
  assert.deepEqual(parseHostPort('foo', '--listen'), {
    ok: false,
    error: '--listen: "foo" is not HOST:PORT',
  });
});

test('refuses an unbracketed IPv6 address and says how to write it', () => {
  assert.deepEqual(parseHostPort('::1:5060', '--listen'), {
    ok: false,
    error: '--listen: "::1:5060" is not HOST:PORT (write IPv6 as [::1]:5060)',
  });
});

test('refuses a port out of range', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:70000', '--upstream'), {
    ok: false,
    error: '--upstream: "127.0.0.1:70000" is not HOST:PORT (the port must be 1..65535)',
  });
  assert.equal(parseHostPort('127.0.0.1:0', '--upstream').ok, false);
  assert.equal(parseHostPort('127.0.0.1:', '--upstream').ok, false);
  assert.equal(parseHostPort('127.0.0.1:+5', '--upstream').ok, false);
});

test('refuses a bad host', () => {
  assert.deepEqual(parseHostPort('bad_host:5060', '--listen'), {
    ok: false,
    error: '--listen: "bad_host:5060" is not HOST:PORT (the host is not an IP address or hostname)',
  });
  assert.equal(parseHostPort('[pbx]:5060', '--listen').ok, false);
});

test('--listen replaces every configured listener with UDP and TCP on each address', () => {
  const loaded = parseConfigText(
    'listen:\n  - { port: 5060 }\n  - { port: 5061, transports: [tls] }\ntls: { cert: c.pem, key: k.pem }\n',
    't.yaml',
  );
  assert.ok(loaded.ok);
  const result = applyOverrides(loaded.config, { listen: ['127.0.0.1:5070', '[::1]:5070'] });
  assert.ok(result.ok);
  assert.deepEqual(result.config.listen, [
    { host: '127.0.0.1', port: 5070, transports: ['udp', 'tcp'] },
    { host: '::1', port: 5070, transports: ['udp', 'tcp'] },
  ]);
});

test('--listen accepts port 0 (any free port)', () => {
  const result = applyOverrides(defaultConfig(), { listen: ['127.0.0.1:0'] });
  assert.ok(result.ok);
  assert.equal(result.config.listen[0]?.port, 0);
});

test('--upstream moves the upstream and keeps its transport', () => {
  const loaded = parseConfigText('upstream: { host: pbx, port: 5061, transport: tcp }\n', 't.yaml');
  assert.ok(loaded.ok);
  const result = applyOverrides(loaded.config, { upstream: '10.1.2.3:5090' });
  assert.ok(result.ok);
  assert.deepEqual(result.config.upstream, { host: '10.1.2.3', port: 5090, transport: 'tcp' });
});

test('--log-level sets the level and refuses an unknown one', () => {
  const result = applyOverrides(defaultConfig(), { logLevel: 'debug' });
  assert.ok(result.ok);
  assert.equal(result.config.log.level, 'debug');
  assert.deepEqual(errorsOf(applyOverrides(defaultConfig(), { logLevel: 'loud' })), [
    '--log-level: "loud" must be one of trace, debug, info, warn, error, fatal',
  ]);
});

test('every bad override is reported', () => {
  const result = applyOverrides(defaultConfig(), { listen: ['foo', '1.2.3.4:5060', 'bar'], upstream: 'x' });
  assert.deepEqual(errorsOf(result), [
    '--listen: "foo" is not HOST:PORT',
    '--listen: "bar" is not HOST:PORT',
    '--upstream: "x" is not HOST:PORT',
  ]);
  assert.equal(result.ok ? '' : result.code, 'SW_ERR_CONFIG_OVERRIDE');
});

test('no overrides leave the configuration as loaded', () => {
  const result = applyOverrides(defaultConfig(), {});
  assert.ok(result.ok);
  assert.deepEqual(result.config, defaultConfig());
});
