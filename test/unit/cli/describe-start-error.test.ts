import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeStartError } from '../../../src/cli/describe-start-error.ts';

function systemError(code: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(`listen ${code}`), { code, ...fields });
}

test('an address in use is named with its port', () => {
  const error = systemError('EADDRINUSE', { address: '127.0.0.1', port: 5060 });
  assert.equal(
    describeStartError(error),
    '127.0.0.1:5060 is already in use (is another SIP server or sipwarden running?)',
  );
});

test('an IPv6 address is written in brackets', () => {
  const error = systemError('EADDRINUSE', { address: '::1', port: 5060 });
  assert.match(describeStartError(error), /^\[::1\]:5060 is already in use/);
});

test('the system error is found below the errors that wrap it', () => {
  const cause = systemError('EACCES', { address: '0.0.0.0', port: 506 });
  const wrapped = Object.assign(new Error('cannot listen on udp 0.0.0.0 port 506', { cause }), {
    code: 'SW_ERR_LISTEN_FAILED',
  });
  assert.equal(
    describeStartError(wrapped),
    'no permission to listen on 0.0.0.0:506 (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  );
});

test('an address that is not local says so', () => {
  const error = systemError('EADDRNOTAVAIL', { address: '10.9.9.9', port: 5060 });
  assert.equal(describeStartError(error), '10.9.9.9:5060 is not an address of this machine');
});

test('an upstream name that does not resolve is named', () => {
  const error = systemError('ENOTFOUND', { hostname: 'pbx.invalid' });
  assert.equal(describeStartError(error), 'cannot resolve pbx.invalid: no such host');
});

test('any other error gives its first line, without a stack', () => {
  assert.equal(
    describeStartError(new Error('tls.cert: cannot read /x.pem: ENOENT\nmore')),
    'tls.cert: cannot read /x.pem: ENOENT',
  );
  assert.equal(describeStartError('plain'), 'plain');
});
