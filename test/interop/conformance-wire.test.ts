/**
 * The RFC 4475 and RFC 5118 torture messages sent to a running sipwarden (the real process,
 * default configuration, senders allowlisted so that only grammar judges them) over UDP and
 * over TCP, with Kamailio behind it answering every request it receives
 * (kamailio/answer-all.cfg: "200 Answered By Upstream"). The verdict is read on the wire,
 * answers matched by Call-ID on the sender's own socket.
 *
 * The messages name real-looking addresses (192.0.2.x is a real network on some machines):
 * everything runs inside a network namespace that has only `lo`, deleted at the end. It
 * needs root; without it the test is skipped, saying so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NetworkNamespace } from './harness/netns.ts';
import type { ManifestMessage, WireAnswer, WireReport } from './wire/send-torture.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'conformance');
const DRIVER = join(import.meta.dirname, 'wire', 'send-torture.ts');

/** What must come back for one message. */
type Expect =
  /** Forwarded, and the upstream's answer relayed. */
  | { readonly kind: 'upstream' }
  /** Forwarded, but the upstream's own parser cannot answer it: its log shows it arrived. */
  | { readonly kind: 'forwarded'; readonly why: string }
  /** sipwarden answers a valid request itself with this (non-400) status. */
  | { readonly kind: 'own'; readonly status: number; readonly why: string }
  /** Refused: this status with `Warning: 399 sipwarden "..."`. */
  | { readonly kind: 'refused'; readonly status: number }
  /** No answer: nothing can be built (no Via that parses, no start line), or a response. */
  | { readonly kind: 'none'; readonly why: string };

const upstream: Expect = { kind: 'upstream' };
const refused = (status: number): Expect => ({ kind: 'refused', status });
const none = (why: string): Expect => ({ kind: 'none', why });
const inDialog: Expect = {
  kind: 'own',
  status: 481,
  why: 'in-dialog request of a dialog sipwarden does not know',
};

/** The project's verdicts (test/conformance/rfc4475.test.ts, rfc5118.test.ts) as seen on the wire. */
const EXPECT: Readonly<Record<string, Expect>> = {
  wsinv: inDialog,
  intmeth: { kind: 'forwarded', why: "Kamailio's parser refuses its header name" },
  esc01: upstream,
  escnull: upstream,
  esc02: { kind: 'forwarded', why: "Kamailio's parser refuses the header name C%6Fntact" },
  lwsdisp: upstream,
  longreq: upstream,
  dblreq: upstream,
  semiuri: upstream,
  transports: upstream,
  mpart01: upstream,
  unreason: none('a response matching no transaction'),
  noreason: none('a response matching no transaction'),
  badinv01: none('its Via does not parse: no answer can be matched to it'),
  clerr: refused(400),
  ncl: refused(400),
  scalar02: refused(400),
  scalarlg: none('a response'),
  quotbal: refused(400),
  ltgtruri: refused(400),
  lwsruri: none('its start line cannot be read'),
  lwsstart: none('its start line cannot be read'),
  trws: none('its start line cannot be read'),
  escruri: refused(400),
  baddate: upstream,
  regbadct: refused(400),
  badaspec: refused(400),
  baddn: refused(400),
  badvers: none('its Via names SIP/7.0 and does not parse'),
  mismatch01: refused(400),
  mismatch02: refused(400),
  bigcode: none('a response'),
  badbranch: upstream,
  insuf: none('no From to copy'),
  unkscm: refused(416),
  novelsc: refused(416),
  unksm2: upstream,
  bext01: refused(420),
  invut: upstream,
  regaut01: upstream,
  multi01: refused(400),
  mcl01: refused(400),
  bcast: none('a response'),
  zeromf: { kind: 'own', status: 483, why: 'Max-Forwards 0 (RFC 3261 16.3)' },
  cparam01: upstream,
  cparam02: upstream,
  regescrt: upstream,
  sdp01: upstream,
  inv2543: upstream,
  'ipv6-good': upstream,
  'ipv6-bad': refused(400),
  'port-ambiguous': upstream,
  'port-unambiguous': upstream,
  'via-received-param-with-delim': inDialog,
  'via-received-param-no-delim': upstream,
  'ipv6-in-sdp': refused(400),
  'ipv6-in-sdp-fixcl': upstream,
  'mult-ip-in-header': inDialog,
  'mult-ip-in-sdp': refused(400),
  'mult-ip-in-sdp-fixcl': upstream,
  'ipv4-mapped-ipv6': refused(400),
  'ipv4-mapped-ipv6-fixcl': upstream,
  'ipv6-bug-abnf-3-colons': refused(400),
  'ipv6-correct-abnf-2-colons': upstream,
};

/**
 * On a stream a message ends where its header section and Content-Length say: these bytes
 * never complete one, so sipwarden waits for the rest (until the header timeout closes the
 * connection) and answers nothing.
 */
const INCOMPLETE_ON_STREAM: Readonly<Record<string, string>> = {
  baddn: 'the RFC text has no empty line after the headers',
  'ipv6-in-sdp': 'Content-Length is larger than the body',
};

const manifest = (
  JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as { messages: ManifestMessage[] }
).messages;

/** The first header value of a message file (for its Call-ID). */
function callIdOf(file: string): string | undefined {
  const head = readFileSync(join(ROOT, file)).toString('latin1').split('\r\n\r\n')[0]!;
  for (const line of head.split('\r\n')) {
    const m = /^(?:call-id|i)\s*:\s*(.*)$/i.exec(line);
    if (m) return m[1]!.trim();
  }
  return undefined;
}

const unavailable = NetworkNamespace.unavailable();

describe('torture messages on the wire, over UDP and TCP', { skip: unavailable }, () => {
  let ns: NetworkNamespace;
  let report: WireReport;

  before(() => {
    ns = NetworkNamespace.create('swwire');
    const { command, args } = ns.exec(process.execPath, ['--import', 'tsx', DRIVER]);
    const run = spawnSync(command, args, { encoding: 'utf8', timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    if (run.status !== 0) throw new Error(`driver failed (${run.status ?? run.signal}):\n${run.stderr}`);
    report = JSON.parse(run.stdout) as WireReport;
  });

  after(() => ns?.remove());

  test('every manifest message has an expectation', () => {
    assert.deepEqual(Object.keys(EXPECT).sort(), manifest.map((m) => m.id).sort());
  });

  test('sipwarden is still running after all of them', () => {
    assert.equal(report.alive, true, report.log);
  });

  for (const message of manifest) {
    for (const transport of message.transport === 'any' ? (['udp', 'tcp'] as const) : (['udp'] as const)) {
      const expect = EXPECT[message.id];
      test(`${message.id} over ${transport.toUpperCase()}: ${expect?.kind ?? '?'}`, () => {
        assert.ok(expect, 'no expectation');
        const result = report.results.find((r) => r.id === message.id && r.transport === transport);
        assert.ok(result, 'not sent');
        const callId = callIdOf(message.file);
        const answers = result.answers;
        const describeAnswers = () =>
          `${JSON.stringify(answers)}\n--- sipwarden ---\n${report.log.slice(-3000)}`;
        // Every answer on this socket is to this message.
        for (const a of answers) assert.equal(a.callId, callId, describeAnswers());
        const incomplete = transport === 'tcp' ? INCOMPLETE_ON_STREAM[message.id] : undefined;
        if (incomplete !== undefined || expect.kind === 'none') {
          assert.deepEqual(answers, [], describeAnswers());
          return;
        }
        if (expect.kind === 'forwarded') {
          assert.ok(
            report.upstreamLog.includes(`answer-all: received [${callId}]`),
            report.upstreamLog.slice(-3000),
          );
          assert.ok(
            answers.every((a) => a.status !== 400),
            describeAnswers(),
          );
          return;
        }
        assert.ok(answers.length > 0, `no answer\n${describeAnswers()}`);
        const first = answers[0] as WireAnswer;
        if (expect.kind === 'upstream') {
          assert.equal(`${first.status} ${first.reason}`, '200 Answered By Upstream', describeAnswers());
        } else if (expect.kind === 'own') {
          assert.equal(first.status, expect.status, describeAnswers());
        } else {
          assert.equal(first.status, expect.status, describeAnswers());
          assert.equal(first.warnings.length, 1, describeAnswers());
          assert.match(first.warnings[0]!, /^399 sipwarden "[\x20-\x7e]+"$/, describeAnswers());
        }
      });
    }
  }
});

if (unavailable !== undefined) {
  test('torture messages on the wire', {
    skip: `skipped: ${unavailable} (the test isolates sipwarden in a network namespace)`,
  }, () => {});
}
