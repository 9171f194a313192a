/**
 * How cheaply sipwarden drops datagrams from a blocked source: datagrams per second of
 * sipwarden CPU time (per core), against a baseline taken in the same run: datagrams per
 * CPU-second for requests sipwarden fully handles (OPTIONS addressed to itself: parse,
 * validate, every pipeline stage, a 200 answer).
 *
 *   node --import tsx bench/load/blocked-drop.ts [--count 200000] [--rounds 3]
 *
 * CPU time is read from /proc/PID/stat of the sipwarden process, so the figure does not
 * depend on how busy the rest of the (shared, noisy) machine is; the sender runs in its own
 * process. Loopback only; every send loop is bounded in count and in time.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, waitForListening } from '../../test/interop/harness/ports.ts';
import { REPO_ROOT, startSipwarden } from '../../test/interop/harness/sipwarden.ts';
import { median } from '../stats.ts';
import { cpuSeconds } from './cpu.ts';
import { buildSipwarden, loadAverageText, machineInfo } from './machine.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
const COUNT = Number(values.count);
const ROUNDS = Number(values.rounds);
const HOST = '127.0.0.1';
const BLOCKED = '127.0.0.50';
const ALLOWED = '127.0.0.51';

/** The sender: its own process, bounded by count and by 30 s, paced so the kernel does not refuse sends. */
const SENDER = `
const dgram = require('node:dgram');
const [source, port, count] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
socket.bind(0, source, () => {
  const message = Buffer.from([
    'OPTIONS sip:' + '${HOST}' + ':' + port + ' SIP/2.0',
    'Via: SIP/2.0/UDP ' + source + ':' + socket.address().port + ';branch=z9hG4bK-bench-0',
    'Max-Forwards: 70',
    'From: <sip:bench@example.com>;tag=1',
    'To: <sip:' + '${HOST}' + ':' + port + '>',
    'Call-ID: bench-0@example.com',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0', '', ''].join('\\r\\n'));
  let sent = 0;
  const deadline = Date.now() + 30000;
  const burst = () => {
    for (let i = 0; i < 200 && sent < +count; i++, sent++) {
      // A fresh branch and Call-ID per datagram: no retransmission shortcut.
      const text = message.toString('latin1').replace('bench-0@', 'bench-' + sent + '@').replace('z9hG4bK-bench-0', 'z9hG4bK-bench-' + sent);
      socket.send(Buffer.from(text, 'latin1'), +port, '${HOST}');
    }
    if (sent < +count && Date.now() < deadline) setTimeout(burst, 1);
    else setTimeout(() => { socket.close(); process.stdout.write(String(sent)); }, 200);
  };
  burst();
});
`;

async function received(api: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sipwarden_transport_udp_datagrams_total '));
  return Number(line?.split(' ')[1] ?? 0);
}

async function send(source: string, port: number, count: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SENDER, source, String(port), String(count)], {
      stdio: 'pipe',
    });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

interface Phase {
  readonly datagrams: number;
  readonly cpuSeconds: number;
  readonly perCore: number;
}

async function measure(pid: number, api: string, source: string, port: number): Promise<Phase> {
  const cpuBefore = cpuSeconds(pid);
  const inBefore = await received(api);
  await send(source, port, COUNT);
  // Let sipwarden drain its socket before reading the counters.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const datagrams = (await received(api)) - inBefore;
  const cpu = cpuSeconds(pid) - cpuBefore;
  return { datagrams, cpuSeconds: cpu, perCore: cpu > 0 ? datagrams / cpu : 0 };
}

async function main(): Promise<void> {
  buildSipwarden(REPO_ROOT);
  const port = await freePort();
  const apiPort = await freePort(HOST, ['tcp']);
  const sipwarden = await startSipwarden({
    port,
    upstream: { host: HOST, port: await freePort() },
    // A high packet budget for the baseline source: the baseline measures full handling, not the budget.
    config: {
      management: { port: apiPort },
      security: { settings: { gate: { packetsPerSecond: 1_000_000 } }, allowlist: [ALLOWED] },
    },
    extraArgs: ['--log-level', 'error'],
  });
  const api = `http://${HOST}:${apiPort}`;
  try {
    await waitForListening(apiPort, ['tcp'], 10_000, HOST);
    const blocked = await fetch(`${api}/api/blocks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: BLOCKED, duration: '1h', reason: 'benchmark' }),
    });
    if (blocked.status !== 201) throw new Error(`could not block: ${blocked.status} ${await blocked.text()}`);
    // Warm up both paths (JIT) before measuring.
    await send(ALLOWED, port, 20_000);
    await send(BLOCKED, port, 20_000);
    const handled: Phase[] = [];
    const dropped: Phase[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      handled.push(await measure(sipwarden.pid, api, ALLOWED, port));
      dropped.push(await measure(sipwarden.pid, api, BLOCKED, port));
    }
    const handledRate = median(handled.map((p) => p.perCore));
    const droppedRate = median(dropped.map((p) => p.perCore));
    const info = machineInfo(REPO_ROOT);
    const lines = [
      '# Datagrams dropped from a blocked source, per core',
      '',
      `Run ${new Date().toISOString()} on ${info.cpus} cores (${info.cpuModel}), load average ${loadAverageText()}, commit ${info.commit}.`,
      `${COUNT} datagrams per phase, ${ROUNDS} interleaved rounds, medians. CPU time is sipwarden's own (/proc/PID/stat).`,
      '',
      '| path | datagrams/s per core (median) | rounds |',
      '| --- | ---: | --- |',
      `| blocked source: dropped by the gate before parsing | ${Math.round(droppedRate)} | ${dropped.map((p) => Math.round(p.perCore)).join(', ')} |`,
      `| baseline: OPTIONS to sipwarden, parsed, every stage, answered 200 | ${Math.round(handledRate)} | ${handled.map((p) => Math.round(p.perCore)).join(', ')} |`,
      '',
      `Ratio blocked-drop / full handling: **${(droppedRate / handledRate).toFixed(2)}x**.`,
      '',
      `Datagrams received per phase: ${[...handled, ...dropped].map((p) => p.datagrams).join(', ')} (of ${COUNT} sent; the rest were lost in the kernel's receive buffer).`,
      '',
    ];
    const out = values.out ?? join(REPO_ROOT, 'bench', 'results', 'blocked-drop.md');
    writeFileSync(out, lines.join('\n'));
    process.stdout.write(lines.join('\n'));
  } finally {
    await sipwarden.stop();
  }
}

await main();
