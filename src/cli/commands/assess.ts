/**
 * `sipwarden assess --target HOST:PORT [--api URL] [--uas HOST:PORT]`: runs the battery of
 * attacks against one target with legitimate calls alongside, and prints a scorecard
 * (a table, or JSON with --json). Exit code 0 when every attack was stopped, 3 when one
 * succeeded, 1 when the assessment could not run, 2 for bad options.
 */
import type { Command } from 'commander';
import { isAttackError } from '../../attack/errors.ts';
import { ATTACK_KINDS, type AttackKind, isAttackKind } from '../../attack/report.ts';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../cli-error.ts';

/** An attack of the battery succeeded. */
export const EXIT_ATTACK_SUCCEEDED = 3;

interface AssessCommandOptions {
  readonly target: string;
  readonly api?: string;
  readonly apiToken?: string;
  readonly uas?: string;
  readonly only?: string;
  readonly allowRemote?: boolean;
  readonly json?: boolean;
}

export function registerAssess(program: Command): void {
  program
    .command('assess')
    .description('run every attack against a target with legitimate calls alongside, and print a scorecard')
    .requiredOption('-t, --target <host:port>', 'the target')
    .option(
      '--api <url>',
      "the target's management API (http://127.0.0.1:9060): detection and blocks from its events",
    )
    .option(
      '--api-token <token>',
      "API token for --api: a viewer's reads events and blocks; an operator's also stores the scorecard for the console (default: $SIPWARDEN_API_TOKEN)",
    )
    .option(
      '--uas <host:port>',
      'run our own callee here (where the target forwards calls); default: the target answers calls',
    )
    .option('--only <kinds>', `run only these attacks, comma separated: ${ATTACK_KINDS.join(', ')}`)
    .option('--allow-remote', 'allow a target that is not a loopback address (your own network only)')
    .option('--json', 'print the scorecard as JSON')
    .action(async (options: AssessCommandOptions) => {
      const only = options.only === undefined ? undefined : parseOnly(options.only);
      try {
        const [{ runAssess }, { createEventsApi }, { formatScorecard }, { resolveTarget }] =
          await Promise.all([
            import('../../attack/assess/run-assess.ts'),
            import('../../attack/assess/events-api.ts'),
            import('../../attack/assess/scorecard.ts'),
            import('../../attack/target.ts'),
          ]);
        const allowRemote = options.allowRemote === true;
        const target = await resolveTarget(options.target, allowRemote);
        const uas = options.uas === undefined ? undefined : await resolveTarget(options.uas, allowRemote);
        const token = options.apiToken ?? (process.env.SIPWARDEN_API_TOKEN || undefined);
        const api = options.api === undefined ? undefined : createEventsApi(options.api, token);
        // The token is checked before any attack runs: a refused one stops here, not after the run.
        await api?.blocks();
        const card = await runAssess({
          target,
          ...(uas === undefined ? {} : { uas }),
          ...(api === undefined ? {} : { api, apiText: options.api! }),
          ...(only === undefined ? {} : { only }),
          onRow: (row) => process.stderr.write(`assess: ${row.attack}: ${row.verdict}\n`),
        });
        process.stdout.write(options.json ? `${JSON.stringify(card, null, 2)}\n` : formatScorecard(card));
        if (api !== undefined) {
          // Kept by the gateway for its console; each attack's own report stays out (its size is the attack's).
          const stored = { ...card, rows: card.rows.map(({ report: _report, ...row }) => row) };
          await api.storeScorecard(stored).then(
            () => process.stderr.write('assess: scorecard stored on the gateway (console: Assessment)\n'),
            (error: unknown) =>
              process.stderr.write(`sipwarden: warning: scorecard not stored: ${(error as Error).message}\n`),
          );
        }
        if (card.summary.errors > 0) {
          throw new CliError(EXIT_FAILURE, [`${card.summary.errors} of the attacks could not run`]);
        }
        if (card.summary.succeeded > 0) {
          throw new CliError(EXIT_ATTACK_SUCCEEDED, [
            `${card.summary.succeeded} of ${card.summary.attacks} attacks succeeded against ${card.target}`,
          ]);
        }
      } catch (error) {
        if (isAttackError(error)) {
          const usage =
            error.code === 'SW_ERR_ATTACK_OPTION' || error.code === 'SW_ERR_ATTACK_REMOTE_REFUSED';
          throw new CliError(usage ? EXIT_USAGE : EXIT_FAILURE, [error.message]);
        }
        throw error;
      }
    });
}

function parseOnly(text: string): AttackKind[] {
  const kinds = text.split(',').map((k) => k.trim());
  for (const kind of kinds) {
    if (!isAttackKind(kind))
      throw new CliError(EXIT_USAGE, [`--only: unknown attack '${kind}': one of ${ATTACK_KINDS.join(', ')}`]);
  }
  return kinds as AttackKind[];
}
