/** `sipwarden check-config FILE`: validates a configuration file without starting anything. */
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load-config.ts';
import { configError } from '../cli-error.ts';
import { securityIssues } from '../security-issues.ts';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('check a configuration file and print every error in it')
    .argument('<file>', 'the YAML configuration file')
    .action((file: string) => {
      const result = loadConfigFile(file);
      if (!result.ok) throw configError(result.errors);
      // Each security stage checks its own settings: build them as the gateway will.
      const issues = securityIssues(result.config);
      if (issues.length > 0) throw configError(issues);
      process.stdout.write(`${file}: ok\n`);
    });
}
