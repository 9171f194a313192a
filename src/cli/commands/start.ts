/**
 * `sipwarden start`: loads the configuration (a file, or the embedded defaults), applies
 * the command-line overrides, starts the gateway and runs until SIGINT or SIGTERM.
 * SIGHUP reloads the configuration: the same file with the same overrides, checked as
 * check-config checks it (src/reload). Every exit writes the pending events:
 * a stop through close(), a fatal error or an overlong stop through flushEvents().
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { applyOverrides } from '../../config/apply-overrides.ts';
import { MEMORY_DATABASE } from '../../config/data-dir.ts';
import { type ConfigResult, defaultConfig, loadConfigFile } from '../../config/load-config.ts';
import type { SipwardenConfig } from '../../config/schema.ts';
import type { Gateway } from '../../gateway.ts';
import { createLogger } from '../../log/create-logger.ts';
import type { Logger } from '../../log/logger.ts';
import { CliError, configError, EXIT_FAILURE } from '../cli-error.ts';
import { describeStartError } from '../describe-start-error.ts';
import { securityIssues } from '../security-issues.ts';

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
    .option(
      '--events-db <file>',
      'the event store file, or :memory: (default: events.db in the data directory)',
    )
    .action((options: StartOptions) => start(options));
}

/** The configuration file (or the embedded defaults) with the command line's overrides. */
function readConfig(options: StartOptions): ConfigResult {
  const loaded = options.config === undefined ? undefined : loadConfigFile(options.config);
  if (loaded !== undefined && !loaded.ok) return loaded;
  return applyOverrides(loaded?.config ?? defaultConfig(), {
    ...(options.listen === undefined ? {} : { listen: options.listen }),
    ...(options.upstream === undefined ? {} : { upstream: options.upstream }),
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    ...(options.management === undefined ? {} : { management: options.management }),
    // A file named on the command line is the working directory's, not the data directory's.
    ...(options.eventsDb === undefined
      ? {}
      : {
          eventsDatabase: options.eventsDb === MEMORY_DATABASE ? options.eventsDb : resolve(options.eventsDb),
        }),
  });
}

async function start(options: StartOptions): Promise<void> {
  const result = readConfig(options);
  if (!result.ok) throw configError(result.errors);
  const config = result.config;
  // A stage's settings are configuration too: refused as check-config refuses them (exit 2),
  // before anything is opened.
  const issues = securityIssues(config);
  if (issues.length > 0) throw configError(issues);
  const logger = createLogger({ level: config.log.level });

  // Until the gateway runs, SIGHUP must not end the process (Node's default); a reload
  // asked for during the start is done once it runs. (A listener does not keep the process alive.)
  let reloadWhenStarted = false;
  let reload = (): void => {
    reloadWhenStarted = true;
  };
  process.on('SIGHUP', () => reload());
  let gateway: Gateway;
  try {
    // Loaded here, not at the top: the other commands need none of the proxy.
    const { startGateway } = await import('../../gateway.ts');
    gateway = await startGateway(config, logger, {
      configSource: () => readConfig(options),
      ...(options.config === undefined ? {} : { configFile: resolve(options.config) }),
      dataDir: {
        ...(options.config === undefined ? {} : { configFile: options.config }),
        env: process.env,
        uid: process.getuid?.(),
        home: homedir(),
        cwd: process.cwd(),
      },
    });
  } catch (error) {
    const reason = describeStartError(error);
    logger.fatal({ err: error }, `sipwarden cannot start: ${reason}`);
    throw new CliError(EXIT_FAILURE, [`cannot start: ${reason}`]);
  }
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'sipwarden stopped by an unexpected error');
    exitNow(gateway, logger, EXIT_FAILURE);
  });
  // Before the line that says it listens: a SIGTERM sent on reading that line must find the
  // handler (until a listener exists, Node's default for SIGTERM ends the process at once).
  stopOnSignals(gateway, logger);
  const running = gateway;
  // The result is logged and audited by the reload itself.
  reload = () => void running.reload({ actor: 'local', address: '-', via: 'signal' });
  if (reloadWhenStarted) reload();
  logger.info(
    {
      listening: gateway.listening(),
      upstream: upstreamOf(config),
      ...(gateway.managementAddress ? { management: gateway.managementAddress } : {}),
      eventsDatabase: gateway.eventsDatabase,
    },
    'sipwarden listening',
  );
}

/** Exits without waiting for close(): writes the pending events first, whatever else failed. */
function exitNow(gateway: Gateway, logger: Logger, code: number): never {
  try {
    gateway.flushEvents();
  } catch (error) {
    logger.error({ err: error }, 'sipwarden: cannot write the pending events');
  }
  process.exit(code);
}

function upstreamOf(config: SipwardenConfig): Record<string, unknown> | Record<string, unknown>[] {
  // Several upstreams: each as configured (their endpoints are in the metrics and events).
  if (config.upstreams !== undefined)
    return config.upstreams.map(({ name, host, port, transport, priority, weight }) => ({
      name,
      host,
      ...(port === undefined ? {} : { port }),
      ...(transport === undefined ? {} : { transport }),
      priority,
      weight,
    }));
  const { host, port, transport } = config.upstream;
  return { transport, host, port };
}

function stopOnSignals(gateway: Gateway, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'sipwarden: second signal, exiting now');
      exitNow(gateway, logger, EXIT_FAILURE);
    }
    stopping = true;
    logger.info({ signal }, 'sipwarden stopping');
    setTimeout(() => {
      logger.error({ graceMs: STOP_GRACE_MS }, 'sipwarden did not stop in time, exiting');
      exitNow(gateway, logger, EXIT_FAILURE);
    }, STOP_GRACE_MS).unref();
    gateway.close().then(
      () => {
        logger.info('sipwarden stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'sipwarden did not stop cleanly');
        exitNow(gateway, logger, EXIT_FAILURE);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
