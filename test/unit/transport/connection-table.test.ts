import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressFamily, normalizeAddress } from '../../../src/transport/address.ts';
import { ConnectionTable, type TableEntry } from '../../../src/transport/connection-table.ts';

const limits = { maxConnections: 3, maxConnectionsPerAddress: 2, maxOutboundConnections: 1 };

function entry(id: number, remoteAddress: string, direction: 'inbound' | 'outbound' = 'inbound'): TableEntry {
  return { id, transport: 'tcp', direction, remoteAddress, remotePort: 5060 + id };
}

describe('connection table', () => {
  test('admits inbound connections from one address up to the per-address cap', () => {
    const table = new ConnectionTable(limits);
    table.add(entry(1, '127.0.0.1'));
    assert.equal(table.admitsInbound('127.0.0.1'), true);
    table.add(entry(2, '127.0.0.1'));
    assert.equal(table.admitsInbound('127.0.0.1'), false);
    assert.equal(table.admitsInbound('127.0.0.2'), true);
  });

  test('admits no inbound connection past the total cap', () => {
    const table = new ConnectionTable(limits);
    for (let id = 1; id <= 3; id++) table.add(entry(id, `127.0.0.${id}`));
    assert.equal(table.admitsInbound('127.0.0.9'), false);
  });

  test('keeps outbound connections out of the inbound caps and under their own', () => {
    const table = new ConnectionTable(limits);
    table.add(entry(1, '127.0.0.1', 'outbound'));
    table.add(entry(2, '127.0.0.1'));
    assert.equal(table.admitsInbound('127.0.0.1'), true);
    assert.equal(table.admitsOutbound(), false);
  });

  test('frees the slot and the lookup of a removed connection', () => {
    const table = new ConnectionTable(limits);
    const first = entry(1, '127.0.0.1');
    table.add(first);
    table.add(entry(2, '127.0.0.1'));
    table.remove(first);
    table.remove(first);
    assert.equal(table.size, 1);
    assert.equal(table.admitsInbound('127.0.0.1'), true);
    assert.equal(table.get(1), undefined);
    assert.equal(table.findByRemote('tcp', '127.0.0.1', 5061), undefined);
    assert.equal(table.findByRemote('tcp', '127.0.0.1', 5062)?.id, 2);
    assert.equal(table.findByRemote('tls', '127.0.0.1', 5062), undefined);
  });
});

describe('addresses', () => {
  test('reports an IPv4 peer of a dual-stack socket as plain IPv4', () => {
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::1'), '::1');
  });

  test('knows an IP literal from a host name', () => {
    assert.equal(addressFamily('127.0.0.1'), 4);
    assert.equal(addressFamily('::1'), 6);
    assert.equal(addressFamily('localhost'), 0);
  });
});
