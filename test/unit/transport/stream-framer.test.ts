import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type FramerLimits, type FramingError, StreamFramer } from '../../../src/transport/stream-framer.ts';

type Event = { kind: 'message'; text: string } | { kind: 'ping' } | { kind: 'error'; code: string };

const LIMITS: FramerLimits = { maxHeaderBytes: 1024, maxMessageBytes: 4096 };

function frame(chunks: readonly (string | Buffer)[], limits: FramerLimits = LIMITS): Event[] {
  const events: Event[] = [];
  const framer = new StreamFramer(limits, {
    message: (data) => events.push({ kind: 'message', text: data.toString('latin1') }),
    ping: () => events.push({ kind: 'ping' }),
    error: (error: FramingError) => events.push({ kind: 'error', code: error.code }),
  });
  for (const chunk of chunks) framer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  return events;
}

const messages = (events: Event[]): string[] =>
  events.flatMap((event) => (event.kind === 'message' ? [event.text] : []));

const OPTIONS = 'OPTIONS sip:a@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
const MESSAGE = 'MESSAGE sip:a@example.com SIP/2.0\r\nCSeq: 2 MESSAGE\r\nContent-Length: 5\r\n\r\nhello';

describe('stream framer', () => {
  test('delivers two pipelined messages from one chunk as two', () => {
    assert.deepEqual(messages(frame([OPTIONS + MESSAGE])), [OPTIONS, MESSAGE]);
  });

  test('delivers a message split byte by byte once', () => {
    assert.deepEqual(messages(frame([...MESSAGE])), [MESSAGE]);
  });

  test('reads the compact form l and any letter case of Content-Length', () => {
    const compact = 'MESSAGE sip:a SIP/2.0\r\nL : 3\r\n\r\nabc';
    const upper = 'MESSAGE sip:a SIP/2.0\r\nCONTENT-LENGTH:3\r\n\r\nxyz';
    assert.deepEqual(messages(frame([compact + upper])), [compact, upper]);
  });

  test('takes a message without Content-Length to have an empty body', () => {
    const message = 'OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n';
    assert.deepEqual(messages(frame([message + OPTIONS])), [message, OPTIONS]);
  });

  test('does not take a header that only starts like Content-Length for it', () => {
    const message = 'OPTIONS sip:a SIP/2.0\r\nLength: 9\r\nContent-Lengthy: 7\r\n\r\n';
    assert.deepEqual(messages(frame([message])), [message]);
  });

  test('reads a Content-Length value folded onto the next line', () => {
    const message = 'MESSAGE sip:a SIP/2.0\r\nContent-Length:\r\n 2\r\n\r\nok';
    assert.deepEqual(messages(frame([message])), [message]);
  });

  test('skips CRLFs before a start-line', () => {
    assert.deepEqual(frame(['\r\n', OPTIONS, '\r\n', OPTIONS]), [
      { kind: 'message', text: OPTIONS },
      { kind: 'message', text: OPTIONS },
    ]);
  });

  test('reports a CRLFCRLF between messages as a keep-alive ping, also split across chunks', () => {
    assert.deepEqual(frame(['\r\n\r\n', '\r', '\n\r', '\n', OPTIONS]), [
      { kind: 'ping' },
      { kind: 'ping' },
      { kind: 'message', text: OPTIONS },
    ]);
  });

  test('finds the end of headers when CRLFCRLF is split across chunks', () => {
    const cut = OPTIONS.length - 3;
    assert.deepEqual(
      messages(frame([OPTIONS.slice(0, cut), OPTIONS.slice(cut, cut + 1), OPTIONS.slice(cut + 1)])),
      [OPTIONS],
    );
  });

  test('rejects a Content-Length over the message limit with SW_ERR_MESSAGE_TOO_LARGE', () => {
    const events = frame(['MESSAGE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n']);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_MESSAGE_TOO_LARGE' }]);
  });

  test('rejects headers plus body over the message limit even when each fits', () => {
    const events = frame(['MESSAGE sip:a SIP/2.0\r\nContent-Length: 4090\r\n\r\n'], LIMITS);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_MESSAGE_TOO_LARGE' }]);
  });

  test('rejects a huge Content-Length without overflowing', () => {
    const events = frame(['MESSAGE sip:a SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n']);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_MESSAGE_TOO_LARGE' }]);
  });

  test('rejects headers that pass the header limit without CRLFCRLF', () => {
    const events = frame(['OPTIONS sip:a SIP/2.0\r\n', `X-Long: ${'a'.repeat(1100)}`]);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_HEADERS_TOO_LARGE' }]);
  });

  test('rejects headers over the header limit that arrive with their CRLFCRLF', () => {
    const events = frame([`OPTIONS sip:a SIP/2.0\r\nX-Long: ${'a'.repeat(1100)}\r\n\r\n`]);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_HEADERS_TOO_LARGE' }]);
  });

  test('hands the header block of a message refused for its Content-Length to the sink, to answer it', () => {
    const head = 'INVITE sip:a SIP/2.0\r\nCall-ID: big\r\nContent-Length: 5000\r\n\r\n';
    const errors: FramingError[] = [];
    const framer = new StreamFramer(LIMITS, {
      message: () => {},
      ping: () => {},
      error: (e) => errors.push(e),
    });
    framer.push(Buffer.from(OPTIONS + head + 'x'.repeat(100), 'latin1'));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.code, 'SW_ERR_MESSAGE_TOO_LARGE');
    assert.equal(errors[0]!.head?.toString('latin1'), head);
  });

  test('hands at most maxHeaderBytes of headers that never end to the sink', () => {
    const errors: FramingError[] = [];
    const framer = new StreamFramer(LIMITS, {
      message: () => {},
      ping: () => {},
      error: (e) => errors.push(e),
    });
    const start = 'OPTIONS sip:a SIP/2.0\r\nCall-ID: long\r\n';
    framer.push(Buffer.from(start, 'latin1'));
    framer.push(Buffer.from(`X-Long: ${'a'.repeat(3000)}`, 'latin1'));
    assert.equal(errors[0]?.code, 'SW_ERR_HEADERS_TOO_LARGE');
    assert.equal(errors[0]?.head?.length, LIMITS.maxHeaderBytes);
    assert.ok(errors[0]?.head?.toString('latin1').startsWith(start));
  });

  for (const value of ['', 'abc', '-1', '1 2', '0x10', '+5', '5;x']) {
    test(`rejects Content-Length ${JSON.stringify(value)} with SW_ERR_BAD_CONTENT_LENGTH`, () => {
      const events = frame([`MESSAGE sip:a SIP/2.0\r\nContent-Length: ${value}\r\n\r\n`]);
      assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_BAD_CONTENT_LENGTH' }]);
    });
  }

  test('rejects two Content-Length headers that disagree', () => {
    const events = frame(['MESSAGE sip:a SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nabc']);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_BAD_CONTENT_LENGTH' }]);
  });

  test('ignores all input after an error', () => {
    const events = frame(['MESSAGE sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n', OPTIONS, '\r\n\r\n']);
    assert.deepEqual(events, [{ kind: 'error', code: 'SW_ERR_BAD_CONTENT_LENGTH' }]);
  });

  test('reports a message as partial until its last body byte arrives', () => {
    const framer = new StreamFramer(LIMITS, { message: () => {}, ping: () => {}, error: () => {} });
    framer.push(Buffer.from('\r\n'));
    assert.equal(framer.partial, false);
    framer.push(Buffer.from(MESSAGE.slice(0, -1)));
    assert.equal(framer.partial, true);
    framer.push(Buffer.from(MESSAGE.slice(-1)));
    assert.equal(framer.partial, false);
  });

  test('hands out a message that fills its chunk as a view, without a copy', () => {
    const chunk = Buffer.from(OPTIONS);
    let delivered: Buffer | undefined;
    new StreamFramer(LIMITS, { message: (data) => (delivered = data), ping: () => {}, error: () => {} }).push(
      chunk,
    );
    assert.equal(delivered?.buffer, chunk.buffer);
  });

  test('delivers every message the same at every single split point', () => {
    const stream = `\r\n${OPTIONS}${MESSAGE}\r\n\r\n${OPTIONS}`;
    const expected = frame([stream]);
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(frame([stream.slice(0, cut), stream.slice(cut)]), expected, `split at ${cut}`);
    }
  });
});

/** Cuts `bytes` at the given points (sorted, deduplicated, within range). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
const sipMessage = fc
  .record({
    method: fc.constantFrom('INVITE', 'OPTIONS', 'BYE', 'MESSAGE'),
    headers: fc.array(fc.tuple(token, fc.stringMatching(/^[ -~]{0,40}$/)), { maxLength: 6 }),
    body: fc.stringMatching(/^[\s\S]{0,200}$/),
    compact: fc.boolean(),
    leading: fc.constantFrom('', '\r\n', '\r\n\r\n'),
  })
  .map(({ method, headers, body, compact, leading }) => {
    const lines = headers
      .filter(([name]) => !/^(l|content-length)$/i.test(name))
      .map(([name, value]) => `${name}: ${value}\r\n`);
    const length = Buffer.byteLength(body, 'latin1');
    const head = `${method} sip:x@example.com SIP/2.0\r\n${lines.join('')}${compact ? 'l' : 'Content-Length'}: ${length}\r\n\r\n`;
    return { leading, message: head + body };
  });

/** Input that stresses the framer: line breaks, header names, colons, digits, and raw bytes. */
const hostileStream = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '\r\n',
        '\r\n\r\n',
        '\r',
        '\n',
        'INVITE sip:a SIP/2.0\r\n',
        'l:',
        'L :',
        'Content-Length:',
        'content-length :',
        ' ',
        '\t',
        '0',
        '7',
        '12',
        '99999999999',
        ':',
        'X-A: b\r\n',
      ),
      fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    ),
    { maxLength: 80, size: 'large' },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

describe('stream framer properties', () => {
  test('delivers the same messages however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(sipMessage, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (items, cuts) => {
          const stream = Buffer.from(items.map((item) => item.leading + item.message).join(''), 'latin1');
          const events = frame(split(stream, cuts), { maxHeaderBytes: 2048, maxMessageBytes: 8192 });
          assert.deepEqual(
            messages(events),
            items.map((item) => item.message),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('never throws on arbitrary bytes and gives the same events however they are split', () => {
    const limits = { maxHeaderBytes: 96, maxMessageBytes: 160 };
    fc.assert(
      fc.property(hostileStream, fc.array(fc.nat(), { maxLength: 40 }), (stream, cuts) => {
        const whole = frame([stream], limits);
        for (const event of whole) {
          if (event.kind === 'message') assert.ok(event.text.length <= limits.maxMessageBytes);
        }
        assert.deepEqual(frame(split(stream, cuts), limits), whole);
      }),
      { numRuns: 1000 },
    );
  });
});
