/**
 * RTP relaying: sipwarden's built-in relay (src/media/relay.ts, alone in a process as the
 * gateway runs it: media-relay-worker.ts) against rtpengine in userspace mode (Debian's
 * rtpengine-daemon, --table=-1, started here on loopback), relaying the same streams in the
 * same run.
 *
 *   node --import tsx bench/load/media-relay.ts [--calls 100,300,600,1000] [--seconds 5]
 *     [--memory-calls 2000] [--out bench/results/media-relay.md] [--no-write]
 *
 * Each step sets up N calls on each relay (sipwarden's through its SDP side; rtpengine's
 * with NG offer and answer), then sends 20 ms G.711 for --seconds: every 20 ms one
 * 172-byte RTP packet (payload type 8) per call in each direction. The calls are shared
 * among --senders threads (media-relay-sender.ts), each with its own caller and callee
 * socket (each stream latches to its thread's; the SSRC names the call), read by a
 * receiver process of its own bound to the same ports (media-relay-receiver.ts). Measured per
 * relay: loss (packets received by the other side / sent), the relay's CPU time over the
 * step (process CPU, all threads; /proc for rtpengine) and from it packets relayed per
 * second of one core. The generator is Node too: its achieved send rate is printed, and a
 * step whose rate falls short of the target says so. Memory per relayed call: the RSS
 * growth of each relay when --memory-calls calls are set up (sockets bound), divided.
 * Bounded: steps, seconds, and a timeout on every NG request.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { freePort } from '../../test/interop/harness/ports.ts';
import { REPO_ROOT } from '../../test/interop/harness/sipwarden.ts';
import { loadAverageText, machineInfo, residentKiB } from './machine.ts';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '100,300,600,1000' },
    seconds: { type: 'string', default: '5' },
    'memory-calls': { type: 'string', default: '2000' },
    senders: { type: 'string', default: '1' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results', 'media-relay.md') },
    'no-write': { type: 'boolean', default: false },
  },
});
const STEPS = args.calls.split(',').map(Number);
const SECONDS = Number(args.seconds);
const MEMORY_CALLS = Number(args['memory-calls']);
const SENDERS = Math.max(1, Math.min(16, Number(args.senders)));
const TICK_MS = 20;

// --- rtpengine over NG (bencode over UDP) ---

type Bencoded = string | number | Bencoded[] | { [key: string]: Bencoded };

function bencode(value: Bencoded): string {
  if (typeof value === 'number') return `i${value}e`;
  if (typeof value === 'string') return `${Buffer.byteLength(value)}:${value}`;
  if (Array.isArray(value)) return `l${value.map(bencode).join('')}e`;
  const keys = Object.keys(value).sort();
  return `d${keys.map((k) => bencode(k) + bencode(value[k]!)).join('')}e`;
}

function bdecode(text: Buffer): Bencoded {
  let at = 0;
  const next = (): Bencoded => {
    const c = String.fromCharCode(text[at]!);
    if (c === 'i') {
      const end = text.indexOf('e', at);
      const n = Number(text.subarray(at + 1, end).toString());
      at = end + 1;
      return n;
    }
    if (c === 'l') {
      at++;
      const list: Bencoded[] = [];
      while (text[at] !== 0x65) list.push(next());
      at++;
      return list;
    }
    if (c === 'd') {
      at++;
      const dict: Record<string, Bencoded> = {};
      while (text[at] !== 0x65) {
        const key = next() as string;
        dict[key] = next();
      }
      at++;
      return dict;
    }
    const colon = text.indexOf(':', at);
    const length = Number(text.subarray(at, colon).toString());
    const value = text.subarray(colon + 1, colon + 1 + length).toString('latin1');
    at = colon + 1 + length;
    return value;
  };
  return next();
}

class NgClient {
  readonly #socket: Socket;
  readonly #pending = new Map<string, (reply: Record<string, Bencoded>) => void>();
  #cookie = 0;

  constructor(
    socket: Socket,
    readonly port: number,
  ) {
    this.#socket = socket;
    socket.on('message', (data) => {
      const space = data.indexOf(' ');
      const cookie = data.subarray(0, space).toString();
      this.#pending.get(cookie)?.(bdecode(data.subarray(space + 1)) as Record<string, Bencoded>);
      this.#pending.delete(cookie);
    });
  }

  static async open(port: number): Promise<NgClient> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new NgClient(socket, port);
  }

  async request(message: Record<string, Bencoded>): Promise<Record<string, Bencoded>> {
    const cookie = `c${++this.#cookie}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const reply = new Promise<Record<string, Bencoded> | undefined>((resolve) => {
        this.#pending.set(cookie, resolve);
        setTimeout(() => resolve(undefined), 1000);
      });
      this.#socket.send(`${cookie} ${bencode(message)}`, this.port, '127.0.0.1');
      const answer = await reply;
      if (answer !== undefined) {
        if (answer.result !== 'ok') throw new Error(`rtpengine: ${JSON.stringify(answer)}`);
        return answer;
      }
    }
    throw new Error('rtpengine did not answer');
  }

  close(): void {
    this.#socket.close();
  }
}

const sdp = (port: number) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 8`,
    'a=rtpmap:8 PCMA/8000',
    '',
  ].join('\r\n');
const portIn = (text: Bencoded | undefined) => Number(/m=audio (\d+)/.exec(String(text))?.[1] ?? 0);

// --- the two relays behind one interface ---

interface Usage {
  readonly cpuSeconds: number;
  readonly rssKiB: number;
}

interface Relay {
  readonly name: string;
  /** Sets up `count` calls; returns per call [port the caller sends to, port the callee sends to]. */
  setup(count: number, callerPort: number, calleePort: number): Promise<[number, number][]>;
  usage(): Promise<Usage>;
  teardown(): Promise<void>;
  stop(): Promise<void>;
}

async function startSipwardenRelay(): Promise<Relay> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'media-relay-worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies: ((message: Record<string, unknown>) => void)[] = [];
  child.on('message', (message: Record<string, unknown>) => replies.shift()?.(message));
  const ask = (command: Record<string, unknown> | undefined) =>
    new Promise<Record<string, unknown>>((resolve) => {
      replies.push(resolve);
      if (command !== undefined) child.send(command);
    });
  await ask(undefined);
  return {
    name: 'sipwarden',
    setup: async (count, callerPort, calleePort) =>
      (await ask({ op: 'setup', count, callerPort, calleePort })).ports as [number, number][],
    usage: async () => {
      const u = await ask({ op: 'usage' });
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify(u.stats));
      return { cpuSeconds: (u.cpuMicros as number) / 1e6, rssKiB: (u.rss as number) / 1024 };
    },
    teardown: async () => {
      await ask({ op: 'teardown' });
    },
    stop: async () => {
      child.send({ op: 'exit' });
      await once(child, 'exit');
    },
  };
}

function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime (fields 14 and 15), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function startRtpengine(): Promise<Relay> {
  const ng = await freePort('127.0.0.1', ['udp']);
  const cli = await freePort('127.0.0.1', ['tcp']);
  const child = spawn(
    'rtpengine',
    [
      '--config-file=none',
      '--foreground',
      '--log-stderr',
      '--log-level=3',
      '--table=-1',
      '--interface=lo/127.0.0.1',
      `--listen-ng=127.0.0.1:${ng}`,
      `--listen-cli=127.0.0.1:${cli}`,
      '--port-min=41000',
      '--port-max=49999',
      '--delete-delay=0',
      // Learn a party's address from its first packet, as sipwarden's relay latches (the default waits 3 s).
      '--endpoint-learning=immediate',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const client = await NgClient.open(ng);
  // Up once it answers a ping.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.request({ command: 'ping' }).catch(async (error) => {
        if (String(error).includes('pong')) return;
        throw error;
      });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const calls: string[] = [];
  return {
    name: 'rtpengine (userspace)',
    setup: async (count, callerPort, calleePort) => {
      const ports: [number, number][] = [];
      for (let i = 0; i < count; i++) {
        const callId = `bench-${calls.length}`;
        calls.push(callId);
        const offer = await client.request({
          command: 'offer',
          'call-id': callId,
          'from-tag': 'caller',
          sdp: sdp(callerPort),
          // Strict source, as sipwarden's relay: once learnt, only that address may send.
          flags: ['strict-source'],
        });
        const answer = await client.request({
          command: 'answer',
          'call-id': callId,
          'from-tag': 'caller',
          'to-tag': 'callee',
          sdp: sdp(calleePort),
          flags: ['strict-source'],
        });
        ports.push([portIn(answer.sdp), portIn(offer.sdp)]);
      }
      return ports;
    },
    usage: async () => ({ cpuSeconds: cpuSecondsOf(child.pid!), rssKiB: residentKiB(child.pid!) ?? 0 }),
    teardown: async () => {
      for (const callId of calls.splice(0)) await client.request({ command: 'delete', 'call-id': callId });
    },
    stop: async () => {
      client.close();
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

// --- the generator: one caller and one callee socket, 20 ms packets per call ---

interface StepResult {
  readonly relay: string;
  readonly calls: number;
  readonly sent: number;
  readonly received: number;
  readonly targetPps: number;
  readonly achievedPps: number;
  readonly cpuSeconds: number;
  readonly seconds: number;
}

/** A sending thread: its socket ports, and its commands. */
interface Sender {
  readonly caller: number;
  readonly callee: number;
  ask(command: Record<string, unknown>): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startSender(): Promise<Sender> {
  // A worker does not inherit --import tsx's loader in Node 20: it registers tsx itself.
  const entry = pathToFileURL(join(import.meta.dirname, 'media-relay-sender.ts')).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`));
  const replies: ((message: Record<string, unknown>) => void)[] = [];
  worker.on('message', (message: Record<string, unknown>) => replies.shift()?.(message));
  const ask = (command: Record<string, unknown> | undefined) =>
    new Promise<Record<string, unknown>>((resolve) => {
      replies.push(resolve);
      if (command !== undefined) worker.postMessage(command);
    });
  const ready = await ask(undefined);
  return {
    caller: ready.caller as number,
    callee: ready.callee as number,
    ask,
    stop: async () => {
      worker.postMessage({ op: 'exit' });
      await once(worker, 'exit');
    },
  };
}

/** The sending threads, and the receiver process that reads what arrives at their ports. */
interface Generator {
  readonly senders: readonly Sender[];
  count(op: 'reset' | 'count'): Promise<number>;
  stop(): Promise<void>;
}

async function startGenerator(): Promise<Generator> {
  const senders: Sender[] = [];
  for (let i = 0; i < SENDERS; i++) senders.push(await startSender());
  const child = fork(
    join(import.meta.dirname, 'media-relay-receiver.ts'),
    senders.flatMap((s) => [String(s.caller), String(s.callee)]),
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const replies: ((message: { received: number }) => void)[] = [];
  child.on('message', (message: { received: number }) => replies.shift()?.(message));
  const ask = (op: string | undefined) =>
    new Promise<{ received: number }>((resolve) => {
      replies.push(resolve);
      if (op !== undefined) child.send({ op });
    });
  await ask(undefined);
  return {
    senders,
    count: async (op) => (await ask(op)).received,
    stop: async () => {
      child.send({ op: 'exit' });
      await once(child, 'exit');
      for (const sender of senders) await sender.stop();
    },
  };
}

async function step(relay: Relay, generator: Generator, calls: number): Promise<StepResult> {
  const { senders } = generator;
  // The calls shared among the threads; each thread's streams latch to its own sockets.
  let ssrcBase = 0;
  for (const [n, sender] of senders.entries()) {
    const share = Math.floor(calls / senders.length) + (n < calls % senders.length ? 1 : 0);
    const ports = await relay.setup(share, sender.caller, sender.callee);
    await sender.ask({ op: 'ports', ports, ssrcBase });
    ssrcBase += share;
  }
  for (const sender of senders) await sender.ask({ op: 'latch' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await generator.count('reset');
  const before = await relay.usage();
  const results = await Promise.all(senders.map((s) => s.ask({ op: 'go', seconds: SECONDS })));
  const sent = results.reduce((sum, r) => sum + (r.sent as number), 0);
  const elapsed = Math.max(...results.map((r) => r.elapsed as number));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const received = await generator.count('count');
  const after = await relay.usage();
  await relay.teardown();
  return {
    relay: relay.name,
    calls,
    sent,
    received,
    targetPps: (2 * calls * 1000) / TICK_MS,
    achievedPps: sent / elapsed,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    seconds: elapsed,
  };
}

async function memoryPerCall(relay: Relay, generator: Generator): Promise<number> {
  const before = await relay.usage();
  const sender = generator.senders[0]!;
  await relay.setup(MEMORY_CALLS, sender.caller, sender.callee);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const after = await relay.usage();
  await relay.teardown();
  return ((after.rssKiB - before.rssKiB) * 1024) / MEMORY_CALLS;
}

const loadBefore = loadAverageText();
const relays = [await startSipwardenRelay(), await startRtpengine()];
const generator = await startGenerator();
const results: StepResult[] = [];
const memory = new Map<string, number>();
try {
  for (const relay of relays) memory.set(relay.name, await memoryPerCall(relay, generator));
  for (const calls of STEPS) {
    for (const relay of relays) {
      const result = await step(relay, generator, calls);
      results.push(result);
      const loss = 1 - result.received / result.sent;
      console.log(
        `${result.relay}: ${calls} calls, sent ${result.sent} (${Math.round(result.achievedPps)}/s of ${result.targetPps}/s), ` +
          `loss ${(loss * 100).toFixed(3)} %, relay CPU ${result.cpuSeconds.toFixed(2)} s, ` +
          `${Math.round(result.received / result.cpuSeconds)} packets/s per core`,
      );
    }
  }
} finally {
  for (const relay of relays) await relay.stop();
  await generator.stop();
}

const info = machineInfo(REPO_ROOT);
const rows = results.map((r) => {
  const loss = 1 - r.received / r.sent;
  const short = r.achievedPps < r.targetPps * 0.97 ? ' (generator short)' : '';
  return `| ${r.relay} | ${r.calls} | ${Math.round(r.achievedPps)}${short} | ${(loss * 100).toFixed(3)} % | ${r.cpuSeconds.toFixed(2)} | ${((r.cpuSeconds / r.seconds) * 100).toFixed(0)} % | ${Math.round(r.received / r.cpuSeconds)} |`;
});
/** The largest step below which every step of the relay kept loss under 0.1 %. */
const sustained = (name: string) => {
  let calls = 0;
  for (const r of results.filter((x) => x.relay === name).sort((a, b) => a.calls - b.calls)) {
    if (1 - r.received / r.sent >= 0.001) break;
    calls = r.calls;
  }
  return calls;
};
const text = [
  '# RTP relay: sipwarden against rtpengine (userspace)',
  '',
  `20 ms G.711 (172-byte RTP packets, one each way per call every 20 ms) through each relay on`,
  `loopback, ${SECONDS} s per step, the same streams and the same generator for both (${SENDERS} sending`,
  `threads), in one run (bench/load/media-relay.ts). Load average before: ${loadBefore}.`,
  '',
  '| relay | calls | packets/s sent | loss | relay CPU s | relay CPU | packets/s relayed per core |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  `Calls sustained with loss under 0.1 % (every step up to it): sipwarden ${sustained('sipwarden')}, ` +
    `rtpengine ${sustained('rtpengine (userspace)')}. "Generator short": the Node sender did not reach the`,
  'target rate (the steps above it offered less than their calls need); packets/s per core is',
  'what each relay forwarded over the CPU time it used, at the load it was given.',
  '',
  `Memory per relayed call (RSS growth over ${MEMORY_CALLS} calls set up, sockets bound): ` +
    [...memory].map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(1)} KiB`).join(', ') +
    '.',
  '',
  `Machine: ${info.cpus} CPUs (${info.cpuModel}), ${info.memoryGiB} GiB, Linux ${info.kernel}, Node ${info.node}, commit ${info.commit}${info.sourcesChanged > 0 ? ` (+${info.sourcesChanged} changed files)` : ''}.`,
  '',
].join('\n');
console.log(text);
if (!args['no-write']) {
  mkdirSync(join(args.out, '..'), { recursive: true });
  writeFileSync(args.out, text);
}
