import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Quarantine } from '../../../src/content/quarantine.ts';

const root = mkdtempSync(join(tmpdir(), 'sw-quarantine-'));
after(() => rmSync(root, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

test('the directory is made owner-only, and each copy is a file only its owner reads', async () => {
  const dir = join(root, 'a', 'quarantine');
  const q = Quarantine.open({ dir, maxFiles: 10, maxBytes: 10_000 });
  assert.equal(mode(dir), 0o700);
  const name = await q.keep(Buffer.from('MESSAGE sip:x SIP/2.0\r\n\r\nbody'), 1_700_000_000_000);
  assert.equal(name, '1700000000000-1.sip');
  assert.equal(mode(join(dir, name!)), 0o600);
  assert.equal(readFileSync(join(dir, name!), 'latin1'), 'MESSAGE sip:x SIP/2.0\r\n\r\nbody');
  // An existing directory open to others is closed to them.
  const open = join(root, 'open');
  mkdirSync(open);
  chmodSync(open, 0o755);
  Quarantine.open({ dir: open, maxFiles: 10, maxBytes: 10_000 });
  assert.equal(mode(open), 0o700);
});

test('bounded in count and in bytes: the oldest copies go first', async () => {
  const dir = join(root, 'bounded');
  const q = Quarantine.open({ dir, maxFiles: 3, maxBytes: 1024 });
  for (let i = 1; i <= 5; i++) await q.keep(Buffer.alloc(100, i), 1_700_000_000_000 + i);
  assert.deepEqual(readdirSync(dir).sort(), [
    '1700000000003-3.sip',
    '1700000000004-4.sip',
    '1700000000005-5.sip',
  ]);
  assert.deepEqual(q.usage, { files: 3, bytes: 300 });
  // 900 bytes need room: the two oldest go, the newest of before stays.
  await q.keep(Buffer.alloc(900, 9), 1_700_000_000_010);
  assert.deepEqual(readdirSync(dir).sort(), ['1700000000005-5.sip', '1700000000010-6.sip']);
  assert.deepEqual(q.usage, { files: 2, bytes: 1000 });
  // Larger than the whole quarantine: not kept, nothing removed for it.
  assert.equal(await q.keep(Buffer.alloc(2000), 1_700_000_000_020), undefined);
  assert.equal(readdirSync(dir).length, 2);
});

test('copies kept before a restart count against the bounds, oldest first', async () => {
  const dir = join(root, 'restart');
  mkdirSync(dir);
  writeFileSync(join(dir, '1600000000000-1.sip'), Buffer.alloc(10));
  writeFileSync(join(dir, '1600000000001-2.sip'), Buffer.alloc(10));
  writeFileSync(join(dir, 'unrelated.txt'), 'left alone');
  const q = Quarantine.open({ dir, maxFiles: 2, maxBytes: 10_000 });
  assert.deepEqual(q.usage, { files: 2, bytes: 20 });
  await q.keep(Buffer.from('new'), 1_700_000_000_000);
  assert.deepEqual(readdirSync(dir).sort(), ['1600000000001-2.sip', '1700000000000-1.sip', 'unrelated.txt']);
});

test('a directory that cannot be made is an error naming the setting and the directory', () => {
  const file = join(root, 'a-file');
  writeFileSync(file, '');
  assert.throws(
    () => Quarantine.open({ dir: join(file, 'sub'), maxFiles: 1, maxBytes: 1024 }),
    /content\.quarantine\.dir: cannot use .*a-file\/sub: ENOTDIR/,
  );
});
