/**
 * How a command reaches the running gateway's management API: over its local unix socket by
 * default (found as the gateway places it: `management.socket` of the same `--config`,
 * default `sipwarden.sock` in the data directory), needing no token; or over HTTP(S) when
 * `--api URL` or $SIPWARDEN_API names it, with an API token (`--token` or
 * $SIPWARDEN_API_TOKEN).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { API_TOKEN_ENV, API_URL_ENV, ManagementClient, resolveApiUrl } from '../api/client.ts';
import { socketOf } from '../api/management-stack.ts';
import { defaultConfig, loadConfigFile } from '../config/load-config.ts';
import { CliError, configError, EXIT_FAILURE, EXIT_USAGE } from './cli-error.ts';
import { databaseOf } from './users-database.ts';

export interface ApiOptions {
  readonly api?: string;
  readonly token?: string;
  readonly socket?: string;
  readonly config?: string;
}

export const API_OPTION_HELP = `management API URL, with a token (default: $${API_URL_ENV}, else the local socket)`;

/** The options every command that talks to the running gateway takes. */
export function apiOptions(command: Command): Command {
  return command
    .option('--api <url>', API_OPTION_HELP)
    .option('--token <token>', `API token for --api (default: $${API_TOKEN_ENV})`)
    .option('--socket <path>', 'the management socket (default: the one of --config, in its data directory)')
    .option('-c, --config <file>', 'the configuration the gateway runs with: where its socket is');
}

export function managementClient(
  options: ApiOptions,
  env: NodeJS.ProcessEnv = process.env,
): ManagementClient {
  if (options.api !== undefined || env[API_URL_ENV]) {
    if (options.socket !== undefined) throw new CliError(EXIT_USAGE, ['give --api or --socket, not both']);
    const api = resolveApiUrl(options.api, env);
    if (!api.ok) throw new CliError(EXIT_USAGE, [api.message]);
    const token = options.token ?? (env[API_TOKEN_ENV] || undefined);
    return new ManagementClient(api.url, token === undefined ? {} : { token });
  }
  if (options.token !== undefined) {
    throw new CliError(EXIT_USAGE, ['--token goes with --api URL (the local socket needs none)']);
  }
  const path = options.socket ?? configuredSocket(options.config);
  if (!existsSync(path)) {
    throw new CliError(EXIT_FAILURE, [
      `no management socket at ${path}: is sipwarden running${options.config === undefined ? '' : ' with this --config'}? Or give --api URL and --token`,
    ]);
  }
  return ManagementClient.overSocket(path);
}

function configuredSocket(configFile: string | undefined): string {
  const loaded = configFile === undefined ? undefined : loadConfigFile(configFile);
  if (loaded !== undefined && !loaded.ok) throw configError(loaded.errors);
  const config = loaded?.config ?? defaultConfig();
  const socket = socketOf(config.management, databaseOf(config, configFile).dataDir);
  if (socket === undefined) {
    throw new CliError(EXIT_USAGE, ['management.socket is false: give --api URL and --token']);
  }
  return socket;
}
