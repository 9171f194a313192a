/**
 * The sinks that carry events out to the operator's tools (`events.syslog`,
 * `events.webhooks`), built from the configuration, with their counts for /metrics.
 */
import { readFileSync } from 'node:fs';
import { packageVersion } from '../../cli/version.ts';
import type { SipwardenConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { EventSink } from '../types.ts';
import { SyslogSink } from './syslog-sink.ts';
import { WebhookSink } from './webhook-sink.ts';

export interface ExportSinks {
  readonly sinks: readonly EventSink[];
  /** Events handed on and events dropped (queue full, receiver down), over every sink. */
  stats(): { sent: number; dropped: number };
}

export function buildExportSinks(events: SipwardenConfig['events'], log: Logger): ExportSinks {
  const syslog = events.syslog;
  const built: (SyslogSink | WebhookSink)[] = [];
  if (syslog !== undefined) {
    built.push(
      new SyslogSink({
        host: syslog.host,
        port: syslog.port,
        transport: syslog.transport,
        format: syslog.format,
        facility: syslog.facility,
        appName: syslog.appName,
        maxQueued: syslog.maxQueued,
        // Read at start: a missing CA file stops the start with its path, as a TLS file does.
        ...(syslog.ca === undefined ? {} : { ca: readFileSync(syslog.ca) }),
        rejectUnauthorized: syslog.verify,
        version: packageVersion(),
        log: log.child({ sink: 'syslog' }),
      }),
    );
  }
  for (const hook of events.webhooks ?? []) {
    built.push(
      new WebhookSink({
        url: hook.url,
        secret: hook.secret,
        timeoutMs: hook.timeoutMs,
        maxAttempts: hook.maxAttempts,
        maxQueued: hook.maxQueued,
        batchSize: hook.batchSize,
        log: log.child({ sink: 'webhook', url: new URL(hook.url).origin }),
      }),
    );
  }
  return {
    sinks: built,
    stats() {
      let sent = 0;
      let dropped = 0;
      for (const sink of built) {
        sent += sink.stats.sent;
        dropped += sink.stats.dropped;
      }
      return { sent, dropped };
    },
  };
}
