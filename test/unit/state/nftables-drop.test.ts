/**
 * The kernel-drop mirror against the real nft, only inside a network namespace the test
 * creates (never the machine's own ruleset): changes go in batches, one nft run per flush;
 * removing an element the kernel has already expired does not fail a batch; an extension
 * carries the new timeout; close deletes the table. Without nft: a reported failure, never
 * a throw.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../../../src/log/logger.ts';
import { createMemoryBlockTable } from '../../../src/state/memory-block-table.ts';
import { NftablesDrop } from '../../../src/state/nftables-drop.ts';
import { listenBlockTable } from '../../../src/state/persist-observers.ts';
import { IP_BIN, NetworkNamespace } from '../../interop/harness/netns.ts';

function nftAvailable(): boolean {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const why = NetworkNamespace.unavailable() ?? (nftAvailable() ? undefined : 'nft is not installed');

const namespaces: NetworkNamespace[] = [];
after(() => {
  for (const ns of namespaces) ns.remove();
});

function setup(ns: NetworkNamespace | undefined, nft = 'nft') {
  const memory = createMemoryBlockTable({ maxEntries: 10_000 });
  const errors: string[] = [];
  const drop = new NftablesDrop({
    nft,
    table: 'sipwarden',
    maxElements: 65_536,
    snapshot: () => memory.list(Date.now()),
    log: silentLogger,
    onError: (reason) => errors.push(reason),
    // Far longer than the test: it flushes by hand.
    flushIntervalMs: 3_600_000,
    ...(ns === undefined ? {} : { command: [IP_BIN, 'netns', 'exec', ns.name, 'nft'] }),
  });
  const blocks = listenBlockTable(memory, [drop]);
  return { memory, blocks, drop, errors };
}

function list(ns: NetworkNamespace, set: string): string {
  return execFileSync(IP_BIN, ['netns', 'exec', ns.name, 'nft', 'list', 'set', 'inet', 'sipwarden', set], {
    encoding: 'utf8',
  });
}

function count(text: string, pattern: RegExp): number {
  return (text.match(pattern) ?? []).length;
}

const block = (key: string, seconds: number) => {
  const now = Date.now();
  return {
    key,
    scope: 'address',
    reason: 'test',
    rule: 'test',
    createdAt: now,
    expiresAt: now + seconds * 1000,
  } as const;
};

test('a thousand blocks are one nft run; removals, extensions and expired elements keep batches whole', {
  skip: why ?? false,
}, async () => {
  const ns = NetworkNamespace.create('swtest');
  namespaces.push(ns);
  const { blocks, drop, errors } = setup(ns);
  blocks.block(block('10.9.9.9', 3600));
  assert.equal(await drop.start([5060, 5061]), true, errors.join('; '));
  assert.match(list(ns, 'blocked4'), /10\.9\.9\.9 timeout/, 'a block made before start is in the table');
  for (let i = 0; i < 1000; i++) blocks.block(block(`10.1.${i >> 8}.${i & 255}`, 3600));
  blocks.block(block('2001:db8::7', 3600));
  blocks.block({ ...block('10.2.0.0/16', 3600), scope: 'network' });
  blocks.block({ ...block('user:alice', 3600), scope: 'key' });
  assert.equal(drop.stats().pending, 1001);
  assert.equal(await drop.flush(), true, errors.join('; '));
  assert.equal(drop.stats().batches, 2, 'the table at start, then one batch');
  assert.equal(count(list(ns, 'blocked4'), /10\.1\.\d+\.\d+/g), 1000);
  assert.match(list(ns, 'blocked6'), /2001:db8::7/);
  // Networks and keys stay in user space.
  assert.doesNotMatch(list(ns, 'blocked4'), /10\.2\./);

  for (let i = 0; i < 500; i++) blocks.unblock(`10.1.${i >> 8}.${i & 255}`);
  // A permanent block replaces an hour-long one: the element loses its timeout.
  blocks.block(block('10.9.9.9', Number.POSITIVE_INFINITY));
  // One the kernel expires before it is removed: its removal must not fail the batch.
  blocks.block(block('10.3.0.1', 1));
  assert.equal(await drop.flush(), true);
  await sleep(2200);
  assert.doesNotMatch(list(ns, 'blocked4'), /10\.3\.0\.1/);
  blocks.unblock('10.3.0.1');
  blocks.unblock('2001:DB8:0::7');
  assert.equal(await drop.flush(), true, errors.join('; '));
  const v4 = list(ns, 'blocked4');
  assert.equal(count(v4, /10\.1\.\d+\.\d+/g), 500);
  assert.match(v4, /10\.9\.9\.9[,\s}]/);
  assert.doesNotMatch(v4, /10\.9\.9\.9 timeout/);
  assert.doesNotMatch(list(ns, 'blocked6'), /2001:db8::7/);
  assert.equal(drop.stats().failures, 0);
  assert.deepEqual(errors, []);

  await drop.close();
  const tables = execFileSync(IP_BIN, ['netns', 'exec', ns.name, 'nft', 'list', 'tables'], {
    encoding: 'utf8',
  });
  assert.doesNotMatch(tables, /sipwarden/);
});

test('without nft the failure is reported, never thrown, and retried as a rebuild', async () => {
  const { blocks, drop, errors } = setup(undefined, '/nonexistent/nft');
  blocks.block(block('10.9.9.9', 3600));
  assert.equal(await drop.start([5060]), false);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /\/nonexistent\/nft not found/);
  blocks.block(block('10.9.9.8', 3600));
  // Within the pause after a failure, nothing is run.
  assert.equal(await drop.flush(), false);
  assert.equal(drop.stats().failures, 1);
  await drop.close();
});
