/**
 * `sipwarden start`: loads the configuration (a file, or the embedded defaults), applies
 * the command-line overrides, starts the gateway and runs until SIGINT or SIGTERM.
 */
import type { Command } from 'commander';
import { applyOverrides } from '../../config/apply-overrides.ts';
import { defaultConfig, loadConfigFile } from '../../config/load-config.ts';
import type { SipwardenConfig } from '../../config/schema.ts';
import type { Gateway } from '../../gateway.ts';
import { createLogger } from '../../log/create-logger.ts';
import type { Logger } from '../../log/logger.ts';
import { CliError, configError, EXIT_FAILURE } from '../cli-error.ts';
import { describeStartError } from '../describe-start-error.ts';

interface StartOptions {
  readonly config?: string;
  readonly listen?: readonly string[];
  readonly upstream?: string;
  readonly logLevel?: string;
  readonly management?: string;
  readonly eventsDb?: string;
}

/** How long a graceful stop may take before the process exits anyway. */
const STOP_GRACE_MS = 10_000;

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('start the gateway in the foreground (stop it with SIGINT or SIGTERM)')
    .option('-c, --config <file>', 'YAML configuration file (default: the embedded defaults)')
    .option(
      '--listen <host:port>',
      'listen on UDP and TCP at this address instead of the configured listeners (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option('--upstream <host:port>', 'forward to this upstream (keeps the configured transport)')
    .option('--log-level <level>', 'trace, debug, info, warn, error or fatal')
    .option('--management <host:port|off>', 'where the management API listens, or off')
    .option('--events-db <file>', 'the event store file, or :memory:')
    .action((options: StartOptions) => start(options));
}

async function start(options: StartOptions): Promise<void> {
  const loaded = options.config === undefined ? undefined : loadConfigFile(options.config);
  if (loaded !== undefined && !loaded.ok) throw configError(loaded.errors);
  const result = applyOverrides(loaded?.config ?? defaultConfig(), {
    ...(options.listen === undefined ? {} : { listen: options.listen }),
    ...(options.upstream === undefined ? {} : { upstream: options.upstream }),
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    ...(options.management === undefined ? {} : { management: options.management }),
    ...(options.eventsDb === undefined ? {} : { eventsDatabase: options.eventsDb }),
  });
  if (!result.ok) throw configError(result.errors);
  const config = result.config;
  const logger = createLogger({ level: config.log.level });

  let gateway: Gateway;
  try {
    // Loaded here, not at the top: the other commands need none of the proxy.
    const { startGateway } = await import('../../gateway.ts');
    gateway = await startGateway(config, logger);
  } catch (error) {
    const reason = describeStartError(error);
    logger.fatal({ err: error }, `sipwarden cannot start: ${reason}`);
    throw new CliError(EXIT_FAILURE, [`cannot start: ${reason}`]);
  }
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'sipwarden stopped by an unexpected error');
    process.exit(EXIT_FAILURE);
  });
  logger.info(
    {
      listening: gateway.listening(),
      upstream: upstreamOf(config),
      ...(gateway.managementAddress ? { management: gateway.managementAddress } : {}),
    },
    'sipwarden listening',
  );
  stopOnSignals(gateway, logger);
}

function upstreamOf(config: SipwardenConfig): Record<string, unknown> {
  const { host, port, transport } = config.upstream;
  return { transport, host, port };
}

function stopOnSignals(gateway: Gateway, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'sipwarden: second signal, exiting now');
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    logger.info({ signal }, 'sipwarden stopping');
    setTimeout(() => {
      logger.error({ graceMs: STOP_GRACE_MS }, 'sipwarden did not stop in time, exiting');
      process.exit(EXIT_FAILURE);
    }, STOP_GRACE_MS).unref();
    gateway.close().then(
      () => {
        logger.info('sipwarden stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'sipwarden did not stop cleanly');
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
