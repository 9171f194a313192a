import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');
const scratch = mkdtempSync(join(tmpdir(), 'sipwarden-start-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Binds UDP then TCP on the same port to hold it; the caller closes both. */
async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    const tcp = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      const release = async () => {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
      };
      return { port, release };
    }
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  }
  throw new Error('no free port on 127.0.0.1 after 20 attempts');
}

async function freePort(): Promise<number> {
  const { port, release } = await holdPort();
  await release();
  return port;
}

interface Started {
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;
  readonly stderr: () => string;
  /** Resolves with the first stdout line whose msg matches, or undefined if the process ended first. */
  readonly line: (msg: string) => Promise<Record<string, unknown> | undefined>;
  /** Every JSON line read so far. */
  readonly lines: () => readonly Record<string, unknown>[];
}

interface SpawnSettings {
  /** Node options before the program: `--import` of a fault for the fatal-error test. */
  readonly nodeArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly gid?: number;
}

function startCli(
  args: readonly string[],
  // No management port or event file of its own: tests run side by side, in the checkout.
  isolated: readonly string[] = ['--management', 'off', '--events-db', ':memory:'],
  settings: SpawnSettings = {},
): Started {
  const child = spawn(process.execPath, [...(settings.nodeArgs ?? []), bin, 'start', ...isolated, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(settings.env === undefined ? {} : { env: settings.env }),
    ...(settings.uid === undefined ? {} : { uid: settings.uid }),
    ...(settings.gid === undefined ? {} : { gid: settings.gid }),
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      // A death by signal says nothing in the assertion: its stderr does.
      if (signal !== null) process.stderr.write(`sipwarden ended by ${signal}; its stderr:\n${stderr}\n`);
      resolve(code);
    }),
  );
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown> | undefined) => void }[] = [];
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (line.msg === waiter.msg) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  reader.on('close', () => {
    for (const waiter of waiters.splice(0)) waiter.resolve(undefined);
  });
  return {
    child,
    exit,
    stderr: () => stderr,
    lines: () => lines,
    line: (msg) =>
      new Promise((resolve) => {
        const seen = lines.find((line) => line.msg === msg);
        if (seen !== undefined) resolve(seen);
        else waiters.push({ msg, resolve });
      }),
  };
}

function optionsRequest(port: number, clientPort: number): Buffer {
  return Buffer.from(
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK-cli-start-1;rport\r\n` +
      'Max-Forwards: 70\r\n' +
      'From: <sip:tester@127.0.0.1>;tag=cli1\r\n' +
      `To: <sip:127.0.0.1:${port}>\r\n` +
      'Call-ID: cli-start-1@127.0.0.1\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n' +
      '\r\n',
    'latin1',
  );
}

/** Sends the request until an answer comes (UDP: retransmit like SIP timer A, bounded). */
async function ask(socket: Socket, request: Buffer, port: number): Promise<string> {
  const answer = new Promise<string>((resolve) =>
    socket.once('message', (data) => resolve(data.toString('latin1'))),
  );
  let answered = false;
  void answer.then(() => {
    answered = true;
  });
  for (let attempt = 0; attempt < 10 && !answered; attempt += 1) {
    socket.send(request, port, '127.0.0.1');
    await Promise.race([
      answer,
      new Promise((resolve) => setTimeout(resolve, 500 * 2 ** Math.min(attempt, 3))),
    ]);
  }
  return answer;
}

test('start listens on --listen, answers OPTIONS addressed to itself with 200, and exits 0 on SIGTERM', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const upstreamPort = await freePort();
  const cli = startCli(['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstreamPort}`]);
  try {
    const listening = await cli.line('sipwarden listening');
    assert.ok(listening, `sipwarden did not start: ${cli.stderr()}`);
    assert.deepEqual(listening.upstream, { transport: 'udp', host: '127.0.0.1', port: upstreamPort });
    const bound = listening.listening as { transport: string; host: string; port: number }[];
    assert.deepEqual(bound.map((entry) => `${entry.transport} ${entry.host}:${entry.port}`).sort(), [
      `tcp 127.0.0.1:${port}`,
      `udp 127.0.0.1:${port}`,
    ]);

    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    try {
      const answer = await ask(client, optionsRequest(port, client.address().port), port);
      assert.match(answer, /^SIP\/2\.0 200 /);
      assert.match(answer, /\r\nCSeq: 1 OPTIONS\r\n/i);
    } finally {
      client.close();
    }

    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
    assert.ok(await cli.line('sipwarden stopped'));
  } finally {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  }
});

test('start with the management API on prints nothing to stderr: no library warnings for the operator', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const managementPort = await freePort();
  const cli = startCli(
    ['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${await freePort()}`],
    ['--management', `127.0.0.1:${managementPort}`, '--events-db', ':memory:'],
  );
  try {
    const listening = await cli.line('sipwarden listening');
    assert.ok(listening, `sipwarden did not start: ${cli.stderr()}`);
    // It answers, and asks for credentials (every route needs at least a viewer).
    const health = await fetch(`http://127.0.0.1:${managementPort}/metrics`);
    assert.equal(health.status, 401);
    await health.text();
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
    assert.equal(cli.stderr(), '');
  } finally {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  }
});

test('start on an address already in use exits 1 with a message naming the address', {
  timeout: 120_000,
}, async () => {
  const held = await holdPort();
  try {
    const cli = startCli(['--listen', `127.0.0.1:${held.port}`]);
    try {
      assert.equal(await cli.exit, 1);
      assert.match(cli.stderr(), new RegExp(`^sipwarden: cannot start: .*127\\.0\\.0\\.1:${held.port}`));
      assert.doesNotMatch(cli.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    }
  } finally {
    await held.release();
  }
});

/**
 * The exit code, or 'running' if the process has not ended within `ms`: a start that fails
 * must end by itself. The bound is generous (tsx compiles the sources at the first run);
 * the process is killed when it is reached.
 */
async function exitWithin(cli: Started, ms = 60_000): Promise<number | null | 'running'> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    cli.exit,
    new Promise<'running'>((resolve) => {
      timer = setTimeout(() => resolve('running'), ms);
    }),
  ]);
  clearTimeout(timer);
  if (result === 'running') cli.child.kill('SIGKILL');
  return result;
}

/** True when UDP and TCP can both bind the port again: the process let go of it. */
async function portIsFree(port: number): Promise<boolean> {
  const udp = createSocket('udp4');
  const udpBound = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  if (udpBound) await new Promise<void>((resolve) => udp.close(() => resolve()));
  const tcp = createServer();
  const tcpBound = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (tcpBound) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  return udpBound && tcpBound;
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

/** A directory of its own under the scratch directory, with `sipwarden.yaml` holding `yaml`. */
function configIn(name: string, yaml: string): { dir: string; file: string } {
  const dir = join(scratch, name);
  mkdirSync(dir);
  const file = join(dir, 'sipwarden.yaml');
  writeFileSync(file, yaml);
  return { dir, file };
}

function kill(cli: Started): void {
  if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
}

test('start exits 1 when the events database cannot be opened, and holds no port', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const apiPort = await freePort();
  // A path through a regular file: no user, root included, can create it.
  const notADirectory = join(scratch, 'not-a-directory');
  writeFileSync(notADirectory, '');
  const database = join(notADirectory, 'events.db');
  const cli = startCli(
    ['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${await freePort()}`],
    ['--management', `127.0.0.1:${apiPort}`, '--events-db', database],
  );
  try {
    assert.equal(await exitWithin(cli), 1, 'the process must end with 1');
    assert.match(
      cli.stderr(),
      /^sipwarden: cannot start: events\.database: cannot open .*not-a-directory\/events\.db: a part of the path is not a directory\n$/,
    );
    assert.ok(await portIsFree(port), 'the SIP port is free again');
    assert.ok(await portIsFree(apiPort), 'the management port is free again');
  } finally {
    kill(cli);
  }
});

test('start exits 1 when the management API port is in use, closing the SIP listeners and the events database', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const api = createServer();
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const apiPort = (api.address() as { port: number }).port;
  const dir = join(scratch, 'api-in-use');
  mkdirSync(dir);
  const database = join(dir, 'events.db');
  try {
    const cli = startCli(
      ['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${await freePort()}`],
      ['--management', `127.0.0.1:${apiPort}`, '--events-db', database],
    );
    try {
      assert.equal(await exitWithin(cli), 1);
      assert.match(
        cli.stderr(),
        new RegExp(`^sipwarden: cannot start: 127\\.0\\.0\\.1:${apiPort} is already in use`),
      );
      assert.ok(await portIsFree(port), 'the SIP port is free again');
      // SQLite removes the -wal and -shm files when the last connection closes cleanly.
      assert.ok(existsSync(database));
      assert.ok(!existsSync(`${database}-wal`), 'the events database was closed');
      assert.ok(!existsSync(`${database}-shm`), 'the events database was closed');
    } finally {
      kill(cli);
    }
  } finally {
    await new Promise<void>((resolve) => api.close(() => resolve()));
  }
});

test('start exits 1 when a TLS file cannot be read, naming it', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const { dir, file } = configIn(
    'tls-unreadable',
    `listen: [{host: 127.0.0.1, port: ${port}, transports: [udp, tls]}]\n` +
      'tls: {cert: missing-cert.pem, key: missing-key.pem}\n' +
      'management: {enabled: false}\n' +
      "events: {database: ':memory:'}\n",
  );
  const cli = startCli(['--config', file], []);
  try {
    assert.equal(await exitWithin(cli), 1);
    assert.match(
      cli.stderr(),
      /^sipwarden: cannot start: tls\.cert: cannot read missing-cert\.pem: ENOENT\n$/,
    );
    assert.ok(await portIsFree(port));
    assert.ok(!existsSync(join(dir, 'events.db')));
  } finally {
    kill(cli);
  }
});

test('SIGHUP is logged as not supported and the process keeps answering', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const cli = startCli(['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${await freePort()}`]);
  try {
    assert.ok(await cli.line('sipwarden listening'), `sipwarden did not start: ${cli.stderr()}`);
    const warning = 'sipwarden: reload is not supported yet; restart it to apply configuration changes';
    cli.child.kill('SIGHUP');
    const first = await cli.line(warning);
    assert.ok(first, `no warning after SIGHUP (exit ${cli.child.exitCode}, signal ${cli.child.signalCode})`);
    assert.equal(first.level, 'warn');
    cli.child.kill('SIGHUP');
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    try {
      const answer = await ask(client, optionsRequest(port, client.address().port), port);
      assert.match(answer, /^SIP\/2\.0 200 /);
    } finally {
      client.close();
    }
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
    // Lines are read until the pipe closes: both warnings are in, one per signal.
    assert.equal(cli.lines().filter((line) => line.msg === warning).length, 2);
  } finally {
    kill(cli);
  }
});

test('with a configuration file the events database is events.db beside it, owner-only, and the start log names it', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const { dir, file } = configIn(
    'beside-config',
    `listen: [{host: 127.0.0.1, port: ${port}}]\nmanagement: {enabled: false}\n`,
  );
  const cli = startCli(['--config', file], []);
  try {
    const listening = await cli.line('sipwarden listening');
    assert.ok(listening, `sipwarden did not start: ${cli.stderr()}`);
    const database = join(dir, 'events.db');
    assert.equal(listening.eventsDatabase, database);
    assert.equal(modeOf(database), '600');
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
  } finally {
    kill(cli);
  }
});

test('dataDir in the configuration, relative to its file, is created owner-only', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const { dir, file } = configIn(
    'data-dir-key',
    `listen: [{host: 127.0.0.1, port: ${port}}]\nmanagement: {enabled: false}\ndataDir: state/sipwarden\n`,
  );
  const cli = startCli(['--config', file], []);
  try {
    const listening = await cli.line('sipwarden listening');
    assert.ok(listening, `sipwarden did not start: ${cli.stderr()}`);
    const dataDir = join(dir, 'state', 'sipwarden');
    assert.equal(listening.eventsDatabase, join(dataDir, 'events.db'));
    assert.equal(modeOf(dataDir), '700');
    assert.equal(modeOf(join(dataDir, 'events.db')), '600');
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
  } finally {
    kill(cli);
  }
});

test('without a configuration file or root, the events database is in ~/.local/state/sipwarden', {
  timeout: 120_000,
}, async () => {
  // As root the rule is another (/var/lib/sipwarden): run the command as nobody then.
  const asRoot = process.getuid?.() === 0;
  const home = join(scratch, 'fresh-home');
  mkdirSync(home);
  if (asRoot) {
    chmodSync(scratch, 0o755);
    chownSync(home, 65534, 65534);
  }
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home };
  const cli = startCli(
    ['--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${await freePort()}`],
    ['--management', 'off'],
    { env, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) },
  );
  try {
    const listening = await cli.line('sipwarden listening');
    assert.ok(listening, `sipwarden did not start: ${cli.stderr()}`);
    const dataDir = join(home, '.local', 'state', 'sipwarden');
    assert.equal(listening.eventsDatabase, join(dataDir, 'events.db'));
    assert.equal(modeOf(dataDir), '700');
    assert.equal(modeOf(join(dataDir, 'events.db')), '600');
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exit, 0);
  } finally {
    kill(cli);
  }
});

/** An OPTIONS with SIPVicious's User-Agent: the scanner stage records it and, as configured here, answers 403. */
function scannerRequest(port: number, clientPort: number, n: number): Buffer {
  return Buffer.from(
    `OPTIONS sip:100@127.0.0.1:${port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK-cli-scan-${n};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:scan@127.0.0.1>;tag=scan${n}\r\n` +
      `To: <sip:100@127.0.0.1:${port}>\r\n` +
      `Call-ID: cli-scan-${n}@127.0.0.1\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      'User-Agent: friendly-scanner\r\n' +
      'Content-Length: 0\r\n' +
      '\r\n',
    'latin1',
  );
}

function recordedCount(database: string): number {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT coalesce(sum(count), 0) AS n FROM events WHERE type = 'scanner'")
      .get() as {
      n: number;
    };
    return row.n;
  } finally {
    db.close();
  }
}

/**
 * Five recorded occurrences of one event: the first is reported by the bus's timer (its
 * open report), the next four only by the final report, which no timer sends within the
 * hour-long window: only the exit writes it. Returns the process, its exit and the file.
 */
async function recordFiveThenEnd(
  name: string,
  end: (cli: Started) => void,
  settings: SpawnSettings = {},
): Promise<{ cli: Started; code: number | null | 'running'; database: string }> {
  const port = await freePort();
  const { dir, file } = configIn(
    name,
    `listen: [{host: 127.0.0.1, port: ${port}}]\n` +
      `upstream: {host: 127.0.0.1, port: ${await freePort()}}\n` +
      'management: {enabled: false}\n' +
      'events: {aggregateWindowMs: 3600000}\n' +
      'security: {settings: {scanner: {action: reject, status: 403}}}\n',
  );
  const database = join(dir, 'events.db');
  const cli = startCli(['--config', file], [], settings);
  try {
    assert.ok(await cli.line('sipwarden listening'), `sipwarden did not start: ${cli.stderr()}`);
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    try {
      const clientPort = client.address().port;
      assert.match(await ask(client, scannerRequest(port, clientPort, 1), port), /^SIP\/2\.0 403 /);
      // The open report reaches the file within the bus's one-second flush (bounded wait).
      for (let attempt = 0; attempt < 100 && recordedCount(database) === 0; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(recordedCount(database), 1, 'the open report is written by the timer');
      for (let n = 2; n <= 5; n += 1) {
        assert.match(await ask(client, scannerRequest(port, clientPort, n), port), /^SIP\/2\.0 403 /);
      }
    } finally {
      client.close();
    }
    end(cli);
    return { cli, code: await exitWithin(cli), database };
  } finally {
    kill(cli);
  }
}

test('SIGTERM writes the pending events before the process exits', { timeout: 120_000 }, async () => {
  const { code, database } = await recordFiveThenEnd('flush-sigterm', (cli) => cli.child.kill('SIGTERM'));
  assert.equal(code, 0);
  assert.equal(recordedCount(database), 5);
});

test('SIGINT writes the pending events before the process exits', { timeout: 120_000 }, async () => {
  const { code, database } = await recordFiveThenEnd('flush-sigint', (cli) => cli.child.kill('SIGINT'));
  assert.equal(code, 0);
  assert.equal(recordedCount(database), 5);
});

test('a fatal error writes the pending events, then exits 1', { timeout: 120_000 }, async () => {
  // The fault comes from outside the program: a module loaded before it throws from a
  // timer when the test sends SIGUSR2, an error that nothing in sipwarden catches.
  const fault = join(scratch, 'fault.mjs');
  writeFileSync(
    fault,
    "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('fault injected by the test'); }));\n",
  );
  const { cli, code, database } = await recordFiveThenEnd(
    'flush-fatal',
    (started) => started.child.kill('SIGUSR2'),
    {
      nodeArgs: ['--import', pathToFileURL(fault).href],
    },
  );
  assert.equal(code, 1);
  assert.ok(cli.lines().some((line) => line.msg === 'sipwarden stopped by an unexpected error'));
  assert.equal(recordedCount(database), 5);
});

test('start refuses a security stage setting as a configuration error (exit 2), as check-config does, opening nothing', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const { dir, file } = configIn(
    'bad-stage-setting',
    `listen: [{host: 127.0.0.1, port: ${port}}]\n` +
      'management: {enabled: false}\n' +
      'security: {settings: {scanner: {action: bogus}}}\n',
  );
  const cli = startCli(['--config', file], []);
  try {
    assert.equal(await exitWithin(cli), 2);
    assert.match(
      cli.stderr(),
      /^sipwarden: config error: security\.settings\.scanner\.action: must be one of alert, reject, drop, block, tarpit\n$/,
    );
    assert.ok(!existsSync(join(dir, 'events.db')), 'no events database was created');
  } finally {
    kill(cli);
  }
});

test('start exits 1 when the data directory cannot be created, naming it', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const { dir, file } = configIn(
    'data-dir-blocked',
    `listen: [{host: 127.0.0.1, port: ${port}}]\nmanagement: {enabled: false}\ndataDir: blocker/state\n`,
  );
  // A regular file where a directory should be: no user, root included, can create it.
  writeFileSync(join(dir, 'blocker'), '');
  const cli = startCli(['--config', file], []);
  try {
    assert.equal(await exitWithin(cli), 1);
    assert.match(
      cli.stderr(),
      /^sipwarden: cannot start: dataDir: cannot create .*\/blocker\/state: ENOTDIR\n$/,
    );
    assert.ok(await portIsFree(port));
  } finally {
    kill(cli);
  }
});
