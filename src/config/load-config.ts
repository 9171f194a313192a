/**
 * Loads the YAML configuration: file -> text -> YAML document -> schema. Never throws on
 * a bad file: every failure comes back as lines of `path: reason` for the operator.
 */
import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { ConfigErrorCode } from './errors.ts';
import { formatIssues, genericMessage } from './format-issues.ts';
import { configSchema, type SipwardenConfig } from './schema.ts';

/** A configuration is a page of settings; anything this large is the wrong file. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export type ConfigResult =
  | { readonly ok: true; readonly config: SipwardenConfig }
  | { readonly ok: false; readonly code: ConfigErrorCode; readonly errors: readonly string[] };

/** The embedded defaults: listen on UDP and TCP 0.0.0.0:5060, forward to 127.0.0.1:5080 over UDP. */
export function defaultConfig(): SipwardenConfig {
  return configSchema.parse({});
}

/** Validates an already parsed document (YAML or an object built in code). */
export function validateConfig(input: unknown): ConfigResult {
  const result = configSchema.safeParse(input ?? {}, { error: genericMessage });
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    code: 'SW_ERR_CONFIG_INVALID',
    errors: formatIssues(result.error.issues, configSchema),
  };
}

/** `sourceName` names the text in syntax errors: usually the file path. */
export function parseConfigText(text: string, sourceName: string): ConfigResult {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    const errors = document.errors.slice(0, 10).map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return `${sourceName}: line ${line}, column ${col}: ${firstLine(error.message)}`;
    });
    return { ok: false, code: 'SW_ERR_CONFIG_SYNTAX', errors };
  }
  let data: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs").
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, code: 'SW_ERR_CONFIG_SYNTAX', errors: [`${sourceName}: ${messageOf(error)}`] };
  }
  return validateConfig(data);
}

export function loadConfigFile(path: string): ConfigResult {
  let text: string;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return unreadable(path, 'not a regular file');
    if (stat.size > MAX_CONFIG_BYTES) return unreadable(path, `larger than ${MAX_CONFIG_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return unreadable(path, describeFsError(error));
  }
  return parseConfigText(text, path);
}

function unreadable(path: string, reason: string): ConfigResult {
  return { ok: false, code: 'SW_ERR_CONFIG_UNREADABLE', errors: [`${path}: cannot read: ${reason}`] };
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'not a regular file';
  return messageOf(error);
}

function messageOf(error: unknown): string {
  return firstLine(error instanceof Error ? error.message : String(error));
}

function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end === -1 ? text : text.slice(0, end);
}
