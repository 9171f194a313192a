/**
 * The policy stage behind the real authenticate stage (local Digest authentication against
 * users in memory), through the real pipeline: the identity the policy reads is the one the
 * authenticate stage verified, and `require-authentication` challenges with its nonces.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizationValue, parseChallenge } from '../../../../src/attack/digest.ts';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import type { EventInput } from '../../../../src/events/types.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { Policy } from '../../../../src/policy/policy.ts';
import { policySchema } from '../../../../src/policy/schema.ts';
import { buildStages, type SecuritySettings, withTrunks } from '../../../../src/security/build-pipeline.ts';
import { SecurityPipeline } from '../../../../src/security/pipeline.ts';
import { appendHeader } from '../../../../src/sip/edit.ts';
import type { SipRequest } from '../../../../src/sip/message.ts';
import { MemoryUsers } from '../../../support/memory-users.ts';
import { flow, makeDeps, request, T0 } from './helpers.ts';

const DOMAIN = 'pbx.example.com';
const PHONE = '198.51.100.10';

function setup() {
  const users = new MemoryUsers([
    { user: 'alice', domain: DOMAIN, password: 'correct horse', groups: ['sales'] },
    { user: 'dave', domain: DOMAIN, password: 'tr0ub4dor', groups: ['support'] },
  ]);
  const policy = new Policy(
    policySchema.parse({
      rules: [
        {
          name: 'must-authenticate',
          match: { authenticated: false, methods: 'INVITE' },
          action: 'require-authentication',
        },
        { name: 'sales-calls', match: { groups: 'sales' }, action: 'allow' },
        { name: 'others', match: {}, action: 'deny', reason: 'Not Allowed' },
      ],
    }),
  );
  // sipwarden itself challenges only REGISTERs: calls are challenged because the policy says so.
  const security: SecuritySettings = {
    enabled: true,
    stages: ['authenticate', 'policy'],
    allowlist: [],
    settings: { authenticate: { mode: 'local', methods: ['REGISTER'] } },
  };
  const deps = withTrunks(security, { ...makeDeps(), users, policy });
  const events: EventInput[] = [];
  const pipeline = new SecurityPipeline({
    stages: buildStages(security, deps),
    blocks: deps.blocks,
    events: { emit: (event) => events.push(event) },
    log: silentLogger,
    isAllowlisted: () => false,
    now: () => T0,
  });
  const send = (req: SipRequest) => {
    const context: RequestContext = { flow: flow(PHONE), direction: 'client', request: req, inDialog: false };
    const verdict = pipeline.inspectRequest(context);
    assert.ok(!(verdict instanceof Promise));
    return { verdict, context };
  };
  return { send, events };
}

/** The INVITE again, with credentials answering the MD5 challenge of `headers` (RFC 3261 22.2). */
function answered(
  req: SipRequest,
  headers: readonly { name: string; value: string }[],
  username: string,
  password: string,
): SipRequest {
  const challenge = headers
    .filter((h) => /^proxy-authenticate$/i.test(h.name))
    .map((h) => parseChallenge(h.value))
    .find((c) => c?.algorithm === 'MD5');
  assert.ok(challenge, JSON.stringify(headers));
  const value = authorizationValue(challenge, {
    username,
    password,
    method: req.method,
    uri: req.uriText,
    cnonce: 'c0ffee',
    nc: 1,
  });
  return appendHeader(req, 'Proxy-Authorization', value);
}

test('require-authentication challenges a call; once verified, the policy reads the verified identity', () => {
  const { send, events } = setup();
  const invite = request({ fromUser: 'alice', toUser: '2001' });
  const first = send(invite);
  assert.ok(first.verdict.action === 'reject', JSON.stringify(first.verdict));
  assert.equal(first.verdict.status, 407);
  assert.equal(first.context.identity, undefined);

  const second = send(
    answered(
      request({ fromUser: 'alice', toUser: '2001' }),
      first.verdict.headers ?? [],
      'alice',
      'correct horse',
    ),
  );
  assert.equal(second.verdict.action, 'pass', JSON.stringify(second.verdict));
  assert.equal(second.context.identity?.user, 'alice');
  assert.deepEqual(second.context.identity?.groups, ['sales']);
  assert.deepEqual(
    events.filter((e) => e.type === 'policy'),
    [],
  );
});

test('a verified user outside the allowed group is denied by the rule that names it', () => {
  const { send, events } = setup();
  const first = send(request({ fromUser: 'dave', toUser: '2001' }));
  assert.ok(first.verdict.action === 'reject' && first.verdict.status === 407);
  const second = send(
    answered(request({ fromUser: 'dave', toUser: '2001' }), first.verdict.headers ?? [], 'dave', 'tr0ub4dor'),
  );
  assert.ok(second.verdict.action === 'reject', JSON.stringify(second.verdict));
  assert.equal(second.verdict.status, 403);
  assert.equal(second.verdict.reason, 'Not Allowed');
  assert.equal(second.context.identity?.user, 'dave');
  const refusal = events.find((e) => e.type === 'policy');
  assert.equal(refusal?.rule, 'others');
  assert.equal(refusal?.key, `identity=dave@${DOMAIN}`);
});

test('a wrong password never reaches the policy as an identity', () => {
  const { send } = setup();
  const first = send(request({ fromUser: 'alice', toUser: '2001' }));
  assert.ok(first.verdict.action === 'reject');
  const second = send(
    answered(request({ fromUser: 'alice', toUser: '2001' }), first.verdict.headers ?? [], 'alice', 'wrong'),
  );
  assert.ok(second.verdict.action === 'reject', JSON.stringify(second.verdict));
  assert.notEqual(second.verdict.status, 200);
  assert.equal(second.context.identity, undefined);
});
