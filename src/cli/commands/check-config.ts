/** `sipwarden check-config FILE`: validates a configuration file without starting anything. */
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load-config.ts';
import { silentLogger } from '../../log/logger.ts';
import { checkSecuritySettings } from '../../security/build-pipeline.ts';
import { createMemoryActivityStore } from '../../state/memory-activity-store.ts';
import { createMemoryBlockTable } from '../../state/memory-block-table.ts';
import { createMemoryTrustTable } from '../../state/memory-trust-table.ts';
import { configError } from '../cli-error.ts';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('check a configuration file and print every error in it')
    .argument('<file>', 'the YAML configuration file')
    .action((file: string) => {
      const result = loadConfigFile(file);
      if (!result.ok) throw configError(result.errors);
      // Each security stage checks its own settings: build them as the gateway will.
      const issues = checkSecuritySettings(result.config.security, {
        store: createMemoryActivityStore({ maxKeys: 1000 }),
        blocks: createMemoryBlockTable({ maxEntries: 100 }),
        trust: createMemoryTrustTable({ maxEntries: 100 }),
        log: silentLogger,
      });
      if (issues.length > 0) throw configError(issues);
      process.stdout.write(`${file}: ok\n`);
    });
}
