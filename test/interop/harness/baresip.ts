/**
 * baresip (Debian's package, 1.0), a SIP phone not written for this project, started
 * headless by tests: no sound card (a sine wave as the microphone, no loudspeaker), driven
 * through its ctrl_tcp module. ctrl_tcp frames each message as a netstring
 * (`<length>:<bytes>,`, https://cr.yp.to/proto/netstrings.txt) holding JSON: commands go in
 * as {"command":"dial","params":"sip:...","token":"..."}, and the phone answers each with
 * {"response":true,"ok":...,"data":...,"token":...} and reports what happens as events
 * ({"event":true,"class":"call","type":"CALL_ESTABLISHED","id":CALL-ID,"param":...}).
 *
 * Each instance has its own configuration directory, binds its listening SIP sockets to one
 * address (`net_interface` given an address; ports chosen by the kernel; its Via and Contact
 * name that address) and its ctrl_tcp socket to a free port on that address. The connections
 * it opens (TCP, TLS) are not bound by its SIP stack (libre): they leave from the address the
 * kernel picks (127.0.0.1 towards a loopback server). `-s` makes it print every SIP message
 * it sends and receives (its SIP trace), which tests read for what the phone itself saw; the
 * trace is kept in the process's output tail (OUTPUT_LIMIT below).
 *
 * Accounts are added once the control socket is up (addAccount): one in the accounts file
 * would register at start, and the event saying so would be lost.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { type ExitStatus, type ManagedProcess, startProcess } from './process.ts';
import { tempDir } from './workdir.ts';

export const BARESIP_BIN = process.env.BARESIP_BIN ?? 'baresip';
const MODULE_PATH = '/usr/lib/baresip/modules';
/** Frames larger than this from the phone are a protocol error (its events are a few hundred bytes). */
const MAX_FRAME_BYTES = 64 * 1024;
/** Events kept per phone (a test sees a few dozen). */
const MAX_EVENTS = 1000;
/** Output kept per stream: room for the SIP trace of a few calls. */
const OUTPUT_LIMIT = 1024 * 1024;

/** True when the baresip binary runs here (`baresip -h` exits). */
export function baresipAvailable(): boolean {
  const result = spawnSync(BARESIP_BIN, ['-h'], { stdio: 'ignore', timeout: 5000 });
  return result.error === undefined && result.status !== null;
}

export interface BaresipEvent {
  readonly class?: string;
  readonly type: string;
  readonly accountaor?: string;
  readonly direction?: string;
  readonly peeruri?: string;
  /** The call's SIP Call-ID for call events. */
  readonly id?: string;
  readonly param?: string;
}

export interface BaresipResponse {
  readonly ok: boolean;
  readonly data: string;
}

export interface BaresipOptions {
  /** A short name for messages. */
  readonly name: string;
  /** The address its SIP and control sockets bind (a loopback address). */
  readonly host: string;
  /** CA certificate file for the TLS server it connects to (`sip_cafile`). */
  readonly caFile?: string;
  /**
   * Its own certificate and private key, both in one PEM file (`sip_certificate`): libre
   * loads the file as the certificate chain and as the key, and presents it to a TLS server
   * that asks for a client certificate (mutual TLS). One per process, for every account.
   */
  readonly certificateFile?: string;
  /** Modules loaded besides the defaults (`srtp.so` for SDES-SRTP calls). */
  readonly modules?: readonly string[];
  /** Time allowed to start (control socket up); default 10 s. */
  readonly startTimeoutMs?: number;
}

/** Writes one netstring frame. */
function netstring(payload: string): Buffer {
  const bytes = Buffer.from(payload, 'utf8');
  return Buffer.concat([Buffer.from(`${bytes.length}:`, 'latin1'), bytes, Buffer.from(',', 'latin1')]);
}

export class Baresip {
  private readonly events: BaresipEvent[] = [];
  private readonly pending = new Map<string, (response: BaresipResponse) => void>();
  private readonly listeners = new Set<() => void>();
  private buffer = Buffer.alloc(0);
  private tokens = 0;
  private protocolError: string | undefined;

  constructor(
    readonly name: string,
    readonly host: string,
    readonly process: ManagedProcess,
    readonly configDir: string,
    private readonly control: Socket,
  ) {
    control.on('data', (chunk: Buffer) => this.receive(chunk));
    // A closed control link shows as the process's exit or a wait's timeout.
    control.on('error', () => undefined);
    void process.exited.then(() => this.notify());
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Sends a command (see baresip's menu: dial, hangup, accept, ...) and resolves with its response. */
  command(command: string, params?: string, timeoutMs = 5000): Promise<BaresipResponse> {
    const token = `t${++this.tokens}`;
    const message = JSON.stringify({ command, ...(params === undefined ? {} : { params }), token });
    return new Promise<BaresipResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(
          new Error(`${this.name}: no response to ${message} within ${timeoutMs} ms\n${this.process.tail()}`),
        );
      }, timeoutMs);
      this.pending.set(token, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      this.control.write(netstring(message));
    });
  }

  /**
   * Adds a user agent for an account line and registers it (command uanew), e.g.
   * `<sip:alice@example.test;transport=tls>;outbound="sip:127.0.0.1:5061;transport=tls";answermode=auto`;
   * resolves once the registrar accepted it (REGISTER_OK).
   */
  async addAccount(line: string, timeoutMs = 15000): Promise<void> {
    const added = await this.command('uanew', line);
    if (!added.ok) throw new Error(`${this.name}: uanew ${line}: ${added.data}\n${this.process.tail()}`);
    const registered = await this.waitForEvent(
      (e) => e.type === 'REGISTER_OK' || e.type === 'REGISTER_FAIL',
      'REGISTER_OK',
      timeoutMs,
    );
    if (registered.type !== 'REGISTER_OK')
      throw new Error(`${this.name}: registration failed (${registered.param})\n${this.process.tail()}`);
  }

  /** Every event received so far, oldest first. */
  allEvents(): readonly BaresipEvent[] {
    return [...this.events];
  }

  /** Resolves with the first event (received before or after the call) that `match` accepts. */
  waitForEvent(
    match: (event: BaresipEvent) => boolean,
    what: string,
    timeoutMs = 15000,
  ): Promise<BaresipEvent> {
    return new Promise<BaresipEvent>((resolve, reject) => {
      const check = (): boolean => {
        if (this.protocolError !== undefined) {
          finish();
          reject(new Error(this.protocolError));
          return true;
        }
        const found = this.events.find(match);
        if (found !== undefined) {
          finish();
          resolve(found);
          return true;
        }
        if (!this.process.running) {
          finish();
          reject(new Error(`${this.name} exited before ${what}\n${this.process.tail(8000)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `${this.name}: no ${what} within ${timeoutMs} ms; events: ${this.events
              .map((e) => `${e.type}${e.param ? `(${e.param})` : ''}`)
              .join(', ')}\n${this.process.tail(8000)}`,
          ),
        );
      }, timeoutMs);
      const listener = () => void check();
      const finish = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
      check();
    });
  }

  /** The SIP messages of its trace (`-s`) that hold `callId`, each as its text. */
  tracedMessages(callId: string): string[] {
    // Each traced message starts on a line "<transport> <from> -> <to>" followed by the message.
    const blocks = this.process.stdout().split(/\r?\n(?=(?:UDP|TCP|TLS) \S+ -> \S+)/);
    return blocks.filter((block) =>
      new RegExp(`^Call-ID:\\s*${escapeRegExp(callId)}\\s*$`, 'im').test(block),
    );
  }

  /** Quits through its control socket, then stops the process (SIGTERM, SIGKILL after a grace). */
  async stop(): Promise<ExitStatus> {
    if (this.process.running && !this.control.destroyed) {
      this.control.write(netstring(JSON.stringify({ command: 'quit', token: 'quit' })));
      await Promise.race([this.process.exited, sleep(2000)]);
    }
    this.control.destroy();
    return this.process.stop();
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const colon = this.buffer.indexOf(0x3a);
      if (colon < 0) {
        if (this.buffer.length > 16) this.fail('netstring length too long');
        return;
      }
      const lengthText = this.buffer.subarray(0, colon).toString('latin1');
      if (!/^\d{1,10}$/.test(lengthText)) return this.fail(`bad netstring length "${lengthText}"`);
      const length = Number(lengthText);
      if (length > MAX_FRAME_BYTES) return this.fail(`netstring of ${length} bytes`);
      if (this.buffer.length < colon + 1 + length + 1) return;
      if (this.buffer[colon + 1 + length] !== 0x2c) return this.fail('netstring without its comma');
      const payload = this.buffer.subarray(colon + 1, colon + 1 + length).toString('utf8');
      this.buffer = this.buffer.subarray(colon + 1 + length + 1);
      this.dispatch(payload);
    }
  }

  private dispatch(payload: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(payload) as Record<string, unknown>;
    } catch {
      return this.fail(`not JSON: ${payload.slice(0, 200)}`);
    }
    if (message.response === true && typeof message.token === 'string') {
      const resolve = this.pending.get(message.token);
      this.pending.delete(message.token);
      resolve?.({ ok: message.ok === true, data: typeof message.data === 'string' ? message.data : '' });
      return;
    }
    if (message.event === true && typeof message.type === 'string') {
      if (this.events.length < MAX_EVENTS) this.events.push(message as unknown as BaresipEvent);
      this.notify();
    }
  }

  /** A malformed frame: the control link is closed and every later wait reports why. */
  private fail(reason: string): void {
    this.protocolError ??= `${this.name}: ctrl_tcp: ${reason}`;
    this.buffer = Buffer.alloc(0);
    this.control.destroy();
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The configuration file: headless audio, one address, ctrl_tcp, no user interface on stdin. */
function configText(options: BaresipOptions, controlPort: number): string {
  const lines = [
    'poll_method epoll',
    `net_interface ${options.host}`,
    // Calls a test places end well before this.
    'call_local_timeout 120',
    'call_max_calls 4',
    // A 440 Hz sine as the microphone (ausine produces 48 kHz stereo); nothing plays the far end.
    'audio_source ausine,440',
    'audio_player aubridge,nil',
    'audio_alert aubridge,nil',
    'ausrc_srate 48000',
    'auplay_srate 48000',
    'ausrc_channels 2',
    'auplay_channels 2',
    'audio_level no',
    'rtcp_mux no',
    'jitter_buffer_delay 5-10',
    `module_path ${MODULE_PATH}`,
    'module g711.so',
    'module ausine.so',
    'module aubridge.so',
    ...(options.modules ?? []).map((name) => `module ${name}`),
    'module_tmp uuid.so',
    'module_tmp account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen ${options.host}:${controlPort}`,
  ];
  if (options.caFile !== undefined) lines.push(`sip_cafile ${options.caFile}`);
  if (options.certificateFile !== undefined) lines.push(`sip_certificate ${options.certificateFile}`);
  return `${lines.join('\n')}\n`;
}

/** Starts a phone and resolves once its control socket is connected. */
export async function startBaresip(options: BaresipOptions): Promise<Baresip> {
  const dir = tempDir(`baresip-${options.name}`);
  const controlPort = await freePort(options.host, ['tcp']);
  writeFileSync(join(dir, 'config'), configText(options, controlPort));
  // No account at start: it would register before the control socket is up, and the event
  // that says so would be lost. addAccount() adds it once events can be heard.
  writeFileSync(join(dir, 'accounts'), '');
  writeFileSync(join(dir, 'contacts'), '');
  const child = startProcess(BARESIP_BIN, ['-f', dir, '-s'], {
    name: options.name,
    cwd: dir,
    outputLimit: OUTPUT_LIMIT,
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 10000);
  try {
    for (;;) {
      if (!child.running) throw new Error(`${options.name} exited at start\n${child.tail()}`);
      const socket = await new Promise<Socket | undefined>((resolve) => {
        const s = connect({ host: options.host, port: controlPort });
        s.once('connect', () => resolve(s));
        s.once('error', () => {
          s.destroy();
          resolve(undefined);
        });
      });
      if (socket) return new Baresip(options.name, options.host, child, dir, socket);
      if (Date.now() > deadline) throw new Error(`${options.name}: ctrl_tcp not up\n${child.tail()}`);
      await sleep(50);
    }
  } catch (error) {
    await child.stop();
    throw error;
  }
}
