/**
 * SIPVicious 0.3.3 from Debian (svmap, svwar, svcrack), the tools behind most of the SIP
 * scanning and guessing on the internet, run against sipwarden on loopback. The PBX behind
 * sipwarden is the project's own registrar (src/attack/ua/callee.ts): extensions 150-154
 * exist, unknown ones get 404, a REGISTER without credentials gets a 401 challenge, and
 * digest is verified for real (200 for the right password, 403 for a wrong one).
 *
 * - The control: straight against the PBX, svmap finds it, svwar finds 150-154 and svcrack
 *   finds extension 150's password, the 50th word of its list.
 * - Through sipwarden with its defaults: each tool is recognised at its first request
 *   (User-Agent friendly-scanner, and SIPVicious's request shape), its source blocked, and
 *   it finds nothing.
 * - Through sipwarden whose scanner stage only alerts (as if the tools had been disguised):
 *   the behaviour still gives them away: svwar is blocked for enumeration after a dozen
 *   unknown extensions, svcrack for password guessing after 5 wrong passwords; neither
 *   finds what it came for.
 *
 * Each tool runs bounded: -t (its send interval), --maximumtime (it stops after that long
 * without an answer), its own socket timeouts (3 s, svcrack 10 s), and a kill after 40 s.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Callee } from '../../../src/attack/ua/callee.ts';
import { COMMON_PASSWORDS } from '../../../src/attack/wordlist.ts';
import { freePort } from '../harness/ports.ts';
import { startProcess, stopAll } from '../harness/process.ts';
import { tempDir } from '../harness/workdir.ts';
import { allBlocks, type Guarded, startGuard, waitForEvent, whyGone } from './helpers.ts';

after(() => stopAll());

const TARGET_HOST = '127.0.0.1';
const EXTENSIONS = ['150', '151', '152', '153', '154'];
const CRACKED_USER = '150';
const PASSWORD = 'Tr0mb0ne-Quartz';
/** Where the password sits in the word list (1-based): far past the few guesses allowed. */
const PASSWORD_POSITION = 50;

/** 60 candidate passwords, the real one 50th. */
function wordlist(): string {
  const words = [...COMMON_PASSWORDS.filter((w) => w !== PASSWORD)];
  for (let i = 0; words.length < 59; i++) words.push(`${CRACKED_USER}${i}`);
  words.splice(PASSWORD_POSITION - 1, 0, PASSWORD);
  const path = join(tempDir('svcrack'), 'words.txt');
  writeFileSync(path, `${words.join('\n')}\n`);
  return path;
}

interface ToolRun {
  readonly code: number | null;
  readonly output: string;
}

/** Makes svwar and svcrack bind the address given with -b (they ignore it): see its docstring. */
const BIND_SHIM = join(import.meta.dirname, 'sipvicious-bind');

/** Runs one SIPVicious tool from `source` to its end (killed after 40 s). */
async function sipvicious(
  tool: 'svmap' | 'svwar' | 'svcrack',
  source: string,
  args: readonly string[],
): Promise<ToolRun> {
  // -b: bind (and write in Via and Contact) this loopback address; -t 0.01: 10 ms between sends.
  const child = startProcess(tool, ['-b', source, '-t', '0.01', ...args], {
    name: `${tool}@${source}`,
    env: { ...process.env, PYTHONPATH: BIND_SHIM, SW_SIPVICIOUS_BIND: source },
  });
  let code: number | null;
  try {
    code = (await child.waitForExit(40_000)).code;
  } catch {
    code = (await child.stop()).code;
  }
  return { code, output: child.output() };
}

const svmap = (source: string, port: number) =>
  sipvicious('svmap', source, ['-p', String(port), TARGET_HOST]);
const svwar = (source: string, port: number) =>
  sipvicious('svwar', source, ['-e', '100-199', '--maximumtime', '3', '-p', String(port), TARGET_HOST]);
const svcrack = (source: string, port: number, words: string) =>
  sipvicious('svcrack', source, [
    '-u',
    CRACKED_USER,
    '-d',
    words,
    '--maximumtime',
    '3',
    '-p',
    String(port),
    TARGET_HOST,
  ]);

/** The extensions svwar lists in its result table. */
function extensionsFound(output: string): string[] {
  return [...output.matchAll(/^\| (\d+)\s+\| reqauth/gm)].map((m) => m[1]!);
}

function passwordFound(output: string): boolean {
  return output.includes(PASSWORD);
}

function deviceFound(output: string, port: number): boolean {
  return output.includes(`${TARGET_HOST}:${port}`);
}

describe('SIPVicious against sipwarden', () => {
  let pbx: Callee;
  let words: string;
  let defaults: Guarded;
  let scannerAlertOnly: Guarded;

  before(async () => {
    const pbxPort = await freePort(TARGET_HOST, ['udp']);
    pbx = await Callee.start(TARGET_HOST, pbxPort, {
      users: new Map(EXTENSIONS.map((u) => [u, u === CRACKED_USER ? PASSWORD : `pw-${u}-7731`])),
      realm: 'pbx.test',
    });
    words = wordlist();
    defaults = await startGuard(pbxPort);
    scannerAlertOnly = await startGuard(pbxPort, {
      security: { settings: { scanner: { action: 'alert' } } },
    });
  });

  after(async () => {
    for (const guard of [defaults, scannerAlertOnly]) {
      const gone = guard && whyGone(guard);
      if (gone) console.log(gone);
      await guard?.sipwarden.stop();
    }
    pbx?.close();
  });

  test('the control: straight against the PBX, svmap finds it, svwar its extensions and svcrack the 50th password', async () => {
    const [map, war, crack] = await Promise.all([
      svmap('127.0.10.1', pbx.port),
      svwar('127.0.10.2', pbx.port),
      svcrack('127.0.10.3', pbx.port, words),
    ]);
    assert.ok(deviceFound(map.output, pbx.port), map.output);
    assert.deepEqual(extensionsFound(war.output), EXTENSIONS, war.output);
    assert.ok(passwordFound(crack.output), crack.output);
  });

  test('with the defaults, svmap, svwar and svcrack are each recognised at their first request, blocked, and find nothing', async () => {
    const sources = { svmap: '127.0.11.1', svwar: '127.0.11.2', svcrack: '127.0.11.3' } as const;
    const registersBefore = pbx.stats.registers;
    const optionsBefore = pbx.stats.options;
    const [map, war, crack] = await Promise.all([
      svmap(sources.svmap, defaults.port),
      svwar(sources.svwar, defaults.port),
      svcrack(sources.svcrack, defaults.port, words),
    ]);
    assert.equal(deviceFound(map.output, defaults.port), false, map.output);
    assert.deepEqual(extensionsFound(war.output), [], war.output);
    assert.equal(passwordFound(crack.output), false, crack.output);
    // Nothing of theirs reached the PBX.
    assert.equal(pbx.stats.registers - registersBefore, 0);
    assert.equal(pbx.stats.options - optionsBefore, 0);
    const blocks = await allBlocks(defaults);
    for (const [tool, source] of Object.entries(sources)) {
      const block = blocks.find((b) => b.key === source);
      assert.ok(block, `${tool} from ${source} is not blocked: ${JSON.stringify(blocks)}`);
      const { event, events } = await waitForEvent(defaults, 'scanner', source, (e) => e.action === 'block');
      assert.ok(event, `${tool}: ${JSON.stringify(events)}`);
      console.log(
        `${tool}: blocked by the scanner stage (${event.rule}): ${event.reason}; ${block.hits} later messages dropped`,
      );
    }
  });

  test('with the scanner stage only alerting, enumeration stops svwar and password guessing stops svcrack before they find anything', async () => {
    const sources = { svwar: '127.0.12.2', svcrack: '127.0.12.3' } as const;
    const registersBefore = pbx.stats.registers;
    const [war, crack] = await Promise.all([
      svwar(sources.svwar, scannerAlertOnly.port),
      svcrack(sources.svcrack, scannerAlertOnly.port, words),
    ]);
    // svwar sweeps 100-199; the extensions sit at 150-154, past the dozen unknown ones it is allowed.
    assert.deepEqual(extensionsFound(war.output), [], war.output);
    assert.equal(passwordFound(crack.output), false, crack.output);
    const blocks = await allBlocks(scannerAlertOnly);
    const warBlock = blocks.find((b) => b.key === sources.svwar);
    assert.equal(warBlock?.rule, 'failed-users', JSON.stringify(blocks));
    const crackBlock = blocks.find((b) => b.key === sources.svcrack);
    assert.equal(crackBlock?.rule, 'per-source', JSON.stringify(blocks));
    const enumeration = await waitForEvent(
      scannerAlertOnly,
      'enumeration',
      sources.svwar,
      (e) => e.action === 'block',
    );
    assert.ok(enumeration.event, JSON.stringify(enumeration.events));
    const guessing = await waitForEvent(
      scannerAlertOnly,
      'password-guessing',
      sources.svcrack,
      (e) => e.action === 'block',
    );
    assert.ok(guessing.event, JSON.stringify(guessing.events));
    // The scanner stage saw them and said so.
    for (const source of Object.values(sources)) {
      const scanner = await waitForEvent(scannerAlertOnly, 'scanner', source, (e) => e.action === 'alert');
      assert.ok(scanner.event, `${source}: ${JSON.stringify(scanner.events)}`);
    }
    // svcrack got 5 wrong passwords checked; the 6th failure blocked it.
    assert.equal(guessing.event.details?.sourceFailures, 6);
    console.log(
      `svwar: blocked for enumeration: ${enumeration.event.reason}; ` +
        `svcrack: blocked for password guessing: ${guessing.event.reason}; ` +
        `REGISTERs that reached the PBX from both: ${pbx.stats.registers - registersBefore}`,
    );
  });
});
