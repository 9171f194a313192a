/**
 * `sipwarden block ADDRESS|KEY [--for 1h] [--reason TEXT] [--api URL]`: blocks an address, a
 * network or a rule key (`user=alice`) on the running gateway, through its management API.
 */
import type { Command } from 'commander';
import { formatTime } from '../../api/format.ts';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface BlockOptions extends ApiOptions {
  readonly for: string;
  readonly reason?: string;
  readonly json?: boolean;
}

export function registerBlock(program: Command): void {
  apiOptions(program.command('block'))
    .description('block an address, a network or a key (a user, a caller) on the running gateway')
    .argument(
      '<address>',
      'an IP address, a network in CIDR form (203.0.113.0/24), or a key: user=NAME (its known-good addresses keep working), fromUser=, toUser=, userAgent=, source=ADDRESS',
    )
    .option('--for <duration>', 'how long: 30m, 1h, 2d, a number of seconds, or permanent', '1h')
    .option('--reason <text>', 'why, as the block list and the events show it')
    .option('--json', "print the API's answer as JSON")
    .action((address: string, options: BlockOptions) => block(address, options));
}

async function block(address: string, options: BlockOptions): Promise<void> {
  // Digits alone are seconds; the API reads every other form itself.
  const duration = /^\d+$/.test(options.for) ? Number(options.for) : options.for;
  const answer = await managementClient(options).block({
    address,
    duration,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  });
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  const { block: entry } = answer;
  const until =
    entry.expiresAt === null ? 'until unblocked' : `until ${formatTime(Date.parse(entry.expiresAt))}`;
  process.stdout.write(`blocked ${entry.key} ${until}\n`);
}
