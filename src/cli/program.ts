/**
 * The `sipwarden` command line. Each command lives in its own file under commands/ and
 * registers itself on the program; adding one is adding a file and a line to COMMANDS.
 */
import { Command, CommanderError } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, messageOf } from './cli-error.ts';
import { registerAdmin } from './commands/admin.ts';
import { registerAssess } from './commands/assess.ts';
import { registerAttack } from './commands/attack.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBlock } from './commands/block.ts';
import { registerBlocks } from './commands/blocks.ts';
import { registerCdrs } from './commands/cdrs.ts';
import { registerCheckConfig } from './commands/check-config.ts';
import { registerEvents } from './commands/events.ts';
import { registerFraud } from './commands/fraud.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerStart } from './commands/start.ts';
import { registerTlsCert } from './commands/tls-cert.ts';
import { registerUnblock } from './commands/unblock.ts';
import { registerUsers } from './commands/users.ts';
import { packageVersion } from './version.ts';

export type RegisterCommand = (program: Command) => void;

const COMMANDS: readonly RegisterCommand[] = [
  registerStart,
  registerCheckConfig,
  registerTlsCert,
  registerAttack,
  registerAssess,
  registerBlock,
  registerUnblock,
  registerBlocks,
  registerEvents,
  registerUsers,
  registerFraud,
  registerCdrs,
  registerPolicy,
  registerAudit,
  registerAdmin,
];

export function createProgram(): Command {
  const program = new Command('sipwarden')
    .description('SIP security controller: a hardened SIP proxy in front of your PBX or registrar')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .showHelpAfterError('(run sipwarden --help for usage)')
    // Settings above are copied to every command created with program.command().
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/**
 * Runs the command line and returns the exit code. Long-running commands (start) return
 * once running; their own signal handlers end the process.
 */
export async function run(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync([...argv]);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message or the help already.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof CliError) {
      for (const line of error.lines) process.stderr.write(`sipwarden: ${line}\n`);
      return error.exitCode;
    }
    process.stderr.write(`sipwarden: ${messageOf(error)}\n`);
    return EXIT_FAILURE;
  }
}
