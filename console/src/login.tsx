/** The login form: account, password and the six-digit code of the authenticator app (TOTP). */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, api } from './api.ts';
import type { Session } from './types.ts';
import { Notice } from './util.tsx';

export function Login({ onSession }: { onSession: (session: Session) => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const session = await api<Session>('POST', '/api/session', {
        user: user.trim(),
        password,
        ...(totp.trim() === '' ? {} : { totp: totp.trim() }),
      });
      setPassword('');
      setTotp('');
      onSession(session);
    } catch (failure) {
      if (failure instanceof ApiFailure && failure.code === 'totp-required') {
        setError('This account needs the code from its authenticator app.');
      } else if (failure instanceof ApiFailure && failure.status === 429) {
        setError('Too many attempts: wait a while before trying again.');
      } else if (failure instanceof ApiFailure && failure.status === 401) {
        setError('Wrong account, password or code.');
      } else {
        setError(failure instanceof Error ? failure.message : String(failure));
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-label="Log in">
        <h1>sipwarden</h1>
        <label>
          Account
          <input
            name="user"
            autoComplete="username"
            required
            ref={first}
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <label>
          One-time code
          <input
            name="totp"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]{6}"
            maxLength={6}
            value={totp}
            onInput={(e) => setTotp(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Log in
        </button>
        {error === undefined ? null : <Notice kind="error">{error}</Notice>}
      </form>
    </main>
  );
}
