import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowDirection } from '../../../src/core/ingress/flow-direction.ts';
import type { Flow } from '../../../src/transport/types.ts';

function flow(transport: Flow['transport'], address: string, port: number): Flow {
  return { transport, remoteAddress: address, remotePort: port, localAddress: '127.0.0.1', localPort: 5060 };
}

test('over UDP only the upstream address and port are the upstream', () => {
  const sides = new FlowDirection({ transport: 'udp', address: '10.0.0.10', port: 5060 });
  assert.equal(sides.of(flow('udp', '10.0.0.10', 5060)), 'upstream');
  assert.equal(sides.of(flow('udp', '10.0.0.10', 40000)), 'client');
  assert.equal(sides.of(flow('tcp', '10.0.0.10', 40000)), 'client');
});

test('over TCP or TLS a connection the upstream opens from its address, from any port, is the upstream', () => {
  const sides = new FlowDirection({ transport: 'tcp', address: '10.0.0.10', port: 5060 });
  assert.equal(sides.of(flow('tcp', '10.0.0.10', 40000)), 'upstream');
  assert.equal(sides.of(flow('tls', '10.0.0.10', 40001)), 'upstream');
  assert.equal(sides.of(flow('udp', '10.0.0.10', 40000)), 'client');
  assert.equal(sides.of(flow('tcp', '10.0.0.11', 5060)), 'client');
});

test('upstream.sources adds addresses the upstream sends from, on any transport and port', () => {
  const sides = new FlowDirection({ transport: 'udp', address: '10.0.0.10', port: 5060 }, ['10.0.0.12']);
  assert.equal(sides.of(flow('udp', '10.0.0.12', 5070)), 'upstream');
  assert.equal(sides.of(flow('tcp', '10.0.0.12', 40000)), 'upstream');
  assert.equal(sides.of(flow('udp', '10.0.0.13', 5060)), 'client');
});
