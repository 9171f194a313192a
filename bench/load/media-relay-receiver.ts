/**
 * The receiving ends of bench/load/media-relay.ts in a process of their own, so that the
 * sender's work does not delay reading. It binds the sender's two ports again (SO_REUSEADDR:
 * on Linux the socket bound last receives the unicast datagrams), so that the relays, which
 * send to where a party's packets come from, deliver here. IPC: `reset`, `count` (packets
 * since the reset), `exit`.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';

let received = 0;
const ports = process.argv.slice(2).map(Number);
const sockets = ports.map(() => createSocket({ type: 'udp4', reuseAddr: true }));
for (const [i, socket] of sockets.entries()) {
  socket.bind(ports[i], '127.0.0.1');
  await once(socket, 'listening');
  socket.setRecvBufferSize(4 * 1024 * 1024);
  socket.on('message', () => received++);
}
process.on('message', (command: { op: string }) => {
  if (command.op === 'reset') received = 0;
  if (command.op === 'exit') {
    for (const socket of sockets) socket.close();
    process.exit(0);
  }
  process.send?.({ op: command.op, received });
});
process.send?.({ op: 'ready' });
