import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bodyParts, type ContentPart, decodeQuotedPrintable } from '../../../src/content/body-parts.ts';

const LIMITS = { maxParts: 16, maxDepth: 3 };

async function bytesOf(part: ContentPart): Promise<Buffer> {
  if (Buffer.isBuffer(part.content)) return part.content;
  const chunks: Buffer[] = [];
  for await (const chunk of part.content) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function decoded(type: string | undefined, encoding: string | undefined, body: string | Buffer) {
  const result = bodyParts(
    type,
    encoding,
    Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'),
    LIMITS,
  );
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return Promise.all(
    result.parts.map(async (p) => ({ type: p.type, text: (await bytesOf(p)).toString('latin1') })),
  );
}

function refusal(
  type: string | undefined,
  encoding: string | undefined,
  body: string,
  limits = LIMITS,
): string {
  const result = bodyParts(type, encoding, Buffer.from(body, 'latin1'), limits);
  assert.equal(result.ok, false);
  return result.ok ? '' : result.reason;
}

test('a plain body is one part, as it is; an empty body none', async () => {
  assert.deepEqual(await decoded('text/plain', undefined, 'hello'), [{ type: 'text/plain', text: 'hello' }]);
  assert.deepEqual(await decoded(undefined, undefined, 'x'), [
    { type: 'application/octet-stream', text: 'x' },
  ]);
  assert.deepEqual(await decoded('text/plain', undefined, ''), []);
});

test('base64 bodies are decoded, line breaks and all; large ones in blocks that add up', async () => {
  const text = 'The quick brown fox jumps over the lazy dog.';
  const encoded = Buffer.from(text)
    .toString('base64')
    .replace(/(.{16})/g, '$1\r\n');
  assert.deepEqual(await decoded('text/plain', 'BASE64', encoded), [{ type: 'text/plain', text }]);
  // Past one block (64 KiB): decoded as a stream, with lines of 76 characters (RFC 2045 6.8).
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
  const lines = big.toString('base64').replace(/(.{76})/g, '$1\r\n');
  const result = bodyParts('application/octet-stream', 'base64', Buffer.from(lines), LIMITS);
  assert.ok(result.ok);
  const part = result.parts[0]!;
  assert.ok(!Buffer.isBuffer(part.content), 'streamed, not decoded whole');
  assert.ok((await bytesOf(part)).equals(big));
});

test('quoted-printable: escapes, soft line breaks, and text that is not an escape', () => {
  const qp = Buffer.from('caf=C3=A9 =3D equal=\r\nsoft break=  \nand a lone = sign=4', 'latin1');
  assert.equal(decodeQuotedPrintable(qp).toString('utf8'), 'café = equalsoft breakand a lone = sign=4');
});

test('multipart: every leaf decoded by its own transfer encoding, nested parts and message/cpim opened', async () => {
  const inner = [
    '--in',
    'Content-Type: text/plain',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'a=3Db',
    '--in',
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('binary!').toString('base64'),
    '--in--',
  ].join('\r\n');
  const body = [
    'preamble',
    '--out',
    'Content-Type: text/plain',
    '',
    'first',
    '--out',
    'Content-Type: multipart/mixed; boundary=in',
    '',
    inner,
    '--out',
    'Content-Type: message/cpim',
    '',
    'From: <im:alice@example.com>',
    'To: <im:bob@example.com>',
    '',
    'Content-Type: text/plain',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('in cpim').toString('base64'),
    '--out--',
    'epilogue',
  ].join('\r\n');
  assert.deepEqual(await decoded('multipart/mixed; boundary="out"', undefined, body), [
    { type: 'text/plain', text: 'first' },
    { type: 'text/plain', text: 'a=b' },
    { type: 'application/octet-stream', text: 'binary!' },
    { type: 'text/plain', text: 'in cpim' },
  ]);
});

test('a message/cpim body (RFC 3862 example form) yields its MIME content', async () => {
  const body = [
    'From: MR SANDERS <im:piglet@100akerwood.com>',
    'To: Depressed Donkey <im:eeyore@100akerwood.com>',
    'DateTime: 2000-12-13T13:40:00-08:00',
    'Subject: the weather will be fine today',
    '',
    'Content-type: text/plain',
    'Content-ID: <1234567890@foo.com>',
    '',
    'Here is the text of my message.',
  ].join('\r\n');
  assert.deepEqual(await decoded('Message/CPIM', undefined, body), [
    { type: 'text/plain', text: 'Here is the text of my message.' },
  ]);
});

test('bodies that cannot be taken apart are refused, not passed unscanned', () => {
  assert.match(refusal('text/plain', 'x-uuencode', 'begin 644 x'), /unknown Content-Transfer-Encoding/);
  assert.match(refusal('multipart/mixed', undefined, '--b\r\n\r\nx\r\n--b--'), /valid boundary/);
  assert.match(refusal('multipart/mixed; boundary=b', undefined, 'no boundary here'), /without its boundary/);
  assert.match(
    refusal('multipart/mixed; boundary=b', undefined, '--b\r\n\r\nnever closed'),
    /closing boundary/,
  );
  assert.match(
    refusal('multipart/mixed; boundary=b', 'base64', '--b\r\n\r\nx\r\n--b--'),
    /encoded multipart/,
  );
  assert.match(refusal('not a type', undefined, 'x'), /bad Content-Type/);
  const many = `${Array.from({ length: 5 }, (_, i) => `--b\r\n\r\npart ${i}`).join('\r\n')}\r\n--b--`;
  assert.match(
    refusal('multipart/mixed; boundary=b', undefined, many, { maxParts: 4, maxDepth: 3 }),
    /too many/,
  );
  const nested = '--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--a--';
  assert.match(
    refusal('multipart/mixed; boundary=a', undefined, nested, { maxParts: 16, maxDepth: 1 }),
    /nested too deeply/,
  );
  // Empty multiparts count too: they cannot make the walk long.
  const empties = `${Array.from({ length: 20 }, () => '--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b--').join('\r\n')}\r\n--a--`;
  assert.match(refusal('multipart/mixed; boundary=a', undefined, empties), /too many/);
});
