import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger';
import { SYNC_METHOD_PATH } from './proto';

/**
 * What the PolicySync client and server share on grpc-js: the method definition (messages pass grpc-js
 * as bytes; proto.ts encodes and decodes them, so that a bad message becomes a 'malformed' event instead
 * of failing the call), gRPC's 4 MiB receive limit, and the bridge from grpc-js's own log to ours.
 */

/** gRPC's default receive limit (grpc-go's too): a larger message fails the call. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const bytes = (b: Buffer): Buffer => b;

export const SYNC_METHOD: grpc.MethodDefinition<Buffer, Buffer> = {
  path: SYNC_METHOD_PATH,
  requestStream: false,
  responseStream: true,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
};

export const POLICYSYNC_SERVICE: grpc.ServiceDefinition = { Sync: SYNC_METHOD };

/** gRPC status names by code (the protocol's own table). */
export function grpcStatusName(code: number): string {
  return grpc.status[code] ?? `status ${code}`;
}

type TooManyPingsListener = (target: string) => void;
const tooManyPingsListeners = new Set<TooManyPingsListener>();
let bridged: Logger | undefined;
let installed = false;

/**
 * grpc-js writes its own log to the console (stderr, not JSON) unless told otherwise; send it to our
 * logger instead. The library's log is also the only place that says a server closed the connection
 * for pings (GOAWAY ENHANCE_YOUR_CALM "too_many_pings"): the call itself just ends UNAVAILABLE.
 * Process-wide (grpc-js has one logger); the last logger given wins.
 */
export function bridgeGrpcLog(logger: Logger): void {
  bridged = logger.child({ component: 'grpc-js' });
  if (installed) return;
  installed = true;
  // grpc-js's verbosity stays what GRPC_VERBOSITY says (errors only by default).
  grpc.setLogger({
    error: (...args: unknown[]) => {
      const text = args.map(String).join(' ');
      const pings = /Connection to (\S+) .*rejected by server because of excess pings/.exec(text);
      if (pings) for (const listener of tooManyPingsListeners) listener(pings[1] ?? '');
      bridged?.warn({ event: 'grpc_log' }, text.trim());
    },
  });
}

/** Calls `listener` with the channel target (e.g. unix:///path) whenever a server says too_many_pings. */
export function onTooManyPings(listener: TooManyPingsListener): () => void {
  tooManyPingsListeners.add(listener);
  return () => void tooManyPingsListeners.delete(listener);
}
