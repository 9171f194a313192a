/**
 * The relay side of bench/load/media-relay.ts: sipwarden's RTP relay (src/media/relay.ts)
 * alone in a process of its own, as the gateway runs it on its event loop, driven over IPC:
 * `setup` negotiates streams through its MediaLineHandler side (offer from the client side,
 * answer from the upstream side, as the proxy passes them), `usage` reports CPU time,
 * memory and counters, `teardown` ends every stream.
 */
import { silentLogger } from '../../src/log/logger.ts';
import { RtpRelay } from '../../src/media/relay.ts';
import { parseSdp, type SdpSession } from '../../src/sdp/index.ts';

const range = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const relay = new RtpRelay(
  {
    client: {
      host: '127.0.0.1',
      advertise: '127.0.0.1',
      portMin: range('RELAY_CLIENT_MIN', 20000),
      portMax: range('RELAY_CLIENT_MAX', 25999),
    },
    upstream: {
      host: '127.0.0.1',
      advertise: '127.0.0.1',
      portMin: range('RELAY_UPSTREAM_MIN', 26000),
      portMax: range('RELAY_UPSTREAM_MAX', 31999),
    },
    maxStreams: 100_000,
    maxStreamsPerSource: 100_000,
    inactivityTimeoutMs: 600_000,
    floodFactor: 4,
    floodAction: 'alert',
    latch: 'first-packet',
  },
  silentLogger,
);

function description(port: number): SdpSession {
  const parsed = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} RTP/AVP 8`,
      'a=rtpmap:8 PCMA/8000',
      '',
    ].join('\r\n'),
  );
  if (!parsed.ok) throw new Error('bench SDP does not parse');
  return parsed.sdp;
}

const flow = {
  transport: 'udp' as const,
  localAddress: '127.0.0.1',
  localPort: 5060,
  remoteAddress: '127.0.0.1',
  remotePort: 5062,
};
const sessions: string[] = [];

type Command =
  | { op: 'setup'; count: number; callerPort: number; calleePort: number }
  | { op: 'usage' }
  | { op: 'teardown' }
  | { op: 'exit' };

process.on('message', (command: Command) => {
  if (command.op === 'setup') {
    const offer = description(command.callerPort);
    const answer = description(command.calleePort);
    const ports: [number, number][] = [];
    for (let i = 0; i < command.count; i++) {
      const session = `bench-${sessions.length}|t|c`;
      sessions.push(session);
      const toCallee = relay.rewrite(offer.media[0]!, offer, {
        session,
        from: 'caller',
        source: flow,
        toward: 'upstream',
        index: 0,
      });
      const toCaller = relay.rewrite(answer.media[0]!, answer, {
        session,
        from: 'callee',
        source: flow,
        toward: 'client',
        index: 0,
      });
      // Where the caller sends (the client side's port) and where the callee sends.
      ports.push([toCaller.port, toCallee.port]);
    }
    process.send?.({ op: 'ports', ports });
  } else if (command.op === 'usage') {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    process.send?.({
      op: 'usage',
      cpuMicros: cpu.user + cpu.system,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      forwarded: relay.stats.forwarded,
      dropped:
        relay.stats.injection +
        relay.stats.payloadType +
        relay.stats.mediaType +
        relay.stats.flood +
        relay.stats.unusable,
      stats: relay.stats,
      streams: relay.streamCount,
    });
  } else if (command.op === 'teardown') {
    for (const session of sessions.splice(0)) relay.ended(session);
    process.send?.({ op: 'done' });
  } else {
    relay.close();
    process.exit(0);
  }
});
process.send?.({ op: 'ready' });
