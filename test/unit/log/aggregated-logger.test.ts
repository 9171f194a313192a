import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aggregateLog } from '../../../src/log/aggregated-logger.ts';
import type { Logger } from '../../../src/log/logger.ts';

interface Line {
  level: string;
  context: Record<string, unknown> | undefined;
  message: string;
  bindings: Record<string, unknown>;
}

function recorder(lines: Line[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: string) =>
    (first: Record<string, unknown> | string, second?: string): void => {
      if (typeof first === 'string') lines.push({ level, context: undefined, message: first, bindings });
      else lines.push({ level, context: first, message: second ?? '', bindings });
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (more) => recorder(lines, { ...bindings, ...more }),
  };
}

describe('the aggregated logger', () => {
  test('a line repeated per packet is written a few times per window, then summarized with its count', () => {
    const lines: Line[] = [];
    let now = 0;
    const log = aggregateLog(recorder(lines), { windowMs: 10_000, burst: 3, now: () => now });
    const proxy = log.child({ module: 'proxy' });
    for (let i = 0; i < 100_000; i++) proxy.warn({ address: `10.0.${i >> 8}.${i & 255}` }, 'send failed');
    assert.equal(lines.length, 3);
    assert.deepEqual(lines[0]!.bindings, { module: 'proxy' });
    now = 10_000;
    proxy.warn({ address: '10.9.9.9' }, 'send failed');
    assert.equal(lines.length, 5, 'the summary of the first window, then the first line of the next');
    assert.equal(lines[3]!.context?.suppressed, 99_997);
    assert.match(lines[3]!.message, /^send failed \(and 99997 more like it\)$/);
    assert.equal(lines[4]!.context?.address, '10.9.9.9');
    log.close();
  });

  test('distinct messages are grouped apart, and bounded in number', () => {
    const lines: Line[] = [];
    const log = aggregateLog(recorder(lines), { burst: 1, maxGroups: 4, now: () => 0 });
    for (let i = 0; i < 1000; i++) log.info(`made-up message ${i}`);
    // Four groups of their own, then one shared by every further message.
    assert.equal(lines.length, 5);
    log.close();
    assert.equal(lines.length, 6);
    assert.equal(lines[5]!.context?.suppressed, 995);
  });
});
