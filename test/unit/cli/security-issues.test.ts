import assert from 'node:assert/strict';
import { test } from 'node:test';
import { securityIssues } from '../../../src/cli/security-issues.ts';
import { parseConfigText } from '../../../src/config/load-config.ts';

function issuesOf(yaml: string, options: Parameters<typeof securityIssues>[1] = {}): string[] {
  const result = parseConfigText(yaml, 'test.yaml');
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return securityIssues(result.config, options);
}

const RULES = `policy:
  rules:
    - name: sales
      match: { groups: [sales, support] }
      action: allow
`;

test('policy rules with the policy stage left out of security.stages, or security off, are refused', () => {
  assert.deepEqual(issuesOf(RULES), []);
  const expected = [
    'policy: the policy stage does not run (security disabled, or not in security.stages): nothing would enforce these rules',
  ];
  assert.deepEqual(issuesOf(`${RULES}security:\n  stages: [gate, validate]\n`), expected);
  assert.deepEqual(issuesOf(`${RULES}security:\n  enabled: false\n`), expected);
});

test('groups unknown to the user store are refused when the store is read', () => {
  assert.deepEqual(issuesOf(RULES, { knownGroups: new Set(['sales']) }), [
    'policy.rules[0].match.groups: no user has the group "support"',
  ]);
});

test('require-authentication is refused while sipwarden does not authenticate by itself', () => {
  assert.deepEqual(
    issuesOf(
      'policy:\n  rules:\n    - { name: auth, match: { authenticated: false }, action: require-authentication }\n',
    ),
    [
      'policy.rules[0].action: require-authentication needs sipwarden to authenticate by itself (the authenticate stage in local mode); none is configured',
    ],
  );
  // With sipwarden authenticating by itself, the rule is accepted.
  assert.deepEqual(
    issuesOf(
      'security:\n  settings:\n    authenticate: { mode: local }\npolicy:\n  rules:\n    - { name: auth, match: { authenticated: false }, action: require-authentication }\n',
    ),
    [],
  );
});
