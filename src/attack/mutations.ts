/**
 * The malformed fuzzer's mutations: each takes a valid message (latin1 text) and breaks it
 * one way, the ways that have crashed or fooled SIP stacks (RFC 4475's torture tests and
 * the field): truncations, repeated single-valued headers, overlong parameters, bad
 * Content-Length, binary bytes, bad URIs, oversized messages, broken start lines and
 * header lines. Pure and seeded: the same seed gives the same messages.
 */
import type { Random } from './random.ts';

export interface Mutation {
  readonly name: string;
  apply(message: string, random: Random): string;
}

/** Largest datagram the fuzzer builds (IPv4 UDP payload limit is 65507). */
export const MAX_MUTATED_BYTES = 65_000;

const SINGLE_VALUED = ['From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length'];

function headEnd(message: string): number {
  const end = message.indexOf('\r\n\r\n');
  return end < 0 ? message.length : end;
}

function lines(message: string): { head: string[]; body: string } {
  const end = headEnd(message);
  return { head: message.slice(0, end).split('\r\n'), body: message.slice(end + 4) };
}

function join(head: readonly string[], body: string): string {
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

function headerIndex(head: readonly string[], name: string): number {
  const lower = `${name.toLowerCase()}:`;
  return head.findIndex((line, i) => i > 0 && line.toLowerCase().startsWith(lower));
}

function withLine(message: string, name: string, edit: (line: string) => string): string {
  const { head, body } = lines(message);
  const i = headerIndex(head, name);
  if (i < 0) return message;
  head[i] = edit(head[i]!);
  return join(head, body);
}

export const MUTATIONS: readonly Mutation[] = [
  {
    name: 'truncated',
    apply: (m, r) => m.slice(0, 1 + r.int(Math.max(1, m.length - 1))),
  },
  {
    name: 'truncated-in-headers',
    apply: (m, r) => m.slice(0, 10 + r.int(Math.max(1, headEnd(m) - 10))),
  },
  {
    name: 'repeated-single-valued-header',
    apply: (m, r) => {
      const name = r.pick(SINGLE_VALUED);
      const { head, body } = lines(m);
      const i = headerIndex(head, name);
      if (i < 0) return m;
      const value =
        name === 'Content-Length'
          ? '7'
          : name === 'CSeq'
            ? '99 BYE'
            : `<sip:other${r.token(4)}@example.invalid>`;
      head.splice(i + 1, 0, `${name}: ${name === 'Call-ID' ? r.token(12) : value}`);
      return join(head, body);
    },
  },
  {
    name: 'overlong-parameter',
    apply: (m, r) => {
      const size = r.pick([1025, 4097, 8193, 20_000]);
      const where = r.pick(['Via', 'From', 'To', 'Contact']);
      return withLine(m, where, (line) => `${line};x${r.token(3)}=${'A'.repeat(size)}`);
    },
  },
  {
    name: 'overlong-request-uri-user',
    apply: (m, r) => m.replace(/^(\S+ sip:)/, `$1${'9'.repeat(r.pick([1025, 5000, 30_000]))}`),
  },
  {
    name: 'bad-content-length',
    apply: (m, r) => {
      const value = r.pick(['-1', '99999999', 'abc', '4294967296', ' 1 2', '0x10', '']);
      return withLine(m, 'Content-Length', () => `Content-Length: ${value}`);
    },
  },
  {
    name: 'content-length-larger-than-body',
    apply: (m, r) => {
      const body = lines(m).body;
      return withLine(m, 'Content-Length', () => `Content-Length: ${body.length + 1 + r.int(5000)}`);
    },
  },
  {
    name: 'binary-bytes',
    apply: (m, r) => {
      const at = r.int(m.length);
      const junk = r.bytes(1 + r.int(64)).toString('latin1');
      return m.slice(0, at) + junk + m.slice(at);
    },
  },
  {
    name: 'nul-in-header',
    apply: (m, r) =>
      withLine(
        m,
        r.pick(['From', 'To', 'Call-ID', 'Via']),
        (line) => `${line.slice(0, 8)}\x00${line.slice(8)}`,
      ),
  },
  {
    name: 'bad-request-uri',
    apply: (m, r) => {
      const uri = r.pick([
        'sip:',
        'sip:@',
        'sip:user@[::1',
        'sip:user@127.0.0.1:99999',
        '<sip:user@127.0.0.1>',
        'sip:%zz@127.0.0.1',
        'sip:user@127.0.0.1;;;=;',
        'sip:user@host with space',
        'http://127.0.0.1/',
        'sip:user@-bad-.example',
      ]);
      return m.replace(/^(\S+) \S+/, `$1 ${uri}`);
    },
  },
  {
    name: 'bad-header-uri',
    apply: (m, r) =>
      withLine(
        m,
        r.pick(['From', 'To', 'Contact']),
        (line) => `${line.slice(0, line.indexOf(':') + 1)} <sip:a@[zz::>;tag=`,
      ),
  },
  {
    name: 'oversized',
    apply: (m, r) => {
      const size = r.pick([6100, 16_000, MAX_MUTATED_BYTES - m.length - 64]);
      return withLine(m, 'Via', (line) => `${line}\r\nX-Pad: ${'P'.repeat(Math.max(0, size))}`);
    },
  },
  {
    name: 'bad-start-line',
    apply: (m, r) => {
      const first = m.slice(0, m.indexOf('\r\n'));
      const broken = r.pick([
        first.replace('SIP/2.0', 'SIP/3.0'),
        first.replace(' SIP/2.0', ''),
        first.replace(' ', '  '),
        `\u00e9${first}`,
        first.replace(/^\S+/, 'INV\x01TE'),
        'SIP/2.0 999999 Huge',
        '',
      ]);
      return broken + m.slice(first.length);
    },
  },
  {
    name: 'missing-mandatory-header',
    apply: (m, r) => {
      const { head, body } = lines(m);
      const i = headerIndex(head, r.pick(['Via', 'From', 'To', 'Call-ID', 'CSeq']));
      if (i >= 0) head.splice(i, 1);
      return join(head, body);
    },
  },
  {
    name: 'header-without-colon',
    apply: (m) => withLine(m, 'Max-Forwards', (line) => line.replace(':', '')),
  },
  {
    name: 'bare-lf-line-endings',
    apply: (m) => m.replace(/\r\n/g, '\n'),
  },
  {
    name: 'many-via-headers',
    apply: (m, r) => {
      const count = r.pick([100, 300, 1000]);
      let vias = '';
      for (let i = 0; i < count; i++)
        vias += `Via: SIP/2.0/UDP 10.${i % 250}.0.1:5060;branch=z9hG4bK${i}\r\n`;
      const at = m.indexOf('\r\n') + 2;
      return (m.slice(0, at) + vias + m.slice(at)).slice(0, MAX_MUTATED_BYTES);
    },
  },
  {
    name: 'bad-cseq',
    apply: (m, r) =>
      withLine(
        m,
        'CSeq',
        () => `CSeq: ${r.pick(['-1', '4294967296', 'x', '1 BYE', '1', '99999999999999999999 INVITE'])}`,
      ),
  },
  {
    name: 'bad-max-forwards',
    apply: (m, r) =>
      withLine(m, 'Max-Forwards', () => `Max-Forwards: ${r.pick(['-1', '256', '99999999999', 'seventy'])}`),
  },
  {
    name: 'bad-via',
    apply: (m, r) =>
      withLine(m, 'Via', () =>
        r.pick([
          'Via: SIP/2.0/UDP',
          'Via: SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bK1',
          'Via: SIP/2.0 127.0.0.1',
          'Via: SIP/2.0/UDP [::1;branch=z9hG4bK1',
          'Via: ;;;;',
        ]),
      ),
  },
  {
    name: 'folded-header-flood',
    apply: (m, r) =>
      withLine(m, 'Subject', (line) => line) === m
        ? withLine(m, 'Via', (line) => `${line}\r\nSubject: x${'\r\n y'.repeat(r.pick([50, 500, 5000]))}`)
        : m,
  },
];

export function mutationByName(name: string): Mutation | undefined {
  return MUTATIONS.find((m) => m.name === name);
}
