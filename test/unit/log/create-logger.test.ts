import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../src/log/create-logger.ts';
import type { Logger } from '../../../src/log/logger.ts';

function capture(level: Parameters<typeof createLogger>[0]['level']): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level, destination: { write: (line) => lines.push(JSON.parse(line)) } });
  return { logger, lines };
}

test('writes one JSON object per line with name, level word, ISO time and message', () => {
  const { logger, lines } = capture('info');
  logger.info({ port: 5060 }, 'sipwarden listening');
  assert.equal(lines.length, 1);
  const line = lines[0]!;
  assert.equal(line.name, 'sipwarden');
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'sipwarden listening');
  assert.equal(line.port, 5060);
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('drops lines below the configured level', () => {
  const { logger, lines } = capture('warn');
  logger.info('not written');
  logger.debug('not written');
  logger.warn('written');
  assert.deepEqual(
    lines.map((line) => line.msg),
    ['written'],
  );
});

test('a child logger adds its bindings to every line', () => {
  const { logger, lines } = capture('trace');
  logger.child({ module: 'transport' }).trace('bound');
  assert.equal(lines[0]?.module, 'transport');
  assert.equal(lines[0]?.level, 'trace');
});

test('an error in the context is serialized with its message', () => {
  const { logger, lines } = capture('info');
  logger.error({ err: new Error('boom') }, 'failed');
  assert.equal((lines[0]?.err as { message?: string } | undefined)?.message, 'boom');
});
