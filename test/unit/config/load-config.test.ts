import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defaultConfig, loadConfigFile, parseConfigText } from '../../../src/config/load-config.ts';

const examples = join(import.meta.dirname, '..', '..', '..', 'config');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The error lines for a YAML text that must not load. */
function errorsOf(text: string): readonly string[] {
  const result = parseConfigText(text, 'test.yaml');
  assert.equal(result.ok, false, 'expected the config to be refused');
  return result.ok ? [] : result.errors;
}

test('every example configuration in config/ loads', () => {
  const files = readdirSync(examples).filter((name) => name.endsWith('.yaml'));
  assert.ok(files.includes('sipwarden.example.yaml'));
  for (const file of files) {
    const result = loadConfigFile(join(examples, file));
    assert.deepEqual(result.ok ? [] : result.errors, [], file);
  }
});

test('the documented example sets every section', () => {
  const result = loadConfigFile(join(examples, 'sipwarden.example.yaml'));
  assert.ok(result.ok);
  assert.deepEqual(result.config.listen, [
    { host: '0.0.0.0', port: 5060, transports: ['udp', 'tcp'] },
    { host: '0.0.0.0', port: 5061, transports: ['tls'] },
  ]);
  assert.equal(result.config.tls?.minVersion, 'TLSv1.2');
});

test('the embedded defaults listen on UDP and TCP 0.0.0.0:5060 and forward to 127.0.0.1:5080 over UDP', () => {
  const config = defaultConfig();
  assert.deepEqual(config.listen, [{ host: '0.0.0.0', port: 5060, transports: ['udp', 'tcp'] }]);
  assert.deepEqual(config.upstream, { host: '127.0.0.1', port: 5080, transport: 'udp' });
  assert.equal(config.tls, undefined);
  assert.equal(config.log.level, 'info');
  assert.equal(config.limits.udpMessageBytes, 6048);
  assert.equal(config.proxy.maxForwards, 70);
});

test('an empty file gives the embedded defaults', () => {
  const result = parseConfigText('', 'empty.yaml');
  assert.ok(result.ok);
  assert.deepEqual(result.config, defaultConfig());
});

test('keys left out of a section take their defaults', () => {
  const result = parseConfigText('limits: { bodyBytes: 2000 }\nlisten:\n  - { port: 5070 }\n', 't.yaml');
  assert.ok(result.ok);
  assert.equal(result.config.limits.bodyBytes, 2000);
  assert.equal(result.config.limits.udpMessageBytes, 6048);
  assert.deepEqual(result.config.listen, [{ host: '0.0.0.0', port: 5070, transports: ['udp', 'tcp'] }]);
});

test('port 0 is accepted for a listener (any free port)', () => {
  const result = parseConfigText('listen:\n  - { host: 127.0.0.1, port: 0 }\n', 't.yaml');
  assert.ok(result.ok);
});

test('IPv6 addresses and hostnames are accepted as hosts', () => {
  const text = 'listen:\n  - { host: "::1", port: 5060 }\nupstream: { host: pbx.example.com, port: 5060 }\n';
  assert.ok(parseConfigText(text, 't.yaml').ok);
});

test('a listener port out of range reads "listen[0].port: must be 1..65535"', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 70000 }\n'), ['listen[0].port: must be 1..65535']);
});

test('a port that is not a number reads "must be 1..65535"', () => {
  assert.deepEqual(errorsOf('upstream: { host: pbx, port: "5060" }\n'), ['upstream.port: must be 1..65535']);
});

test('a fractional number reads with its range', () => {
  assert.deepEqual(errorsOf('proxy: { maxForwards: 1.5 }\n'), ['proxy.maxForwards: must be 1..255']);
});

test('an unknown transport reads "must be one of udp, tcp, tls"', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 5060, transports: [udp, sctp] }\n'), [
    'listen[0].transports[1]: must be one of udp, tcp, tls',
  ]);
});

test('an empty transport list is refused', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 5060, transports: [] }\n'), [
    'listen[0].transports: must list at least one transport',
  ]);
});

test('a transport listed twice is refused', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 5060, transports: [udp, udp] }\n'), [
    'listen[0].transports: must not list a transport twice',
  ]);
});

test('an invalid host is refused with what a host may be', () => {
  assert.deepEqual(errorsOf('upstream: { host: "pbx local", port: 5060 }\n'), [
    'upstream.host: must be an IPv4 address, an IPv6 address or a hostname',
  ]);
  assert.deepEqual(errorsOf('advertise: { host: 300.1.2.3 }\n'), [
    'advertise.host: must be an IPv4 address, an IPv6 address or a hostname',
  ]);
});

test('a missing required key reads "is required"', () => {
  assert.deepEqual(errorsOf('upstream: { host: pbx }\n'), ['upstream.port: is required']);
});

test('a value of the wrong kind says what is expected', () => {
  assert.deepEqual(errorsOf('listen: 5060\nproxy: { recordRoute: "no" }\nlog: []\n'), [
    'listen: must be a list',
    'proxy.recordRoute: must be true or false',
    'log: must be a mapping',
  ]);
});

test('a log level that does not exist lists the levels', () => {
  assert.deepEqual(errorsOf('log: { level: verbose }\n'), [
    'log.level: must be one of trace, debug, info, warn, error, fatal',
  ]);
});

test('an unknown key is an error naming its path', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 5060, bind: x }\n'), ['listen[0].bind: unknown key']);
});

test('an unknown key close to a known one suggests it', () => {
  assert.deepEqual(errorsOf('upstrem: { host: pbx, port: 5060 }\nlimits: { udp_message_bytes: 9000 }\n'), [
    'limits.udp_message_bytes: unknown key (did you mean udpMessageBytes?)',
    'upstrem: unknown key (did you mean upstream?)',
  ]);
});

test('tls is required when a listener uses tls', () => {
  assert.deepEqual(errorsOf('listen:\n  - { port: 5061, transports: [tls] }\n'), [
    'tls: is required when a listener uses tls',
  ]);
});

test('tls is required when the upstream transport is tls', () => {
  assert.deepEqual(errorsOf('upstream: { host: pbx, port: 5061, transport: tls }\n'), [
    'tls: is required when upstream.transport is tls',
  ]);
});

test('a tls section needs both cert and key', () => {
  assert.deepEqual(errorsOf('tls: { cert: /etc/cert.pem }\n'), ['tls.key: is required']);
});

test('the same transport twice on one address and port is refused', () => {
  const text = 'listen:\n  - { port: 5060 }\n  - { port: 5060, transports: [udp] }\n';
  assert.deepEqual(errorsOf(text), ['listen[1]: repeats udp on 0.0.0.0 port 5060']);
});

test('connections.perAddress may not exceed connections.max', () => {
  assert.deepEqual(errorsOf('connections: { max: 10, perAddress: 20 }\n'), [
    'connections.perAddress: must not exceed connections.max',
  ]);
});

test('every error of a file is reported, not only the first', () => {
  const errors = errorsOf('listen:\n  - { port: 0.5 }\nlimits: { headerLines: 1 }\nlog: { level: x }\n');
  assert.equal(errors.length, 3);
});

test('a document that is not a mapping is refused', () => {
  assert.deepEqual(errorsOf('- listen\n'), ['(top level): must be a mapping']);
});

test('a YAML syntax error names the source, line and column', () => {
  assert.deepEqual(errorsOf('upstream:\n  host: pbx\n  port: [5060\n'), [
    'test.yaml: line 4, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
});

test('a duplicated key is a YAML error with its line', () => {
  const errors = errorsOf('log: { level: info }\nlog: { level: debug }\n');
  assert.deepEqual(errors, ['test.yaml: line 2, column 1: Map keys must be unique']);
});

test('a missing file is reported with its path', () => {
  const path = join(scratch, 'missing.yaml');
  const result = loadConfigFile(path);
  assert.deepEqual(result, {
    ok: false,
    code: 'SW_ERR_CONFIG_UNREADABLE',
    errors: [`${path}: cannot read: no such file`],
  });
});

test('a directory given as the config file is reported as not a file', () => {
  const result = loadConfigFile(scratch);
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.errors, [`${scratch}: cannot read: not a regular file`]);
});

test('a file on disk is loaded and validated', () => {
  const path = join(scratch, 'bad.yaml');
  writeFileSync(path, 'listen:\n  - { port: -1 }\n');
  const result = loadConfigFile(path);
  assert.deepEqual(result.ok ? [] : result.errors, ['listen[0].port: must be 1..65535']);
});

test('upstream.sources takes IP addresses only, and says which entry is not one', () => {
  const errors = errorsOf(
    'upstream:\n  host: 127.0.0.1\n  port: 5080\n  sources: [10.0.0.11, pbx.example.com]\n',
  );
  assert.ok(
    errors.some((e) => e.includes('upstream.sources[1]') && e.includes('must be an IPv4 or IPv6 address')),
    errors.join('\n'),
  );
  const ok = parseConfigText(
    'upstream:\n  host: 127.0.0.1\n  port: 5080\n  sources: [10.0.0.11, "::1"]\n',
    't.yaml',
  );
  assert.ok(ok.ok && ok.config.upstream.sources?.length === 2);
});

test('mutual TLS without a CA to check client certificates against is refused', () => {
  assert.deepEqual(errorsOf('tls: { cert: c.pem, key: k.pem, requestClientCert: true }\n'), [
    'tls.requestClientCert: needs tls.ca: client certificates are checked against it',
  ]);
  assert.equal(
    parseConfigText('tls: { cert: c.pem, key: k.pem, ca: ca.pem, requestClientCert: true }\n', 't.yaml').ok,
    true,
  );
});
