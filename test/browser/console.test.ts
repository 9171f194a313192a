/**
 * The operators' console in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against a sipwarden started as an operator starts it (bin/sipwarden.js,
 * which loads dist/: run `npx tsc -p tsconfig.build.json` first; this test builds the
 * console itself) in front of a sipp UAS.
 *
 * It logs in, watches an attack from `sipwarden attack` appear live, blocks and unblocks a
 * phone's address from the Blocks page (by keyboard) and checks on the wire that the phone's
 * requests stop being answered and are answered again, tries a cross-origin request
 * forgery, and takes a screenshot of every page: into .tmp/browser-artifacts/ (or
 * $SW_ARTIFACTS), and into docs/screenshots/ as well when SW_SCREENSHOTS_TO_DOCS=1 (how the
 * README's pictures are made). It prints, and does not assert, the time to the first page
 * and to the live figures.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { sipwarden as cli, startBareUas } from '../interop/attack/helpers.ts';
import { freePort } from '../interop/harness/ports.ts';
import type { SippRun } from '../interop/harness/sipp.ts';
import { REPO_ROOT, type Sipwarden, startSipwarden } from '../interop/harness/sipwarden.ts';
import { tempDir } from '../interop/harness/workdir.ts';
import { createTestAccount, type TestAccount, totpFor } from '../support/accounts.ts';
import { UdpPeer } from '../support/udp-peer.ts';

const CHROMIUM = '/usr/bin/chromium';
/** ECOSYSTEM.md: what Debian's chromium needs to run headless here, offline. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** A laptop screen. */
const VIEWPORT = { width: 1366, height: 768 };
const STEP_MS = 15_000;

const ARTIFACTS = process.env.SW_ARTIFACTS ?? join(REPO_ROOT, '.tmp', 'browser-artifacts');
const DOCS_SCREENSHOTS = join(REPO_ROOT, 'docs', 'screenshots');

const PHONE_ADDRESS = '127.0.0.2';
const ATTACKER_ADDRESS = '127.0.0.9';
const FORGED_ADDRESS = '127.0.0.77';

let uas: { run: SippRun; port: number };
let gateway: Sipwarden;
let sipPort: number;
let base: string;
let context: BrowserContext;
let page: Page;
let phone: UdpPeer;
let evil: Server | undefined;
let admin: TestAccount;
let viewer: TestAccount;

before(async () => {
  // The console as this checkout's sources make it, into the dist/ the gateway serves.
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-console.mjs')], { stdio: 'pipe' });
  mkdirSync(ARTIFACTS, { recursive: true });
  uas = await startBareUas(180);
  sipPort = await freePort();
  const managementPort = await freePort('127.0.0.1', ['tcp']);
  // Accounts live in the events database: a file the test makes them in before the start.
  const database = join(tempDir('console-data'), 'events.db');
  admin = await createTestAccount({ database }, 'alice', 'admin');
  viewer = await createTestAccount({ database }, 'victor', 'viewer');
  gateway = await startSipwarden({
    port: sipPort,
    upstream: { host: '127.0.0.1', port: uas.port },
    config: { management: { port: managementPort }, events: { database } },
  });
  base = `http://127.0.0.1:${managementPort}`;
  context = await chromium.launchPersistentContext(tempDir('chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
    timeout: 30_000,
  });
  context.setDefaultTimeout(STEP_MS);
  page = context.pages()[0] ?? (await context.newPage());
  phone = await UdpPeer.bind(PHONE_ADDRESS);
});

after(async () => {
  phone?.close();
  await context?.close();
  await new Promise<void>((resolve) => (evil === undefined ? resolve() : evil.close(() => resolve())));
  await gateway?.stop();
  await uas?.run.stop();
});

async function screenshot(name: string): Promise<void> {
  const file = join(ARTIFACTS, `console-${name}.png`);
  await page.screenshot({ path: file });
  if (process.env.SW_SCREENSHOTS_TO_DOCS === '1') {
    mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
    copyFileSync(file, join(DOCS_SCREENSHOTS, `console-${name}.png`));
  }
}

/** Goes to a view the keyboard way: `g` then its key. */
async function goByKey(key: string, heading: string): Promise<void> {
  await page.locator('body').focus();
  await page.keyboard.press('Escape');
  await page.keyboard.press('g');
  await page.keyboard.press(key);
  await page.locator('main h1', { hasText: heading }).waitFor();
}

/** Logs in through the form: account, password and the authenticator's code. */
async function logIn(account: TestAccount): Promise<void> {
  const form = page.getByRole('form', { name: 'Log in' });
  await form.waitFor();
  await form.getByLabel('Account').fill(account.name);
  await form.getByLabel('Password').fill(account.password);
  await form.getByLabel('One-time code').fill(account.totpSecret === null ? '' : totpFor(account.totpSecret));
  await form.getByLabel('One-time code').press('Enter');
  await page.locator('[data-testid="who"]', { hasText: `${account.name} (${account.role})` }).waitFor();
}

async function logOut(): Promise<void> {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('form', { name: 'Log in' }).waitFor();
}

let probe = 0;
/** The phone asks sipwarden for OPTIONS once; true when an answer comes back within 1.5 s. */
async function phoneAnswered(): Promise<boolean> {
  probe++;
  const callId = `console-probe-${probe}@${PHONE_ADDRESS}`;
  phone.send(
    [
      `OPTIONS sip:100@127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PHONE_ADDRESS}:${phone.port};branch=z9hG4bK-console-${probe};rport`,
      'Max-Forwards: 70',
      `From: <sip:200@${PHONE_ADDRESS}>;tag=phone-${probe}`,
      `To: <sip:100@127.0.0.1:${sipPort}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${probe} OPTIONS`,
      `Contact: <sip:200@${PHONE_ADDRESS}:${phone.port}>`,
      'User-Agent: Yealink SIP-T46S 66.86.0.15',
      'Accept: application/sdp',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    sipPort,
    '127.0.0.1',
  );
  try {
    await phone.next((text) => text.startsWith('SIP/2.0 ') && text.includes(callId), 1500);
    return true;
  } catch {
    return false;
  }
}

async function answeredAtLeastOnce(tries: number): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await phoneAnswered()) return true;
  return false;
}

test('log in with password and TOTP: first page and live figures, timed', { timeout: 60_000 }, async () => {
  const started = performance.now();
  await page.goto(base, { waitUntil: 'load' });
  await page.getByRole('form', { name: 'Log in' }).waitFor();
  const loaded = performance.now();
  // A wrong code is refused, and the form says so.
  const form = page.getByRole('form', { name: 'Log in' });
  await form.getByLabel('Account').fill(admin.name);
  await form.getByLabel('Password').fill(admin.password);
  await form.getByLabel('One-time code').fill('000000');
  await form.getByLabel('One-time code').press('Enter');
  await page.getByRole('alert').filter({ hasText: 'Wrong account, password or code' }).waitFor();
  const submitted = performance.now();
  await logIn(admin);
  await page.locator('[data-testid="live-state"]', { hasText: /^live$/ }).waitFor();
  await page.locator('[data-testid="rate-received"]', { hasText: /^\d/ }).waitFor();
  const live = performance.now();
  // A logged-in operator opening the console again: the overview, live, from a reload.
  const reloaded = performance.now();
  await page.reload({ waitUntil: 'load' });
  const reloadLoaded = performance.now();
  await page.locator('[data-testid="live-state"]', { hasText: /^live$/ }).waitFor();
  await page.locator('[data-testid="rate-received"]', { hasText: /^\d/ }).waitFor();
  const reloadLive = performance.now();
  // Navigation Timing, read in the page (Node's own types do not know the browser's entry).
  const navigation = await page.evaluate(() => {
    const timing = performance as unknown as {
      getEntriesByType(type: string): { responseEnd: number; loadEventEnd: number }[];
    };
    const entry = timing.getEntriesByType('navigation')[0];
    return entry === undefined
      ? undefined
      : { response: Math.round(entry.responseEnd), load: Math.round(entry.loadEventEnd) };
  });
  const ms = (from: number, to: number) => `${Math.round(to - from)} ms`;
  process.stdout.write(
    `# console timing: login form loaded ${ms(started, loaded)} after the first navigation (fresh profile); ` +
      `logged in and live ${ms(submitted, live)} after the login was sent; ` +
      `opened again (logged in): loaded in ${ms(reloaded, reloadLoaded)}, live in ${ms(reloaded, reloadLive)}` +
      (navigation === undefined
        ? ''
        : ` (browser: page received at ${navigation.response} ms, load at ${navigation.load} ms)`) +
      '\n',
  );
  // The page's scripts and styles are its own: nothing was asked of another origin.
  const foreign = await page.evaluate(
    (origin) =>
      performance
        .getEntriesByType('resource')
        .map((entry) => entry.name)
        .filter((name) => !name.startsWith(origin)),
    base,
  );
  assert.deepEqual(foreign, []);
});

test('an attack from `sipwarden attack` appears live on the overview', { timeout: 90_000 }, async () => {
  const attack = cli(
    [
      'attack',
      'scan',
      '--target',
      `127.0.0.1:${sipPort}`,
      '--source',
      ATTACKER_ADDRESS,
      '--count',
      '20',
      '--rate',
      '50',
      '--wait',
      '500ms',
    ],
    60_000,
  );
  const row = page.locator('[data-testid="live-events"] tr', { hasText: ATTACKER_ADDRESS });
  await row.first().waitFor({ timeout: 30_000 });
  const run = await attack;
  assert.equal(run.code === 0 || run.code === 3, true, `attack: ${run.code} ${run.stderr}`);
  assert.match(await row.first().innerText(), /scanner/);
  // The figures moved with it: the blocked sources' tile counts the scanner.
  await page.locator('[data-testid="blocked"]', { hasText: /^[1-9]/ }).waitFor();
  await page.waitForTimeout(1500);
  await screenshot('overview');
});

test('block a phone from the Blocks page by keyboard: its requests go unanswered; unblock: answered again', {
  timeout: 90_000,
}, async () => {
  assert.equal(await answeredAtLeastOnce(3), true, 'the phone is answered before any block');
  await goByKey('b', 'Blocks');
  await page.keyboard.press('n');
  await page.keyboard.type(PHONE_ADDRESS);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('10m');
  await page.keyboard.press('Tab');
  await page.keyboard.type('console test: a phone gone rogue');
  await page.keyboard.press('Enter');
  const row = page.locator('[data-testid="blocks"] tr', { hasText: PHONE_ADDRESS });
  await row.waitFor();
  assert.match(await row.innerText(), /console test: a phone gone rogue/);
  assert.equal(await answeredAtLeastOnce(3), false, 'a blocked phone is not answered');
  // The block counts what it refused: the Refresh key shows it.
  await page.keyboard.press('Escape');
  await page.keyboard.press('r');
  await row.locator('td.num', { hasText: /^[1-9]/ }).waitFor();
  await screenshot('blocks');

  // Unblock from the keyboard: Tab to the row's button, Enter.
  const unblock = page.getByRole('button', { name: `Unblock ${PHONE_ADDRESS}` });
  await unblock.focus();
  await page.keyboard.press('Enter');
  await row.waitFor({ state: 'detached' });
  assert.equal(await answeredAtLeastOnce(5), true, 'the phone is answered again after the unblock');
});

test('every page renders on a laptop screen (screenshots)', { timeout: 120_000 }, async () => {
  await goByKey('e', 'Events');
  await page.locator('[data-testid="events"] tr', { hasText: ATTACKER_ADDRESS }).first().waitFor();
  await screenshot('events');
  await goByKey('c', 'Active calls');
  await screenshot('calls');
  await goByKey('r', 'Call detail records');
  await page.locator('main .notice, main table, main p.muted').first().waitFor();
  await screenshot('cdrs');
  await goByKey('u', 'SIP users');
  await page.locator('main h2, main .notice').first().waitFor();
  await screenshot('users');
  // A run's scorecard, stored as `sipwarden assess --api URL --api-token T` stores it after a run.
  const card = {
    target: '127.0.0.1:5060',
    api: 'http://127.0.0.1:9060',
    callee: 'sipwarden',
    startedAt: new Date().toISOString(),
    seconds: 61,
    rows: [
      {
        attack: 'register-guess',
        kind: 'register-guess',
        verdict: 'stopped',
        detected: true,
        detectedAfterSeconds: 0.8,
        blocked: { messages: 11, seconds: 0.9, by: 'api' },
        legitCalls: { attempted: 20, succeeded: 20 },
        alive: true,
        seconds: 12,
        outcome: 'blocked after 11 guesses',
      },
    ],
    summary: { attacks: 1, succeeded: 0, stopped: 1, notApplicable: 0, errors: 0, aliveAtEnd: true },
  };
  const storedStatus = await page.evaluate(async (body) => {
    const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
    const answer = await fetch('/api/assessments', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
      body: JSON.stringify(body),
    });
    return answer.status;
  }, card);
  assert.equal(storedStatus, 201);
  await goByKey('a', 'Assessment');
  await page.locator('[data-testid="assess"] tr', { hasText: 'register-guess' }).waitFor();
  assert.match(await page.locator('[data-testid="assess-summary"]').innerText(), /1 of 1 attacks stopped/);
  await screenshot('assess');
  await goByKey('l', 'Audit log');
  // The block and unblock above are in the audit log.
  const audit = page.locator('[data-testid="audit"]');
  await audit.locator('tr', { hasText: 'block.add' }).first().waitFor();
  await audit.locator('tr', { hasText: 'block.remove' }).first().waitFor();
  await screenshot('audit');
  await page.keyboard.press('?');
  await page.getByRole('dialog', { name: 'Keyboard' }).waitFor();
  await screenshot('keyboard');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog', { name: 'Keyboard' }).waitFor({ state: 'detached' });
});

test('a request forged from another origin is refused and blocks nothing', { timeout: 60_000 }, async () => {
  const evilPort = await freePort('127.0.0.1', ['tcp']);
  const target = `${base}/api/blocks`;
  const forged = JSON.stringify({ address: FORGED_ADDRESS, reason: 'forged' });
  // A page elsewhere that tries what a page can: a simple (no-cors) fetch with the
  // browser's cookies, a JSON fetch (needs a preflight), and a form post.
  const html = `<!doctype html><html><body>
<form id="f" method="POST" action="${target}" enctype="text/plain"><input name='{"address":"${FORGED_ADDRESS}","x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(forged)} });
fetch(${JSON.stringify(target)}, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(forged)} }).catch(() => {});
setTimeout(() => document.getElementById('f').submit(), 500);
</script></body></html>`;
  evil = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end(html);
  });
  await new Promise<void>((resolve) => evil!.listen(evilPort, '127.0.0.1', resolve));
  const statuses: number[] = [];
  const listener = (response: import('playwright-core').Response) => {
    if (response.url() === target && response.request().method() === 'POST') statuses.push(response.status());
  };
  context.on('response', listener);
  const attacker = await context.newPage();
  try {
    await attacker.goto(`http://127.0.0.1:${evilPort}/`);
    // The form post navigates the page to the API's answer.
    await attacker.waitForURL(target, { timeout: STEP_MS });
    await attacker.waitForLoadState('load');
  } finally {
    await attacker.close();
    context.off('response', listener);
  }
  // The no-cors fetch and the form post reach the server with the session's cookie (the
  // other origin is the same site: same address, another port) and are refused for want of
  // the CSRF token; the JSON fetch never leaves the browser (its preflight is not answered).
  assert.ok(statuses.length >= 2, `the forged requests reached the server: ${statuses.join(', ')}`);
  for (const status of statuses) assert.equal(status, 403, `status ${status}`);
  const blocks = await page.evaluate(async () => (await fetch('/api/blocks')).json());
  assert.equal(
    (blocks as { blocks: { key: string }[] }).blocks.some((entry) => entry.key === FORGED_ADDRESS),
    false,
  );
});

test('a viewer is refused the admin pages and cannot block', { timeout: 60_000 }, async () => {
  await logOut();
  await logIn(viewer);
  await goByKey('l', 'Audit log');
  const refused = page.getByRole('alert').filter({ hasText: 'Refused' });
  await refused.waitFor();
  assert.match(await refused.innerText(), /admin/);
  await screenshot('viewer-refused');
  await goByKey('b', 'Blocks');
  await page.getByText('an operator or admin can block and unblock').waitFor();
  assert.equal(await page.getByRole('form', { name: 'Block a source' }).count(), 0);
  // The server refuses it too, whatever the page shows: a block sent with the viewer's own
  // session and CSRF token.
  const status = await page.evaluate(async () => {
    const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
    const answer = await fetch('/api/blocks', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
      body: JSON.stringify({ address: '127.0.0.78' }),
    });
    return answer.status;
  });
  assert.equal(status, 403);
});
