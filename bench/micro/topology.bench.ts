/**
 * Topology hiding's cost on the per-message path: parse, validate, the route layer's work
 * (route, prepareForward / prepareResponse, and with hiding its restore and hide steps),
 * serialize, for the messages a call carries across sipwarden, with topology hiding off
 * and on (the default towards the untrusted side), in interleaved rounds in one process.
 * Reports the median time per message of each and the ratio on/off.
 *
 *   node --import tsx bench/micro/topology.bench.ts [--rounds 21] [--ms 100]
 *
 * In-process and single-threaded: a busy machine slows both sides alike, which the
 * interleaving and the medians absorb better than a load run through sipp would.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULT_STRIPPED } from '../../src/config/topology-schema.ts';
import { Router, type RouteSettings } from '../../src/core/route/router.ts';
import type { SipRequest, SipResponse } from '../../src/sip/message.ts';
import { parseMessage } from '../../src/sip/parse.ts';
import { serializeMessage } from '../../src/sip/serialize.ts';
import { validateMessage } from '../../src/sip/validate.ts';
import type { Flow } from '../../src/transport/types.ts';
import { median } from '../stats.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '21' }, ms: { type: 'string', default: '100' } },
});
const ROUNDS = Number(values.rounds);
const MS = Number(values.ms);

const SW = { transport: 'udp', host: '203.0.113.1', port: 5060 } as const;
const settings: RouteSettings = {
  upstream: { transport: 'udp', address: '10.0.0.5', port: 5080 },
  clientFacing: { udp: SW },
  upstreamFacing: SW,
  localHosts: [SW.host],
  localPorts: [SW.port],
  maxForwards: 70,
  recordRoute: true,
  secret: randomBytes(32),
};
const off = new Router(settings);
const on = new Router({
  ...settings,
  topology: {
    untrusted: { via: true, recordRoute: true, contact: true, stripHeaders: [...DEFAULT_STRIPPED] },
  },
});

const phone: Flow = {
  transport: 'udp',
  remoteAddress: '198.51.100.7',
  remotePort: 5062,
  localAddress: SW.host,
  localPort: SW.port,
};
const pbx: Flow = { ...phone, remoteAddress: '10.0.0.5', remotePort: 5080 };

function text(lines: string[]): Buffer {
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\nv=0\r\n`, 'latin1');
}
function parsed<M>(data: Buffer): M {
  const result = parseMessage(data);
  if (!result.ok) throw new Error(result.error.reason);
  return result.message as M;
}

const ourRoute = (router: Router) => {
  const invite = parsed<SipRequest>(inviteFromPhone);
  const forwarded = router.prepareForward(invite, invite, phone, router.upstreamTarget, false, phone).message;
  return forwarded.headers.find((h) => h.name === 'record-route')!.value;
};
const inviteFromPhone = text([
  'INVITE sip:alice@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-1;rport',
  'Max-Forwards: 70',
  'From: <sip:bob@example.com>;tag=b1',
  'To: <sip:alice@example.com>',
  'Call-ID: c1@198.51.100.7',
  'CSeq: 1 INVITE',
  'Contact: <sip:bob@198.51.100.7:5062>',
  'Content-Type: application/sdp',
  'Content-Length: 5',
]);

/** The PBX's 200 to the phone's INVITE: its Via, our Via, our and its Record-Route, its Contact. */
function okToPhone(router: Router): Buffer {
  return text([
    'SIP/2.0 200 OK',
    `Via: SIP/2.0/UDP ${SW.host}:${SW.port};branch=z9hG4bKsw-1;rport=5060;received=${SW.host}`,
    'Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-1;rport',
    'Record-Route: <sip:10.0.0.5:5080;lr>',
    `Record-Route: ${ourRoute(router)}`,
    'From: <sip:bob@example.com>;tag=b1',
    'To: <sip:alice@example.com>;tag=a1',
    'Call-ID: c1@198.51.100.7',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@10.0.0.5:5080;transport=udp>',
    'Server: Asterisk PBX 18',
    'Content-Type: application/sdp',
    'Content-Length: 5',
  ]);
}

/** The phone's BYE in that dialog, along the route set and to the remote target the 200 gave it. */
function byeFromPhone(router: Router): Buffer {
  const ok = parsed<SipResponse>(okToPhone(router));
  validateMessage(ok);
  const hidden = router.hideResponse(router.prepareResponse(ok)!, false, 'udp');
  const route = hidden.headers.filter((h) => h.name === 'record-route').map((h) => h.value);
  const contact = /<([^>]+)>/.exec(hidden.headers.find((h) => h.name === 'contact')!.value)![1]!;
  return text([
    `BYE ${contact} SIP/2.0`,
    'Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bK-2;rport',
    ...route.reverse().map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    'From: <sip:bob@example.com>;tag=b1',
    'To: <sip:alice@example.com>;tag=a1',
    'Call-ID: c1@198.51.100.7',
    'CSeq: 2 BYE',
    'Content-Length: 0',
  ]);
}

/** The PBX's INVITE to the phone (a call to it), along the Path the phone registered. */
function inviteToPhone(router: Router): Buffer {
  const path = ourRoute(router);
  return text([
    'INVITE sip:bob@198.51.100.7:5062 SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.5:5080;branch=z9hG4bK-pbx-1',
    'Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-pbx-0',
    `Route: ${path}`,
    'Record-Route: <sip:10.0.0.5:5080;lr>',
    'Max-Forwards: 69',
    'From: <sip:alice@example.com>;tag=a2',
    'To: <sip:bob@example.com>',
    'Call-ID: pbx-2@10.0.0.5',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@10.0.0.5:5080>',
    'User-Agent: Asterisk PBX 18',
    'Content-Type: application/sdp',
    'Content-Length: 5',
  ]);
}

type Step = (router: Router, data: Buffer) => Buffer;

const responseToPhone: Step = (router, data) => {
  const response = parsed<SipResponse>(data);
  validateMessage(response);
  const restored = router.restoreResponse(response, undefined, true);
  const forwarded = router.hideResponse(router.prepareResponse(restored)!, false, 'udp');
  return serializeMessage(forwarded);
};
const requestFrom =
  (fromUpstream: boolean): Step =>
  (router, data) => {
    const request = parsed<SipRequest>(data);
    validateMessage(request);
    const routed = router.route(request, fromUpstream, fromUpstream ? pbx : phone);
    if (!routed.ok) throw new Error(routed.reason);
    const forwarded = router.prepareForward(
      routed.request,
      request,
      fromUpstream ? pbx : phone,
      routed.target,
      fromUpstream,
      routed.clientFlow,
    );
    router.hiddenVias(request, !fromUpstream);
    return serializeMessage(forwarded.message);
  };

const cases: { name: string; step: Step; input: (router: Router) => Buffer }[] = [
  { name: "the PBX's 200 to the phone", step: responseToPhone, input: okToPhone },
  { name: "the phone's in-dialog BYE", step: requestFrom(false), input: byeFromPhone },
  { name: "the PBX's INVITE to the phone", step: requestFrom(true), input: inviteToPhone },
];

function nsPerOp(step: Step, router: Router, data: Buffer): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MS) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 200; i++) step(router, data);
    n += 200;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / n;
}

for (const c of cases) {
  const inputs = { off: c.input(off), on: c.input(on) };
  // Warm up both.
  nsPerOp(c.step, off, inputs.off);
  nsPerOp(c.step, on, inputs.on);
  const times = { off: [] as number[], on: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const which of order) times[which].push(nsPerOp(c.step, which === 'off' ? off : on, inputs[which]));
  }
  const a = median(times.off);
  const b = median(times.on);
  process.stdout.write(
    `${c.name}: off ${(a / 1000).toFixed(2)} us, on ${(b / 1000).toFixed(2)} us per message; on/off ${(b / a).toFixed(2)}\n`,
  );
}
