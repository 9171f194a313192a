#!/usr/bin/env node
// Bundles the operators' console (console/) into dist/console/ with esbuild: one script,
// one style sheet and the page, nothing fetched from elsewhere at run time (the management
// network may be offline), nothing inline (the page's Content Security Policy allows only
// this origin's files). Run by `npm run build`.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: { app: join(root, 'console', 'src', 'main.tsx') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2022'],
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
copyFileSync(join(root, 'console', 'index.html'), join(out, 'index.html'));
const sizes = Object.entries(result.metafile.outputs)
  .map(([file, output]) => `${file.slice(file.lastIndexOf('/') + 1)} ${(output.bytes / 1024).toFixed(1)} KB`)
  .join(', ');
process.stdout.write(`console built into dist/console: ${sizes}\n`);
