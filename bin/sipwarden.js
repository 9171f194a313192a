#!/usr/bin/env node
// The `sipwarden` command. It runs the build in dist/ (made by `npm run build`, and by
// `npm ci` / `npm install` in a checkout through the `prepare` script). In a checkout whose
// sources changed after the last build, it runs the TypeScript sources through tsx instead,
// so an edit takes effect without a rebuild; the build is the faster of the two (tsx wraps
// every function it creates to keep its name).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = fileURLToPath(new URL('../src/', import.meta.url));
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

/** Newest modification time of any file under `dir` (a few hundred files: a millisecond). */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const mtime = statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function buildIsCurrent() {
  if (!existsSync(built)) return false;
  if (!existsSync(sourceDir)) return true;
  return statSync(built).mtimeMs >= newestMtime(sourceDir);
}

if (buildIsCurrent() || !(existsSync(source) && tsxAvailable())) {
  if (existsSync(built)) {
    await import(built.href);
  } else {
    process.stderr.write('sipwarden: no build found: run `npm ci` (checkout) or `npm run build` first\n');
    process.exitCode = 1;
  }
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
}
