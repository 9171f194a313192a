import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChallengeProof } from '../../../src/security/challenge-proof.ts';
import { SourceNonceTable } from '../../../src/security/source-nonce-table.ts';
import type { SipRequest } from '../../../src/sip/message.ts';
import { flow, parseResponse, request, requestContext, responseText, T0 } from './stages/helpers.ts';

function challenge(proof: ChallengeProof, req: SipRequest, from: string, nonce: string, now: number): void {
  const response = parseResponse(
    responseText(req, 401, `WWW-Authenticate: Digest realm="pbx.example.com", nonce="${nonce}"`),
  );
  proof.note(requestContext(req, flow(from)), response, now);
}

function respond(proof: ChallengeProof, req: SipRequest, from: string, status: number, now: number): void {
  proof.note(requestContext(req, flow(from)), parseResponse(responseText(req, status)), now);
}

const first = (callId: string, method = 'REGISTER') =>
  request({ method, fromUser: 'alice', ruriUser: method === 'INVITE' ? '300' : '', callId, cseq: 1 });
const again = (callId: string, nonce: string, method = 'REGISTER') =>
  request({
    method,
    fromUser: 'alice',
    ruriUser: method === 'INVITE' ? '300' : '',
    callId,
    cseq: 2,
    authUser: 'alice',
    nonce,
  });

test("the table keeps at most perSource entries per source, dropping that source's oldest", () => {
  const table = new SourceNonceTable<number>({ maxEntries: 100, perSource: 3, ttlMs: 1000 });
  table.set('192.0.2.1', 'keep', 1, T0);
  for (let i = 0; i < 10; i++) table.set('203.0.113.9', `n${i}`, i, T0 + i);
  assert.equal(table.countFor('203.0.113.9'), 3);
  assert.equal(table.size, 4);
  assert.equal(table.get('203.0.113.9', 'n6', T0 + 20), undefined);
  assert.equal(table.get('203.0.113.9', 'n9', T0 + 20), 9);
  assert.equal(table.get('192.0.2.1', 'keep', T0 + 20), 1);
  // Past its lifetime an entry is gone.
  assert.equal(table.get('192.0.2.1', 'keep', T0 + 1000), undefined);
});

test('past maxEntries the oldest entry gives way, and the sizes stay bounded', () => {
  const table = new SourceNonceTable<number>({ maxEntries: 50, perSource: 3, ttlMs: 60_000 });
  for (let i = 0; i < 1000; i++) table.set(`198.51.100.${i % 250}`, `n${i}`, i, T0 + i);
  assert.equal(table.size, 50);
  assert.equal(table.get('198.51.100.0', 'n0', T0 + 1000), undefined);
  assert.equal(table.get('198.51.100.249', 'n999', T0 + 1000), 999);
});

test("one source flooding challenges cannot push out another source's: a phone still proves its password", () => {
  const proof = new ChallengeProof({ maxIssued: 100 });
  challenge(proof, first('p1'), '198.51.100.40', 'a1b2c3', T0);
  for (let i = 0; i < 1000; i++) challenge(proof, first(`j${i}`), '203.0.113.9', `n${i}`, T0 + 1);
  assert.ok(proof.sizes.issued <= 65);
  assert.equal(proof.proven('198.51.100.40', again('p1', 'a1b2c3'), 200, T0 + 50), 'alice');
});

test('an INVITE answer that reached the upstream survives a flood of challenges to forged sources', () => {
  const proof = new ChallengeProof({ maxIssued: 100, maxAnswered: 100 });
  challenge(proof, first('c1', 'INVITE'), '198.51.100.41', 'd4e5f6', T0);
  const answer = again('c1', 'd4e5f6', 'INVITE');
  respond(proof, answer, '198.51.100.41', 180, T0 + 30);
  // Challenges to 10,000 forged addresses churn the table of issued challenges...
  for (let i = 0; i < 10_000; i++) {
    challenge(proof, first(`f${i}`), `10.${(i >> 8) & 255}.${i & 255}.1`, `f${i}`, T0 + 40 + i);
  }
  assert.equal(proof.sizes.issued, 100);
  // ...but not the answers that reached the upstream: only a source that saw its nonce makes those.
  assert.equal(proof.proven('198.51.100.41', answer, 200, T0 + 60_000), 'alice');
});

test('an answer refused by the upstream proves nothing later', () => {
  const proof = new ChallengeProof();
  challenge(proof, first('c2', 'INVITE'), '198.51.100.42', 'x1', T0);
  const answer = again('c2', 'x1', 'INVITE');
  respond(proof, answer, '198.51.100.42', 100, T0 + 10);
  respond(proof, answer, '198.51.100.42', 403, T0 + 20);
  // The 403 ended the answer; the challenge itself has expired by now.
  assert.equal(proof.proven('198.51.100.42', answer, 200, T0 + 60_000), undefined);
});

test('an office of 200 phones behind one address, 40 challenges awaiting their answer at any time: every phone proves its password', () => {
  const proof = new ChallengeProof();
  const office = '198.51.100.77';
  const reg = (user: string, cseq: number, auth: boolean) =>
    request({
      method: 'REGISTER',
      fromUser: user,
      callId: `reg-${user}`,
      cseq,
      ...(auth ? { authUser: user, nonce: `n-${user}` } : {}),
    });
  const proven: string[] = [];
  for (let i = 0; i < 240; i++) {
    if (i < 200) {
      const user = String(2000 + i);
      const first = reg(user, 1, false);
      const response = parseResponse(
        responseText(first, 401, `WWW-Authenticate: Digest realm="pbx.example.com", nonce="n-${user}"`),
      );
      proof.note(requestContext(first, flow(office)), response, T0 + i);
    }
    if (i >= 40) {
      const user = String(2000 + i - 40);
      const who = proof.proven(office, reg(user, 2, true), 200, T0 + i);
      if (who !== undefined) proven.push(who);
    }
  }
  assert.equal(proven.length, 200);
  // Proven challenges made room: none is left behind.
  assert.equal(proof.sizes.issued, 0);
});
