#!/usr/bin/env node
// The `sipwarden` command. In a checkout (src/ present and tsx installed by `npm ci`) it
// runs the TypeScript sources directly; in an installed package, the build in dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

function tsxAvailable() {
  try {
    import.meta.resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

if (existsSync(source) && tsxAvailable()) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write('sipwarden: no build found: run `npm ci` (checkout) or `npm run build` first\n');
  process.exitCode = 1;
}
