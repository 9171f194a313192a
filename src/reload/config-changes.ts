/**
 * What a reload changes, key by key, and which of those changes the running process can
 * take: the security stages and their settings, the allowlist and trunks, the identity
 * policy, and the TLS certificate, key, CA and settings (for connections opened from then
 * on). Everything else was used to open sockets, files or size tables at start (listeners,
 * upstream, limits, the proxy's tables, management, events, state, content, log, ...): a
 * change there needs a restart, and a reload that contains one is refused as a whole, so the
 * running configuration is always exactly one file's, never a silent mix.
 */
import type { SipwardenConfig } from '../config/schema.ts';

/** Keys applied live, as dotted paths (a section's own keys when only some of it is live). */
export const LIVE_KEYS: readonly string[] = Object.freeze([
  'security.enabled',
  'security.dryRun',
  'security.stages',
  'security.allowlist',
  'security.trunks',
  'security.settings',
  'policy',
  'tls.cert',
  'tls.key',
  'tls.ca',
  'tls.minVersion',
  'tls.verifyUpstream',
  'tls.requestClientCert',
]);

/** Sections whose keys are compared one by one, because some of their keys are live. */
const SPLIT_SECTIONS = new Set(['security', 'tls']);

export interface ConfigChanges {
  /** Changed keys the reload applies. */
  readonly live: readonly string[];
  /** Changed keys that need a restart. */
  readonly restart: readonly string[];
}

export function configChanges(running: SipwardenConfig, next: SipwardenConfig): ConfigChanges {
  const live: string[] = [];
  const restart: string[] = [];
  const classify = (path: string): void => {
    (LIVE_KEYS.includes(path) ? live : restart).push(path);
  };
  const before = running as unknown as Record<string, unknown>;
  const after = next as unknown as Record<string, unknown>;
  for (const key of unionKeys(before, after)) {
    const a = before[key];
    const b = after[key];
    if (deepEqual(a, b)) continue;
    if (SPLIT_SECTIONS.has(key) && isRecord(a) && isRecord(b)) {
      for (const inner of unionKeys(a, b)) {
        if (!deepEqual(a[inner], b[inner])) classify(`${key}.${inner}`);
      }
    } else if (key === 'tls') {
      // TLS added or removed: its listeners exist only from a start.
      restart.push(key);
    } else if (isRecord(a) && isRecord(b) && !LIVE_KEYS.includes(key)) {
      // Named to the key, so the operator knows which line needs the restart.
      for (const inner of unionKeys(a, b)) {
        if (!deepEqual(a[inner], b[inner])) restart.push(`${key}.${inner}`);
      }
    } else {
      classify(key);
    }
  }
  return { live, restart };
}

function unionKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Structural equality of parsed configuration values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => deepEqual(item, b[index]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = unionKeys(a, b);
    // An absent key and an undefined one are the same setting.
    return keys.every((key) => deepEqual(a[key], b[key]));
  }
  return false;
}
