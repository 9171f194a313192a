/**
 * SRTP termination micro-benchmark: what the relay does per packet of a terminated stream
 * (src/media/relay.ts with media.relay.srtp): an SRTP packet authenticated and decrypted in
 * place (unprotectInPlace), then encrypted into a reused buffer under the other key
 * (protectInto), for 172-byte 20 ms G.711 RTP. Baseline in the same process, interleaved
 * rounds: the same work written the obvious way on node:crypto, a new AES-CTR cipher and a
 * new output buffer per packet. Packets per second of one core, median of the rounds.
 * Writes bench/results/srtp.md.
 *
 *   node --import tsx bench/micro/srtp.bench.ts [--rounds 9] [--packets 20000] [--no-write]
 */
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { MasterKey, SrtpSession, type SrtpSuite, srtpSuite } from '../../src/media/srtp/index.ts';
import { deriveSrtpKeys } from '../../src/media/srtp/key-derivation.ts';
import { median } from '../stats.ts';
import { numberArg, publish } from './cli.ts';

const rounds = numberArg('rounds', 9);
const count = Math.min(60_000, numberArg('packets', 20_000));

function rtp(seq: number): Buffer {
  const packet = Buffer.alloc(172, seq & 0xff);
  packet[0] = 0x80;
  packet[1] = 8;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(seq * 160, 4);
  packet.writeUInt32BE(0x1234_5678, 8);
  return packet;
}

interface Case {
  readonly suite: SrtpSuite;
  readonly phoneKey: MasterKey;
  readonly ourKey: MasterKey;
  /** What the phone sent: SRTP packets in order. */
  readonly sent: readonly Buffer[];
}

function makeCase(name: string): Case {
  const suite = srtpSuite(name)!;
  const phoneKey = MasterKey.generate(suite);
  const phone = new SrtpSession(suite, phoneKey);
  const sent: Buffer[] = [];
  for (let i = 0; i < count; i++) sent.push(phone.protect(rtp(i)) as Buffer);
  return { suite, phoneKey, ourKey: MasterKey.generate(suite), sent };
}

/** sipwarden: in place, into a reused buffer. Returns packets per second. */
function terminated(c: Case): { rate: number; sink: number } {
  const rx = new SrtpSession(c.suite, c.phoneKey);
  const tx = new SrtpSession(c.suite, c.ourKey);
  const work = c.sent.map((p) => Buffer.from(p));
  const out = Buffer.allocUnsafe(2048);
  let sink = 0;
  const start = process.hrtime.bigint();
  for (const packet of work) {
    const length = rx.unprotectInPlace(packet);
    if (typeof length === 'string') throw new Error(length);
    const sealed = tx.protectInto(packet, out, length);
    if (typeof sealed === 'string') throw new Error(sealed);
    sink += out[sealed - 1]!;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { rate: work.length / seconds, sink };
}

/** Baseline: a new AES-CTR cipher and output buffers per packet (no replay list, ROC 0). */
function naive(c: Case): { rate: number; sink: number } {
  const inKeys = deriveSrtpKeys(c.phoneKey, c.suite);
  const outKeys = deriveSrtpKeys(c.ourKey, c.suite);
  const algorithm = c.suite.keyLength === 32 ? 'aes-256-ctr' : 'aes-128-ctr';
  const tagLength = c.suite.srtpTagLength;
  const roc = Buffer.alloc(4);
  const iv = (salt: Buffer, ssrc: number, seq: number) => {
    const block = Buffer.alloc(16);
    salt.copy(block, 0, 0, 14);
    block.writeUInt32BE((block.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    block.writeUInt16BE(block.readUInt16BE(12) ^ seq, 12);
    return block;
  };
  let sink = 0;
  const start = process.hrtime.bigint();
  for (const packet of c.sent) {
    const body = packet.subarray(0, packet.length - tagLength);
    const tag = createHmac('sha1', inKeys.authentication)
      .update(body)
      .update(roc)
      .digest()
      .subarray(0, tagLength);
    if (!timingSafeEqual(tag, packet.subarray(body.length))) throw new Error('authentication');
    const ssrc = body.readUInt32BE(8);
    const seq = body.readUInt16BE(2);
    const decipher = createCipheriv(algorithm, inKeys.encryption, iv(inKeys.salt, ssrc, seq));
    const plain = Buffer.concat([body.subarray(0, 12), decipher.update(body.subarray(12))]);
    const cipher = createCipheriv(algorithm, outKeys.encryption, iv(outKeys.salt, ssrc, seq));
    const encrypted = Buffer.concat([plain.subarray(0, 12), cipher.update(plain.subarray(12))]);
    const outTag = createHmac('sha1', outKeys.authentication).update(encrypted).update(roc).digest();
    const sealed = Buffer.concat([encrypted, outTag.subarray(0, tagLength)]);
    sink += sealed[sealed.length - 1]!;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { rate: c.sent.length / seconds, sink };
}

const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
const suites = ['AES_CM_128_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_80'];
const rows: string[] = [];
let sink = 0;
for (const name of suites) {
  const c = makeCase(name);
  const ours: number[] = [];
  const theirs: number[] = [];
  // A warm-up of each, then interleaved rounds.
  sink += terminated(c).sink + naive(c).sink;
  for (let r = 0; r < rounds; r++) {
    const a = terminated(c);
    const b = naive(c);
    ours.push(a.rate);
    theirs.push(b.rate);
    sink += a.sink + b.sink;
  }
  const mine = median(ours);
  const base = median(theirs);
  rows.push(
    `| ${name} | ${Math.round(mine)} | ${Math.round(base)} | ${(mine / base).toFixed(2)} | ${Math.round(mine / 50)} |`,
  );
}

const report = [
  '# SRTP termination per packet',
  '',
  `172-byte 20 ms G.711 RTP, ${count} packets per run, median of ${rounds} interleaved rounds in one`,
  'process (bench/micro/srtp.bench.ts): an SRTP packet authenticated, replay-checked and decrypted',
  'in place, then encrypted under another key into a reused buffer, as the relay does for a',
  'terminated stream; baseline: the same transform with a new AES-CTR cipher and new buffers per',
  `packet on node:crypto. Load average before: ${loadBefore}.`,
  '',
  '| suite | sipwarden packets/s (one core) | baseline packets/s | ratio | terminated G.711 calls per core, crypto only |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
  "A packet here is decrypted and encrypted again (mode both). In mode terminate a call's 100",
  'packets/s are each decrypted or encrypted once, the work of 50 of these: hence the last column',
  '(the relaying itself, measured in bench/load/media-relay.ts, comes on top).',
  '',
  `Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}.`,
  '',
].join('\n');
publish(report, 'srtp.md', sink);
