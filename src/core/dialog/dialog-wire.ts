import type { TransportName } from '../../transport/types.ts';
import type { Direction } from '../inspector.ts';
import type { DialogEndpoints, DialogParty, DialogSnapshot } from './dialog-table.ts';

/**
 * A dialog leg as text, for the other nodes of a cluster (src/state/redis-records.ts), and
 * back. What comes back is checked field by field: Redis is shared, and a record that is not
 * exactly a leg is refused rather than trusted.
 */

const MAX_TEXT = 2048;
const MAX_ROUTES = 16;
const DIRECTIONS: ReadonlySet<string> = new Set<Direction>(['client', 'upstream']);
const TRANSPORTS: ReadonlySet<string> = new Set<TransportName>(['udp', 'tcp', 'tls']);

export function dialogToWire(snapshot: DialogSnapshot): string {
  return JSON.stringify(snapshot);
}

export function dialogFromWire(text: string): DialogSnapshot | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const caller = partyFrom(value.caller);
  const callee = partyFrom(value.callee);
  if (
    caller === undefined ||
    callee === undefined ||
    !isText(value.callId) ||
    !isText(value.fromTag) ||
    !isText(value.toTag) ||
    !isText(value.method) ||
    !isText(value.identity, true) ||
    !isTime(value.createdAt) ||
    !isTime(value.expiresAt) ||
    !isCSeq(value.callerCSeq) ||
    !isCSeq(value.calleeCSeq)
  ) {
    return undefined;
  }
  let endpoints: DialogEndpoints | undefined;
  if (value.endpoints !== undefined) {
    endpoints = endpointsFrom(value.endpoints);
    if (endpoints === undefined) return undefined;
  }
  return {
    callId: value.callId,
    fromTag: value.fromTag,
    toTag: value.toTag,
    method: value.method,
    caller,
    callee,
    identity: value.identity,
    createdAt: value.createdAt,
    expiresAt: value.expiresAt,
    callerCSeq: value.callerCSeq,
    calleeCSeq: value.calleeCSeq,
    ...(endpoints === undefined ? {} : { endpoints }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isText(value: unknown, emptyAllowed = false): value is string {
  return typeof value === 'string' && value.length <= MAX_TEXT && (emptyAllowed || value.length > 0);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2 ** 32 - 1;
}

function partyFrom(value: unknown): DialogParty | undefined {
  if (!isRecord(value)) return undefined;
  const { direction, transport, address, port, connectionId } = value;
  if (typeof direction !== 'string' || !DIRECTIONS.has(direction)) return undefined;
  if (typeof transport !== 'string' || !TRANSPORTS.has(transport)) return undefined;
  if (!isText(address) || address.length > 64) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) return undefined;
  if (connectionId !== undefined && !isTime(connectionId)) return undefined;
  return {
    direction: direction as Direction,
    transport: transport as TransportName,
    address,
    port,
    ...(connectionId === undefined ? {} : { connectionId }),
  };
}

function routesFrom(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_ROUTES) return undefined;
  return value.every((entry) => isText(entry)) ? (value as string[]) : undefined;
}

function endpointsFrom(value: unknown): DialogEndpoints | undefined {
  if (!isRecord(value)) return undefined;
  const routeToCaller = routesFrom(value.routeToCaller);
  const routeToCallee = routesFrom(value.routeToCallee);
  if (
    routeToCaller === undefined ||
    routeToCallee === undefined ||
    !isText(value.callerAddress) ||
    !isText(value.calleeAddress) ||
    !isText(value.callerTarget) ||
    !isText(value.calleeTarget)
  ) {
    return undefined;
  }
  return {
    callerAddress: value.callerAddress,
    calleeAddress: value.calleeAddress,
    callerTarget: value.callerTarget,
    calleeTarget: value.calleeTarget,
    routeToCaller,
    routeToCallee,
  };
}
