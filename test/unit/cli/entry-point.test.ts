import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../interop/harness/sipwarden.ts';
import { tempDir } from '../../interop/harness/workdir.ts';

/** A checkout in miniature: the real bin/sipwarden.js, a source and a build that say which ran. */
function miniCheckout(): string {
  const root = tempDir('entry');
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
  copyFileSync(join(REPO_ROOT, 'bin', 'sipwarden.js'), join(root, 'bin', 'sipwarden.js'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  writeFileSync(
    join(root, 'src', 'cli', 'main.ts'),
    "const which: string = 'sources';\nconsole.log(which);\n",
  );
  writeFileSync(join(root, 'dist', 'cli', 'main.js'), "console.log('build');\n");
  return root;
}

function run(root: string): string {
  return execFileSync(process.execPath, [join(root, 'bin', 'sipwarden.js')], { encoding: 'utf8' }).trim();
}

function setMtime(path: string, seconds: number): void {
  utimesSync(path, seconds, seconds);
}

test('the command runs the build when it is newer than every source file', () => {
  const root = miniCheckout();
  setMtime(join(root, 'src', 'cli', 'main.ts'), 1_000_000);
  setMtime(join(root, 'dist', 'cli', 'main.js'), 2_000_000);
  assert.equal(run(root), 'build');
});

test('the command runs the sources through tsx when a source changed after the build', () => {
  const root = miniCheckout();
  setMtime(join(root, 'dist', 'cli', 'main.js'), 1_000_000);
  setMtime(join(root, 'src', 'cli', 'main.ts'), 2_000_000);
  assert.equal(run(root), 'sources');
});
