/** `sipwarden check-config FILE`: validates a configuration file without starting anything. */
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/load-config.ts';
import { readSecretFile } from '../../state/cluster-secret.ts';
import { configError } from '../cli-error.ts';
import { existingUserStore } from '../existing-user-store.ts';
import { securityIssues } from '../security-issues.ts';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('check a configuration file and print every error in it')
    .argument('<file>', 'the YAML configuration file')
    .action((file: string) => {
      const result = loadConfigFile(file);
      if (!result.ok) throw configError(result.errors);
      // Each security stage checks its own settings: build them as the gateway will. Policy
      // rules may name only groups and roles some user has, when there are users.
      const store = existingUserStore(result.config, { configFile: file });
      let issues: string[];
      try {
        const known = store?.groupsAndRoles();
        issues = securityIssues(result.config, {
          knownGroups: known && new Set(known.groups),
          knownRoles: known && new Set(known.roles),
        });
      } finally {
        store?.close();
      }
      // The cluster's secret file is read at start: one that cannot be is an error now.
      const secretFile = result.config.state.secretFile;
      if (secretFile !== undefined) {
        try {
          readSecretFile(secretFile);
        } catch (error) {
          issues.push((error as Error).message);
        }
      }
      if (issues.length > 0) throw configError(issues);
      process.stdout.write(`${file}: ok\n`);
    });
}
