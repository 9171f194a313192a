/**
 * `sipwarden attack KIND --target HOST:PORT [options]`: the attack tools that prove a
 * defence works. Every run is bounded by --count and --duration; targets other than
 * loopback are refused unless --allow-remote. The work is in src/attack; this file maps
 * options and prints the report.
 */
import type { Command } from 'commander';
import { isAttackError } from '../../attack/errors.ts';
import { ATTACK_KINDS, formatReport, isAttackKind } from '../../attack/report.ts';
import type { AttackArguments } from '../../attack/run-attack.ts';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';

interface AttackCommandOptions extends AttackArguments {
  readonly json?: boolean;
}

const KIND_HELP = `
Kinds:
  invite-flood, register-flood, options-flood
                   requests from one source (--source) or a pool (--sources 127.1.0.0/16),
                   random users, Call-IDs and User-Agents unless --user, --call-id, --user-agent
  scan             OPTIONS sweep (like svmap): --target RANGE:PORT (127.0.0.0/28:5060), --ports
  enumerate        extensions by --method REGISTER|INVITE|OPTIONS over --users (100-199)
  crack            digest password guessing for --user with --wordlist FILE or --passwords a,b
  malformed        mutation fuzzer, checks with OPTIONS after each --batch that the target answers
  bye-spoof        a real call, then forged BYE and CANCEL from a third address (--uas: callee)
  response-inject  forged responses to a caller's transactions (--uas: callee)
  tcp-exhaust      slow connections held open, connection churn; can a TCP client still get in?
  spit             many short calls to many --users

Every run is bounded by --count and --duration. Targets that are not loopback are refused
unless --allow-remote (test only networks that are yours).
`;

export function registerAttack(program: Command): void {
  program
    .command('attack')
    .description('run one attack against a target and print what it sent and what came back')
    .argument('<kind>', ATTACK_KINDS.join(', '))
    .requiredOption('-t, --target <host:port>', 'the target (scan: RANGE:PORT)')
    .option('-n, --count <n>', 'at most this many messages (probes, guesses, calls...); default 100')
    .option('-d, --duration <time>', 'at most this long sending: 10s, 500ms, 2m; default 10s')
    .option('-r, --rate <per-second>', 'messages per second, 0 for as fast as possible; default 100')
    .option('--wait <time>', 'how long to wait for late answers at the end; default 1s')
    .option('--allow-remote', 'allow a target that is not a loopback address (your own network only)')
    .option('--source <address>', 'send from this address')
    .option('--sources <range>', 'send from a pool of addresses: CIDR (127.1.0.0/16) or FIRST-LAST')
    .option('--max-sources <n>', 'use at most this many addresses of the pool; default 1024')
    .option('--user <name>', 'fixed user (floods), the account to guess (crack)')
    .option('--users <list>', 'users to try: 100-199 or a,b,c (enumerate, spit)')
    .option('--call-id <id>', 'fixed Call-ID (floods)')
    .option('--user-agent <text>', 'fixed User-Agent')
    .option('--seed <n>', 'seed of the random choices (reproducible runs)')
    .option('--ports <list>', 'ports to sweep: 5060,5062-5070 (scan)')
    .option('--method <method>', 'REGISTER, INVITE or OPTIONS (enumerate)')
    .option('--wordlist <file>', 'passwords, one per line (crack)')
    .option('--passwords <list>', 'passwords, comma separated (crack)')
    .option('--batch <n>', 'messages between liveness checks (malformed); default 20')
    .option(
      '--uas <host:port>',
      'our own callee, listening where the target forwards calls (bye-spoof, response-inject, spit)',
    )
    .option(
      '--spoof-source <address>',
      'the third address forged requests come from (bye-spoof, response-inject)',
    )
    .option('--hold <time>', 'how long each call lasts (spit); default 500ms')
    .option('--concurrency <n>', 'calls open at once (spit); default 20')
    .option('--connections <n>', 'slow connections to hold open (tcp-exhaust); default 100')
    .option('--interval <time>', 'pause between the bytes of a slow connection (tcp-exhaust); default 1s')
    .option(
      '--workers <n>',
      'floods: send from this many threads, each with its own share of --sources, with prebuilt datagrams (the highest rates)',
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', KIND_HELP)
    .action(async (kind: string, options: AttackCommandOptions) => {
      if (!isAttackKind(kind)) {
        throw new CliError(EXIT_USAGE, [`unknown attack kind '${kind}': one of ${ATTACK_KINDS.join(', ')}`]);
      }
      try {
        // Loaded here, not at the top: the other commands need none of the attack tools.
        const { runAttack } = await import('../../attack/run-attack.ts');
        const report = await runAttack(kind, options);
        process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      } catch (error) {
        if (isAttackError(error)) {
          throw new CliError(error.code === 'SW_ERR_ATTACK_BIND' ? EXIT_FAILURE : EXIT_USAGE, [
            error.message,
          ]);
        }
        throw error;
      }
    });
}
