/**
 * NAT traversal with a real NAT. Three network namespaces made here (prefix `nat-`):
 *
 *   lan (10.77.0.0/24: the phones) -- gw (nftables masquerade) -- pub (198.51.100.0/24)
 *
 * On the public side: sipwarden twice, `keep` (198.51.100.1, OPTIONS keepalives every second,
 * dead after 3 misses, dead flows unregistered) and `bare` (198.51.100.2, no keepalives, no
 * unregistration), a Kamailio registrar (198.51.100.10, test/interop/kamailio/registrar.cfg)
 * behind both, and an outside peer (198.51.100.50). The phones are sipp processes in the lan
 * namespace (`-aa` answers OPTIONS, as phones do); every one registers through a sipwarden,
 * so Kamailio holds its Path and sends calls for it back through that sipwarden.
 *
 * The gw namespace's UDP conntrack timeouts are cut to CONNTRACK_S (a per-namespace sysctl:
 * the machine's own stays as it was, checked). Then:
 * - phones behind the NAT call each other (the call passes sipwarden twice) and the outside
 *   peer, and the peer calls a phone behind the NAT;
 * - after the conntrack timeout has passed with no traffic of the phones' own, a call to a
 *   phone kept by keepalives still reaches it, and (the negative control, same run) a call
 *   to a phone registered through `bare` does not: its NAT mapping is gone (read in the gw
 *   namespace's conntrack table);
 * - a phone that stops answering keepalives is unregistered at Kamailio by sipwarden (a call
 *   to it then gets Kamailio's 404), and a phone whose TCP connection closed gets 430 Flow
 *   Failed from sipwarden at once, relayed by Kamailio to the caller.
 * Needs root, iproute2, nftables, sipp and Kamailio; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManagementClient } from '../../../src/api/client.ts';
import { KAMAILIO_BIN, KAMAILIO_CONFIG_DIR } from '../harness/kamailio.ts';
import { IP_BIN, NetworkNamespace } from '../harness/netns.ts';
import { type ManagedProcess, startProcess, stopAll } from '../harness/process.ts';
import { HARNESS_BASE_CONFIG, mergeConfig, SIPWARDEN_BIN } from '../harness/sipwarden.ts';
import { tempDir } from '../harness/workdir.ts';

const DOMAIN = 'nat.test';
const CONNTRACK_S = 4;
const KEEP = '198.51.100.1';
const BARE = '198.51.100.2';
const PBX = '198.51.100.10';
const PEER = '198.51.100.50';
const GW_PUBLIC = '198.51.100.254';
const LAN_A = '10.77.0.2';
const LAN_B = '10.77.0.3';
const SIP_PORT = 5060;
const PBX_PORT = 5070;

function unavailable(): string | undefined {
  const why = NetworkNamespace.unavailable();
  if (why !== undefined) return why;
  for (const [bin, arg] of [
    ['nft', '--version'],
    ['sipp', '-v'],
    [KAMAILIO_BIN, '-v'],
  ] as const) {
    try {
      execFileSync(bin, [arg], { stdio: 'ignore' });
    } catch (error) {
      // sipp -v exits 99 after printing its version: only a missing binary counts.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return `${bin} is not installed`;
    }
  }
  return undefined;
}

const skip = unavailable();
const workDir = tempDir('nat-edge');
const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const ns = { lan: `nat-lan-${tag}`, gw: `nat-gw-${tag}`, pub: `nat-pub-${tag}` };
const made: string[] = [];

function ip(args: string[]): string {
  return execFileSync(IP_BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function inNs(name: string, command: string, args: string[], input?: string): string {
  return execFileSync(IP_BIN, ['netns', 'exec', name, command, ...args], {
    encoding: 'utf8',
    ...(input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input }),
  });
}
function startIn(name: string, command: string, args: string[], label: string, cwd: string): ManagedProcess {
  return startProcess(IP_BIN, ['netns', 'exec', name, command, ...args], { name: label, cwd });
}

function removeNamespace(name: string): void {
  try {
    ip(['netns', 'delete', name]);
  } catch {
    // Already gone.
  }
}

function buildNetwork(): void {
  for (const name of [ns.lan, ns.gw, ns.pub]) {
    ip(['netns', 'add', name]);
    made.push(name);
    // Deleted even when the test process ends early.
    process.once('exit', () => removeNamespace(name));
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  }
  ip(['-n', ns.gw, 'link', 'add', 'gwpub', 'type', 'veth', 'peer', 'name', 'pub0', 'netns', ns.pub]);
  ip(['-n', ns.gw, 'link', 'add', 'gwlan', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns.lan]);
  ip(['-n', ns.gw, 'addr', 'add', `${GW_PUBLIC}/24`, 'dev', 'gwpub']);
  ip(['-n', ns.gw, 'addr', 'add', '10.77.0.1/24', 'dev', 'gwlan']);
  for (const address of [KEEP, BARE, PBX, PEER])
    ip(['-n', ns.pub, 'addr', 'add', `${address}/24`, 'dev', 'pub0']);
  for (const address of [LAN_A, LAN_B]) ip(['-n', ns.lan, 'addr', 'add', `${address}/24`, 'dev', 'lan0']);
  for (const [name, link] of [
    [ns.gw, 'gwpub'],
    [ns.gw, 'gwlan'],
    [ns.pub, 'pub0'],
    [ns.lan, 'lan0'],
  ] as const)
    ip(['-n', name, 'link', 'set', link, 'up']);
  ip(['-n', ns.lan, 'route', 'add', 'default', 'via', '10.77.0.1']);
  inNs(ns.gw, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  inNs(
    ns.gw,
    'nft',
    ['-f', '-'],
    [
      'table ip nat {',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      '    oifname "gwpub" masquerade',
      '  }',
      '}',
    ].join('\n'),
  );
  // Mappings of UDP flows end after CONNTRACK_S of silence, replied (stream) or not.
  inNs(ns.gw, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_udp_timeout=${CONNTRACK_S}`]);
  inNs(ns.gw, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_udp_timeout_stream=${CONNTRACK_S}`]);
}

/** The gw namespace's UDP conntrack entries from `source` to `destination` port SIP_PORT. */
function mappings(source: string, destination: string): string[] {
  return readFileSync(`/proc/${gwHolder!.pid}/net/nf_conntrack`, 'utf8')
    .split('\n')
    .filter(
      (line) =>
        line.includes(' udp ') &&
        line.includes(`src=${source} dst=${destination} `) &&
        line.includes(`dport=${SIP_PORT} `),
    );
}
/** A process kept in the gw namespace, so its /proc/PID/net shows that namespace's tables. */
let gwHolder: ManagedProcess | undefined;

// ---- sipp scenarios ----

let written = 0;
function scenario(name: string, steps: string[]): string {
  const path = join(workDir, `${name}-${++written}.xml`);
  writeFileSync(
    path,
    `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="nat ${name}">\n${steps.join('\n')}\n</scenario>\n`,
  );
  return path;
}
const send = (lines: string[], retrans = false) =>
  `<send${retrans ? ' retrans="500"' : ''}><![CDATA[\n\n${lines.join('\n')}\n\n]]></send>`;
const log = (message: string) => `<action><log message="${message}" /></action>`;
const via = 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport';
const contact = (user: string) => `Contact: <sip:${user}@[local_ip]:[local_port];transport=[transport]>`;
const SDP = [
  'Content-Type: application/sdp',
  'Content-Length: [len]',
  '',
  'v=0',
  'o=phone 1 1 IN IP4 [local_ip]',
  's=-',
  'c=IN IP4 [local_ip]',
  't=0 0',
  'm=audio 4000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
];

function registerSteps(user: string): string[] {
  return [
    send(
      [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        via,
        `From: <sip:${user}@${DOMAIN}>;tag=reg-[pid]`,
        `To: <sip:${user}@${DOMAIN}>`,
        'Call-ID: [call_id]',
        'CSeq: 1 REGISTER',
        contact(user),
        'Expires: 300',
        'Max-Forwards: 70',
        'Content-Length: 0',
      ],
      true,
    ),
    `<recv response="200">${log('registered')}</recv>`,
  ];
}

/** A phone: registers, then stays (its calls come through the out-of-call scenario). */
function phoneScenario(user: string, stayS: number, transport: 'udp' | 'tcp' = 'udp'): string {
  return scenario(`phone-${user}`, [
    ...registerSteps(user),
    transport === 'udp' ? `<pause milliseconds="${stayS * 1000}" />` : '',
  ]);
}

/** What a phone does with a call: ring, answer, take the ACK and the caller's BYE. */
function answerScenario(user: string): string {
  const reply = (status: string, sdp = false) =>
    send(
      [
        `SIP/2.0 ${status}`,
        '[last_Via:]',
        '[last_Record-Route:]',
        '[last_From:]',
        `[last_To:]${status.startsWith('100') ? '' : ';tag=[pid]-callee'}`,
        '[last_Call-ID:]',
        '[last_CSeq:]',
        contact(user),
        ...(sdp ? SDP : ['Content-Length: 0']),
      ],
      status.startsWith('200') && sdp,
    );
  return scenario(`answer-${user}`, [
    `<recv request="INVITE">${log('invited')}</recv>`,
    reply('180 Ringing'),
    reply('200 OK', true),
    `<recv request="ACK">${log('acked')}</recv>`,
    '<recv request="BYE" />',
    send([
      'SIP/2.0 200 OK',
      '[last_Via:]',
      '[last_From:]',
      '[last_To:]',
      '[last_Call-ID:]',
      '[last_CSeq:]',
      'Content-Length: 0',
    ]),
    `<timewait milliseconds="500">${log('hung-up')}</timewait>`,
  ]);
}

/**
 * A caller: INVITE to `callee`; on 200 ACK and BYE (log `connected`, `done`); on another
 * final answer ACK it and log `status-NNN`; no ringing within `ringMs`: log `unreached`.
 */
function callScenario(user: string, callee: string, ringMs: number): string {
  const ackFailure = send([
    `ACK sip:${callee}@${DOMAIN} SIP/2.0`,
    '[last_Via:]',
    `From: <sip:${user}@${DOMAIN}>;tag=[pid]-caller`,
    '[last_To:]',
    'Call-ID: [call_id]',
    'CSeq: 1 ACK',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ]);
  const inDialog = (method: string, cseq: number) =>
    send([
      `${method} [next_url] SIP/2.0`,
      via,
      '[routes]',
      `From: <sip:${user}@${DOMAIN}>;tag=[pid]-caller`,
      '[last_To:]',
      'Call-ID: [call_id]',
      `CSeq: ${cseq} ${method}`,
      contact(user),
      'Max-Forwards: 70',
      'Content-Length: 0',
    ]);
  return scenario(`call-${user}-${callee}`, [
    send(
      [
        `INVITE sip:${callee}@${DOMAIN} SIP/2.0`,
        via,
        `From: <sip:${user}@${DOMAIN}>;tag=[pid]-caller`,
        `To: <sip:${callee}@${DOMAIN}>`,
        'Call-ID: [call_id]',
        'CSeq: 1 INVITE',
        contact(user),
        'Max-Forwards: 70',
        ...SDP,
      ],
      true,
    ),
    '<recv response="100" optional="true" />',
    // A final failure may come at once (404, 430) without ringing.
    `<recv response="180" optional="true" timeout="${ringMs}" ontimeout="unreached" />`,
    '<recv response="404" optional="true" next="s404" />',
    '<recv response="430" optional="true" next="s430" />',
    '<recv response="200" rrs="true" />',
    `<nop>${log('connected')}</nop>`,
    inDialog('ACK', 1),
    '<pause milliseconds="300" />',
    inDialog('BYE', 2),
    `<recv response="200">${log('done')}</recv>`,
    '<nop next="end" />',
    '<label id="s404" />',
    `<nop>${log('status-404')}</nop>`,
    ackFailure,
    '<nop next="end" />',
    '<label id="s430" />',
    `<nop>${log('status-430')}</nop>`,
    ackFailure,
    '<nop next="end" />',
    '<label id="unreached" />',
    `<nop>${log('unreached')}</nop>`,
    '<label id="end" />',
  ]);
}

interface Sipp {
  readonly process: ManagedProcess;
  readonly dir: string;
}

let sippCount = 0;
function sipp(
  name: string,
  where: { ns: string; host: string; port: number },
  remote: string,
  main: string,
  options: { ooc?: string; transport?: 'udp' | 'tcp'; timeoutS: number; answerOptions?: boolean },
): Sipp {
  const dir = tempDir(`nat-sipp-${++sippCount}`);
  const args = [
    `${remote}:${SIP_PORT}`,
    '-sf',
    main,
    '-i',
    where.host,
    '-bind_local',
    '-p',
    String(where.port),
    '-t',
    options.transport === 'tcp' ? 't1' : 'u1',
    '-m',
    '1',
    '-nostdin',
    '-timeout',
    `${options.timeoutS}s`,
    '-trace_logs',
    '-trace_err',
  ];
  if (options.ooc !== undefined) args.push('-oocsf', options.ooc);
  // Phones answer OPTIONS (sipp: automatic 200 to out-of-call OPTIONS).
  if (options.answerOptions !== false) args.push('-aa');
  return { process: startIn(where.ns, 'sipp', args, `sipp-${name}`, dir), dir };
}

async function logLines(run: Sipp): Promise<string[]> {
  const files = await readdir(run.dir);
  const name = files.find((f) => f.endsWith(`_${run.process.pid}_logs.log`));
  if (!name) return [];
  return (await readFile(join(run.dir, name), 'latin1')).split('\n').filter((l) => l !== '');
}

async function waitForLog(run: Sipp, lines: string[], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = await logLines(run);
    const found = lines.find((line) => have.includes(line));
    if (found !== undefined) return found;
    if (Date.now() > deadline || !run.process.running) {
      const again = (await logLines(run)).find((line) => lines.includes(line));
      if (again !== undefined) return again;
      throw new Error(
        `${run.process.name}: none of ${lines.join(', ')} (have ${have.join(', ')})\n${run.process.tail()}`,
      );
    }
    await sleep(50);
  }
}

// ---- the processes ----

interface Gateway {
  readonly process: ManagedProcess;
  readonly socket: string;
}

async function waitListening(name: string, needle: string, process: ManagedProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!inNs(name, 'ss', ['-Hlnu']).includes(needle)) {
    if (!process.running) throw new Error(`${process.name} exited\n${process.tail()}`);
    if (Date.now() > deadline)
      throw new Error(`${process.name} not listening on ${needle}\n${process.tail()}`);
    await sleep(100);
  }
}

async function startGateway(name: string, host: string, nat: Record<string, unknown>): Promise<Gateway> {
  const cwd = tempDir(`nat-${name}`);
  const socket = join(cwd, 'sipwarden.sock');
  const config = mergeConfig(HARNESS_BASE_CONFIG, {
    management: { socket },
    listen: [{ host, port: SIP_PORT, transports: ['udp', 'tcp'] }],
    upstream: { host: PBX, port: PBX_PORT, transport: 'udp' },
    nat,
  });
  const path = join(cwd, 'sipwarden.yaml');
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  const child = startIn(
    ns.pub,
    process.execPath,
    [SIPWARDEN_BIN, 'start', '-c', path],
    `sipwarden-${name}`,
    cwd,
  );
  await waitListening(ns.pub, `${host}:${SIP_PORT}`, child);
  return { process: child, socket };
}

describe('NAT traversal: phones behind an nftables NAT, through sipwarden, to a Kamailio registrar', {
  skip,
}, () => {
  let kamailio: ManagedProcess;
  let keep: Gateway;
  let bare: Gateway;
  const phones = new Map<string, Sipp>();
  let rootTimeout: string;
  let registeredAt = 0;
  let erinGoneAt = 0;

  before(async () => {
    rootTimeout = readFileSync('/proc/sys/net/netfilter/nf_conntrack_udp_timeout', 'utf8').trim();
    buildNetwork();
    gwHolder = startIn(ns.gw, 'sleep', ['120'], 'gw-holder', workDir);
    const kamailioDir = tempDir('nat-kamailio');
    kamailio = startIn(
      ns.pub,
      KAMAILIO_BIN,
      [
        '-DD',
        '-E',
        '-f',
        join(KAMAILIO_CONFIG_DIR, 'registrar.cfg'),
        '-P',
        join(kamailioDir, 'kamailio.pid'),
        '-Y',
        kamailioDir,
        '-w',
        kamailioDir,
        '-m',
        '64',
        '-M',
        '8',
        '-l',
        `udp:${PBX}:${PBX_PORT}`,
      ],
      'kamailio-registrar',
      kamailioDir,
    );
    const keepalives = {
      keepalive: { enabled: true, intervalS: 1, maxMisses: 3 },
      unregisterDeadFlows: true,
    };
    [keep, bare] = await Promise.all([
      startGateway('keep', KEEP, keepalives),
      startGateway('bare', BARE, { keepalive: { enabled: false }, unregisterDeadFlows: false }),
      waitListening(ns.pub, `${PBX}:${PBX_PORT}`, kamailio),
    ]);
    // Every phone registers now: the wait for the NAT timeout below runs from here.
    const phone = (
      user: string,
      host: string,
      port: number,
      gateway: string,
      options: { transport?: 'udp' | 'tcp'; answerOptions?: boolean } = {},
    ) => {
      const where = { ns: host === PEER ? ns.pub : ns.lan, host, port };
      const run = sipp(user, where, gateway, phoneScenario(user, 55, options.transport), {
        ooc: answerScenario(user),
        timeoutS: 58,
        ...options,
      });
      phones.set(user, run);
    };
    phone('alice', LAN_A, 5062, KEEP);
    phone('bob', LAN_B, 5062, KEEP);
    phone('peer', PEER, 5062, KEEP);
    phone('carol', LAN_A, 5064, KEEP);
    phone('dave', LAN_B, 5064, BARE);
    // Erin answers keepalives until her phone goes (stopped below); Frank registers over TCP
    // and leaves (his connection closes).
    phone('erin', LAN_A, 5066, KEEP);
    phone('frank', LAN_B, 5066, BARE, { transport: 'tcp' });
    for (const [user, run] of phones) {
      await waitForLog(run, ['registered']).catch((error: Error) => {
        throw new Error(`${user}: ${error.message}\n${kamailio.tail(2000)}`);
      });
    }
    registeredAt = Date.now();
  });

  after(async () => {
    await stopAll();
    for (const name of made) removeNamespace(name);
  });

  /** The `nat` event rules a gateway's store has, once `wanted` are there or after `timeoutMs`. */
  async function rules(gateway: Gateway, wanted: string[], timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await ManagementClient.overSocket(gateway.socket).request<{
        events: { rule?: string }[];
      }>('GET', '/api/events?type=nat');
      const have = answer.events.map((e) => e.rule ?? '');
      if (wanted.every((rule) => have.includes(rule)) || Date.now() > deadline) return have;
      await sleep(200);
    }
  }

  /** Whether a phone's sipp answered an OPTIONS (its error log records each automatic answer). */
  async function keepaliveAnswered(user: string): Promise<boolean> {
    const run = phones.get(user)!;
    const deadline = Date.now() + 5000;
    for (;;) {
      const files = await readdir(run.dir);
      const name = files.find((f) => f.endsWith('_errors.log'));
      const text = name === undefined ? '' : await readFile(join(run.dir, name), 'latin1');
      if (text.includes('Automatic response mode')) return true;
      if (Date.now() > deadline) return false;
      await sleep(100);
    }
  }

  /** A call from `from` (a new sipp beside the phone) to `callee` through `gateway`. */
  async function call(
    from: { ns: string; host: string; port: number },
    gateway: string,
    callee: string,
    ringMs = 5000,
  ): Promise<string> {
    const run = sipp(`call-${callee}`, from, gateway, callScenario(`caller${from.port}`, callee, ringMs), {
      timeoutS: 20,
      answerOptions: false,
    });
    const outcome = await waitForLog(run, ['done', 'status-404', 'status-430', 'unreached'], 20_000);
    await run.process.stop();
    return outcome;
  }

  test('the UDP conntrack timeout is the gw namespace own: the machine keeps its value', () => {
    assert.equal(
      inNs(ns.gw, 'sysctl', ['-n', 'net.netfilter.nf_conntrack_udp_timeout']).trim(),
      String(CONNTRACK_S),
    );
    assert.equal(
      readFileSync('/proc/sys/net/netfilter/nf_conntrack_udp_timeout', 'utf8').trim(),
      rootTimeout,
    );
    // The phones reached sipwarden from the NAT's address, not their own.
    assert.ok(mappings(LAN_A, KEEP).length > 0, 'alice and carol are mapped by the NAT');
  });

  test('phones behind the NAT call each other (through sipwarden twice) and the outside peer, and the peer calls in', async () => {
    assert.equal(await call({ ns: ns.lan, host: LAN_B, port: 5070 }, KEEP, 'alice'), 'done');
    assert.equal(await waitForLog(phones.get('alice')!, ['hung-up']), 'hung-up');
    assert.equal(await call({ ns: ns.lan, host: LAN_A, port: 5070 }, KEEP, 'peer'), 'done');
    assert.equal(await call({ ns: ns.pub, host: PEER, port: 5070 }, KEEP, 'bob'), 'done');
    assert.equal(await waitForLog(phones.get('bob')!, ['hung-up']), 'hung-up');
  });

  test('past the NAT timeout, keepalives keep a phone reachable; without them (negative control) it is lost', async (t) => {
    // Erin's phone goes away: her keepalives go unanswered from now on (the last test).
    assert.ok(
      (await waitForLog(phones.get('erin')!, ['registered'])) && (await keepaliveAnswered('erin')),
      'erin answered keepalives first',
    );
    await phones.get('erin')!.process.stop();
    erinGoneAt = Date.now();
    // Twice the conntrack timeout since the last packet of dave's own (his REGISTER).
    const wait = registeredAt + 2 * CONNTRACK_S * 1000 + 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    t.diagnostic(
      `silence since the registrations: ${Date.now() - registeredAt} ms (conntrack UDP timeout ${CONNTRACK_S} s)`,
    );
    assert.equal(
      mappings(LAN_B, BARE).filter((m) => m.includes('sport=5064 ')).length,
      0,
      "dave's mapping expired",
    );
    assert.ok(
      mappings(LAN_A, KEEP).some((m) => m.includes('sport=5064 ')),
      "carol's mapping is held open",
    );
    assert.equal(await call({ ns: ns.pub, host: PEER, port: 5072 }, KEEP, 'carol'), 'done');
    assert.deepEqual(
      (await logLines(phones.get('carol')!)).filter((l) => l === 'invited'),
      ['invited'],
    );
    assert.equal(await call({ ns: ns.pub, host: PEER, port: 5074 }, KEEP, 'dave', 4000), 'unreached');
    assert.deepEqual(
      (await logLines(phones.get('dave')!)).filter((l) => l === 'invited'),
      [],
      'the INVITE for dave never reached him',
    );
  });

  test('a phone that stops answering keepalives is unregistered at Kamailio; a closed TCP flow gets 430', async (t) => {
    // Erin: dead after 3 missed keepalives, unregistered by `keep` (the event says when).
    await rules(keep, ['flow-unregistered'], 10_000);
    const dead = (
      await ManagementClient.overSocket(keep.socket).request<{
        events: { rule?: string; firstSeen: number }[];
      }>('GET', '/api/events?type=nat')
    ).events.find((e) => e.rule === 'flow-dead');
    assert.ok(dead, 'a flow-dead event');
    // Bounded by the interval times (maxMisses + 1): 1 s x 4 here.
    t.diagnostic(`erin's phone stopped to her flow declared dead: ${dead.firstSeen - erinGoneAt} ms`);
    assert.equal(await call({ ns: ns.pub, host: PEER, port: 5076 }, KEEP, 'erin'), 'status-404');
    // Frank's sipp ended after registering: his TCP connection to `bare` is closed.
    await phones.get('frank')!.process.exited;
    assert.equal(await call({ ns: ns.pub, host: PEER, port: 5078 }, KEEP, 'frank'), 'status-430');
    const keepRules = await rules(keep, ['flow-dead', 'flow-unregistered']);
    assert.ok(
      keepRules.includes('flow-dead') && keepRules.includes('flow-unregistered'),
      `keep: ${keepRules.join(', ')}`,
    );
    const bareRules = await rules(bare, ['flow-dead', 'flow-failed']);
    assert.ok(
      bareRules.includes('flow-dead') && bareRules.includes('flow-failed'),
      `bare: ${bareRules.join(', ')}`,
    );
  });
});
