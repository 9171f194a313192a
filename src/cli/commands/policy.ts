/**
 * `sipwarden policy explain --user U [--domain D] [--to NUMBER] [--from-ip A] [--transport T]
 * [--method M] [--at ISO-TIME] [--groups G,..] [--roles R,..] [--organisation O] [--config F]`:
 * which policy rule decides such a request, and why, without traffic (src/policy/explain.ts).
 * The user's groups, roles and organisation come from the user store when it has users (the
 * database `start` resolves from --config, or --db), else from the flags. Without --user,
 * the request is explained as unauthenticated.
 */
import type { Command } from 'commander';
import { defaultConfig, loadConfigFile } from '../../config/load-config.ts';
import type { SipwardenConfig } from '../../config/schema.ts';
import type { VerifiedIdentity } from '../../identity/identity.ts';
import type { UserDirectory } from '../../identity/user-directory.ts';
import { normaliseNumber } from '../../policy/dialled-number.ts';
import { explainPolicy } from '../../policy/explain.ts';
import { Policy, type PolicyRequest } from '../../policy/policy.ts';
import { POLICY_TRANSPORTS } from '../../policy/schema.ts';
import { parseAddress } from '../../state/ip.ts';
import type { TransportName } from '../../transport/types.ts';
import { CliError, configError, EXIT_USAGE } from '../cli-error.ts';
import { existingUserStore } from '../existing-user-store.ts';

export interface ExplainOptions {
  readonly config?: string;
  readonly db?: string;
  readonly user?: string;
  readonly domain?: string;
  readonly groups?: string;
  readonly roles?: string;
  readonly organisation?: string;
  readonly to?: string;
  readonly fromIp?: string;
  readonly transport?: string;
  readonly method?: string;
  readonly at?: string;
}

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description('identity policy tools');
  policy
    .command('explain')
    .description('print which policy rule decides a request, and why, without traffic')
    .option('-c, --config <file>', 'YAML configuration file (default: the embedded defaults)')
    .option('--db <file>', 'the user store (default: the database start resolves from --config)')
    .option('--user <user>', 'the verified user (user or user@domain); absent: an unauthenticated request')
    .option('--domain <domain>', "the user's domain")
    .option('--groups <list>', "the user's groups, comma-separated (when no user store has them)")
    .option('--roles <list>', "the user's roles, comma-separated (when no user store has them)")
    .option('--organisation <name>', "the user's organisation (when no user store has it)")
    .option('--to <number>', 'the dialled number (the Request-URI user)')
    .option('--from-ip <address>', 'the source address')
    .option('--transport <name>', 'udp, tcp or tls (default udp)')
    .option('--method <method>', 'the SIP method (default INVITE)')
    .option('--at <time>', 'when, as an ISO 8601 time (default now)')
    .action((options: ExplainOptions) => {
      for (const line of explain(options)) process.stdout.write(`${line}\n`);
    });
}

const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');

function usage(message: string): CliError {
  return new CliError(EXIT_USAGE, [message]);
}

function identityOf(
  options: ExplainOptions,
  directory: UserDirectory | undefined,
): VerifiedIdentity | undefined {
  if (options.user === undefined) return undefined;
  const at = options.user.indexOf('@');
  const user = (at === -1 ? options.user : options.user.slice(0, at)).toLowerCase();
  const domain = (at === -1 ? (options.domain ?? '') : options.user.slice(at + 1)).toLowerCase();
  if (user === '') throw usage('--user: must name a user');
  if (directory !== undefined) {
    if (domain === '')
      throw usage('--user: give the domain (--domain, or --user user@domain) to find the user');
    const stored = directory.find(user, domain);
    if (stored === undefined) throw usage(`--user: no user ${user}@${domain} in the user store`);
    if (!stored.enabled) throw usage(`--user: ${user}@${domain} is disabled: it never authenticates`);
    return {
      user,
      domain,
      groups: stored.groups,
      roles: stored.roles,
      ...(stored.organisation === undefined ? {} : { organisation: stored.organisation }),
      method: 'digest',
    };
  }
  return {
    user,
    domain,
    groups: list(options.groups),
    roles: list(options.roles),
    ...(options.organisation === undefined ? {} : { organisation: options.organisation }),
    method: 'digest',
  };
}

/** The explanation, with the user's groups and roles from the user store when it has users. */
function explain(options: ExplainOptions): readonly string[] {
  const loaded = options.config === undefined ? undefined : loadConfigFile(options.config);
  if (loaded !== undefined && !loaded.ok) throw configError(loaded.errors);
  const config = loaded?.config ?? defaultConfig();
  const store =
    options.user === undefined
      ? undefined
      : existingUserStore(config, { configFile: options.config, db: options.db });
  try {
    return explainLines(config, options, store);
  } finally {
    store?.close();
  }
}

/** The explanation's lines; `directory` is the user store, when there is one. */
export function explainLines(
  config: SipwardenConfig,
  options: ExplainOptions,
  directory?: UserDirectory,
): readonly string[] {
  const policy = new Policy(config.policy);
  const transport = (options.transport ?? 'udp').toLowerCase();
  if (!(POLICY_TRANSPORTS as readonly string[]).includes(transport)) {
    throw usage(`--transport: must be one of ${POLICY_TRANSPORTS.join(', ')}`);
  }
  if (options.fromIp !== undefined && parseAddress(options.fromIp) === undefined) {
    throw usage('--from-ip: must be an IP address');
  }
  const method = options.method ?? 'INVITE';
  if (!/^[A-Za-z][A-Za-z0-9._!%*+`'~-]{0,31}$/.test(method))
    throw usage('--method: must be a SIP method name');
  const now = options.at === undefined ? Date.now() : Date.parse(options.at);
  if (Number.isNaN(now)) throw usage('--at: must be an ISO 8601 time such as 2026-03-02T09:30:00Z');
  const request: PolicyRequest = {
    identity: identityOf(options, directory),
    address: options.fromIp ?? '',
    transport: transport as TransportName,
    method,
    destination: normaliseNumber(options.to ?? '', policy.internationalPrefix),
    now,
  };
  return explainPolicy(policy, request).lines;
}
