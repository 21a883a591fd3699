/**
 * The routes benchmark's bare receiver: the least a PolicySync client can do on the libraries the
 * daemon uses (grpc-js, the generated protobufjs decoder): one Sync call, every message decoded, stop at
 * in_sync. Run as its own process, as the daemon is, so both start cold:
 *   node dist/bench/lib/bare-receiver.js SOCKET
 * Prints one JSON line: {"messages": N, "inSyncAt": epoch ms} (the moment in_sync was decoded).
 */
import * as grpc from '@grpc/grpc-js';
import { L3_ROUTES_SUBSCRIPTION, decodeToDataplaneBytes, encodeSyncRequest } from '../../src/policysync/proto';
import { SYNC_METHOD } from '../../src/policysync/grpc';
import { channelOptions } from '../../src/policysync/sync-call';

function main(socketPath: string): void {
  // The daemon's channel options (receive window, limits): the library configured as the daemon has it.
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), channelOptions());
  const call = client.makeServerStreamRequest(
    SYNC_METHOD.path,
    SYNC_METHOD.requestSerialize,
    SYNC_METHOD.responseDeserialize,
    encodeSyncRequest({ subscription_type: L3_ROUTES_SUBSCRIPTION }),
    new grpc.Metadata(),
    {},
  );
  let messages = 0;
  const keep: unknown[] = [];
  call.on('data', (bytes: Buffer) => {
    const r = decodeToDataplaneBytes(bytes);
    messages++;
    keep.push(r);
    if (r.ok && r.message.payload === 'in_sync') {
      const inSyncAt = performance.timeOrigin + performance.now();
      process.stdout.write(`${JSON.stringify({ messages, inSyncAt })}\n`);
      call.cancel();
      client.close();
    }
  });
  call.on('error', () => undefined);
}

const socket = process.argv[2];
if (!socket) {
  process.stderr.write('usage: bare-receiver SOCKET\n');
  process.exitCode = 2;
} else main(socket);
