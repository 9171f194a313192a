import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import type { VerifiedIdentity } from '../../../../src/identity/identity.ts';
import { Policy } from '../../../../src/policy/policy.ts';
import { policySchema } from '../../../../src/policy/schema.ts';
import { buildStages, DEFAULT_STAGE_ORDER } from '../../../../src/security/build-pipeline.ts';
import type { StageVerdict } from '../../../../src/security/stage.ts';
import { createPolicyStage } from '../../../../src/security/stages/policy.ts';
import type { Flow } from '../../../../src/transport/types.ts';
import {
  eventOf,
  flow,
  Harness,
  makeDeps,
  type RequestOptions,
  request,
  T0,
  type TestDeps,
} from './helpers.ts';

const PHONE = '198.51.100.20';

function policyOf(settings: unknown): Policy {
  return new Policy(policySchema.parse(settings));
}

function stageWith(settings: unknown, more: Partial<TestDeps> = {}) {
  const deps: TestDeps = { ...makeDeps(), policy: policyOf(settings), ...more };
  return { stage: createPolicyStage(undefined, deps), deps };
}

const alice: VerifiedIdentity = {
  user: 'alice',
  domain: 'example.com',
  groups: ['sales'],
  roles: ['agent'],
  method: 'digest',
};

function context(
  o: RequestOptions & {
    from?: Flow;
    identity?: VerifiedIdentity;
    active?: number;
    inDialog?: boolean;
    direction?: 'client' | 'upstream';
  } = {},
): RequestContext {
  const method = o.method ?? 'INVITE';
  const inDialog = o.inDialog ?? false;
  const direction = o.direction ?? 'client';
  return {
    flow: o.from ?? flow(PHONE),
    direction,
    request: request(o),
    inDialog,
    ...(method === 'INVITE' && direction === 'client' && !inDialog ? { activeDialogs: o.active ?? 0 } : {}),
    ...(o.identity === undefined ? {} : { identity: o.identity }),
  };
}

function verdict(v: StageVerdict | Promise<StageVerdict>): StageVerdict {
  assert.ok(!(v instanceof Promise));
  return v;
}

function run(stage: ReturnType<typeof createPolicyStage>, ctx: RequestContext, now = T0): StageVerdict {
  assert.ok(stage.request, 'the stage has rules to enforce');
  return verdict(stage.request(ctx, now));
}

test("with no rules the stage lets everything through (today's behaviour)", () => {
  const { stage } = stageWith({});
  assert.equal(stage.request, undefined);
  const { stage: unset } = { stage: createPolicyStage(undefined, makeDeps()) };
  assert.equal(unset.request, undefined);
});

test('deny answers with its status and reason, and the event names the rule', () => {
  const { stage } = stageWith({
    rules: [
      {
        name: 'no-premium',
        match: { to: { prefixes: ['+1900', '0900'] } },
        action: 'deny',
        status: 488,
        reason: 'Premium Barred',
      },
      { name: 'no-intl', match: { to: { prefixes: '+' } }, action: 'deny' },
    ],
  });
  const v = run(stage, context({ ruriUser: '0019005550100', identity: alice }));
  assert.ok(v.action === 'reject');
  assert.equal(v.status, 488);
  assert.equal(v.reason, 'Premium Barred');
  assert.deepEqual(v.event, {
    type: 'policy',
    stage: 'policy',
    rule: 'no-premium',
    action: 'reject',
    status: 488,
    key: 'identity=alice@example.com',
    reason: 'rule no-premium: denied',
    details: { identity: 'alice@example.com', destination: '+19005550100', method: 'INVITE' },
    source: { address: PHONE, port: 5060, transport: 'udp' },
  });
  const intl = run(stage, context({ ruriUser: '%2B33123456789' }));
  assert.ok(intl.action === 'reject' && intl.status === 403 && intl.reason === 'Forbidden');
  assert.equal(eventOf(intl).rule, 'no-intl');
  assert.equal(eventOf(intl).key, `source=${PHONE}`);
  assert.equal(run(stage, context({ ruriUser: '2001' })).action, 'pass');
});

test('only out-of-dialog requests from the client side are evaluated; ACK and CANCEL follow their INVITE', () => {
  const { stage } = stageWith({ rules: [{ name: 'nothing', match: {}, action: 'deny' }] });
  assert.equal(run(stage, context()).action, 'reject');
  assert.equal(run(stage, context({ method: 'REGISTER' })).action, 'reject');
  assert.equal(run(stage, context({ direction: 'upstream' })).action, 'pass');
  assert.equal(run(stage, context({ method: 'BYE', toTag: 'x', inDialog: true })).action, 'pass');
  assert.equal(run(stage, context({ method: 'CANCEL' })).action, 'pass');
  assert.equal(run(stage, context({ method: 'ACK' })).action, 'pass');
});

test('the first matching rule decides, in order', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'sales-allowed', match: { groups: 'sales' }, action: 'allow' },
      { name: 'rest-denied', match: {}, action: 'deny' },
    ],
  });
  assert.equal(run(stage, context({ identity: alice })).action, 'pass');
  assert.equal(
    eventOf(run(stage, context({ identity: { ...alice, groups: ['support'] } }))).rule,
    'rest-denied',
  );
  // A From header naming alice is not alice: identity conditions read the verified identity only.
  assert.equal(
    eventOf(run(stage, context({ fromUser: 'alice', fromDomain: 'example.com' }))).rule,
    'rest-denied',
  );
  // No rule reads the dialled number, yet the refusal's event shows it.
  assert.equal(eventOf(run(stage, context({ ruriUser: '0044-20' }))).details?.destination, '+4420');
});

test('require-authentication challenges a request without identity through the authenticator, naming the rule', () => {
  const challenged: RequestContext[] = [];
  const authenticator = {
    ownsCredentials: () => false,
    challenge(ctx: RequestContext): StageVerdict {
      challenged.push(ctx);
      return {
        action: 'reject',
        status: 407,
        reason: 'Proxy Authentication Required',
        headers: [{ name: 'Proxy-Authenticate', value: 'Digest realm="example.com", nonce="n", qop="auth"' }],
        event: {
          type: 'authentication',
          stage: 'authenticate',
          action: 'reject',
          reason: 'challenged',
          status: 407,
        },
      };
    },
  };
  const { stage } = stageWith(
    {
      rules: [
        { name: 'must-authenticate', match: { methods: 'INVITE' }, action: 'require-authentication' },
        { name: 'sales-only', match: { groups: 'sales' }, action: 'allow' },
      ],
      default: 'deny',
    },
    { authenticator },
  );
  const v = run(stage, context());
  assert.ok(v.action === 'reject');
  assert.equal(v.status, 407);
  assert.equal(v.headers?.[0]?.name, 'Proxy-Authenticate');
  assert.equal(v.event.type, 'policy');
  assert.equal(v.event.rule, 'must-authenticate');
  assert.equal(v.event.reason, 'rule must-authenticate: authentication required');
  assert.equal(challenged.length, 1);
  // Authenticated: the requirement is met, the next rules decide.
  assert.equal(run(stage, context({ identity: alice })).action, 'pass');
  const other = run(stage, context({ identity: { ...alice, groups: [] } }));
  assert.equal(eventOf(other).rule, 'default');
  assert.equal(challenged.length, 1);
});

test('require-authentication without an authenticator refuses rather than lets through', () => {
  const { stage } = stageWith({ rules: [{ name: 'auth', match: {}, action: 'require-authentication' }] });
  const v = run(stage, context());
  assert.ok(v.action === 'reject' && v.status === 403);
  assert.equal(v.event.rule, 'auth');
});

test('require-tls answers 403 over udp and tcp, and goes on to the next rules over tls', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'sales-tls', match: { groups: 'sales' }, action: 'require-tls' },
      { name: 'premium', match: { to: { prefixes: '0900' } }, action: 'deny' },
    ],
  });
  for (const transport of ['udp', 'tcp'] as const) {
    const v = run(stage, context({ identity: alice, from: flow(PHONE, 5060, transport) }));
    assert.ok(v.action === 'reject' && v.status === 403 && v.reason === 'TLS Required');
    assert.equal(v.event.rule, 'sales-tls');
  }
  const tls = flow(PHONE, 5061, 'tls');
  assert.equal(run(stage, context({ identity: alice, from: tls })).action, 'pass');
  assert.equal(
    eventOf(run(stage, context({ identity: alice, from: tls, ruriUser: '0900123' }))).rule,
    'premium',
  );
});

test('a concurrent-calls limit refuses a new call at the limit and lets the rest go on', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'sales-calls', match: { groups: 'sales' }, action: 'limit', limit: { concurrentCalls: 2 } },
      { name: 'premium', match: { to: { prefixes: '0900' } }, action: 'deny' },
    ],
  });
  assert.equal(run(stage, context({ identity: alice, active: 1 })).action, 'pass');
  const v = run(stage, context({ identity: alice, active: 2 }));
  assert.ok(v.action === 'reject' && v.status === 403);
  assert.equal(v.event.rule, 'sales-calls');
  assert.deepEqual(v.event.details, {
    active: 2,
    limit: 2,
    identity: 'alice@example.com',
    destination: '200',
    method: 'INVITE',
  });
  // Under the limit, the next rule still applies; other methods are not calls.
  assert.equal(
    eventOf(run(stage, context({ identity: alice, active: 0, ruriUser: '0900123' }))).rule,
    'premium',
  );
  assert.equal(run(stage, context({ identity: alice, method: 'MESSAGE' })).action, 'pass');
});

test('a calls-per-minute limit counts per identity, only calls let through, over a sliding minute', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'premium', match: { to: { prefixes: '0900' } }, action: 'deny' },
      { name: 'pace', match: {}, action: 'limit', limit: { callsPerMinute: 3 } },
      { name: 'no-intl', match: { to: { prefixes: '+' } }, action: 'deny' },
    ],
  });
  const bob: VerifiedIdentity = { ...alice, user: 'bob' };
  // Calls denied by a rule, before or after the limit, do not count.
  for (let i = 0; i < 5; i++) {
    assert.equal(run(stage, context({ identity: alice, ruriUser: '0900123' }), T0).action, 'reject');
    assert.equal(run(stage, context({ identity: alice, ruriUser: '+44123' }), T0).action, 'reject');
  }
  for (let i = 0; i < 3; i++) assert.equal(run(stage, context({ identity: alice }), T0 + i).action, 'pass');
  const over = run(stage, context({ identity: alice }), T0 + 10);
  assert.ok(over.action === 'reject');
  assert.equal(over.event.rule, 'pace');
  assert.equal(over.event.details?.limit, 3);
  // Another identity from the same address has its own count.
  assert.equal(run(stage, context({ identity: bob }), T0 + 10).action, 'pass');
  // Two minutes on, the window has slid past the calls.
  assert.equal(run(stage, context({ identity: alice }), T0 + 120_000).action, 'pass');
});

test('without identity a rate limit counts per source address', () => {
  const { stage } = stageWith({
    rules: [{ name: 'pace', match: { authenticated: false }, action: 'limit', limit: { callsPerMinute: 1 } }],
  });
  assert.equal(run(stage, context({ from: flow('203.0.113.1') })).action, 'pass');
  const v = run(stage, context({ from: flow('203.0.113.1') }), T0 + 1);
  assert.equal(eventOf(v).key, 'source=203.0.113.1');
  assert.equal(run(stage, context({ from: flow('203.0.113.2') }), T0 + 1).action, 'pass');
});

test('network, method and time conditions apply to unauthenticated requests; default deny names "default"', () => {
  const { stage } = stageWith({
    default: 'deny',
    rules: [
      {
        name: 'office',
        match: { networks: '198.51.100.0/24', time: { days: 'mon-fri', hours: '07:00-19:00' } },
        action: 'allow',
      },
      { name: 'keepalive', match: { methods: 'OPTIONS' }, action: 'allow' },
    ],
  });
  // T0 is Tuesday 2023-11-14 22:13 UTC.
  const evening = run(stage, context({ from: flow('198.51.100.7') }), T0);
  assert.equal(eventOf(evening).rule, 'default');
  assert.equal(eventOf(evening).reason, 'rule default: no rule allows the request');
  assert.equal(run(stage, context({ from: flow('198.51.100.7') }), T0 + 10 * 3_600_000).action, 'pass');
  assert.equal(run(stage, context({ from: flow('203.0.113.7'), method: 'OPTIONS' }), T0).action, 'pass');
});

test('the pipeline runs the policy stage after validate by default, and carries out its refusal', () => {
  assert.ok(DEFAULT_STAGE_ORDER.indexOf('policy') > DEFAULT_STAGE_ORDER.indexOf('validate'));
  const policy = policyOf({
    rules: [{ name: 'no-premium', match: { to: { prefixes: '0900' } }, action: 'deny' }],
  });
  const h = new Harness((deps) =>
    buildStages({ enabled: true, allowlist: [], settings: {} }, { ...deps, policy }).filter(
      (s) => s.name === 'policy',
    ),
  );
  assert.equal(h.send(request({ ruriUser: '0900123' }), flow(PHONE)), 'reject');
  assert.equal(h.send(request({ ruriUser: '0800123' }), flow(PHONE)), 'pass');
  assert.deepEqual(
    h.actions().map((e) => [e.type, e.rule, e.status]),
    [['policy', 'no-premium', 403]],
  );
});

test('an allowlisted source is still held to the policy (the allowlist spares detection, not policy)', () => {
  const policy = policyOf({
    rules: [{ name: 'no-premium', match: { to: { prefixes: '0900' } }, action: 'deny' }],
  });
  const h = new Harness((deps) => [createPolicyStage(undefined, { ...deps, policy })], [PHONE]);
  assert.equal(h.send(request({ ruriUser: '0900123' }), flow(PHONE)), 'reject');
  assert.equal(h.actions()[0]?.rule, 'no-premium');
});

/** An offer: one audio stream of `proto` with `crypto` lines, and any more sections. */
function offer(proto: string, crypto: string[] = [], more: string[] = []): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 198.51.100.20',
    's=-',
    'c=IN IP4 198.51.100.20',
    't=0 0',
    `m=audio 4000 ${proto} 0`,
    ...crypto,
    ...more,
    '',
  ].join('\r\n');
}

const GOOD_CRYPTO = 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';

test('require-encrypted-media refuses a call offered without usable SRTP keys: 488 with a Warning, evented', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'sales-srtp', match: { groups: 'sales' }, action: 'require-encrypted-media' },
      { name: 'premium', match: { to: { prefixes: '0900' } }, action: 'deny' },
    ],
  });
  const refused = (body: string | undefined, why: RegExp) => {
    const v = run(stage, context({ identity: alice, ...(body === undefined ? {} : { body }) }));
    assert.ok(v.action === 'reject', `passed: ${body}`);
    assert.equal(v.status, 488);
    assert.equal(v.reason, 'Not Acceptable Here');
    const warning = v.headers?.find((h) => h.name === 'Warning')?.value ?? '';
    assert.match(warning, /^303 sipwarden "encrypted media required: [^"]+"$/);
    assert.match(warning, why);
    assert.equal(v.event.type, 'policy');
    assert.equal(v.event.rule, 'sales-srtp');
    assert.match(v.event.reason, /encrypted media required/);
  };
  refused(offer('RTP/AVP'), /RTP\/AVP, not SRTP/);
  refused(undefined, /no offer/);
  // SAVP without a=crypto, with a suite sipwarden does not speak, with a weakening parameter.
  refused(offer('RTP/SAVP'), /no a=crypto/);
  refused(
    offer('RTP/SAVP', ['a=crypto:1 AEAD_AES_128_GCM inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz']),
    /no a=crypto/,
  );
  refused(offer('RTP/SAVP', [`${GOOD_CRYPTO} UNENCRYPTED_SRTP`]), /no a=crypto/);
  // DTLS-SRTP is not SDES.
  refused(offer('UDP/TLS/RTP/SAVPF', ['a=fingerprint:sha-256 AB:CD']), /not SRTP/);
  // A second stream in the clear.
  refused(offer('RTP/SAVP', [GOOD_CRYPTO], ['m=video 4002 RTP/AVP 96']), /video stream is RTP\/AVP/);
  // Usable keys: the call goes on to the next rules.
  assert.equal(
    run(stage, context({ identity: alice, body: offer('RTP/SAVP', [GOOD_CRYPTO]) })).action,
    'pass',
  );
  assert.equal(
    run(stage, context({ identity: alice, body: offer('RTP/SAVPF', ['a=crypto:9 bogus', GOOD_CRYPTO]) }))
      .action,
    'pass',
  );
  const premium = run(
    stage,
    context({ identity: alice, ruriUser: '0900123', body: offer('RTP/SAVP', [GOOD_CRYPTO]) }),
  );
  assert.equal(eventOf(premium).rule, 'premium');
  // Not the rule's group, or not a call: not concerned.
  assert.equal(
    run(stage, context({ identity: { ...alice, groups: ['staff'] }, body: offer('RTP/AVP') })).action,
    'pass',
  );
  assert.equal(run(stage, context({ identity: alice, method: 'MESSAGE' })).action, 'pass');
});

test('a call admitted under require-encrypted-media stays encrypted: a re-INVITE or UPDATE offering plain RTP is refused', () => {
  const { stage } = stageWith({
    rules: [
      { name: 'sales-srtp', match: { groups: 'sales' }, action: 'require-encrypted-media', status: 606 },
    ],
  });
  const call = { callId: 'srtp-call-1', fromTag: 'caller-1', toTag: 'callee-1' };
  const srtp = offer('RTP/SAVP', [GOOD_CRYPTO]);
  const plain = offer('RTP/AVP');
  // In-dialog requests carry no identity: the rule cannot match them by its conditions.
  const inDialog = (method: string, body: string | undefined, id = call, now = T0 + 1000) =>
    run(stage, context({ ...id, method, inDialog: true, ...(body === undefined ? {} : { body }) }), now);
  // Before the call is admitted under the rule, nothing holds it.
  assert.equal(inDialog('INVITE', plain).action, 'pass');
  assert.equal(run(stage, context({ ...call, identity: alice, body: srtp })).action, 'pass');
  for (const method of ['INVITE', 'UPDATE']) {
    const v = inDialog(method, plain);
    assert.ok(v.action === 'reject', `${method} downgrading to RTP passed`);
    assert.equal(v.status, 606);
    assert.match(
      v.headers?.find((h) => h.name === 'Warning')?.value ?? '',
      /^303 sipwarden "encrypted media required: /,
    );
    assert.equal(v.event.rule, 'sales-srtp');
    assert.equal(v.event.type, 'policy');
  }
  // Still keyed, no new offer, or not an offer at all: on it goes.
  assert.equal(inDialog('INVITE', srtp).action, 'pass');
  assert.equal(inDialog('INVITE', undefined).action, 'pass');
  assert.equal(inDialog('UPDATE', undefined).action, 'pass');
  assert.equal(inDialog('INFO', plain).action, 'pass');
  // Another call, the other party's requests, and the same call after the hold ends are not held.
  assert.equal(inDialog('INVITE', plain, { ...call, callId: 'other-call' }).action, 'pass');
  assert.equal(inDialog('INVITE', plain, { ...call, fromTag: 'callee-1' }).action, 'pass');
  assert.equal(
    run(stage, context({ ...call, method: 'INVITE', inDialog: true, direction: 'upstream', body: plain }))
      .action,
    'pass',
  );
  assert.equal(inDialog('INVITE', plain, call, T0 + 13 * 3600_000).action, 'pass');
  assert.equal(inDialog('INVITE', plain).action, 'pass', 'the expired hold was forgotten');
});

test('require-encrypted-media takes its own status and reason', () => {
  const { stage } = stageWith({
    rules: [
      {
        name: 'srtp-only',
        match: {},
        action: 'require-encrypted-media',
        status: 606,
        reason: 'Encrypted Media Only',
      },
    ],
  });
  const v = run(stage, context({ body: offer('RTP/AVP') }));
  assert.ok(v.action === 'reject' && v.status === 606 && v.reason === 'Encrypted Media Only');
});
