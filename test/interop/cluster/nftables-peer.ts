/**
 * The kernel-drop test's hands inside its network namespace (run with `ip netns exec NS
 * node --import tsx nftables-peer.ts COMMAND ...`): the test process itself stays in the
 * machine's namespace, from where sipwarden's listeners in the test's namespace cannot be
 * reached. Prints one JSON line.
 *
 *   probe FROM TO PORT COUNT   sends COUNT OPTIONS from FROM, prints { answered }
 *   api URL METHOD PATH [BODY] calls the management API (with $SIPWARDEN_API_TOKEN), prints { status, body }
 */
import { createSocket } from 'node:dgram';
import { optionsRequest } from './persist-helpers.ts';

async function probe(from: string, to: string, port: number, count: number): Promise<{ answered: number }> {
  const socket = createSocket('udp4');
  let answered = 0;
  socket.on('message', () => answered++);
  await new Promise<void>((resolve) => socket.bind(0, from, resolve));
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) =>
      socket.send(optionsRequest(from, to, port), port, to, (error) => (error ? reject(error) : resolve())),
    );
  }
  // Answers from a local sipwarden come within milliseconds; a second is plenty on a busy machine.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  socket.close();
  return { answered };
}

async function api(
  url: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: unknown }> {
  // The test's API token (SIPWARDEN_API_TOKEN), as the command line sends it.
  const token = process.env.SIPWARDEN_API_TOKEN;
  const authorization: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  return { status: response.status, body: parsed };
}

const [command, ...args] = process.argv.slice(2);
let result: unknown;
if (command === 'probe') {
  result = await probe(args[0]!, args[1]!, Number(args[2]), Number(args[3]));
} else if (command === 'api') {
  result = await api(args[0]!, args[1]!, args[2]!, args[3]);
} else {
  throw new Error(`unknown command ${command}`);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
