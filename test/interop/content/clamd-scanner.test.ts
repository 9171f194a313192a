/**
 * The clamd client against Debian's clamd, started by the harness on a free loopback port and
 * a unix socket with an EICAR-only database: verdicts over both transports, content streamed
 * in chunks, the pool, clamd's size limit, and clamd down, slow (SIGSTOP), busy and restarted.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ClamdScanner } from '../../../src/content/clamd-scanner.ts';
import { CLAMAV_TESTFILES, clamdAvailable, EICAR, EICAR_SIGNATURE, startClamd } from '../harness/clamd.ts';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';

after(() => stopAll());

const skip = clamdAvailable() ? false : 'clamd not installed (apt-get install clamav-daemon)';

async function* inPieces(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) {
    yield data.subarray(offset, offset + size);
  }
}

describe('ClamdScanner with a real clamd', { skip }, () => {
  test('EICAR over TCP is infected, with the signature clamd names', async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
    try {
      const result = await scanner.scan(Buffer.concat([Buffer.from('hello '), EICAR]));
      assert.deepEqual(result, { verdict: 'infected', signature: EICAR_SIGNATURE });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test('EICAR streamed in 7-byte pieces and 5-byte chunks over the unix socket is infected', async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { socket: clamd.socket }, chunkBytes: 5 });
    try {
      const result = await scanner.scan(inPieces(EICAR, 7));
      assert.deepEqual(result, { verdict: 'infected', signature: EICAR_SIGNATURE });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test("Debian's test samples are clean, on pooled connections", async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
    try {
      const samples = readdirSync(CLAMAV_TESTFILES).slice(0, 10);
      assert.ok(samples.length >= 5, `samples in ${CLAMAV_TESTFILES}`);
      for (const name of samples) {
        const result = await scanner.scan(readFileSync(join(CLAMAV_TESTFILES, name)));
        assert.deepEqual(result, { verdict: 'clean' }, name);
      }
      // The same file with EICAR appended is found: the clean answers were not blind.
      const last = readFileSync(join(CLAMAV_TESTFILES, samples[0]!));
      const infected = await scanner.scan(Buffer.concat([last, EICAR]));
      assert.equal(infected.verdict, 'infected');
      // One after the other: one IDSESSION connection served them all.
      assert.equal(scanner.connectionsOpened, 1);
      assert.equal(scanner.load.idleConnections, 1);
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test("content past clamd's StreamMaxLength is an error, not clean, and the scanner goes on", async () => {
    const clamd = await startClamd({ streamMaxLength: '4K' });
    const scanner = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port }, chunkBytes: 1024 });
    try {
      const big = Buffer.alloc(256 * 1024, 0x41);
      const result = await scanner.scan(inPieces(big, 8192));
      assert.equal(result.verdict, 'error');
      assert.match(result.verdict === 'error' ? result.reason : '', /StreamMaxLength/);
      assert.deepEqual(await scanner.scan(EICAR), { verdict: 'infected', signature: EICAR_SIGNATURE });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test('content past maxContentBytes is an error before clamd sees all of it', async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { socket: clamd.socket }, maxContentBytes: 1000 });
    try {
      const result = await scanner.scan(inPieces(Buffer.alloc(4000, 0x41), 500));
      assert.deepEqual(result, {
        verdict: 'error',
        reason: 'content larger than 1000 bytes, the scan limit',
      });
      assert.deepEqual(await scanner.scan(EICAR), { verdict: 'infected', signature: EICAR_SIGNATURE });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test('nothing listening: an error result, no rejection', async () => {
    const port = await freePort('127.0.0.1', ['tcp']);
    const scanner = new ClamdScanner({ endpoint: { host: '127.0.0.1', port } });
    const result = await scanner.scan(EICAR);
    assert.equal(result.verdict, 'error');
    assert.match(result.verdict === 'error' ? result.reason : '', /unreachable \(ECONNREFUSED\)/);
    await scanner.close();
  });

  test('clamd stopped (SIGSTOP): the scan ends at its timeout; a full queue answers busy at once', async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({
      endpoint: { host: clamd.host, port: clamd.port },
      scanTimeoutMs: 1500,
      maxConcurrentScans: 1,
      maxQueuedScans: 1,
    });
    try {
      assert.equal((await scanner.scan(Buffer.from('warm'))).verdict, 'clean');
      clamd.pause();
      const first = scanner.scan(EICAR);
      const second = scanner.scan(EICAR);
      assert.equal(scanner.load.active, 1);
      assert.equal(scanner.load.queued, 1);
      const third = await scanner.scan(EICAR);
      assert.deepEqual(third, { verdict: 'error', reason: 'scanner busy: too many scans waiting' });
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual(a, { verdict: 'error', reason: 'no clamd answer within 1500 ms' });
      assert.deepEqual(b, { verdict: 'error', reason: 'no clamd answer within 1500 ms' });
      clamd.resume();
      assert.deepEqual(await scanner.scan(EICAR), { verdict: 'infected', signature: EICAR_SIGNATURE });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test("the caller's signal aborts a scan", async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { socket: clamd.socket }, scanTimeoutMs: 10000 });
    try {
      clamd.pause();
      const controller = new AbortController();
      const pending = scanner.scan(EICAR, controller.signal);
      setTimeout(() => controller.abort(), 200);
      assert.deepEqual(await pending, { verdict: 'error', reason: 'scan aborted' });
    } finally {
      await scanner.close();
      await clamd.stop();
    }
  });

  test('clamd killed and started again on its port: an error meanwhile, then scans again', async () => {
    const clamd = await startClamd();
    const scanner = new ClamdScanner({ endpoint: { host: clamd.host, port: clamd.port } });
    try {
      assert.equal((await scanner.scan(EICAR)).verdict, 'infected');
      assert.equal(scanner.load.idleConnections, 1);
      await clamd.kill();
      assert.equal((await scanner.scan(EICAR)).verdict, 'error');
      const again = await startClamd({ port: clamd.port });
      try {
        assert.deepEqual(await scanner.scan(EICAR), { verdict: 'infected', signature: EICAR_SIGNATURE });
      } finally {
        await again.stop();
      }
    } finally {
      await scanner.close();
    }
  });
});
