/**
 * `sipwarden reload [--api URL --token T | --socket PATH | -c FILE] [--json] | --pid PID`: the
 * running gateway reads its configuration again, checks it as `check-config` does and applies
 * what can change live (see the README's "Reload without restart"). Through the management
 * API (its local socket by default, or a URL with a token), which
 * answers what changed or why it refused (exit 2 with check-config's lines); `--pid` sends
 * SIGHUP instead, whose result is in the gateway's log and audit log.
 */
import type { Command } from 'commander';
import { ApiRefusedError } from '../../api/client.ts';
import { REFUSED_PREFIX } from '../../reload/reload-route.ts';
import { CliError, configError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface ReloadOptions extends ApiOptions {
  readonly pid?: string;
  readonly json?: boolean;
}

export function registerReload(program: Command): void {
  apiOptions(program.command('reload'))
    .description('reload the configuration of the running gateway without dropping calls or blocks')
    .option(
      '--pid <pid>',
      'send SIGHUP to this process instead of asking the API (the result goes to its log)',
    )
    .option('--json', "print the API's answer as JSON")
    .action((options: ReloadOptions) => reload(options));
}

async function reload(options: ReloadOptions): Promise<void> {
  if (options.pid !== undefined) {
    if (options.api !== undefined || options.socket !== undefined)
      throw new CliError(EXIT_USAGE, ['give --api, --socket or --pid, not more than one']);
    const pid = Number(options.pid);
    if (!/^\d+$/.test(options.pid) || pid < 2)
      throw new CliError(EXIT_USAGE, ['--pid: must be a process id']);
    try {
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      throw new CliError(EXIT_FAILURE, [
        `cannot signal process ${pid}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      ]);
    }
    process.stdout.write(
      `sent SIGHUP to ${pid}: see its log (or \`sipwarden audit --action config.reload\`) for the result\n`,
    );
    return;
  }
  try {
    const answer = await managementClient(options).reload();
    if (options.json === true) {
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      answer.changed.length === 0
        ? 'reloaded: nothing changed\n'
        : `reloaded: ${answer.changed.join(', ')}\n`,
    );
    for (const warning of answer.warnings) process.stderr.write(`sipwarden: warning: ${warning}\n`);
  } catch (error) {
    if (error instanceof ApiRefusedError && error.code === 'SW_ERR_CONFIG_REFUSED') {
      const lines = error.message.split('\n');
      if (lines[0] === REFUSED_PREFIX) lines.shift();
      throw new CliError(EXIT_USAGE, [
        ...configError(lines).lines,
        'nothing was reloaded: the running configuration stays',
      ]);
    }
    throw error;
  }
}
