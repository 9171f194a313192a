import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../../../src/metrics/metrics.ts';

test('message verdicts are counted per stage and verdict', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.message('gate', 'pass');
  metrics.message('gate', 'pass');
  metrics.message('detect:flood', 'block');
  const text = await metrics.text();
  assert.match(text, /^sipwarden_messages_total\{stage="gate",verdict="pass"\} 2$/m);
  assert.match(text, /^sipwarden_messages_total\{stage="detect:flood",verdict="block"\} 1$/m);
});

test('events are counted per type and action', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.event('flood', 'block');
  assert.match(await metrics.text(), /^sipwarden_events_total\{type="flood",action="block"\} 1$/m);
});

test('processing times fall into buckets from 50 microseconds to 100 ms', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.processing(0.00003);
  metrics.processing(0.2);
  const text = await metrics.text();
  assert.match(text, /^sipwarden_processing_seconds_bucket\{le="0\.00005"\} 1$/m);
  assert.match(text, /^sipwarden_processing_seconds_bucket\{le="0\.1"\} 1$/m);
  assert.match(text, /^sipwarden_processing_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(text, /^sipwarden_processing_seconds_count 2$/m);
});

test('gauges and transport counters are read from the providers at scrape time', async () => {
  const metrics = createMetrics({ processMetrics: false });
  let transactions = 3;
  metrics.setProvider(() => ({
    transactions,
    dialogs: 2,
    blocks: 5,
    activity: { keys: 40, approxBytes: 4096 },
    transport: {
      connections: 7,
      udpDatagramsIn: 1000,
      streamMessagesIn: 20,
      sendFailures: 1,
      rejectedConnections: 0,
      framingErrors: 0,
    },
  }));
  let text = await metrics.text();
  for (const line of [
    'sipwarden_transactions 3',
    'sipwarden_dialogs 2',
    'sipwarden_blocks_active 5',
    'sipwarden_activity_keys 40',
    'sipwarden_activity_bytes 4096',
    'sipwarden_transport_connections 7',
    'sipwarden_transport_udp_datagrams_total 1000',
    'sipwarden_transport_stream_messages_total 20',
    'sipwarden_transport_send_failures_total 1',
  ]) {
    assert.ok(text.split('\n').includes(line), line);
  }
  transactions = 9;
  text = await metrics.text();
  assert.ok(text.split('\n').includes('sipwarden_transactions 9'));
});

test('readings from several providers are merged', async () => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.setProvider(() => ({ transactions: 1 }), 'gateway');
  metrics.setProvider(() => ({ eventAggregates: 4 }), 'management');
  const lines = (await metrics.text()).split('\n');
  assert.ok(lines.includes('sipwarden_transactions 1'));
  assert.ok(lines.includes('sipwarden_event_aggregates_open 4'));
});

test('two registries count apart', async () => {
  const first = createMetrics({ processMetrics: false });
  const second = createMetrics({ processMetrics: false });
  first.message('gate', 'drop');
  assert.doesNotMatch(await second.text(), /verdict="drop"/);
});

test('process metrics are included by default', async () => {
  const metrics = createMetrics();
  assert.match(await metrics.text(), /^process_cpu_user_seconds_total /m);
});

test('label children stay bounded however many stage names come', async () => {
  const metrics = createMetrics({ processMetrics: false });
  for (let i = 0; i < 3000; i++) metrics.message(`stage-${i}`, 'pass');
  const text = await metrics.text();
  const series = text.split('\n').filter((line) => line.startsWith('sipwarden_messages_total{'));
  assert.ok(series.length <= 1025, `${series.length} series`);
  assert.match(text, /stage="other",verdict="pass"\} 1976/);
});
