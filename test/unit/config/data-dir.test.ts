import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DataDirContext,
  locateEventsDatabase,
  resolveDataDir,
  SERVICE_DATA_DIR,
} from '../../../src/config/data-dir.ts';

const user: DataDirContext = { env: {}, uid: 1000, home: '/home/ann', cwd: '/srv/work' };
const root: DataDirContext = { ...user, uid: 0, home: '/root' };
const withFile: DataDirContext = { ...user, configFile: 'conf/sipwarden.yaml' };

test('dataDir in the configuration wins; a relative one is taken from the configuration file’s directory', () => {
  assert.equal(
    resolveDataDir('/data/sw', { ...withFile, env: { STATE_DIRECTORY: '/var/lib/x' } }),
    '/data/sw',
  );
  assert.equal(resolveDataDir('state', withFile), '/srv/work/conf/state');
  assert.equal(resolveDataDir('state', user), '/srv/work/state');
});

test('a systemd service’s STATE_DIRECTORY comes next (its first entry), before the configuration file’s directory', () => {
  assert.equal(
    resolveDataDir(undefined, { ...withFile, env: { STATE_DIRECTORY: '/var/lib/sipwarden:/var/lib/other' } }),
    '/var/lib/sipwarden',
  );
  // Not an absolute path: not systemd's, ignored.
  assert.equal(
    resolveDataDir(undefined, { ...withFile, env: { STATE_DIRECTORY: 'relative' } }),
    '/srv/work/conf',
  );
});

test('with a configuration file and no dataDir, the data directory is the file’s directory', () => {
  assert.equal(resolveDataDir(undefined, withFile), '/srv/work/conf');
  assert.equal(
    resolveDataDir(undefined, { ...root, configFile: '/etc/sipwarden/sipwarden.yaml' }),
    '/etc/sipwarden',
  );
});

test('without a configuration file: /var/lib/sipwarden for root, the XDG state directory for anyone else', () => {
  assert.equal(resolveDataDir(undefined, root), SERVICE_DATA_DIR);
  assert.equal(resolveDataDir(undefined, user), '/home/ann/.local/state/sipwarden');
  assert.equal(
    resolveDataDir(undefined, { ...user, env: { XDG_STATE_HOME: '/xdg/state' } }),
    '/xdg/state/sipwarden',
  );
  // The XDG rules ignore a relative XDG_STATE_HOME.
  assert.equal(
    resolveDataDir(undefined, { ...user, env: { XDG_STATE_HOME: 'state' } }),
    '/home/ann/.local/state/sipwarden',
  );
  assert.equal(resolveDataDir(undefined, { ...user, uid: undefined }), '/home/ann/.local/state/sipwarden');
});

test('the events database is events.db in the data directory unless events.database says otherwise', () => {
  assert.deepEqual(locateEventsDatabase({ events: {} }, withFile), {
    database: '/srv/work/conf/events.db',
    dataDir: '/srv/work/conf',
    inDataDir: true,
  });
  assert.deepEqual(locateEventsDatabase({ events: { database: 'db/events.sqlite' } }, withFile), {
    database: '/srv/work/conf/db/events.sqlite',
    dataDir: '/srv/work/conf',
    inDataDir: true,
  });
  assert.deepEqual(locateEventsDatabase({ events: { database: '/elsewhere/events.db' } }, withFile), {
    database: '/elsewhere/events.db',
    dataDir: '/srv/work/conf',
    inDataDir: false,
  });
  assert.deepEqual(locateEventsDatabase({ events: { database: '../up.db' } }, withFile), {
    database: '/srv/work/up.db',
    dataDir: '/srv/work/conf',
    inDataDir: false,
  });
  assert.deepEqual(locateEventsDatabase({ dataDir: '/d', events: { database: ':memory:' } }, user), {
    database: ':memory:',
    dataDir: '/d',
    inDataDir: false,
  });
});
