/**
 * The JSON shapes the console reads from the management API. They mirror the server's
 * (src/api/views.ts, live-route.ts, calls-route.ts...) without importing them: the page is
 * built for the browser, the server's modules for Node.
 */

export type Role = 'viewer' | 'operator' | 'admin';

export interface Session {
  readonly user: string;
  readonly role: Role;
  readonly csrfToken: string;
}

export const EVENT_TYPES = [
  'malformed',
  'invalid',
  'flood',
  'scanner',
  'enumeration',
  'password-guessing',
  'blocked',
  'block',
  'unblock',
  'dialog',
  'transaction',
  'overload',
  'policy',
  'authentication',
  'fraud',
  'cluster',
  'content',
  'kernel-drop',
  'upstream',
  'media',
  'nat',
] as const;

export interface SecurityEvent {
  readonly id?: number;
  readonly type: string;
  readonly stage: string;
  readonly rule?: string;
  readonly action: string;
  readonly source?: { readonly address: string; readonly port: number; readonly transport: string };
  readonly key?: string;
  readonly reason: string;
  readonly status?: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly count: number;
  readonly aggregateId?: string;
  readonly final?: boolean;
}

export interface LiveStats {
  readonly at: number;
  readonly messagesPerSecond: Readonly<Record<string, number>>;
  readonly calls: number;
  readonly registrations: number | null;
  readonly blockedSources: number;
  readonly eventsDropped: number;
}

export interface BlockView {
  readonly key: string;
  readonly scope: string;
  readonly rule: string;
  readonly reason: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly remainingSeconds: number | null;
  readonly hits: number;
}

export interface CallView {
  readonly callId: string;
  readonly identity: string;
  readonly from: string;
  readonly caller: string;
  readonly callee: string;
  readonly since: string;
  readonly expiresAt: string;
}

export interface CdrView {
  readonly callId: string;
  readonly direction: string;
  readonly startTime: number;
  readonly durationMs: number | null;
  readonly fromUser: string | null;
  readonly fromDomain: string | null;
  readonly toUser: string | null;
  readonly toDomain: string | null;
  readonly authUser: string | null;
  readonly sourceAddress: string;
  readonly disposition: string;
  readonly status: number | null;
}

export interface UserView {
  readonly user: string;
  readonly domain: string;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly enabled: boolean;
  readonly createdAt: string;
}

export interface AuditEntry {
  readonly at: number;
  readonly actor: string;
  readonly address: string;
  readonly action: string;
  readonly target?: string;
  readonly detail?: Record<string, unknown>;
  readonly outcome: 'ok' | 'refused' | 'failed';
}
