/**
 * Toll fraud stopped by identity, end to end with real sockets: sipwarden (a child
 * process, default stages plus a fraud rule) in front of a PBX (sipp answering every
 * call), and sipp as the callers.
 *
 * A hijacked account: the same From user (alice@example.com) calls a premium-rate number
 * (00 44 9..., the UK's 09 range in the shipped destination table), each call from another
 * source address (127.0.21.1, .2, ...: sipp -i). No address is used twice, so no
 * per-address limit can see it; the fraud rule (more than 4 calls per minute to prefix 449:
 * block) counts the identity, blocks `identity:alice@example.com`, and every later call of
 * that identity is refused from any address. Meanwhile another user (bob@example.com)
 * keeps calling the same number from an address alice used: it is no address block.
 *
 * A held identity (carol, over a satellite rule whose action is hold) is refused with the
 * rule's status from any address until released through the management API; and a call's
 * duration is learnt from its answer and its BYE as they pass the real proxy core.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../harness/ports.ts';
import { stopAll } from '../harness/process.ts';
import { describeSipp, runSipp, type SippResult, type SippRun, startSipp } from '../harness/sipp.ts';
import { allBlocks, eventsOf, type Guarded, startGuard, until, whyGone } from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const PREMIUM = '00449012345678';
const IRIDIUM = '+881612345678';
const UK = '00442071234567';
const CALL_AS = join(import.meta.dirname, 'scenarios', 'uac-call-as.xml');
const CRITICAL = 4;
const HIJACKED_CALLS = 8;

describe('a hijacked account used from many addresses is stopped by identity, not by address', () => {
  let uas: SippRun;
  let guard: Guarded;

  before(async () => {
    const uasPort = await freePort(TARGET_HOST, ['udp']);
    uas = await startSipp({ scenario: 'uas-answer.xml', localPort: uasPort, transport: 'u1', timeoutS: 120 });
    await uas.ready();
    guard = await startGuard(uasPort, {
      security: {
        settings: {
          fraud: {
            destinations: { numbering: { countryCode: '33' } },
            rules: [
              {
                name: 'premium-uk',
                prefix: '449',
                callsPerMinute: { warning: 2, critical: CRITICAL },
                action: 'block',
                blockMs: 600_000,
              },
              {
                name: 'satellite',
                prefix: '881',
                callsPerMinute: { critical: 2 },
                action: 'hold',
                status: 480,
              },
              // France, with countryCode 33: 01 23 45 67 89 is +33 1 23 45 67 89.
              {
                name: 'long-calls',
                prefix: '33',
                callDurationS: { warning: 1, critical: 3600 },
                action: 'hold',
              },
            ],
          },
        },
      },
    });
  });

  after(async () => {
    await guard?.sipwarden.stop();
    await uas?.stop();
  });

  /** One call as `caller` from `address`. */
  async function callFrom(caller: string, address: string, to = PREMIUM, pauseMs = 0): Promise<SippResult> {
    return runSipp({
      scenario: CALL_AS,
      localHost: address,
      localPort: await freePort(address, ['udp']),
      remote: { host: TARGET_HOST, port: guard.port },
      service: to,
      keys: { caller },
      calls: 1,
      pauseMs,
      timeoutS: 15,
      timeoutIsError: false,
    });
  }

  test('the identity is blocked after its critical threshold; another user calls on from the same addresses', async () => {
    const outcomes: boolean[] = [];
    const addresses: string[] = [];
    for (let i = 0; i < HIJACKED_CALLS; i++) {
      const address = `127.0.21.${i + 1}`;
      addresses.push(address);
      const run = await callFrom('alice', address);
      outcomes.push(run.successful === 1);
      if (i < CRITICAL) assert.equal(run.successful, 1, `${describeSipp(run)}\n${whyGone(guard) ?? ''}`);
    }
    // Calls 1 to 4 go through; the 5th is over the critical threshold; later ones meet the block.
    assert.deepEqual(outcomes, [true, true, true, true, false, false, false, false]);

    const blocks = await allBlocks(guard);
    const identity = blocks.find((b) => b.key === 'identity:alice@example.com');
    assert.ok(identity, JSON.stringify(blocks));
    assert.equal(identity.scope, 'key');
    assert.equal(identity.rule, 'premium-uk');
    for (const address of addresses) {
      assert.equal(
        blocks.find((b) => b.key === address),
        undefined,
        `${address} must not be blocked: ${JSON.stringify(blocks)}`,
      );
    }

    // Another user, from an address alice used, to the same premium number: goes through.
    for (const address of [addresses[0]!, addresses[HIJACKED_CALLS - 1]!]) {
      const bob = await callFrom('bob', address);
      assert.equal(bob.successful, 1, describeSipp(bob));
    }

    // The events name the identity: the warning, the block, and the refusals after it.
    let fraud: Awaited<ReturnType<typeof eventsOf>> = [];
    const seen = await until(async () => {
      fraud = await eventsOf(guard, 'fraud');
      return fraud.some((e) => e.rule === 'identity-blocked');
    }, 5000);
    assert.ok(seen, JSON.stringify(fraud));
    const summary = new Set(fraud.map((e) => `${e.rule}/${e.action}/${e.key}`));
    assert.ok(summary.has('premium-uk:warning/alert/identity:alice@example.com'), [...summary].join('\n'));
    assert.ok(summary.has('premium-uk/block/identity:alice@example.com'), [...summary].join('\n'));
    assert.ok(summary.has('identity-blocked/reject/identity:alice@example.com'), [...summary].join('\n'));
    assert.ok(![...summary].some((s) => s.includes('bob')), [...summary].join('\n'));
    const blocked = fraud.find((e) => e.rule === 'premium-uk' && e.action === 'block');
    assert.equal(blocked?.details?.verified, 'no');
    assert.equal(blocked?.details?.category, 'premium');
  });

  test('a held identity is refused with the hold status until an operator releases it through the API', async () => {
    const outcomes: boolean[] = [];
    for (let i = 0; i < 3; i++)
      outcomes.push((await callFrom('carol', `127.0.22.${i + 1}`, IRIDIUM)).successful === 1);
    assert.deepEqual(outcomes, [true, true, false]);
    const held = await guard.api.fraudHolds();
    assert.deepEqual(
      held.holds.map((h) => [h.identity, h.rule, h.verified, h.status]),
      [['carol@example.com', 'satellite', false, 480]],
    );
    // Held: even a call to an ordinary number is refused, from any address.
    const refused = await callFrom('carol', '127.0.22.9', UK);
    assert.equal(refused.successful, 0, describeSipp(refused));
    assert.equal((await guard.api.fraudHolds()).holds[0]?.refused, 1);
    await guard.api.releaseHold('carol@example.com');
    assert.deepEqual((await guard.api.fraudHolds()).holds, []);
    const released = await callFrom('carol', '127.0.22.9', UK);
    assert.equal(released.successful, 1, describeSipp(released));
    let fraud: Awaited<ReturnType<typeof eventsOf>> = [];
    await until(async () => {
      fraud = await eventsOf(guard, 'fraud');
      return fraud.some((e) => e.rule === 'identity-held');
    }, 5000);
    const held480 = fraud.find((e) => e.rule === 'identity-held');
    assert.equal(held480?.status, 480, JSON.stringify(fraud));
  });

  test("a call's duration is learnt from its answer and its BYE through the proxy", async () => {
    const run = await callFrom('dave', '127.0.23.1', '0123456789', 2500);
    assert.equal(run.successful, 1, describeSipp(run));
    let fraud: Awaited<ReturnType<typeof eventsOf>> = [];
    await until(async () => {
      fraud = await eventsOf(guard, 'fraud');
      return fraud.some((e) => e.rule === 'long-calls:warning');
    }, 5000);
    const long = fraud.find((e) => e.rule === 'long-calls:warning');
    assert.ok(long, JSON.stringify(fraud));
    assert.equal(long.key, 'identity:dave@example.com');
    assert.equal(long.details?.check, 'callDuration');
    assert.ok(Number(long.details?.value) >= 2, JSON.stringify(long));
    // The warning held nothing: dave calls on.
    assert.deepEqual((await guard.api.fraudHolds()).holds, []);
  });
});
