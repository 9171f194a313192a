/**
 * The MSRP relay (RFC 4975; RFC 4976 where a relay's behaviour applies). For each MSRP
 * stream negotiated through the proxy, each party is given a URI of the relay as its peer
 * (path-rewrite.ts) and connects to the relay's listener. Every frame must name, in
 * To-Path, the relay URI given to a party and, in From-Path, that party's own negotiated
 * path: only the peers the SDP negotiated can use a session. A party's chunked SEND is
 * reassembled (bounded), the complete message is scanned, and only clean content goes on
 * to the other party, as one SEND with the same Message-ID; refused content is answered
 * 403 on the sender's last chunk, naming no signature. Reports go on with their paths
 * rewritten. Transaction responses are hop by hop (RFC 4975 7.1.2): the relay answers each
 * chunk itself and absorbs the responses to what it sends. A stream ends with its dialog.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { ContentScanner, ScanResult } from '../content/scanner.ts';
import type { Direction } from '../core/inspector.ts';
import type { MediaContext, MediaLineHandler, SessionParty } from '../core/route/session-description.ts';
import type { Logger } from '../log/logger.ts';
import type { SdpMedia, SdpSession } from '../sdp/index.ts';
import {
  type FrameLimits,
  FrameReader,
  headerValue,
  type MsrpFrame,
  type MsrpHeader,
  MsrpParseError,
  type MsrpRequest,
  parseByteRange,
  serializeFrame,
} from './frame.ts';
import { isMsrpMedia, MSRP_PROTO, pathOf, refusedMedia, relayedMedia } from './path-rewrite.ts';
import { ByteBudget, Reassembler } from './reassembly.ts';
import { formatMsrpUri, parseMsrpUri, sameMsrpUri } from './uri.ts';

export interface MsrpRelaySettings {
  /** Where the relay listens. */
  readonly host: string;
  readonly port: number;
  /** The address written in a=path and c= for the parties on each side. */
  readonly advertise: { readonly client: string; readonly upstream: string };
  readonly maxMessageBytes: number;
  /** Largest frame (one chunk) from a party; before a connection has proved a stream, 16 KiB. */
  readonly maxChunkBytes: number;
  /** Content held at once across every stream: chunks awaiting the rest, messages being scanned or awaiting their receiver. */
  readonly maxBufferedBytes: number;
  /** Per sending party of a stream. */
  readonly maxIncompleteMessages: number;
  /** MSRP streams relayed at once; an offer beyond it is refused (port 0). */
  readonly maxSessions: number;
  readonly maxConnections: number;
  /** A connection that has sent no valid frame for this long is closed. */
  readonly idleTimeoutMs: number;
  /** When the scanner cannot scan: forward anyway (`open`) or refuse (`closed`). */
  readonly failureMode: 'open' | 'closed';
  /** A TLS listener for TCP/TLS/MSRP streams (RFC 4975 msrps); without it they are refused. */
  readonly tls?: { readonly port: number; readonly cert: string | Buffer; readonly key: string | Buffer };
}

/** Who sent content the relay refused or could not scan. */
export interface MsrpSender {
  readonly session: string;
  readonly from: SessionParty;
  readonly address: string;
  readonly port: number;
}

/** What the relay reports about content it refused or could not scan. */
export interface MsrpRelayObserver {
  refused(sender: MsrpSender, detail: { signature: string; bytes: number }): void;
  scanFailed(sender: MsrpSender, detail: { reason: string; forwarded: boolean }): void;
}

const QUIET: MsrpRelayObserver = { refused: () => {}, scanFailed: () => {} };

interface Party {
  /** The party's own a=path, as negotiated. */
  path?: readonly string[];
  /** The relay URI the party was given (it sends to it), and its host. */
  readonly local: string;
  readonly host: string;
  readonly localSessionId: string;
  connection?: Connection;
  readonly reassembler: Reassembler;
  /** Frames for the party held until it connects (bounded bytes). */
  readonly waiting: Buffer[];
  waitingBytes: number;
}

interface Stream {
  readonly key: string;
  readonly session: string;
  /** TCP/TLS/MSRP: its parties use the TLS listener (msrps URIs). */
  readonly secure: boolean;
  readonly caller: Party;
  readonly callee: Party;
}

interface Connection {
  readonly socket: Socket;
  /** Accepted on the TLS listener. */
  readonly secure: boolean;
  readonly reader: FrameReader;
  readonly queue: MsrpFrame[];
  busy: boolean;
  /** The parties this connection carries (RFC 4975 lets one carry several streams). */
  readonly parties: Party[];
  /** Refused: what else it sends is ignored until it closes. */
  refused: boolean;
}

/** A connection that has not proved a stream sends small frames only (a bodiless SEND binds it). */
const UNBOUND_FRAME_LIMITS: FrameLimits = {
  maxHeadBytes: 8192,
  maxFrameBytes: 16_384 + 8192,
  maxHeaders: 32,
};

/** Connections from one address at once: one host cannot take the whole listener. */
const MAX_CONNECTIONS_PER_ADDRESS = 256;

/** Headers of a SEND that describe its content, carried onto the forwarded message (RFC 4975 9). */
const CONTENT_HEADERS = new Set(['content-type', 'content-id', 'content-description', 'content-disposition']);
const REPORT_HEADERS = new Set(['success-report', 'failure-report']);

export class MsrpRelay implements MediaLineHandler {
  readonly #settings: MsrpRelaySettings;
  readonly #scanner: ContentScanner;
  readonly #log: Logger;
  readonly #observer: MsrpRelayObserver;
  readonly #server: Server;
  readonly #tlsServer: TlsServer | undefined;
  #tlsPort = 0;
  /** Frames of a connection that has proved a stream. */
  readonly #frameLimits: FrameLimits;
  readonly #budget: ByteBudget;
  /** Streams by session key and m= index. */
  readonly #streams = new Map<string, Stream>();
  /** Streams of the second leg of a call that passes twice, by session: relayed on the first. */
  readonly #passthrough = new Map<string, Set<string>>();
  /** The streams of each session (a call may negotiate several MSRP streams). */
  readonly #bySession = new Map<string, Stream[]>();
  /** The parties by the session-id of the relay URI they were given. */
  readonly #byLocalId = new Map<string, { stream: Stream; party: SessionParty }>();
  readonly #connections = new Set<Connection>();
  readonly #perAddress = new Map<string, number>();
  #port = 0;
  readonly stats = { forwarded: 0, refused: 0, scanErrors: 0, badFrames: 0, unknownSession: 0 };

  constructor(
    settings: MsrpRelaySettings,
    scanner: ContentScanner,
    log: Logger,
    observer: MsrpRelayObserver = QUIET,
  ) {
    this.#settings = settings;
    this.#scanner = scanner;
    this.#log = log;
    this.#observer = observer;
    this.#frameLimits = { maxHeadBytes: 8192, maxFrameBytes: settings.maxChunkBytes + 8192, maxHeaders: 32 };
    this.#budget = new ByteBudget(settings.maxBufferedBytes);
    this.#server = createServer((socket) => this.#accept(socket, false));
    this.#server.maxConnections = settings.maxConnections;
    if (settings.tls !== undefined) {
      this.#tlsServer = createTlsServer({ cert: settings.tls.cert, key: settings.tls.key }, (socket) =>
        this.#accept(socket, true),
      );
      this.#tlsServer.maxConnections = settings.maxConnections;
      // A handshake that fails costs its socket only.
      this.#tlsServer.on('tlsClientError', () => {});
    }
  }

  async start(): Promise<void> {
    this.#server.listen(this.#settings.port, this.#settings.host);
    await once(this.#server, 'listening');
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : this.#settings.port;
    if (this.#tlsServer !== undefined) {
      this.#tlsServer.listen(this.#settings.tls!.port, this.#settings.host);
      await once(this.#tlsServer, 'listening');
      const tlsAddress = this.#tlsServer.address();
      this.#tlsPort = typeof tlsAddress === 'object' && tlsAddress !== null ? tlsAddress.port : 0;
    }
  }

  get port(): number {
    return this.#port;
  }

  /** The TLS listener's port; 0 without one. */
  get tlsPort(): number {
    return this.#tlsPort;
  }

  /** Content the relay holds now (chunks, frames queued, messages scanned, backlogs). */
  get bufferedBytes(): number {
    return this.#budget.used;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.socket.destroy();
    this.#streams.clear();
    this.#bySession.clear();
    this.#byLocalId.clear();
    for (const server of [this.#server, this.#tlsServer]) {
      if (server === undefined || !server.listening) continue;
      const closed = once(server, 'close');
      server.close();
      await closed;
    }
  }

  // --- MediaLineHandler: the SDP side ---

  rewrite(media: SdpMedia, _description: SdpSession, context: MediaContext): SdpMedia {
    if (!isMsrpMedia(media) || media.port === 0) return media;
    const key = `${context.session}#${context.index}`;
    const path = pathOf(media);
    const secure = media.proto !== MSRP_PROTO;
    if (
      (secure && this.#tlsServer === undefined) ||
      path === undefined ||
      !path.every((uri) => parseMsrpUri(uri))
    ) {
      // Not relayable, so not scannable: refused rather than let through.
      return refusedMedia(media);
    }
    // A call that passes sipwarden twice (phone -> sipwarden -> PBX -> sipwarden -> phone):
    // the second leg's offer already names the relay, which relays the stream once, on the
    // first leg; the second leg's descriptions go on as they are.
    if (this.#passthrough.get(context.session)?.has(key)) return media;
    if (!this.#streams.has(key) && path.length === 1 && this.#isOwn(path[0]!)) {
      const keys = this.#passthrough.get(context.session);
      if (keys === undefined) this.#passthrough.set(context.session, new Set([key]));
      else keys.add(key);
      return media;
    }
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      if (this.#streams.size >= this.#settings.maxSessions) return refusedMedia(media);
      // The caller's side is where the session's first offer came from.
      const callerSide = context.from === 'caller' ? opposite(context.toward) : context.toward;
      stream = {
        key,
        session: context.session,
        secure,
        caller: this.#party(this.#settings.advertise[callerSide], secure),
        callee: this.#party(this.#settings.advertise[opposite(callerSide)], secure),
      };
      this.#streams.set(key, stream);
      const ofSession = this.#bySession.get(context.session);
      if (ofSession === undefined) this.#bySession.set(context.session, [stream]);
      else ofSession.push(stream);
      this.#byLocalId.set(stream.caller.localSessionId, { stream, party: 'caller' });
      this.#byLocalId.set(stream.callee.localSessionId, { stream, party: 'callee' });
    }
    const writer = context.from === 'caller' ? stream.caller : stream.callee;
    const reader = context.from === 'caller' ? stream.callee : stream.caller;
    writer.path = path;
    if (stream.secure !== secure) return refusedMedia(media);
    return relayedMedia(media, reader.host, secure ? this.#tlsPort : this.#port, reader.local);
  }

  ended(session: string): void {
    this.#passthrough.delete(session);
    const streams = this.#bySession.get(session);
    if (streams === undefined) return;
    this.#bySession.delete(session);
    for (const stream of streams) {
      this.#streams.delete(stream.key);
      for (const party of [stream.caller, stream.callee]) {
        this.#byLocalId.delete(party.localSessionId);
        party.reassembler.clear();
        party.waiting.length = 0;
        this.#budget.used -= party.waitingBytes;
        party.waitingBytes = 0;
        party.connection?.socket.end();
      }
    }
  }

  /** A URI the relay gave a party of a stream it relays. */
  #isOwn(uri: string): boolean {
    const parsed = parseMsrpUri(uri);
    if (parsed === undefined || !this.#byLocalId.has(parsed.sessionId)) return false;
    return parsed.port === (parsed.secure ? this.#tlsPort : this.#port);
  }

  #party(host: string, secure: boolean): Party {
    const localSessionId = randomBytes(15).toString('base64url');
    return {
      host,
      localSessionId,
      local: formatMsrpUri({
        secure,
        host,
        port: secure ? this.#tlsPort : this.#port,
        sessionId: localSessionId,
        transport: 'tcp',
      }),
      reassembler: new Reassembler(this.#settings, this.#budget),
      waiting: [],
      waitingBytes: 0,
    };
  }

  // --- The MSRP side ---

  #accept(socket: Socket, secure: boolean): void {
    const connection: Connection = {
      socket,
      secure,
      reader: new FrameReader(UNBOUND_FRAME_LIMITS),
      queue: [],
      busy: false,
      parties: [],
      refused: false,
    };
    const address = socket.remoteAddress ?? '';
    const open = this.#perAddress.get(address) ?? 0;
    if (open >= MAX_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    this.#perAddress.set(address, open + 1);
    this.#connections.add(connection);
    socket.setNoDelay(true);
    socket.setTimeout(this.#settings.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (data: Buffer) => {
      if (connection.refused) return;
      let frames: MsrpFrame[];
      try {
        frames = connection.reader.push(data);
      } catch (error) {
        // A stream that is not MSRP cannot be resynchronised: the connection ends.
        this.stats.badFrames++;
        if (!(error instanceof MsrpParseError)) this.#log.error({ err: error }, 'MSRP frame reader failed');
        socket.destroy();
        return;
      }
      if (frames.length === 0) return;
      connection.queue.push(...frames);
      for (const frame of frames) this.#budget.used += bodyBytes(frame);
      // Backpressure: a sender waits while its frames are scanned and forwarded, and while the
      // relay holds all it may.
      if (connection.queue.length > 4 || this.#budget.used > this.#budget.max) socket.pause();
      void this.#drain(connection);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#connections.delete(connection);
      for (const frame of connection.queue) this.#budget.used -= bodyBytes(frame);
      connection.queue.length = 0;
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, left);
      for (const party of connection.parties) {
        if (party.connection !== connection) continue;
        delete party.connection;
        party.reassembler.clear();
      }
    });
  }

  /** A connection that proved no stream goes: nothing more is read from it. */
  #refuse(connection: Connection): void {
    connection.refused = true;
    for (const frame of connection.queue) this.#budget.used -= bodyBytes(frame);
    connection.queue.length = 0;
    connection.socket.end();
  }

  async #drain(connection: Connection): Promise<void> {
    if (connection.busy) return;
    connection.busy = true;
    try {
      while (connection.queue.length > 0 && !connection.socket.destroyed) {
        const frame = connection.queue.shift()!;
        this.#budget.used -= bodyBytes(frame);
        await this.#onFrame(connection, frame);
        if (connection.queue.length <= 1 && connection.socket.isPaused()) connection.socket.resume();
      }
    } catch (error) {
      this.#log.error({ err: error }, 'MSRP relay failed on a frame');
      connection.socket.destroy();
    } finally {
      connection.busy = false;
    }
  }

  async #onFrame(connection: Connection, frame: MsrpFrame): Promise<void> {
    // Responses to what the relay sent are hop by hop: they end here.
    if (frame.kind === 'response') return;
    const target = this.#identify(frame, connection.secure);
    if (typeof target === 'number') {
      if (target === 481) this.stats.unknownSession++;
      this.#respond(connection, frame, target, target === 481 ? 'Session does not exist' : 'Forbidden', true);
      // A connection that never proved a session goes.
      if (connection.parties.length === 0) this.#refuse(connection);
      return;
    }
    const { stream, party } = target;
    const sender = stream[party];
    if (sender.connection === undefined) {
      sender.connection = connection;
      connection.parties.push(sender);
      connection.reader.limits = this.#frameLimits;
      connection.socket.setTimeout(0);
      this.#flushWaiting(sender);
    } else if (sender.connection !== connection) {
      // One connection per party: a second is someone else.
      this.#respond(connection, frame, 403, 'Forbidden', true);
      if (connection.parties.length === 0) this.#refuse(connection);
      return;
    }
    const receiver = party === 'caller' ? stream.callee : stream.caller;
    if (frame.method === 'SEND') return this.#onSend(connection, frame, stream, party, receiver);
    if (frame.method === 'REPORT') return this.#onReport(frame, receiver);
    // RFC 4975 7.3: an unknown method is answered 501.
    this.#respond(connection, frame, 501, 'Unknown method', true);
  }

  /** The stream and party a request belongs to, or the status refusing it. */
  #identify(frame: MsrpRequest, secure: boolean): { stream: Stream; party: SessionParty } | 400 | 403 | 481 {
    if (frame.toPath.length !== 1) return 403;
    const to = parseMsrpUri(frame.toPath[0]!);
    if (to === undefined) return 400;
    const found = this.#byLocalId.get(to.sessionId);
    if (found === undefined) return 481;
    // A TLS stream only over TLS, a TCP one only over TCP: as negotiated.
    if (found.stream.secure !== secure) return 403;
    const expected = found.stream[found.party].path;
    // Only the peer the SDP negotiated: its From-Path is its own a=path (RFC 4975 7.3).
    if (expected === undefined || expected.length !== frame.fromPath.length) return 403;
    for (let i = 0; i < expected.length; i++) {
      const a = parseMsrpUri(expected[i]!);
      const b = parseMsrpUri(frame.fromPath[i]!);
      if (a === undefined || b === undefined || !sameMsrpUri(a, b)) return 403;
    }
    return found;
  }

  async #onSend(
    connection: Connection,
    frame: MsrpRequest,
    stream: Stream,
    party: SessionParty,
    receiver: Party,
  ): Promise<void> {
    // A bodiless SEND binds the connection (RFC 4975 7.1.1) and goes no further.
    if (frame.body === undefined) return this.#respond(connection, frame, 200, 'OK', false);
    const messageId = headerValue(frame, 'message-id');
    if (messageId === undefined || !/^[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}$/.test(messageId))
      return this.#respond(connection, frame, 400, 'Bad request', true);
    const rangeText = headerValue(frame, 'byte-range');
    const range =
      rangeText === undefined
        ? { start: 1, end: '*' as const, total: '*' as const }
        : parseByteRange(rangeText);
    if (range === undefined) return this.#respond(connection, frame, 400, 'Bad request', true);
    const sender = stream[party];
    const result = sender.reassembler.add(messageId, range, frame.body, frame.flag);
    if (result.kind === 'partial' || result.kind === 'aborted')
      return this.#respond(connection, frame, 200, 'OK', false);
    if (result.kind === 'refused')
      return this.#respond(connection, frame, result.status, result.reason, true);

    // The message is held while it is scanned: it counts against the relay's budget.
    const size = result.content.length;
    if (this.#budget.used + size > this.#budget.max)
      return this.#respond(connection, frame, 413, 'relay buffers full', true);
    this.#budget.used += size;
    let verdict: ScanResult;
    try {
      verdict = await this.#scanner.scan(result.content);
    } finally {
      this.#budget.used -= size;
    }
    if (verdict.verdict === 'infected') {
      this.stats.refused++;
      this.#log.warn(
        { session: stream.session, from: party, signature: verdict.signature },
        'MSRP content refused',
      );
      this.#observer.refused(this.#sender(connection, stream, party), {
        signature: verdict.signature,
        bytes: result.content.length,
      });
      // The sender learns that the content was refused, not what was found in it.
      return this.#respond(connection, frame, 403, 'Content refused', true);
    }
    if (verdict.verdict === 'error') {
      this.stats.scanErrors++;
      const forwarded = this.#settings.failureMode === 'open';
      this.#observer.scanFailed(this.#sender(connection, stream, party), {
        reason: verdict.reason,
        forwarded,
      });
      if (!forwarded) return this.#respond(connection, frame, 403, 'Content not scanned', true);
    }
    if (!this.#streams.has(stream.key))
      return this.#respond(connection, frame, 481, 'Session does not exist', true);
    if (!this.#deliver(receiver, this.#forwardSend(frame, receiver, messageId, result.content)))
      return this.#respond(connection, frame, 408, 'Receiver not connected', true);
    this.stats.forwarded++;
    this.#respond(connection, frame, 200, 'OK', false);
  }

  #sender(connection: Connection, stream: Stream, party: SessionParty): MsrpSender {
    return {
      session: stream.session,
      from: party,
      address: connection.socket.remoteAddress ?? '',
      port: connection.socket.remotePort ?? 0,
    };
  }

  /** The complete message as one SEND to the receiver, from the relay URI it was given. */
  #forwardSend(frame: MsrpRequest, receiver: Party, messageId: string, content: Buffer): Buffer {
    const headers: MsrpHeader[] = [
      { name: 'To-Path', value: receiver.path!.join(' ') },
      { name: 'From-Path', value: receiver.local },
      { name: 'Message-ID', value: messageId },
      { name: 'Byte-Range', value: `1-${content.length}/${content.length}` },
    ];
    for (const h of frame.headers) {
      const name = h.name.toLowerCase();
      if (REPORT_HEADERS.has(name)) headers.push(h);
    }
    for (const h of frame.headers) {
      const name = h.name.toLowerCase();
      if (CONTENT_HEADERS.has(name) && name !== 'content-type') headers.push(h);
    }
    // content-stuff ends with Content-Type (RFC 4975 9).
    headers.push({ name: 'Content-Type', value: headerValue(frame, 'content-type')! });
    return serializeFrame({
      kind: 'request',
      transactionId: newTransactionId(),
      method: 'SEND',
      headers,
      toPath: receiver.path!,
      fromPath: [receiver.local],
      flag: '$',
      body: content,
    });
  }

  /** A REPORT goes on with the paths of the other leg (RFC 4975 7.1.2); it has no response. */
  #onReport(frame: MsrpRequest, receiver: Party): void {
    if (receiver.path === undefined) return;
    const headers: MsrpHeader[] = [
      { name: 'To-Path', value: receiver.path.join(' ') },
      { name: 'From-Path', value: receiver.local },
      ...frame.headers.slice(2),
    ];
    this.#deliver(
      receiver,
      serializeFrame({
        kind: 'request',
        transactionId: newTransactionId(),
        method: 'REPORT',
        headers,
        toPath: receiver.path,
        fromPath: [receiver.local],
        flag: '$',
      }),
    );
  }

  /** Sends to the receiver, or holds until it connects; false when there is no room to hold it. */
  #deliver(receiver: Party, bytes: Buffer): boolean {
    const connection = receiver.connection;
    if (connection !== undefined && !connection.socket.destroyed) {
      connection.socket.write(bytes);
      // A receiver that does not read is not waited for without bound.
      if (connection.socket.writableLength > 4 * this.#settings.maxMessageBytes) connection.socket.destroy();
      return true;
    }
    // Until the receiver connects, a backlog bounded per party and by the relay's budget.
    if (receiver.waitingBytes + bytes.length > 2 * this.#settings.maxMessageBytes) return false;
    if (this.#budget.used + bytes.length > this.#budget.max) return false;
    this.#budget.used += bytes.length;
    receiver.waiting.push(bytes);
    receiver.waitingBytes += bytes.length;
    return true;
  }

  #flushWaiting(party: Party): void {
    const waiting = party.waiting.splice(0);
    this.#budget.used -= party.waitingBytes;
    party.waitingBytes = 0;
    for (const bytes of waiting) this.#deliver(party, bytes);
  }

  /**
   * The hop's transaction response (RFC 4975 7.2): To-Path the sender, From-Path the URI it
   * sent to. Failure-Report `no` wants none, `partial` only failures (RFC 4975 7.1.2).
   */
  #respond(
    connection: Connection,
    frame: MsrpRequest,
    status: number,
    comment: string,
    failure: boolean,
  ): void {
    const report = headerValue(frame, 'failure-report');
    if (report === 'no' || (report === 'partial' && !failure)) return;
    if (connection.socket.destroyed) return;
    connection.socket.write(
      serializeFrame({
        kind: 'response',
        transactionId: frame.transactionId,
        status,
        comment,
        headers: [
          { name: 'To-Path', value: frame.fromPath[0]! },
          { name: 'From-Path', value: frame.toPath[0]! },
        ],
        toPath: [frame.fromPath[0]!],
        fromPath: [frame.toPath[0]!],
        flag: '$',
      }),
    );
  }
}

function bodyBytes(frame: MsrpFrame): number {
  return frame.kind === 'request' ? (frame.body?.length ?? 0) : 0;
}

function opposite(side: Direction): Direction {
  return side === 'client' ? 'upstream' : 'client';
}

/** transact-id = ident: ALPHANUM 3*31ident-char (RFC 4975 9); hex is of it. */
function newTransactionId(): string {
  return randomBytes(8).toString('hex');
}
