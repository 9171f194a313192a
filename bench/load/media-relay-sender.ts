/**
 * One sending thread of bench/load/media-relay.ts (worker_threads): its own caller and callee
 * sockets (bound first, their ports posted), then, told the relay ports of its share of the
 * calls, 20 ms G.711 each way per call: `latch` sends one packet per stream, `go` sends for
 * `seconds` and posts what it sent and over how long. Several threads send more streams
 * than one event loop can.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';

const PACKET_BYTES = 172;
const TICK_MS = 20;

type Command =
  | { op: 'ports'; ports: [number, number][]; ssrcBase: number }
  | { op: 'latch' }
  | { op: 'go'; seconds: number }
  | { op: 'exit' };

async function bound(): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  socket.setSendBufferSize(4 * 1024 * 1024);
  return socket;
}

const port = parentPort;
if (port === null) throw new Error('media-relay-sender runs as a worker thread');
const caller = await bound();
const callee = await bound();
let ports: [number, number][] = [];
let packets: Buffer[] = [];
void workerData;

async function go(seconds: number): Promise<{ sent: number; elapsed: number }> {
  let sent = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  let due = started;
  let seq = 1;
  while (performance.now() < end) {
    // Each tick a new sequence number and 160 samples later, as a real 20 ms G.711 stream.
    seq = (seq + 1) & 0xffff;
    for (let i = 0; i < ports.length; i++) {
      const packet = packets[i]!;
      packet.writeUInt16BE(seq, 2);
      packet.writeUInt32BE((seq * 160) >>> 0, 4);
      caller.send(packet, ports[i]![0], '127.0.0.1');
      callee.send(packet, ports[i]![1], '127.0.0.1');
    }
    sent += 2 * ports.length;
    due += TICK_MS;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
  }
  return { sent, elapsed: (performance.now() - started) / 1000 };
}

port.on('message', (command: Command) => {
  switch (command.op) {
    case 'ports':
      ports = command.ports;
      packets = ports.map((_, i) => {
        const packet = Buffer.alloc(PACKET_BYTES);
        packet[0] = 0x80;
        packet[1] = 8;
        packet.writeUInt32BE(command.ssrcBase + i + 1, 8);
        return packet;
      });
      port.postMessage({ op: 'ports' });
      return;
    case 'latch':
      // A first packet each way latches every stream.
      for (let i = 0; i < ports.length; i++) {
        caller.send(packets[i]!, ports[i]![0], '127.0.0.1');
        callee.send(packets[i]!, ports[i]![1], '127.0.0.1');
      }
      port.postMessage({ op: 'latch' });
      return;
    case 'go':
      void go(command.seconds).then((result) => port.postMessage({ op: 'go', ...result }));
      return;
    case 'exit':
      caller.close();
      callee.close();
      port.close();
      return;
  }
});
port.postMessage({ op: 'ready', caller: caller.address().port, callee: callee.address().port });
