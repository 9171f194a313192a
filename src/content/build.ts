/**
 * Builds content scanning from the `content:` section: the clamd client and, when kept, the
 * quarantine (a relative directory is taken from the data directory).
 */
import { isAbsolute, join } from 'node:path';
import { ClamdScanner } from './clamd-scanner.ts';
import type { ContentSettings } from './config.ts';
import type { ContentInspection } from './inspection.ts';
import { Quarantine } from './quarantine.ts';

export function clamdScannerFor(settings: ContentSettings): ClamdScanner {
  const clamd = settings.clamd;
  return new ClamdScanner({
    endpoint:
      clamd.socket !== undefined ? { socket: clamd.socket } : { host: clamd.host!, port: clamd.port! },
    connectTimeoutMs: clamd.connectTimeoutMs,
    scanTimeoutMs: clamd.scanTimeoutMs,
    maxConcurrentScans: clamd.maxConcurrentScans,
    maxQueuedScans: clamd.maxQueuedScans,
    maxIdleConnections: clamd.maxIdleConnections,
    idleTimeoutMs: clamd.idleTimeoutMs,
    maxContentBytes: clamd.maxContentBytes,
  });
}

/** Content scanning as configured; throws (naming the directory) when the quarantine cannot be used. */
export function buildContentInspection(settings: ContentSettings, dataDir: string): ContentInspection {
  const q = settings.quarantine;
  const quarantine = q.enabled
    ? Quarantine.open({
        dir: isAbsolute(q.dir) ? q.dir : join(dataDir, q.dir),
        maxFiles: q.maxFiles,
        maxBytes: q.maxBytes,
      })
    : undefined;
  const scanner = clamdScannerFor(settings);
  return quarantine === undefined ? { scanner, settings } : { scanner, settings, quarantine };
}
