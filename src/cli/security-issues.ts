/**
 * The configuration errors that only the security stages can find (each stage owns the
 * schema of its settings): built once with throwaway stores, as the gateway will build
 * them, so that `check-config` and `start` refuse the same files with the same lines.
 */
import type { SipwardenConfig } from '../config/schema.ts';
import { silentLogger } from '../log/logger.ts';
import { checkSecuritySettings } from '../security/build-pipeline.ts';
import { createMemoryActivityStore } from '../state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../state/memory-block-table.ts';
import { createMemoryTrustTable } from '../state/memory-trust-table.ts';

/** `path: reason` lines; empty when every stage accepts its settings. */
export function securityIssues(config: SipwardenConfig): string[] {
  return checkSecuritySettings(config.security, {
    store: createMemoryActivityStore({ maxKeys: 1000 }),
    blocks: createMemoryBlockTable({ maxEntries: 100 }),
    trust: createMemoryTrustTable({ maxEntries: 100 }),
    log: silentLogger,
  });
}
