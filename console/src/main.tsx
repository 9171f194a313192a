/**
 * The sipwarden operators' console: one page, its views chosen by the URL's hash
 * (#/overview, #/events...), every action reachable from the keyboard:
 *   g then o/e/b/c/r/u/a/l  go to a view      /  the view's filter      n  new block
 *   r  refresh the view                        ?  these keys            Esc leave a field
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import type { ComponentChildren } from 'preact';
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, api, rememberSession, UNAUTHENTICATED } from './api.ts';
import { closeLive, openLive, useLive } from './live.ts';
import { Login } from './login.tsx';
import { Assess } from './pages/assess.tsx';
import { Audit } from './pages/audit.tsx';
import { Blocks } from './pages/blocks.tsx';
import { Calls } from './pages/calls.tsx';
import { Cdrs } from './pages/cdrs.tsx';
import { Events } from './pages/events.tsx';
import { Overview } from './pages/overview.tsx';
import { Users } from './pages/users.tsx';
import type { Role, Session } from './types.ts';

const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

interface View {
  readonly path: string;
  readonly title: string;
  readonly key: string;
  /** The role the server asks for this view's data; shown in the menu to those below it. */
  readonly role: Role;
}

const VIEWS: readonly View[] = [
  { path: 'overview', title: 'Overview', key: 'o', role: 'viewer' },
  { path: 'events', title: 'Events', key: 'e', role: 'viewer' },
  { path: 'blocks', title: 'Blocks', key: 'b', role: 'viewer' },
  { path: 'calls', title: 'Calls', key: 'c', role: 'viewer' },
  { path: 'cdrs', title: 'CDRs', key: 'r', role: 'viewer' },
  { path: 'users', title: 'Users', key: 'u', role: 'viewer' },
  { path: 'assess', title: 'Assessment', key: 'a', role: 'viewer' },
  { path: 'audit', title: 'Audit log', key: 'l', role: 'admin' },
];

function currentPath(): string {
  const path = location.hash.replace(/^#\/?/, '');
  return VIEWS.some((view) => view.path === path) ? path : 'overview';
}

function go(path: string): void {
  location.hash = `#/${path}`;
}

function isTyping(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))
  );
}

/** The keyboard paths: a `g` prefix for views, single keys for the view's own actions. */
function useKeys(onHelp: () => void, onEscape: () => void): void {
  useEffect(() => {
    let prefix = false;
    let prefixTimer: number | undefined;
    const onKey = (event: KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === 'Escape') {
        if (isTyping(event.target)) (event.target as HTMLElement).blur();
        else onEscape();
        return;
      }
      if (isTyping(event.target)) return;
      if (prefix) {
        prefix = false;
        window.clearTimeout(prefixTimer);
        const view = VIEWS.find((one) => one.key === event.key);
        if (view !== undefined) {
          event.preventDefault();
          go(view.path);
        }
        return;
      }
      const focus = (selector: string) => {
        const element = document.querySelector<HTMLElement>(selector);
        if (element === null) return;
        event.preventDefault();
        element.focus();
      };
      switch (event.key) {
        case 'g':
          prefix = true;
          prefixTimer = window.setTimeout(() => {
            prefix = false;
          }, 1500);
          return;
        case '/':
          return focus('main [data-filter]');
        case 'n':
          return focus('main [data-new]');
        case 'r': {
          const button = document.querySelector<HTMLButtonElement>('main [aria-keyshortcuts="r"]');
          if (button !== null) {
            event.preventDefault();
            button.click();
          }
          return;
        }
        case '?':
          event.preventDefault();
          onHelp();
          return;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onHelp, onEscape]);
}

function Help({ onClose }: { onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div class="help" role="dialog" aria-modal="true" aria-label="Keyboard">
      <h2>Keyboard</h2>
      <table class="compact">
        <tbody>
          {VIEWS.map((view) => (
            <tr key={view.path}>
              <td>
                <kbd>g</kbd> <kbd>{view.key}</kbd>
              </td>
              <td>{view.title}</td>
            </tr>
          ))}
          <tr>
            <td>
              <kbd>/</kbd>
            </td>
            <td>the view's filter</td>
          </tr>
          <tr>
            <td>
              <kbd>n</kbd>
            </td>
            <td>new block (Blocks)</td>
          </tr>
          <tr>
            <td>
              <kbd>r</kbd>
            </td>
            <td>refresh the view</td>
          </tr>
          <tr>
            <td>
              <kbd>Tab</kbd> <kbd>Enter</kbd>
            </td>
            <td>every button and form, Unblock included</td>
          </tr>
          <tr>
            <td>
              <kbd>Esc</kbd>
            </td>
            <td>leave a field, close this</td>
          </tr>
        </tbody>
      </table>
      <button type="button" onClick={onClose} ref={close}>
        Close
      </button>
    </div>
  );
}

function Shell({
  session,
  open,
  onLogout,
  children,
}: {
  session: Session;
  open: boolean;
  onLogout: () => void;
  children: ComponentChildren;
}) {
  const live = useLive();
  const path = currentPath();
  return (
    <div class="shell">
      <nav aria-label="Views">
        <div class="brand">sipwarden</div>
        <ul>
          {VIEWS.map((view) => (
            <li key={view.path}>
              <a
                href={`#/${view.path}`}
                aria-current={view.path === path ? 'page' : undefined}
                aria-keyshortcuts={`g ${view.key}`}
              >
                {view.title}
                {RANK[session.role] < RANK[view.role] ? <span class="muted"> ({view.role})</span> : null}
                <kbd>g {view.key}</kbd>
              </a>
            </li>
          ))}
        </ul>
        <div class="who">
          <span class={`dot ${live.connected ? 'on' : 'off'}`} aria-hidden="true" />
          {open ? (
            <span title="this management server has no accounts">open access</span>
          ) : (
            <>
              <span data-testid="who">
                {session.user} ({session.role})
              </span>
              <button type="button" onClick={onLogout}>
                Log out
              </button>
            </>
          )}
          <span class="muted">
            <kbd>?</kbd> keys
          </span>
        </div>
      </nav>
      <main>{children}</main>
    </div>
  );
}

function Page({ session }: { session: Session }) {
  const path = currentPath();
  const canChange = RANK[session.role] >= RANK.operator;
  switch (path) {
    case 'events':
      return <Events />;
    case 'blocks':
      return <Blocks canChange={canChange} />;
    case 'calls':
      return <Calls />;
    case 'cdrs':
      return <Cdrs />;
    case 'users':
      return <Users />;
    case 'assess':
      return <Assess />;
    case 'audit':
      return <Audit />;
    default:
      return <Overview />;
  }
}

type Access = { state: 'loading' } | { state: 'login' } | { state: 'in'; session: Session; open: boolean };

function App() {
  const [access, setAccess] = useState<Access>({ state: 'loading' });
  const [, setPath] = useState(currentPath());
  const [help, setHelp] = useState(false);
  const toggleHelp = useCallback(() => setHelp((shown) => !shown), []);
  const closeHelp = useCallback(() => setHelp(false), []);
  useKeys(toggleHelp, closeHelp);
  useEffect(() => {
    const onHash = () => setPath(currentPath());
    const onGone = () => {
      closeLive();
      rememberSession(undefined);
      setAccess({ state: 'login' });
    };
    window.addEventListener('hashchange', onHash);
    window.addEventListener(UNAUTHENTICATED, onGone);
    api<Session>('GET', '/api/session')
      .then((session) => signIn(session, false))
      .catch((failure: unknown) => {
        // No session route at all: a management server without accounts (open on loopback).
        if (failure instanceof ApiFailure && failure.status === 404) {
          signIn({ user: '-', role: 'admin', csrfToken: '' }, true);
        } else setAccess({ state: 'login' });
      });
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener(UNAUTHENTICATED, onGone);
    };
  }, []);
  const signIn = (session: Session, open: boolean) => {
    rememberSession(session);
    setAccess({ state: 'in', session, open });
    openLive();
  };
  const logout = async () => {
    try {
      await api('DELETE', '/api/session');
    } finally {
      closeLive();
      rememberSession(undefined);
      setAccess({ state: 'login' });
    }
  };
  if (access.state === 'loading') return <p class="loading">Loading…</p>;
  if (access.state === 'login') return <Login onSession={(session) => signIn(session, false)} />;
  return (
    <Shell session={access.session} open={access.open} onLogout={logout}>
      <Page session={access.session} />
      {help ? <Help onClose={() => setHelp(false)} /> : null}
    </Shell>
  );
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
