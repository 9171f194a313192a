/**
 * The content stage on its own, with a real clamd behind it: what it scans and when, and a
 * retransmission arriving while its request's scan is pending sharing that scan (counted
 * by a wrapper around the real client).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { defaultConfig } from '../../../src/config/load-config.ts';
import { ClamdScanner } from '../../../src/content/clamd-scanner.ts';
import type { ContentScanner } from '../../../src/content/scanner.ts';
import type { RequestContext } from '../../../src/core/inspector.ts';
import { STAGE_PASS, type StageVerdict } from '../../../src/security/stage.ts';
import { createContentStage } from '../../../src/security/stages/content.ts';
import { flow, makeDeps, parseRequest } from '../../unit/security/stages/helpers.ts';
import { clamdAvailable, EICAR, EICAR_SIGNATURE, startClamd } from '../harness/clamd.ts';
import { stopAll } from '../harness/process.ts';

after(() => stopAll());

const skip = clamdAvailable() ? false : 'clamd not installed (apt-get install clamav-daemon)';

function request(method: string, branch: string, body: Buffer, callId = 'c1'): RequestContext {
  const head = [
    `${method} sip:bob@pbx.example.com SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@pbx.example.com>;tag=a',
    'To: <sip:bob@pbx.example.com>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    'Content-Type: text/plain',
    `Content-Length: ${body.length}`,
    '',
    '',
  ].join('\r\n');
  const text = Buffer.concat([Buffer.from(head, 'latin1'), body]).toString('latin1');
  return { flow: flow('192.0.2.1'), direction: 'client', request: parseRequest(text), inDialog: false };
}

test('one scan for a request and its retransmission while pending; a new request gets its own', {
  skip,
}, async () => {
  const clamd = await startClamd();
  const real = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
  let scans = 0;
  const counting: ContentScanner = {
    scan: (content, signal) => {
      scans++;
      return real.scan(content, signal);
    },
    close: () => real.close(),
  };
  const settings = { ...defaultConfig().content, enabled: true };
  const stage = createContentStage(undefined, { ...makeDeps(), content: { scanner: counting, settings } });
  try {
    clamd.pause();
    const first = stage.request!(request('MESSAGE', 'one', EICAR), 0);
    const again = stage.request!(request('MESSAGE', 'one', EICAR), 0);
    assert.ok(first instanceof Promise);
    assert.equal(again, first, 'the retransmission shares the pending scan');
    clamd.resume();
    const verdict = (await first) as Extract<StageVerdict, { action: 'reject' }>;
    assert.equal(verdict.action, 'reject');
    assert.equal(verdict.status, 403);
    assert.equal(verdict.reason, 'Forbidden');
    assert.equal(verdict.event.details?.signature, EICAR_SIGNATURE);
    assert.equal(scans, 1);
    // Once settled, the same request is scanned again (a late retransmission the core did not absorb).
    await stage.request!(request('MESSAGE', 'one', EICAR), 0);
    assert.equal(scans, 2);
    const other = await stage.request!(request('MESSAGE', 'two', Buffer.from('hello'), 'c2'), 0);
    assert.equal(other, STAGE_PASS);
    assert.equal(scans, 3);
  } finally {
    await real.close();
    await clamd.stop();
  }
});

test('a message of many parts is scanned within one scanTimeoutMs, not one per part', { skip }, async () => {
  const clamd = await startClamd();
  const real = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
  // clamd answering each part after 800 ms: each within the timeout, three of them past it.
  const slow: ContentScanner = {
    scan: async (content, signal) => {
      await new Promise((resolve) => setTimeout(resolve, 800));
      return real.scan(content, signal);
    },
    close: () => real.close(),
  };
  const base = defaultConfig().content;
  const settings = { ...base, enabled: true, clamd: { ...base.clamd, scanTimeoutMs: 1500 } };
  const stage = createContentStage(undefined, { ...makeDeps(), content: { scanner: slow, settings } });
  const body = Buffer.from(
    ['--b', '', 'one', '--b', '', 'two', '--b', '', 'three', '--b--', ''].join('\r\n'),
    'latin1',
  );
  const context = request('MESSAGE', 'parts', body);
  const multipart = {
    ...context,
    request: {
      ...context.request,
      headers: context.request.headers.map((h) =>
        h.name === 'content-type' ? { name: h.name, value: 'multipart/mixed; boundary=b' } : h,
      ),
    },
  };
  try {
    const verdict = (await stage.request!(multipart, 0)) as Extract<StageVerdict, { action: 'reject' }>;
    assert.equal(verdict.action, 'reject');
    assert.equal(verdict.status, 503);
    assert.equal(verdict.event.rule, 'scan-failed');
    assert.equal(verdict.event.reason, 'content not scanned: message not scanned within 1500 ms');
    assert.equal(verdict.event.details?.part, 2);
  } finally {
    await real.close();
    await clamd.stop();
  }
});

test('not scanned: other methods, empty bodies; with content off the stage has no request hook', async () => {
  const scanner: ContentScanner = {
    scan: () => assert.fail('nothing here is to be scanned'),
    close: async () => undefined,
  };
  const settings = { ...defaultConfig().content, enabled: true };
  const stage = createContentStage(undefined, { ...makeDeps(), content: { scanner, settings } });
  assert.equal(stage.request!(request('INFO', 'i', EICAR), 0), STAGE_PASS);
  assert.equal(stage.request!(request('MESSAGE', 'm', Buffer.alloc(0)), 0), STAGE_PASS);
  assert.equal(createContentStage(undefined, makeDeps()).request, undefined);
});
