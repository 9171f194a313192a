import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RequestContext } from '../../../../src/core/inspector.ts';
import type { EventInput } from '../../../../src/events/types.ts';
import { FraudHolds } from '../../../../src/fraud/holds.ts';
import type { VerifiedIdentity } from '../../../../src/identity/identity.ts';
import { checkSecuritySettings } from '../../../../src/security/build-pipeline.ts';
import { type Stage, StageConfigError, type StageVerdict } from '../../../../src/security/stage.ts';
import { createFraudStage } from '../../../../src/security/stages/fraud.ts';
import type { SipRequest } from '../../../../src/sip/message.ts';
import {
  flow,
  Harness,
  makeDeps,
  outcomeContext,
  request,
  requestContext,
  type TestDeps,
} from './helpers.ts';

/** Tuesday 14 November 2023, 10:00 UTC. */
const TUE_10 = Date.UTC(2023, 10, 14, 10, 0, 0);
const MIN = 60_000;
const IRIDIUM = '+881612345678';
const UK = '+442071234567';

function alice(groups: string[] = [], roles: string[] = []): VerifiedIdentity {
  return { user: 'alice', domain: 'example.com', groups, roles, method: 'digest' };
}

function setup(settings: unknown, holds = new FraudHolds()) {
  const deps: TestDeps = makeDeps();
  const stage = createFraudStage(settings, { ...deps, fraudHolds: holds });
  return { stage, deps, holds };
}

interface CallOptions {
  readonly to?: string;
  readonly fromUser?: string;
  readonly identity?: VerifiedIdentity;
  readonly address?: string;
  readonly callId?: string;
}

function invite(o: CallOptions = {}): { context: RequestContext; req: SipRequest } {
  const req = request({
    ruriUser: o.to ?? IRIDIUM,
    fromUser: o.fromUser ?? 'alice',
    fromDomain: 'example.com',
    ...(o.callId === undefined ? {} : { callId: o.callId }),
  });
  const context: RequestContext = {
    flow: flow(o.address ?? '198.51.100.7'),
    direction: 'client',
    request: req,
    inDialog: false,
    ...(o.identity === undefined ? {} : { identity: o.identity }),
  };
  return { context, req };
}

function verdict(v: StageVerdict | Promise<StageVerdict>): StageVerdict {
  assert.ok(!(v instanceof Promise));
  return v;
}

function call(stage: Stage, now: number, o: CallOptions = {}): StageVerdict {
  return verdict(stage.request!(invite(o).context, now));
}

function eventOf(v: StageVerdict): EventInput {
  assert.ok(v.action !== 'pass' && v.event !== undefined, 'expected an event');
  return v.event;
}

/** Answers the call at `answeredAt` and hangs it up at `endedAt`; the BYE's verdict. */
function talk(stage: Stage, req: SipRequest, answeredAt: number, endedAt: number): StageVerdict {
  stage.outcome!(outcomeContext(req, flow('198.51.100.7'), 200), answeredAt);
  const bye = request({
    method: 'BYE',
    callId: req.callId,
    toTag: 'pbx1',
    ruriUser: 'alice',
    fromUser: 'alice',
    fromDomain: 'example.com',
  });
  return verdict(
    stage.request!(
      { flow: flow('127.0.0.1', 5080), direction: 'upstream', request: bye, inDialog: true },
      endedAt,
    ),
  );
}

test('calls per minute: over warning is an alert, over critical takes the action; per identity and prefix', () => {
  const { stage } = setup({
    rules: [
      { name: 'satellite', prefix: '881', callsPerMinute: { warning: 2, critical: 4 }, action: 'reject' },
    ],
  });
  const verdicts = Array.from({ length: 6 }, (_, i) => call(stage, TUE_10 + i * 1000));
  assert.deepEqual(
    verdicts.map((v) => v.action),
    ['pass', 'pass', 'alert', 'alert', 'reject', 'reject'],
  );
  const warning = eventOf(verdicts[2]!);
  assert.equal(warning.type, 'fraud');
  assert.equal(warning.rule, 'satellite:warning');
  assert.equal(warning.key, 'identity:alice@example.com');
  assert.deepEqual(
    { level: warning.details?.level, value: warning.details?.value, verified: warning.details?.verified },
    { level: 'warning', value: 3, verified: 'no' },
  );
  const critical = verdicts[4]!;
  assert.ok(critical.action === 'reject' && critical.status === 403);
  assert.equal(critical.event.details?.level, 'critical');
  assert.equal(critical.event.details?.category, 'satellite');
  // Another caller has counters of its own; another prefix is outside the rule.
  assert.equal(call(stage, TUE_10 + 6000, { fromUser: 'carol' }).action, 'pass');
  assert.equal(call(stage, TUE_10 + 6000, { to: UK }).action, 'pass');
  // A minute later the window is empty again.
  assert.equal(call(stage, TUE_10 + 70_000).action, 'pass');
});

test('total calls: counted per period, warning then critical, and a new period starts from zero', () => {
  const { stage } = setup({
    totalCallsPeriodMs: 3_600_000,
    rules: [{ name: 'all', totalCalls: { warning: 3, critical: 5 } }],
  });
  const start = Date.UTC(2023, 10, 14, 10, 0, 0);
  const actions = Array.from({ length: 6 }, (_, i) => call(stage, start + i * 2 * MIN).action);
  assert.deepEqual(actions, ['pass', 'pass', 'pass', 'alert', 'alert', 'reject']);
  assert.equal(call(stage, start + 60 * MIN).action, 'pass');
});

test('concurrent calls: open calls count until their BYE or failure', () => {
  const { stage } = setup({ rules: [{ name: 'all', concurrentCalls: { warning: 1, critical: 2 } }] });
  const a = invite();
  assert.equal(verdict(stage.request!(a.context, TUE_10)).action, 'pass');
  const b = invite();
  assert.equal(verdict(stage.request!(b.context, TUE_10 + 1000)).action, 'alert');
  assert.equal(call(stage, TUE_10 + 2000).action, 'reject');
  // One call ends with BYE, another fails: room again.
  talk(stage, a.req, TUE_10 + 3000, TUE_10 + 4000);
  stage.outcome!(outcomeContext(b.req, flow('198.51.100.7'), 486), TUE_10 + 5000);
  assert.equal(call(stage, TUE_10 + 6000).action, 'pass');
});

test('sequential calls: calls in a row to one prefix; a call elsewhere starts the count again', () => {
  const { stage } = setup({
    rules: [
      { name: 'satellite', prefix: '881', sequentialCalls: { warning: 2, critical: 3 }, action: 'reject' },
      { name: 'uk', prefix: '44' },
    ],
  });
  const at = (i: number) => TUE_10 + i * 10 * MIN;
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => call(stage, at(i)).action),
    ['pass', 'pass', 'alert', 'reject'],
  );
  assert.equal(call(stage, at(4), { to: UK }).action, 'pass');
  assert.equal(call(stage, at(5)).action, 'pass');
});

test('call duration: checked when the call ends; critical blocks the identity for its next calls', () => {
  const { stage, deps } = setup({
    rules: [
      { name: 'satellite', prefix: '881', callDurationS: { warning: 600, critical: 1800 }, action: 'block' },
    ],
  });
  const first = invite();
  assert.equal(verdict(stage.request!(first.context, TUE_10)).action, 'pass');
  const warned = talk(stage, first.req, TUE_10 + 1000, TUE_10 + 1000 + 900_000);
  assert.equal(warned.action, 'alert');
  assert.equal(eventOf(warned).details?.level, 'warning');
  assert.equal(eventOf(warned).details?.value, 900);

  const second = invite();
  assert.equal(verdict(stage.request!(second.context, TUE_10 + 2_000_000)).action, 'pass');
  const critical = talk(stage, second.req, TUE_10 + 2_000_000, TUE_10 + 2_000_000 + 2_000_000);
  // The BYE itself goes on; the block falls on what comes next.
  assert.equal(critical.action, 'alert');
  assert.equal(eventOf(critical).action, 'block');
  const now = TUE_10 + 4_100_000;
  assert.ok(deps.blocks.matchKey('identity:alice@example.com', now));
  const refused = call(stage, now, { to: UK });
  assert.ok(
    refused.action === 'reject' && refused.status === 403 && refused.reason === 'Identity Blocked For Fraud',
  );
  assert.equal(refused.event.rule, 'identity-blocked');
  assert.equal(call(stage, now, { fromUser: 'bob' }).action, 'pass');
});

test('a rule applies only in its hours and days (TimeWindow), and only to its groups or roles', () => {
  const { stage } = setup({
    rules: [
      {
        name: 'office-hours',
        when: { days: 'mon-fri', hours: '08:00-18:00', timezone: 'UTC' },
        callsPerMinute: { critical: 1 },
      },
      { name: 'sales-night', prefix: '4', roles: ['sales'], callsPerMinute: { critical: 2 } },
    ],
  });
  // Tuesday 10:00: applies.
  assert.equal(call(stage, TUE_10).action, 'pass');
  assert.equal(call(stage, TUE_10 + 1000).action, 'reject');
  // Tuesday 22:00 and Saturday 10:00: no rule applies.
  const night = Date.UTC(2023, 10, 14, 22, 0, 0);
  const saturday = Date.UTC(2023, 10, 18, 10, 0, 0);
  for (const start of [night, saturday]) {
    for (let i = 0; i < 3; i++)
      assert.equal(call(stage, start + i * 1000, { fromUser: 'bob' }).action, 'pass');
  }
  // The longer prefix wins when it applies: to a verified caller in the role.
  const sales = alice([], ['sales']);
  const verdicts = [0, 1, 2].map((i) => call(stage, night + i * 1000, { to: UK, identity: sales }).action);
  assert.deepEqual(verdicts, ['pass', 'pass', 'reject']);
});

test('destination categories are allowed or denied per group or role, first applying rule decides', () => {
  const { stage } = setup({
    access: [
      { name: 'travellers', groups: ['travel'], allow: ['satellite', 'high-risk'] },
      { name: 'no-expensive', deny: ['premium', 'satellite', 'high-risk'], status: 488 },
    ],
  });
  const refused = call(stage, TUE_10, { to: IRIDIUM });
  assert.ok(
    refused.action === 'reject' && refused.status === 488 && refused.reason === 'Destination Not Allowed',
  );
  assert.equal(refused.event.rule, 'no-expensive');
  assert.equal(refused.event.details?.category, 'satellite');
  assert.equal(call(stage, TUE_10, { to: '+5371234567' }).action, 'reject');
  // The group may; so may anyone call an ordinary international number.
  assert.equal(call(stage, TUE_10, { to: IRIDIUM, identity: alice(['travel']) }).action, 'pass');
  assert.equal(call(stage, TUE_10, { to: '+5371234567', identity: alice(['travel']) }).action, 'pass');
  assert.equal(call(stage, TUE_10, { to: UK }).action, 'pass');
  // Premium is denied to the group too: it is not in its allow list.
  assert.equal(call(stage, TUE_10, { to: '+449012345678', identity: alice(['travel']) }).action, 'reject');
  // An extension has no category.
  assert.equal(call(stage, TUE_10, { to: '200' }).action, 'pass');
});

test('of several findings on one call the strongest acts, and only it: a block wins over a hold', () => {
  const { stage, holds } = setup({
    novelty: { critical: 1, action: 'hold' },
    rules: [{ name: 'all', callsPerMinute: { critical: 1 }, action: 'block' }],
  });
  assert.equal(call(stage, TUE_10, { to: '+5371234567' }).action, 'pass');
  const v = call(stage, TUE_10 + 1000, { to: '+2521234567' });
  assert.ok(v.action === 'block' && v.key === 'identity:alice@example.com' && v.event.rule === 'all');
  assert.deepEqual(holds.list(), []);
});

test('a warning threshold must be below its critical one', () => {
  assert.throws(
    () =>
      setup({
        rules: [{ name: 'r', callsPerMinute: { warning: 5, critical: 5 } }],
        spendVelocity: { warningMinutes: 60, criticalMinutes: 30 },
        novelty: { warning: 4, critical: 2 },
      }),
    (e: unknown) =>
      e instanceof StageConfigError &&
      e.issues.join('\n') ===
        [
          'rules[0].callsPerMinute.warning: must be below critical',
          'spendVelocity.warningMinutes: must be below critical',
          'novelty.warning: must be below critical',
        ].join('\n'),
  );
});

test('rule names are unique across the lists and the built-in checks', () => {
  assert.throws(
    () =>
      setup({
        access: [{ name: 'no-premium', deny: ['premium'] }],
        rules: [{ name: 'no-premium' }, { name: 'spend-velocity' }],
      }),
    (e: unknown) =>
      e instanceof StageConfigError &&
      e.issues.join('\n') ===
        'rules[0].name: "no-premium" names another rule already\nrules[1].name: "spend-velocity" names another rule already',
  );
});

test('a category the table does not have, and a bad table, are configuration errors', () => {
  assert.throws(
    () => setup({ access: [{ name: 'x', deny: ['premuim'] }] }),
    (e: unknown) =>
      e instanceof StageConfigError && /access\[0\]\.deny: category "premuim" is not in/.test(e.issues[0]!),
  );
  assert.throws(
    () => setup({ destinations: { file: '/nonexistent/destinations.csv' } }),
    (e: unknown) =>
      e instanceof StageConfigError &&
      e.issues[0] === 'destinations.file: /nonexistent/destinations.csv: cannot read: ENOENT',
  );
});

test('spend velocity: minutes of answered expensive calls in the last hour; critical holds the identity', () => {
  const { stage, holds } = setup({
    spendVelocity: { categories: ['satellite'], warningMinutes: 20, criticalMinutes: 40, action: 'hold' },
  });
  const first = invite();
  assert.equal(verdict(stage.request!(first.context, TUE_10)).action, 'pass');
  talk(stage, first.req, TUE_10, TUE_10 + 25 * MIN);
  // 25 minutes: over warning.
  const second = invite();
  const warned = verdict(stage.request!(second.context, TUE_10 + 26 * MIN));
  assert.equal(warned.action, 'alert');
  assert.equal(eventOf(warned).rule, 'spend-velocity:warning');
  // A call still going on counts too: 25 + 20 minutes.
  stage.outcome!(outcomeContext(second.req, flow('198.51.100.7'), 200), TUE_10 + 26 * MIN);
  const held = call(stage, TUE_10 + 46 * MIN);
  assert.ok(held.action === 'reject' && held.reason === 'Held For Fraud Review');
  assert.equal(held.event.details?.fraudAction, 'hold');
  assert.equal(holds.get('alice@example.com')?.rule, 'spend-velocity');
  // Held: every new call is refused, even to a cheap destination, until released.
  const refused = call(stage, TUE_10 + 47 * MIN, { to: UK });
  assert.ok(refused.action === 'reject' && refused.event.rule === 'identity-held');
  assert.equal(holds.get('alice@example.com')?.refused, 1);
  // Cheap calls never count.
  assert.equal(call(stage, TUE_10 + 47 * MIN, { to: UK, fromUser: 'bob' }).action, 'pass');
  assert.ok(holds.release('alice@example.com'));
  assert.equal(call(stage, TUE_10 + 48 * MIN, { to: UK }).action, 'pass');
});

test('destination novelty: many destination groups new to the identity within the window', () => {
  const { stage } = setup({ novelty: { warning: 2, critical: 3, action: 'reject', windowMs: 3_600_000 } });
  const countries = ['+5371234567', '+2521234567', '+3711234567', '+2321234567'];
  const actions = countries.map((to, i) => call(stage, TUE_10 + i * MIN, { to }).action);
  assert.deepEqual(actions, ['pass', 'pass', 'alert', 'reject']);
  // Known ones are not new: calling them again is fine; another identity starts afresh.
  assert.equal(call(stage, TUE_10 + 5 * MIN, { to: countries[0]! }).action, 'pass');
  assert.equal(call(stage, TUE_10 + 5 * MIN, { to: countries[3]!, fromUser: 'bob' }).action, 'pass');
  // Past the window the new groups are forgotten; the known ones stay known.
  assert.equal(call(stage, TUE_10 + 2 * 60 * MIN, { to: '+2241234567' }).action, 'pass');
  const later = TUE_10 + 3 * 60 * MIN;
  assert.deepEqual(
    countries.map((to, i) => call(stage, later + i * MIN, { to }).action),
    ['pass', 'pass', 'pass', 'pass'],
  );
  // Not called for longer than knownForDays (30): new again.
  const month = later + 31 * 24 * 60 * MIN;
  assert.deepEqual(
    countries.map((to, i) => call(stage, month + i * MIN, { to }).action),
    ['pass', 'pass', 'alert', 'reject'],
  );
});

test('unusual hours: a call outside the normal hours of the caller group fires', () => {
  const { stage } = setup({
    unusualHours: [
      {
        name: 'staff-hours',
        groups: ['staff'],
        normal: { days: 'mon-fri', hours: '07:00-20:00' },
        action: 'reject',
      },
    ],
  });
  const night = Date.UTC(2023, 10, 14, 23, 30, 0);
  assert.equal(call(stage, TUE_10, { identity: alice(['staff']) }).action, 'pass');
  const v = call(stage, night, { identity: alice(['staff']) });
  assert.ok(v.action === 'reject' && v.event.rule === 'staff-hours' && v.event.details?.verified === 'yes');
  // Not in the group: not its hours.
  assert.equal(call(stage, night, { identity: alice(['other']) }).action, 'pass');
});

test("unusual hours of one identity: a night worker's daytime call fires, others' do not", () => {
  const { stage } = setup({
    unusualHours: [{ name: 'night-shift', users: ['owl@example.com'], normal: { hours: '20:00-08:00' } }],
  });
  const v = call(stage, TUE_10, { fromUser: 'owl' });
  assert.ok(v.action === 'alert' && v.event.rule === 'night-shift' && v.event.details?.verified === 'no');
  assert.equal(call(stage, Date.UTC(2023, 10, 14, 3, 0, 0), { fromUser: 'owl' }).action, 'pass');
  assert.equal(call(stage, TUE_10, { fromUser: 'lark' }).action, 'pass');
  assert.throws(
    () => setup({ unusualHours: [{ name: 'x', users: ['Owl@Example.com'], normal: {} }] }),
    (e: unknown) =>
      e instanceof StageConfigError &&
      e.issues[0] === 'unusualHours[0].users[0]: must be user@domain, in lower case',
  );
});

test('a block of the identity is written to the block table and stops it from any address, not others', () => {
  const h = new Harness((deps) => [
    createFraudStage(
      {
        rules: [
          {
            name: 'satellite',
            prefix: '881',
            callsPerMinute: { critical: 3 },
            action: 'block',
            blockMs: 600_000,
          },
        ],
      },
      deps,
    ),
  ]);
  h.clock.now = TUE_10;
  const send = (fromUser: string, address: string, to = IRIDIUM) =>
    h.send(request({ ruriUser: to, fromUser, fromDomain: 'example.com' }), flow(address));
  // A hijacked account, each call from another address.
  const verdicts = Array.from({ length: 6 }, (_, i) => {
    const v = h.pipeline.inspectRequest(
      requestContext(
        request({ ruriUser: IRIDIUM, fromUser: 'alice', fromDomain: 'example.com' }),
        flow(`203.0.113.${i + 1}`),
      ),
    );
    assert.ok(!(v instanceof Promise));
    return v;
  });
  assert.deepEqual(
    verdicts.map((v) => v.action),
    ['pass', 'pass', 'pass', 'reject', 'reject', 'reject'],
  );
  // The caller learns it is blocked, not the thresholds.
  for (const v of verdicts.slice(3)) {
    assert.deepEqual(v, { action: 'reject', status: 403, reason: 'Identity Blocked For Fraud' });
  }
  const block = h.deps.blocks.list(h.clock.now).find((b) => b.key === 'identity:alice@example.com');
  assert.ok(block, 'the identity is in the block table');
  assert.equal(block.scope, 'key');
  assert.equal(block.expiresAt, TUE_10 + 600_000);
  // No address was blocked; the identity is refused from a new one, even to a cheap number.
  assert.equal(h.blocked('203.0.113.1'), false);
  assert.equal(send('alice', '192.0.2.50', UK), 'reject');
  assert.equal(h.events.at(-1)?.rule, 'identity-blocked');
  assert.equal(send('bob', '203.0.113.1'), 'pass');
  // Once the block expires, the identity calls again.
  h.clock.now = TUE_10 + 700_000;
  assert.equal(send('alice', '192.0.2.50', UK), 'pass');
});

test('a call challenged by the upstream counts once, not again with its credentials', () => {
  const { stage } = setup({ rules: [{ name: 'all', totalCalls: { critical: 2 } }] });
  for (let i = 0; i < 4; i++) {
    const { context, req } = invite({ callId: `c${i}@x` });
    assert.equal(verdict(stage.request!(context, TUE_10 + i)).action, 'pass');
    stage.outcome!(outcomeContext(req, flow('198.51.100.7'), 407), TUE_10 + i);
  }
  assert.equal(call(stage, TUE_10 + 10).action, 'pass');
  assert.equal(call(stage, TUE_10 + 11).action, 'pass');
  assert.equal(call(stage, TUE_10 + 12).action, 'reject');
});

test('state is bounded: holds, identities and calls stay within their caps', () => {
  const holds = new FraudHolds(50);
  const { stage } = setup({ rules: [{ name: 'all', totalCalls: { critical: 1 }, action: 'hold' }] }, holds);
  for (let i = 0; i < 120; i++) call(stage, TUE_10 + i, { fromUser: `u${i % 60}` });
  // 60 identities held, 50 kept: the oldest gave way.
  assert.equal(holds.list().length, 50);
  assert.equal(holds.stats().evicted, 10);
  assert.equal(holds.get('u0@example.com'), undefined);
  assert.ok(holds.get('u59@example.com'));

  // Identities: past the cap, the least recently seen is forgotten with its counters.
  const { stage: few } = setup({ maxIdentities: 100, rules: [{ name: 'all', totalCalls: { critical: 1 } }] });
  assert.equal(call(few, TUE_10, { fromUser: 'first' }).action, 'pass');
  assert.equal(call(few, TUE_10, { fromUser: 'first' }).action, 'reject');
  for (let i = 0; i < 100; i++) call(few, TUE_10, { fromUser: `x${i}` });
  assert.equal(call(few, TUE_10, { fromUser: 'first' }).action, 'pass');

  // Calls: at most maxCalls followed, so one identity never counts more concurrent calls.
  const { stage: calls } = setup({
    maxCalls: 100,
    rules: [{ name: 'all', concurrentCalls: { critical: 150 } }],
  });
  for (let i = 0; i < 300; i++) assert.equal(call(calls, TUE_10 + i).action, 'pass', `call ${i}`);
});

test('check-config reports a bad destination table as path:line: reason under the stage settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fraud-'));
  const file = join(dir, 'destinations.csv');
  writeFileSync(file, 'prefix,category,description\n44,international,UK\n44x,premium,typo\n');
  const issues = checkSecuritySettings(
    { enabled: true, allowlist: [], settings: { fraud: { destinations: { file } } } },
    makeDeps(),
  );
  assert.deepEqual(issues, [
    `security.settings.fraud.destinations.file: ${file}:3: prefix "44x" must be 1 to 15 digits (E.164, country code first)`,
  ]);
  writeFileSync(file, '44,international,UK\n449,premium,UK 09\n');
  const loaded = setup({ destinations: { file }, access: [{ name: 'no-premium', deny: ['premium'] }] });
  assert.equal(call(loaded.stage, TUE_10, { to: '+449012345678' }).action, 'reject');
});

test('unverified: false leaves callers without a verified identity to the other stages', () => {
  const { stage } = setup({ unverified: false, access: [{ name: 'no-satellite', deny: ['satellite'] }] });
  assert.equal(call(stage, TUE_10).action, 'pass');
  assert.equal(call(stage, TUE_10, { identity: alice() }).action, 'reject');
});
