/**
 * The gateway records calls into the events database file: a call attempt the core itself
 * refuses has its record (stage `core`), written on the exits that cannot wait for close()
 * (flushEvents), and nothing is recorded with `cdrs.enabled: false`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import type { CallDetailRecord } from '../../../src/cdr/cdr.ts';
import { openCdrReader } from '../../../src/cdr/cdr-store.ts';
import { startGateway } from '../../../src/gateway.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { coreConfig } from '../../support/core-gateway.ts';
import { startLine, UdpPeer } from '../../support/udp-peer.ts';

const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-gateway-cdrs-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function invite(peer: UdpPeer, callId: string, maxForwards: number): string {
  return [
    'INVITE sip:200@pbx.example.com SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK-${callId};rport`,
    `Max-Forwards: ${maxForwards}`,
    'From: <sip:100@pbx.example.com>;tag=t1',
    'To: <sip:200@pbx.example.com>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:100@127.0.0.1:${peer.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Records in the file right after flushEvents, before close(). */
async function refusedCall(enabled: boolean): Promise<CallDetailRecord[]> {
  const database = join(scratch, `${enabled ? 'on' : 'off'}.db`);
  const upstream = await UdpPeer.bind();
  const base = coreConfig(upstream.port);
  const gateway = await startGateway(
    { ...base, events: { ...base.events, database }, cdrs: { ...base.cdrs, enabled } },
    silentLogger,
  );
  const phone = await UdpPeer.bind();
  try {
    const port = gateway.listening().find((l) => l.transport === 'udp')!.port;
    // Max-Forwards 0: the core answers 483 itself (RFC 3261 16.3 item 2).
    phone.send(invite(phone, 'hops-1', 0), port);
    assert.equal(startLine(await phone.next()), 'SIP/2.0 483 Too Many Hops');
    // A fatal exit writes what is pending without waiting for close(): read before it.
    gateway.flushEvents();
    if (!enabled) return [];
    const reader = openCdrReader(database);
    try {
      return reader.query({});
    } finally {
      reader.close();
    }
  } finally {
    phone.close();
    upstream.close();
    await gateway.close();
  }
}

test('a call the core refuses is recorded with stage core and its rule, written by flushEvents', async () => {
  const records = await refusedCall(true);
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.deepEqual(
    [
      records[0]?.callId,
      records[0]?.disposition,
      records[0]?.status,
      records[0]?.refusalStage,
      records[0]?.refusalRule,
    ],
    ['hops-1', 'refused', 483, 'core', 'too-many-hops'],
  );
});

test('with cdrs.enabled false nothing is recorded: the database has no cdrs table', async () => {
  await refusedCall(false);
  const db = new Database(join(scratch, 'off.db'), { readonly: true });
  const table = db.prepare("SELECT name FROM sqlite_master WHERE name = 'cdrs'").get();
  db.close();
  assert.equal(table, undefined);
});
