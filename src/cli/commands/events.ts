/**
 * `sipwarden events [--since 10m] [--type flood] [--limit N] [--api URL] [--json]`: the
 * latest security events of the running gateway, newest first.
 */
import type { Command } from 'commander';
import { eventsTable } from '../../api/format.ts';
import { EVENT_TYPES } from '../../events/types.ts';
import { type ApiOptions, apiOptions, managementClient } from '../management-client.ts';

interface EventsOptions extends ApiOptions {
  readonly since?: string;
  readonly type?: string;
  readonly source?: string;
  readonly limit?: string;
  readonly json?: boolean;
}

export function registerEvents(program: Command): void {
  apiOptions(program.command('events'))
    .description('show the latest security events of the running gateway, newest first')
    .option('--since <time>', 'a duration back from now (10m, 2h, 1d), an ISO 8601 time or epoch ms')
    .option('--type <type>', `one event type: ${EVENT_TYPES.join(', ')}`)
    .option('--source <address>', 'events from this source address only')
    .option('--limit <n>', 'at most this many events, 1..1000 (default 100)')
    .option('--json', "print the API's answer as JSON")
    .action((options: EventsOptions) => events(options));
}

async function events(options: EventsOptions): Promise<void> {
  // The API checks every value and says what is wrong with it.
  const answer = await managementClient(options).events({
    ...(options.since === undefined ? {} : { since: options.since }),
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  });
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
  } else if (answer.events.length === 0) {
    process.stdout.write('no events\n');
  } else {
    process.stdout.write(eventsTable(answer.events));
  }
}
