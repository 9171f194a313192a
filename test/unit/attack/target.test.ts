import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  parseHostPort,
  parsePortList,
  resolveScanTarget,
  resolveTarget,
} from '../../../src/attack/target.ts';

test('HOST:PORT, [IPv6]:PORT and a bare host (port 5060) are read', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:5080'), { host: '127.0.0.1', port: 5080 });
  assert.deepEqual(parseHostPort('[::1]:5070'), { host: '::1', port: 5070 });
  assert.deepEqual(parseHostPort('::1'), { host: '::1', port: 5060 });
  assert.deepEqual(parseHostPort('localhost'), { host: 'localhost', port: 5060 });
});

test('a bad port is refused with a coded error', () => {
  for (const text of ['127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:x', '[::1', '']) {
    assert.throws(() => parseHostPort(text), { code: 'SW_ERR_ATTACK_TARGET' }, text);
  }
});

test('a loopback target is accepted as it is', async () => {
  assert.deepEqual(await resolveTarget('127.0.0.9:5060', false), { address: '127.0.0.9', port: 5060 });
  assert.deepEqual(await resolveTarget('[::1]:5060', false), { address: '::1', port: 5060 });
});

test('localhost resolves to a loopback address and is accepted', async () => {
  const target = await resolveTarget('localhost:5099', false);
  assert.match(target.address, /^(127\.|::1$)/);
  assert.equal(target.port, 5099);
});

test('a target outside loopback is refused without --allow-remote, naming the option', async () => {
  await assert.rejects(resolveTarget('198.51.100.7:5060', false), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'SW_ERR_ATTACK_REMOTE_REFUSED');
    assert.match(error.message, /--allow-remote/);
    return true;
  });
  await assert.rejects(resolveTarget('[2001:db8::1]:5060', false), { code: 'SW_ERR_ATTACK_REMOTE_REFUSED' });
});

test('--allow-remote lets a remote address through (resolution only, nothing is sent)', async () => {
  assert.deepEqual(await resolveTarget('198.51.100.7:5060', true), { address: '198.51.100.7', port: 5060 });
});

test('a scan range must lie inside loopback unless remote targets are allowed', () => {
  const scan = resolveScanTarget('127.0.0.0/28:5070', undefined, false);
  assert.equal(scan.range.size, 14);
  assert.deepEqual(scan.ports, [5070]);
  assert.throws(() => resolveScanTarget('198.51.100.0/24:5060', undefined, false), {
    code: 'SW_ERR_ATTACK_REMOTE_REFUSED',
  });
  assert.throws(() => resolveScanTarget('126.0.0.1-127.0.0.1', undefined, false), {
    code: 'SW_ERR_ATTACK_REMOTE_REFUSED',
  });
});

test('port lists mix single ports and ranges, bounded', () => {
  assert.deepEqual(parsePortList('5060,5062-5064'), [5060, 5062, 5063, 5064]);
  assert.throws(() => parsePortList('1-65535', 100), { code: 'SW_ERR_ATTACK_TARGET' });
  assert.throws(() => parsePortList('5070-5060'), { code: 'SW_ERR_ATTACK_TARGET' });
});
