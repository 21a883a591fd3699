import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Clock, TimerHandle } from '../model/clock';
import { describeCause } from '../errors';
import { DEFAULT_MAX_MESSAGE_BYTES, FramingError, MessageReader, frameMessage } from './grpc-framing';

/**
 * A minimal gRPC client for one server-streaming call over HTTP/2 on a Unix socket: all the daemon
 * needs to hold a PolicySync stream to Felix. Why not grpc-js: per message it ran a stream decoder,
 * an async filter stack (microtasks), a retrying call and an object-mode Readable before our handler,
 * plus the garbage they make; at a 10k-route snapshot that was most of the time to receive it. Here a
 * DATA chunk goes through MessageReader straight to the handler, as a view where the message lies
 * inside the chunk.
 *
 * One session and one stream per call; the session closes with the stream. Every way the call can
 * end (status in trailers or trailers-only headers, HTTP status, RST_STREAM, GOAWAY, socket errors,
 * a framing error, a keepalive timeout) reaches `onClose` exactly once, with a reason, unless the
 * caller closed the call itself.
 */

/** gRPC status codes by number (the protocol's own table). */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** HTTP/2 error codes by number (RFC 9113 section 7). */
const H2_ERROR_NAMES: readonly string[] = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

const ENHANCE_YOUR_CALM = 11;

/**
 * The HTTP/2 receive window, for the stream and for the connection: 1 MiB instead of 64 KiB, so that
 * Felix can write most of a snapshot (~0.7 MB at 10k routes) without waiting for a window update per
 * 64 KiB (with the default window the daemon sat idle for part of the time it took to receive 10k
 * routes), while what Felix can queue in our process stays bounded.
 */
export const RECEIVE_WINDOW_BYTES = 1024 * 1024;

export interface KeepaliveOptions {
  /** Send a PING this long after the connection was made, and then this long after each answer. */
  readonly intervalMs: number;
  /** Fail the call when the PING is not acknowledged within this time. */
  readonly timeoutMs: number;
}

/**
 * A Go gRPC server (Felix) counts a client PING that comes less than 5 minutes (its default
 * keepalive MinTime) after the previous one as a strike, unless it has sent data in between, and
 * after the third strike closes the connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
 * A PolicySync stream is often silent for much longer than that, so a short interval would have
 * Felix drop a healthy stream (and the daemon re-read the whole snapshot) every few intervals. A
 * PING every 5 minutes that must be answered within 20 s: a frozen Felix that keeps the socket open
 * is noticed within 5 min 20 s, and a real Felix never sees a strike. (Pinging whether or not data
 * flows costs one frame per 5 minutes; tracking when data last came would cost a clock read per
 * DATA chunk, and a snapshot arrives as one chunk per message.)
 */
export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 5 * 60_000, timeoutMs: 20_000 };

export interface ServerStreamOptions {
  readonly socketPath: string;
  /** The method's path, e.g. /felix.PolicySync/Sync. */
  readonly method: string;
  /** The request message, serialized. */
  readonly request: Uint8Array;
  readonly clock: Clock;
  readonly maxMessageBytes?: number;
  readonly keepalive?: KeepaliveOptions;
  /** Overrides RECEIVE_WINDOW_BYTES (tests). */
  readonly receiveWindowBytes?: number;
}

export interface CloseInfo {
  /** Why the call failed; undefined when the server ended it with status OK. */
  readonly failure?: string;
  /** The server closed the connection for pinging too often: the next call should ping less. */
  readonly tooManyPings?: boolean;
}

export interface ServerStreamHandlers {
  /** The connection to the socket is up and the request went out; the server has not answered yet. */
  onConnected?(): void;
  /** The server accepted the call (HTTP 200, a gRPC content type); messages follow. */
  onHeaders(): void;
  /** One message. The bytes are only valid during this call (they may be a view into a DATA chunk). */
  onMessage(bytes: Buffer): void;
  /** The call is over; once, and never after `close()`. */
  onClose(info: CloseInfo): void;
}

export interface ServerStreamCall {
  /** Cancels the call (RST_STREAM CANCEL) and closes the connection; no handler is called afterwards. */
  close(): void;
}

export function openServerStream(options: ServerStreamOptions, handlers: ServerStreamHandlers): ServerStreamCall {
  return new H2ServerStream(options, handlers);
}

class H2ServerStream implements ServerStreamCall {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly reader: MessageReader;
  private readonly keepalive: KeepaliveOptions;
  private finished = false;
  /** The first thing that went wrong; later errors are usually consequences of it. */
  private failure: string | undefined;
  /** grpc-status and grpc-message, once received (trailers, or headers of a trailers-only response). */
  private status: { code: number; message: string } | undefined;
  private goaway: string | undefined;
  private tooManyPings = false;
  private keepaliveTimer: TimerHandle | undefined;

  constructor(
    private readonly options: ServerStreamOptions,
    private readonly handlers: ServerStreamHandlers,
  ) {
    this.keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    const window = options.receiveWindowBytes ?? RECEIVE_WINDOW_BYTES;
    this.reader = new MessageReader((bytes) => this.deliver(bytes), options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);

    const socketPath = options.socketPath;
    // The authority is only a header here; gRPC clients send "localhost" for Unix sockets.
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(socketPath),
      settings: { enablePush: false, initialWindowSize: window },
    });
    this.session = session;
    session.on('connect', () => {
      // A call closed while connecting: the session is destroyed, and using it would throw.
      if (session.destroyed || this.finished) return;
      // initialWindowSize covers each stream; the connection's own window is raised separately.
      if (window > 65_535) session.setLocalWindowSize(window);
      this.armKeepalive();
      this.handlers.onConnected?.();
    });
    session.on('error', (err: Error) => this.fail(describeSessionError(err, socketPath)));
    session.on('goaway', (code: number, lastStreamId: number, opaque?: Buffer) => this.onGoaway(code, lastStreamId, opaque));
    session.on('close', () => this.finish());
    // Node would otherwise log an unhandled 'frameError' as a warning; a stream error follows it.
    session.on('frameError', (type: number, code: number) => {
      this.failure ??= `HTTP/2 frame of type ${type} could not be sent: ${h2ErrorName(code)}`;
    });

    const stream = session.request(
      {
        ':method': 'POST',
        ':path': options.method,
        'content-type': 'application/grpc',
        te: 'trailers',
        'user-agent': 'egress-gateway',
      },
      { endStream: false },
    );
    this.stream = stream;
    stream.on('response', (headers, flags) => this.onResponse(headers, flags));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (trailers) => this.onTrailers(trailers));
    stream.on('error', (err: Error) => {
      // The stream was reset (by Felix or by nghttp2): outcome() names the code, unless a status came first.
      if ((err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_ERROR') return;
      this.fail(describeStreamError(err, socketPath));
    });
    stream.on('close', () => this.finish());
    stream.end(frameMessage(options.request));
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.teardown();
  }

  private onResponse(headers: http2.IncomingHttpHeaders, flags: number): void {
    if (this.finished) return;
    const status = Number(headers[':status']);
    const contentType = String(headers['content-type'] ?? '');
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    if (status !== 200) {
      this.fail(`HTTP status ${Number.isNaN(status) ? 'missing' : status}${contentType ? ` (content-type ${contentType})` : ''}`);
      this.teardown();
      return;
    }
    if (!isGrpcContentType(contentType)) {
      this.fail(`the response is not gRPC (content-type ${contentType || 'missing'})`);
      this.teardown();
      return;
    }
    if (endStream) {
      // Trailers-only: the call failed (or ended) before any message; the status is in these headers.
      this.readStatus(headers);
      return;
    }
    this.handlers.onHeaders();
  }

  private onData(chunk: Buffer): void {
    if (this.finished || this.failure !== undefined) return;
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      this.fail(`${err.status}: ${err.message}`);
      this.teardown();
    }
  }

  private deliver(bytes: Buffer): void {
    if (this.finished) {
      this.reader.stop();
      return;
    }
    try {
      this.handlers.onMessage(bytes);
    } catch (err) {
      // Thrown from a socket event it would take the process down; it ends this call instead.
      this.fail(`INTERNAL: handling a message failed: ${describeCause(err)}`);
      this.teardown();
      return;
    }
    // The handler may have closed the call: deliver nothing more from this chunk.
    if (this.finished) this.reader.stop();
  }

  private onTrailers(trailers: http2.IncomingHttpHeaders): void {
    if (this.finished) return;
    this.readStatus(trailers);
  }

  private readStatus(headers: http2.IncomingHttpHeaders): void {
    const raw = headers['grpc-status'];
    const code = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
    if (code === undefined) {
      this.fail(`the call ended without a valid grpc-status (${raw === undefined ? 'none' : JSON.stringify(raw)})`);
      return;
    }
    this.status = { code, message: decodeGrpcMessage(headers['grpc-message']) };
  }

  private onGoaway(code: number, lastStreamId: number, opaque: Buffer | undefined): void {
    const debug = opaque && opaque.length > 0 ? ` "${opaque.toString('utf8', 0, Math.min(opaque.length, 200))}"` : '';
    this.goaway = `Felix closed the connection (GOAWAY ${h2ErrorName(code)}${debug})`;
    if (code === ENHANCE_YOUR_CALM && opaque?.toString() === 'too_many_pings') this.tooManyPings = true;
    // A stream the server did not process, or a GOAWAY for an error, ends this call; after a graceful
    // GOAWAY (NO_ERROR) that covers our stream, it may still finish normally.
    const ours = this.stream.id ?? 0;
    if (code !== 0 || lastStreamId < ours || ours === 0) this.fail(this.goaway);
  }

  /** One timer at a time: the next PING, or the deadline for the answer to the last one. */
  private armKeepalive(): void {
    if (this.finished) return;
    this.keepaliveTimer = this.options.clock.setTimeout(() => this.sendPing(), this.keepalive.intervalMs);
  }

  private sendPing(): void {
    this.keepaliveTimer = undefined;
    if (this.finished) return;
    const { timeoutMs } = this.keepalive;
    const sent = this.session.ping((err) => {
      if (err || this.finished) return; // the session is closing; its own events say why
      this.keepaliveTimer?.cancel();
      this.armKeepalive();
    });
    if (!sent) {
      this.fail('could not send a keepalive PING to Felix');
      this.teardown();
      return;
    }
    this.keepaliveTimer = this.options.clock.setTimeout(() => {
      this.keepaliveTimer = undefined;
      if (this.finished) return;
      this.fail(`UNAVAILABLE: Felix did not answer a keepalive PING within ${timeoutMs} ms`);
      this.teardown();
    }, timeoutMs);
  }

  private fail(reason: string): void {
    this.failure ??= reason;
  }

  /** Ends the call from our side after a failure; 'close' events then call finish(). */
  private teardown(): void {
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = undefined;
    this.reader.stop();
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    if (!this.session.destroyed) this.session.destroy();
  }

  /** Called on the stream's or the session's 'close', whichever comes first. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.teardown();
    this.handlers.onClose({ failure: this.outcome(), ...(this.tooManyPings ? { tooManyPings: true } : {}) });
  }

  private outcome(): string | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.status) {
      if (this.status.code === 0) {
        if (!this.reader.atBoundary) return `INTERNAL: the stream ended inside a message (${this.reader.describePartial()} received)`;
        return undefined;
      }
      const name = GRPC_STATUS_NAMES[this.status.code] ?? `status ${this.status.code}`;
      return this.status.message ? `${name}: ${this.status.message}` : name;
    }
    const rst = this.stream.rstCode;
    if (rst !== undefined && rst !== 0) return `the stream was reset (RST_STREAM ${h2ErrorName(rst)})`;
    return this.goaway ?? 'the stream closed without a grpc-status';
  }
}

function h2ErrorName(code: number): string {
  return H2_ERROR_NAMES[code] ?? `code ${code}`;
}

function isGrpcContentType(contentType: string): boolean {
  // application/grpc, or a subtype such as application/grpc+proto, with optional parameters.
  return /^application\/grpc(?:[+;]|$)/i.test(contentType);
}

/** grpc-message is percent-encoded (gRPC over HTTP/2); undo it, keeping the raw text if it is not valid. */
function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function describeSessionError(err: Error, socketPath: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_HTTP2_SESSION_ERROR' || code === 'ERR_HTTP2_ERROR') return `HTTP/2 session error: ${err.message}`;
  // Socket errors (ENOENT, ECONNREFUSED, EACCES, ECONNRESET) name the path themselves when connecting.
  const text = describeCause(err);
  return text.includes(socketPath) ? text : `${text} (${socketPath})`;
}

function describeStreamError(err: Error, socketPath: string): string {
  const cause = (err as { cause?: unknown }).cause;
  // A stream cancelled because its session died: the session's error is the reason.
  if (cause instanceof Error) return describeSessionError(cause, socketPath);
  return describeCause(err);
}
