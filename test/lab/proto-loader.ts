import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../../src/package-root';
import type { SyncRequestWire, ToDataplaneWire } from '../../src/policysync/proto';
import { SYNC_METHOD_PATH } from '../../src/policysync/proto';

/**
 * proto/felixbackend.proto loaded with proto-loader (protobufjs): the reference the tests, the test
 * Felix and the benchmarks' Felix serialize with, and hold the daemon's hand-written wire code to.
 * Test-only: the daemon does not load the .proto at run time (see src/policysync/proto.ts), so
 * @grpc/proto-loader is a dev dependency.
 */

/** Options for proto-loader: uint64 as decimal strings (no precision loss), enums as numbers (an
 * undeclared enum value stays visible instead of turning into undefined), defaults filled in, and a
 * virtual `payload` property naming which oneof member is set. */
export const PROTO_LOAD_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
} as const;

export interface PolicySyncProto {
  readonly sync: MethodDefinition<SyncRequestWire, ToDataplaneWire>;
}

let cached: PolicySyncProto | undefined;

/** Loads proto/felixbackend.proto from the package root (once per process). */
export function loadPolicySyncProto(): PolicySyncProto {
  if (cached) return cached;
  const file = join(packageRoot(), 'proto', 'felixbackend.proto');
  const definition = loadSync(file, PROTO_LOAD_OPTIONS);
  const service = definition['felix.PolicySync'] as Record<string, unknown> | undefined;
  const sync = service?.['Sync'] as MethodDefinition<SyncRequestWire, ToDataplaneWire> | undefined;
  if (!sync || sync.path !== SYNC_METHOD_PATH || !sync.responseStream) {
    throw new Error(`${file} does not declare ${SYNC_METHOD_PATH} as a server-streaming method`);
  }
  return (cached = { sync });
}

/**
 * Starts a grpc-js server for felix.PolicySync/Sync on a Unix socket (a stale socket file is removed
 * first): the one way the test Felix and the benchmarks' Felix listen. `serialize` turns what the
 * caller writes into bytes (already-encoded Buffers pass through); `accept` gets each new stream.
 */
export async function listenPolicySync<Out>(
  socketPath: string,
  serialize: (value: Out) => Buffer,
  accept: (call: grpc.ServerWritableStream<SyncRequestWire, Out>) => void,
): Promise<grpc.Server> {
  if (existsSync(socketPath)) rmSync(socketPath);
  const sync = loadPolicySyncProto().sync;
  const method: grpc.MethodDefinition<SyncRequestWire, Out> = {
    path: sync.path,
    requestStream: false,
    responseStream: true,
    requestSerialize: sync.requestSerialize,
    requestDeserialize: sync.requestDeserialize,
    responseSerialize: serialize,
    // A server never reads its own responses back.
    responseDeserialize: () => {
      throw new Error('PolicySync server: responses are not deserialized');
    },
  };
  const server = new grpc.Server();
  server.addService({ Sync: method } as grpc.ServiceDefinition, { Sync: accept });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return server;
}
