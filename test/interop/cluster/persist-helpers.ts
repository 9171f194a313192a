/**
 * Pieces shared by the persistence and kernel-drop tests: an OPTIONS request sent over UDP
 * from a chosen loopback address (127.0.0.0/8 is all on `lo`, so each test source can have
 * an address of its own), and the block list read through the management API.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { ManagementClient } from '../../../src/api/client.ts';
import type { BlockView } from '../../../src/api/views.ts';

/** An OPTIONS addressed to sipwarden itself, which it answers (proxy.answerOptions) unless the source is refused. */
export function optionsRequest(from: string, to: string, port: number): Buffer {
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  return Buffer.from(
    [
      `OPTIONS sip:${to}:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${from}:5999;branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:probe@${from}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${to}:${port}>`,
      `Call-ID: ${randomBytes(8).toString('hex')}@${from}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/**
 * Sends OPTIONS from `from` to sipwarden and waits up to `waitMs` for an answer: its status
 * line, or undefined when none came.
 */
export function probe(from: string, to: string, port: number, waitMs = 1500): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => finish(undefined), waitMs);
    function finish(answer: string | undefined): void {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    }
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.close();
      reject(error);
    });
    socket.on('message', (data) => finish(data.toString('latin1').split('\r\n')[0]));
    socket.bind(0, from, () => socket.send(optionsRequest(from, to, port), port, to));
  });
}

/** Every block in force, from the management API. */
export async function listBlocks(api: ManagementClient): Promise<BlockView[]> {
  return (await api.request<{ blocks: BlockView[] }>('GET', '/api/blocks?limit=1000')).blocks;
}

export async function blockVia(
  api: ManagementClient,
  address: string,
  duration: string,
  reason: string,
): Promise<void> {
  await api.block({ address, duration, reason });
}

export async function unblockVia(api: ManagementClient, address: string): Promise<void> {
  await api.unblock(address);
}
