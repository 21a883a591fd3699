import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger';
import { MAX_MESSAGE_BYTES, SYNC_METHOD, bridgeGrpcLog, grpcStatusName, onTooManyPings } from './grpc';

/**
 * One felix.PolicySync/Sync call on grpc-js over the pod's Unix socket, on a channel of its own: each
 * dial is a fresh connection, so the client's backoff (client.ts) is the only retry policy, and a
 * call's end says exactly why that connection ended. Every way the call can end reaches `onClose`
 * once, as one line, unless the caller closed it.
 */

export interface KeepaliveOptions {
  /** Send a PING this long after the call started, and then this long after each answer. */
  readonly intervalMs: number;
  /** Close the connection when the PING is not answered within this time. */
  readonly timeoutMs: number;
}

/**
 * A Go gRPC server (Felix) counts a client PING that comes less than 5 minutes (its default keepalive
 * MinTime) after the previous one as a strike, unless it sent data in between, and a PING while no
 * stream is open as a strike too; after the third strike it closes the connection with GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings". A PolicySync stream is often silent for much longer than that, so
 * a shorter interval would have Felix drop a healthy stream (and the daemon re-read the whole snapshot)
 * every few intervals. A PING every 5 minutes, only while the call is open
 * (grpc.keepalive_permit_without_calls 0), answered within 20 s: a frozen Felix that keeps the socket
 * open is noticed within 5 min 20 s, and a real Felix never counts a strike.
 */
export const DEFAULT_KEEPALIVE: KeepaliveOptions = { intervalMs: 5 * 60_000, timeoutMs: 20_000 };

export interface SyncCallOptions {
  readonly socketPath: string;
  /** The SyncRequest, encoded. */
  readonly request: Buffer;
  readonly logger: Logger;
  readonly keepalive?: KeepaliveOptions;
  /** The largest message accepted; gRPC's 4 MiB by default. */
  readonly maxMessageBytes?: number;
}

export interface CloseInfo {
  /** Why the call failed; undefined when the server ended it with status OK. */
  readonly failure?: string;
  /** The server closed the connection for pinging too often: the next call should ping less. */
  readonly tooManyPings?: boolean;
}

export interface SyncCallHandlers {
  /** The connection to the socket is up and the request went out; the server has not answered yet. */
  onConnected?(): void;
  /** The server accepted the call (response headers); messages follow. */
  onHeaders(): void;
  onMessage(bytes: Buffer): void;
  /** The call is over; once, and never after `close()`. */
  onClose(info: CloseInfo): void;
}

export interface SyncCall {
  /** Cancels the call (RST_STREAM CANCEL) and closes its channel; no handler is called afterwards. */
  close(): void;
}

/**
 * The HTTP/2 receive window, for the stream and the connection: 1 MiB instead of 64 KiB, so that Felix
 * can write most of a snapshot (~0.7 MB at 10k routes) without waiting for a window update every
 * 64 KiB, while what it can queue in our process stays bounded.
 */
export const RECEIVE_WINDOW_BYTES = 1024 * 1024;

/** The grpc-js channel options of a Sync call (also the routes benchmark's bare receiver's). */
export function channelOptions(keepalive: KeepaliveOptions = DEFAULT_KEEPALIVE, maxMessageBytes = MAX_MESSAGE_BYTES): grpc.ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.intervalMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 0,
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
    // Our backoff decides when to dial again; no transparent retries, no shared subchannels that
    // would carry one attempt's state (or its doubled keepalive) into the next.
    'grpc.enable_retries': 0,
    'grpc.use_local_subchannel_pool': 1,
    // A Unix socket has no real authority; gRPC clients send "localhost".
    'grpc.default_authority': 'localhost',
  };
}

export function openSyncCall(options: SyncCallOptions, handlers: SyncCallHandlers): SyncCall {
  bridgeGrpcLog(options.logger);
  const keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  const client = new grpc.Client(`unix:${options.socketPath}`, grpc.credentials.createInsecure(), channelOptions(keepalive, options.maxMessageBytes));
  let finished = false;
  let tooManyPings = false;
  const stopListening = onTooManyPings((target) => {
    if (target.includes(options.socketPath)) tooManyPings = true;
  });
  const call = client.makeServerStreamRequest(SYNC_METHOD.path, SYNC_METHOD.requestSerialize, SYNC_METHOD.responseDeserialize, options.request, new grpc.Metadata(), {});
  // Felix sends no response headers until it is in sync itself: tell "connected, no answer yet" from
  // "still dialling" by the channel's state.
  const channel = client.getChannel();
  const watch = (state: grpc.connectivityState): void => {
    if (finished) return;
    if (state === grpc.connectivityState.READY) {
      handlers.onConnected?.();
      return;
    }
    if (state === grpc.connectivityState.SHUTDOWN) return;
    channel.watchConnectivityState(state, Infinity, () => watch(channel.getConnectivityState(false)));
  };
  watch(channel.getConnectivityState(false));
  const finish = (): void => {
    finished = true;
    stopListening();
    client.close();
  };
  call.on('metadata', (metadata: grpc.Metadata) => {
    if (finished) return;
    // grpc-js reads any body as gRPC frames; something that is not a gRPC server is named for what it is.
    const contentType = String(metadata.get('content-type')[0] ?? '');
    if (!/^application\/grpc(?:[+;]|$)/i.test(contentType)) {
      finish();
      call.cancel();
      handlers.onClose({ failure: `the response is not gRPC (content-type ${contentType || 'missing'})` });
      return;
    }
    handlers.onHeaders();
  });
  call.on('data', (bytes: Buffer) => {
    if (!finished) handlers.onMessage(bytes);
  });
  // grpc-js reports a failed call both as 'error' and as 'status'; 'status' is the one that always
  // comes (OK too). An 'error' without a listener would be thrown, so it is listened to and left.
  call.on('error', () => undefined);
  call.on('status', (status: grpc.StatusObject) => {
    if (finished) return;
    finish();
    handlers.onClose({ failure: describeStatus(status, tooManyPings), ...(tooManyPings ? { tooManyPings: true } : {}) });
  });
  return {
    close(): void {
      if (finished) return;
      finish();
      call.cancel();
    },
  };
}

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

/**
 * One line for the log and `status` from how grpc-js ended the call. grpc-js words some endings for
 * its own users ("Connection dropped", "No connection established. Last error: ..."); those are said
 * here the way an operator of this gateway needs them.
 */
export function describeStatus(status: Pick<grpc.StatusObject, 'code' | 'details'> & { rstCode?: number }, tooManyPings = false): string | undefined {
  const { code } = status;
  if (code === grpc.status.OK) return undefined;
  // grpc-js 1.14 ends a call whose message its filters refuse (a compressed message on an identity
  // stream) with a status that has neither code nor details.
  if (typeof code !== 'number') return 'INTERNAL: grpc-js could not read a message (such as a compressed one when no compression was negotiated)';
  const details = percentDecoded(status.details);
  if (tooManyPings) return 'Felix closed the connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings")';
  if (code === grpc.status.UNAVAILABLE) {
    // The socket could not be reached: grpc-js quotes the errno error, which names the path.
    const connect = /Last error: (?:Error: )?(connect \w+ \S+?)\.?(?:\s|$)/.exec(details);
    if (connect) return connect[1];
    if (details === 'Connection dropped') {
      return 'the connection to Felix closed (Felix went away, or did not answer a keepalive PING in time)';
    }
  }
  if (/Call ended without gRPC status/.test(details)) return 'the call ended without a grpc-status';
  const rst = /^Received RST_STREAM with code (\d+)/.exec(details);
  if (rst) return `the stream was reset (RST_STREAM ${H2_ERROR_NAMES[Number(rst[1])] ?? `code ${rst[1]}`})`;
  // We never see our own cancel (close() stops listening first). Node reports a dropped connection
  // as a CANCEL on the stream, and grpc-js only sometimes tells it from a CANCEL Felix sent.
  if (code === grpc.status.CANCELLED && details === 'Call cancelled') return 'the connection to Felix closed, or Felix cancelled the stream';
  return details ? `${grpcStatusName(code)}: ${details}` : grpcStatusName(code);
}

/** grpc-message is percent-encoded; grpc-js undoes only part of it (not %3A, say). Keep the text if it is not valid. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
