/**
 * Starting the media plane handed to rtpengine: the NG client, a ping so that the log says at
 * start whether rtpengine answers (it may start after sipwarden: calls are refused 503 until it
 * does, and the first answered command shows it is back), and the engine the proxy waits on.
 */
import type { Logger } from '../../log/logger.ts';
import type { RtpengineSettings } from './config.ts';
import { RtpengineMediaEngine } from './engine.ts';
import { NgClient, NgError } from './ng-client.ts';

export async function startRtpengineMedia(
  settings: RtpengineSettings,
  maxCalls: number,
  logger: Logger,
): Promise<RtpengineMediaEngine> {
  const log = logger.child({ module: 'rtpengine' });
  const client = await NgClient.connect({
    host: settings.ng.host,
    port: settings.ng.port,
    timeoutMs: settings.timeoutMs,
    retries: settings.retries,
    maxPending: settings.maxPending,
  });
  const ng = `${settings.ng.host}:${settings.ng.port}`;
  client.ping().then(
    () => log.info({ ng }, 'rtpengine answers'),
    (error: unknown) =>
      log.warn(
        { ng, reason: error instanceof NgError ? error.message : String(error) },
        'rtpengine does not answer',
      ),
  );
  return new RtpengineMediaEngine(client, settings, log, maxCalls);
}
