import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { attackError } from './errors.ts';

/**
 * A UDP socket bound to address:port (udp6 for an IPv6 address), or SW_ERR_ATTACK_BIND
 * naming the address and the system's reason. The caller attaches its own listeners at once:
 * no datagram or error can be delivered before its continuation runs.
 */
export function bindUdp(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    const fail = (error: Error) => {
      socket.close();
      reject(
        attackError(
          'SW_ERR_ATTACK_BIND',
          `cannot bind ${address}:${port}: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
        ),
      );
    };
    socket.once('error', fail);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
