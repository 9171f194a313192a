/**
 * Command-line overrides on top of a loaded configuration. `--listen` replaces every
 * listener (UDP and TCP on each address given); `--upstream` moves the upstream and keeps
 * its transport; `--log-level` sets the level. Errors read like config errors:
 * `--listen: "foo" is not HOST:PORT`.
 */
import { isHost } from './host.ts';
import { type ConfigResult, validateConfig } from './load-config.ts';
import { LOG_LEVELS, type SipwardenConfig } from './schema.ts';

export interface ConfigOverrides {
  /** `HOST:PORT` each; IPv6 in brackets: `[::1]:5060`. */
  readonly listen?: readonly string[];
  readonly upstream?: string;
  readonly logLevel?: string;
  /** `HOST:PORT` of the management API, or `off`. */
  readonly management?: string;
  /** The event store's file, or `:memory:`. */
  readonly eventsDatabase?: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const MAX_SHOWN = 80;

/** Parses `HOST:PORT` or `[IPV6]:PORT`. `minPort` is 0 where "any free port" makes sense. */
export function parseHostPort(
  text: string,
  option: string,
  minPort = 1,
): { ok: true; value: HostPort } | { ok: false; error: string } {
  const shown = JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}...` : text);
  const fail = (reason: string) => ({ ok: false as const, error: `${option}: ${shown} ${reason}` });
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']:');
    if (close === -1) return fail('is not HOST:PORT');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!host.includes(':')) return fail('is not HOST:PORT (brackets are for IPv6 addresses)');
  } else {
    const colon = text.indexOf(':');
    if (colon === -1) return fail('is not HOST:PORT');
    if (text.indexOf(':', colon + 1) !== -1) return fail('is not HOST:PORT (write IPv6 as [::1]:5060)');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (host === '' || portText === '') return fail('is not HOST:PORT');
  if (!isHost(host)) return fail('is not HOST:PORT (the host is not an IP address or hostname)');
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= minPort && port <= 65535)) return fail('is not HOST:PORT (the port must be 1..65535)');
  return { ok: true, value: { host, port } };
}

export function applyOverrides(config: SipwardenConfig, overrides: ConfigOverrides): ConfigResult {
  const errors: string[] = [];
  let listen = config.listen;
  if (overrides.listen !== undefined && overrides.listen.length > 0) {
    const entries: SipwardenConfig['listen'] = [];
    for (const text of overrides.listen) {
      const parsed = parseHostPort(text, '--listen', 0);
      if (parsed.ok) entries.push({ ...parsed.value, transports: ['udp', 'tcp'] });
      else errors.push(parsed.error);
    }
    listen = entries;
  }
  let upstream = config.upstream;
  if (overrides.upstream !== undefined && config.upstreams !== undefined) {
    // The configuration's upstreams decide; a single one given beside them would go unused.
    errors.push('--upstream: the configuration lists upstreams; change them there');
  } else if (overrides.upstream !== undefined) {
    const parsed = parseHostPort(overrides.upstream, '--upstream');
    if (parsed.ok) upstream = { ...upstream, ...parsed.value };
    else errors.push(parsed.error);
  }
  let log = config.log;
  if (overrides.logLevel !== undefined) {
    const level = LOG_LEVELS.find((candidate) => candidate === overrides.logLevel);
    if (level !== undefined) log = { ...log, level };
    else {
      errors.push(
        `--log-level: ${JSON.stringify(overrides.logLevel.slice(0, MAX_SHOWN))} must be one of ${LOG_LEVELS.join(', ')}`,
      );
    }
  }
  let management = config.management;
  if (overrides.management !== undefined) {
    if (overrides.management === 'off') management = { ...management, enabled: false };
    else {
      const parsed = parseHostPort(overrides.management, '--management', 0);
      if (parsed.ok) management = { ...management, enabled: true, ...parsed.value };
      else errors.push(parsed.error);
    }
  }
  let events = config.events;
  if (overrides.eventsDatabase !== undefined) events = { ...events, database: overrides.eventsDatabase };
  if (errors.length > 0) return { ok: false, code: 'SW_ERR_CONFIG_OVERRIDE', errors };
  // Validated again as a whole: an override may break a rule that spans sections.
  return validateConfig({ ...config, listen, upstream, log, management, events });
}
