import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogSink } from '../../../src/events/log-sink.ts';
import type { SecurityEvent } from '../../../src/events/types.ts';
import type { LogFn, Logger } from '../../../src/log/logger.ts';

interface Line {
  readonly level: string;
  readonly context: Record<string, unknown>;
  readonly message: string;
}

function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string): LogFn =>
    (first: Record<string, unknown> | string, second?: string) => {
      if (typeof first === 'string') lines.push({ level, context: {}, message: first });
      else lines.push({ level, context: first, message: second ?? '' });
    };
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: () => logger,
  };
  return logger;
}

const base: SecurityEvent = {
  type: 'flood',
  stage: 'detect:flood',
  rule: 'invite-flood',
  action: 'block',
  source: { address: '203.0.113.7', port: 5060, transport: 'udp' },
  key: 'src:203.0.113.7',
  reason: 'more than 50 INVITE in 10 s',
  firstSeen: 1_750_000_000_000,
  lastSeen: 1_750_000_001_000,
  count: 12,
  aggregateId: 'a-1',
  final: true,
};

test('a block event is logged at warn with its fields and the reason as the message', () => {
  const lines: Line[] = [];
  createLogSink(recordingLogger(lines)).write([base]);
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(line!.level, 'warn');
  assert.equal(line!.message, 'more than 50 INVITE in 10 s');
  assert.equal(line!.context.event, 'flood');
  assert.equal(line!.context.rule, 'invite-flood');
  assert.equal(line!.context.src, '203.0.113.7');
  assert.equal(line!.context.count, 12);
  assert.equal(line!.context.firstSeen, '2025-06-15T15:06:40.000Z');
});

test('reject, drop and tarpit events are logged at warn, alerts and unblocks at info', () => {
  const lines: Line[] = [];
  const sink = createLogSink(recordingLogger(lines));
  sink.write(
    (['reject', 'drop', 'tarpit', 'alert', 'unblock'] as const).map((action) => ({ ...base, action })),
  );
  assert.deepEqual(
    lines.map((line) => line.level),
    ['warn', 'warn', 'warn', 'info', 'info'],
  );
});
