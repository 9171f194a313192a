import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../../src/config/load-config.ts';

test('a declared trunk loads with its limits defaulted', () => {
  const result = parseConfigText(
    'security:\n  trunks:\n    - name: carrier\n      addresses: [203.0.113.10, "2001:db8::/64"]\n      identity: "4930123456"\n',
    'test.yaml',
  );
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  assert.deepEqual(result.config.security.trunks, [
    {
      name: 'carrier',
      addresses: ['203.0.113.10', '2001:db8::/64'],
      identity: '4930123456',
      maxConcurrentCalls: 500,
      maxCallsPerSecond: 50,
      authenticate: false,
    },
  ]);
});

test('check-config names every mistake in a trunk declaration', () => {
  const result = parseConfigText(
    [
      'security:',
      '  trunks:',
      '    - name: carrier',
      '      addresses: [203.0.113.300, 10.0.0.0/33]',
      '      identity: "a b"',
      '      maxConcurrentCalls: 0',
      '      maxCallsPerSecond: 1.5',
      '      colour: blue',
      '    - name: carrier',
      '      addresses: []',
      '    - addresses: [192.0.2.1]',
      '',
    ].join('\n'),
    'test.yaml',
  );
  assert.equal(result.ok, false);
  const errors: string = result.ok ? '' : result.errors.join('\n');
  for (const expected of [
    'security.trunks[0].addresses[0]: must be an IPv4 or IPv6 address or a CIDR network',
    'security.trunks[0].addresses[1]: must be an IPv4 or IPv6 address or a CIDR network',
    'security.trunks[0].identity: must be a user or user@host, without spaces',
    'security.trunks[0].maxConcurrentCalls: must be 1..1000000',
    'security.trunks[0].maxCallsPerSecond: must be 1..100000',
    'security.trunks[0].colour: unknown key',
    'security.trunks[1].addresses: must list at least one address or network',
    'security.trunks[2].name: is required',
  ]) {
    assert.ok(errors.includes(expected), `missing "${expected}" in:\n${errors}`);
  }
});

test('two trunks with one name are refused', () => {
  const result = parseConfigText(
    'security:\n  trunks:\n    - { name: a, addresses: [192.0.2.1] }\n    - { name: a, addresses: [192.0.2.2] }\n',
    'test.yaml',
  );
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.errors, ['security.trunks[1].name: repeats "a"']);
});
