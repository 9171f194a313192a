/** Small pieces every page uses: loading a resource, time and number formats, messages. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, failureText } from './api.ts';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly status: number | undefined;
  readonly loading: boolean;
  reload(): void;
}

/** GET `path` when it changes (and on reload()); `undefined` path loads nothing. */
export function useResource<T>(path: string | undefined): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [status, setStatus] = useState<number | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [round, setRound] = useState(0);
  useEffect(() => {
    if (path === undefined) return;
    let current = true;
    setLoading(true);
    api<T>('GET', path)
      .then((answer) => {
        if (!current) return;
        setData(answer);
        setError(undefined);
        setStatus(200);
      })
      .catch((failure: unknown) => {
        if (!current) return;
        setError(failureText(failure));
        setStatus((failure as { status?: number }).status);
      })
      .finally(() => {
        if (current) setLoading(false);
      });
    return () => {
      current = false;
    };
  }, [path, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { data, error, status, loading, reload };
}

const two = (n: number) => String(n).padStart(2, '0');

/** Local time as operators write it: 2026-12-07 19:25:57. */
export function time(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

export function number(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
}

export function Notice({ kind, children }: { kind: 'error' | 'info' | 'ok'; children: ComponentChildren }) {
  return (
    <p class={`notice ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

/** The answer when a page's API refused or is absent, worded for the page. */
export function Failure({ loaded, absent }: { loaded: Loaded<unknown>; absent?: string }) {
  if (loaded.error === undefined) return null;
  if (loaded.status === 403) {
    return (
      <Notice kind="error">
        <strong>Refused:</strong> your role may not see this page (
        {loaded.error.replace(/^Refused \(403 [^)]*\): /, '')}).
      </Notice>
    );
  }
  if (loaded.status === 404 && absent !== undefined) return <Notice kind="info">{absent}</Notice>;
  return <Notice kind="error">{loaded.error}</Notice>;
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      <div class="page-tools">{children}</div>
    </header>
  );
}
