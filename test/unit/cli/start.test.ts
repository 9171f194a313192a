import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'bin', 'sipwarden.js');

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
}

function startCli(
  args: readonly string[],
  // No management port or event file of its own: tests run side by side, in the checkout.
  isolated: readonly string[] = ['--management', 'off', '--events-db', ':memory:'],
): Started {
  const child = spawn(process.execPath, [bin, 'start', ...isolated, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
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
    const health = await fetch(`http://127.0.0.1:${managementPort}/metrics`);
    assert.equal(health.status, 200);
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
