/**
 * The live feed (GET /api/live, Server-Sent Events), opened once for the whole page and
 * shared by every view: the last five minutes of figures and the last events, bounded.
 */
import { useEffect, useState } from 'preact/hooks';
import type { LiveStats, SecurityEvent } from './types.ts';

export const HISTORY_POINTS = 300;
export const RECENT_EVENTS = 200;

export interface LiveState {
  readonly connected: boolean;
  readonly history: readonly LiveStats[];
  readonly events: readonly SecurityEvent[];
  /** Counts per event type since the page opened (each aggregate counted once, final count). */
  readonly eventTotals: Readonly<Record<string, number>>;
}

let state: LiveState = { connected: false, history: [], events: [], eventTotals: {} };
const listeners = new Set<(next: LiveState) => void>();
let source: EventSource | undefined;
/** Count already added per aggregate, so its second (final) report adds only the rest. */
const counted = new Map<string, number>();

function publish(next: LiveState): void {
  state = next;
  for (const listener of listeners) listener(state);
}

export function openLive(): void {
  if (source !== undefined) return;
  source = new EventSource('/api/live');
  source.addEventListener('open', () => publish({ ...state, connected: true }));
  source.addEventListener('error', () => publish({ ...state, connected: false }));
  source.addEventListener('stats', (message) => {
    const stats = JSON.parse((message as MessageEvent<string>).data) as LiveStats;
    const history = [...state.history.slice(-(HISTORY_POINTS - 1)), stats];
    publish({ ...state, connected: true, history });
  });
  source.addEventListener('event', (message) => {
    const event = JSON.parse((message as MessageEvent<string>).data) as SecurityEvent;
    const id = event.aggregateId;
    const already = id === undefined ? 0 : (counted.get(id) ?? 0);
    const added = Math.max(0, event.count - already);
    if (id !== undefined) {
      if (event.final) counted.delete(id);
      else if (counted.size < 10_000) counted.set(id, event.count);
    }
    const eventTotals = { ...state.eventTotals, [event.type]: (state.eventTotals[event.type] ?? 0) + added };
    // An aggregate's final report replaces its first in the list.
    const others = id === undefined ? state.events : state.events.filter((one) => one.aggregateId !== id);
    const events = [event, ...others].slice(0, RECENT_EVENTS);
    publish({ ...state, events, eventTotals });
  });
}

export function closeLive(): void {
  source?.close();
  source = undefined;
  counted.clear();
  publish({ connected: false, history: [], events: [], eventTotals: {} });
}

export function useLive(): LiveState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    listeners.add(setCurrent);
    setCurrent(state);
    return () => {
      listeners.delete(setCurrent);
    };
  }, []);
  return current;
}
