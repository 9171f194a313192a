/**
 * The target's management API, when assess is given one (--api URL): its security events
 * (`GET /api/events?since=MS` -> `{ events: [...] }`) and blocks (`GET /api/blocks` ->
 * `{ blocks: [...] }`). Everything read is checked field by field; a field of the wrong
 * shape is ignored, never trusted.
 */
import { isIP } from 'node:net';
import type { SecurityEvent } from '../../events/types.ts';
import { attackError } from '../errors.ts';

export interface ApiEvent {
  readonly type: string;
  readonly action: string;
  readonly rule?: string;
  readonly stage?: string;
  readonly key?: string;
  readonly reason?: string;
  readonly sourceAddress?: string;
  readonly firstSeen?: number;
  readonly count?: number;
}

export interface EventsApi {
  events(since: number): Promise<ApiEvent[]>;
  /** Addresses (or keys) listed as blocked. */
  blocks(): Promise<string[]>;
  /** Stores a scorecard on the target (POST /api/assessments, an operator's token): the console shows it. */
  storeScorecard(card: unknown): Promise<void>;
}

const TIMEOUT_MS = 3000;
const MAX_ITEMS = 10_000;

function text(value: unknown, max = 512): string | undefined {
  return typeof value === 'string' ? value.slice(0, max) : undefined;
}

function number(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  return undefined;
}

/** One event from the API, its fields checked; the shape of SecurityEvent in src/events/types.ts. */
export function readEvent(value: unknown): ApiEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Partial<Record<keyof SecurityEvent, unknown>>;
  const type = text(record.type, 64);
  const action = text(record.action, 64);
  if (type === undefined || action === undefined) return undefined;
  const source = record.source;
  const sourceAddress =
    typeof source === 'object' && source !== null
      ? text((source as { address?: unknown }).address, 64)
      : undefined;
  const event: ApiEvent = {
    type,
    action,
    ...(text(record.rule, 128) === undefined ? {} : { rule: text(record.rule, 128)! }),
    ...(text(record.stage, 64) === undefined ? {} : { stage: text(record.stage, 64)! }),
    ...(text(record.key, 256) === undefined ? {} : { key: text(record.key, 256)! }),
    ...(text(record.reason) === undefined ? {} : { reason: text(record.reason)! }),
    ...(sourceAddress === undefined ? {} : { sourceAddress }),
    ...(number(record.firstSeen) === undefined ? {} : { firstSeen: number(record.firstSeen)! }),
    ...(number(record.count) === undefined ? {} : { count: number(record.count)! }),
  };
  return event;
}

/** Addresses named by a block entry: its address, source address or key (`src:1.2.3.4`). */
export function blockAddresses(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const out: string[] = [];
  for (const name of ['address', 'key', 'value', 'source', 'network']) {
    const field = record[name];
    if (typeof field === 'string') out.push(field.slice(0, 256));
    else if (typeof field === 'object' && field !== null) {
      const address = (field as { address?: unknown }).address;
      if (typeof address === 'string') out.push(address.slice(0, 64));
    }
  }
  return out;
}

async function getJson(url: URL, token: string | undefined): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw attackError('SW_ERR_ATTACK_API', `${url.origin}: the management API does not answer`);
  }
  if (response.status === 401) {
    throw attackError(
      'SW_ERR_ATTACK_API',
      token === undefined
        ? `${url.origin}: the management API needs a token: give --api-token (a viewer's is enough) or set SIPWARDEN_API_TOKEN`
        : `${url.origin}: the management API refused the token given with --api-token`,
    );
  }
  if (response.status === 403) {
    throw attackError(
      'SW_ERR_ATTACK_API',
      `${url.pathname}: the management API refused access (role or address)`,
    );
  }
  if (!response.ok)
    throw attackError('SW_ERR_ATTACK_API', `${url.pathname}: the management API answered ${response.status}`);
  try {
    return await response.json();
  } catch {
    throw attackError('SW_ERR_ATTACK_API', `${url.pathname}: the management API did not answer JSON`);
  }
}

export function createEventsApi(base: string, token?: string): EventsApi {
  let root: URL;
  try {
    root = new URL(base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw attackError('SW_ERR_ATTACK_OPTION', `--api ${base}: not a URL (like http://127.0.0.1:9060)`);
  }
  if (root.protocol !== 'http:' && root.protocol !== 'https:') {
    throw attackError('SW_ERR_ATTACK_OPTION', `--api ${base}: must be http or https`);
  }
  return {
    async events(since) {
      const url = new URL('api/events', root);
      url.searchParams.set('since', String(Math.floor(since)));
      const body = await getJson(url, token);
      const list =
        typeof body === 'object' && body !== null ? (body as { events?: unknown }).events : undefined;
      if (!Array.isArray(list)) return [];
      return list
        .slice(0, MAX_ITEMS)
        .map(readEvent)
        .filter((e): e is ApiEvent => e !== undefined);
    },
    async blocks() {
      const body = await getJson(new URL('api/blocks', root), token);
      const list =
        typeof body === 'object' && body !== null ? (body as { blocks?: unknown }).blocks : undefined;
      if (!Array.isArray(list)) return [];
      return list.slice(0, MAX_ITEMS).flatMap(blockAddresses);
    },
    async storeScorecard(card) {
      const response = await fetch(new URL('api/assessments', root), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        body: JSON.stringify(card),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (response.status !== 201) {
        const text = (await response.text()).slice(0, 300);
        throw attackError('SW_ERR_ATTACK_API', `POST /api/assessments answered ${response.status}: ${text}`);
      }
    },
  };
}

/** The address inside a key like `src:127.0.0.12` or `net:127.1.0.0/16`, if any. */
export function addressInKey(key: string): string | undefined {
  const value = key.slice(key.indexOf(':') + 1);
  const bare = value.split('/')[0] ?? '';
  return isIP(bare) !== 0 ? bare : undefined;
}

/** Actions that stop traffic, as opposed to an alert. */
export const STOPPING_ACTIONS = new Set(['block', 'drop', 'reject', 'tarpit']);
