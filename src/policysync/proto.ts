import { Reader } from 'protobufjs/minimal';
import { felix } from './gen/felixbackend';

/**
 * The codec of proto/felixbackend.proto: protobufjs static code generated into ./gen (scripts/gen-proto.sh,
 * committed; a unit test regenerates and compares). This module is the one door to it: the rest of
 * src/ sees plain values (decode.ts turns messages into src/model/felix.ts types), and only
 * src/policysync/ and the test stand-ins touch message shapes.
 *
 * Messages keep the .proto's field names (pbjs --keep-case), so the code reads like the wire contract
 * in FELIX-PROTOCOL.md. Why protobufjs and not @bufbuild/protobuf: measured, protobufjs decodes a 10k-route
 * snapshot about twice as fast and encodes it about four times as fast (docs/benchmarks.md).
 */

export const SYNC_METHOD_PATH = '/felix.PolicySync/Sync';
export const L3_ROUTES_SUBSCRIPTION = 'l3-routes';

/** Message shapes as plain objects (what `encode` takes and what `decode` gives, field for field). */
export type SyncRequestWire = felix.SyncRequest.$Properties;
export type ToDataplaneWire = felix.ToDataplane.$Properties;
export type RouteUpdateWire = felix.RouteUpdate.$Properties;
export type RouteRemoveWire = felix.RouteRemove.$Properties;
export type VtepUpdateWire = felix.VXLANTunnelEndpointUpdate.$Properties;
export type VtepRemoveWire = felix.VXLANTunnelEndpointRemove.$Properties;
export type TunnelTypeWire = felix.TunnelType.$Properties;
export type PayloadName = NonNullable<ToDataplaneWire['payload']>;

/** OSS Felix's RouteType and IPPoolType values, by name (the generated enums). */
export const RouteType = felix.RouteType;
export type RouteType = felix.RouteType;
export const IPPoolType = felix.IPPoolType;
export type IPPoolType = felix.IPPoolType;

/**
 * What the client hands to decode.ts: the decoded message plus the numbers of top-level fields we do not
 * declare (so an 'ignored' event can say which payload it was), or the reason the bytes did not decode
 * at all (so one bad message becomes a 'malformed' event instead of failing the call).
 */
export type ReceivedMessage =
  | { readonly ok: true; readonly message: ToDataplaneWire; readonly unknownFields: readonly number[] }
  | { readonly ok: false; readonly reason: string };

/** Decodes one ToDataplane; never throws. */
export function decodeToDataplaneBytes(bytes: Uint8Array): ReceivedMessage {
  let message: felix.ToDataplane;
  try {
    message = felix.ToDataplane.decode(bytes);
  } catch (err) {
    return { ok: false, reason: `undecodable ToDataplane (${bytes.length} bytes): ${(err as Error).message}` };
  }
  // Only a message without a payload we declare needs its other fields named (rare: Felix sends
  // l3-routes subscribers little else), so they are read again here rather than kept on every decode.
  return { ok: true, message, unknownFields: message.payload === undefined ? topLevelFields(bytes) : [] };
}

/** The field numbers at the top level of a message that decoded, in order, without repeats. */
function topLevelFields(bytes: Uint8Array): number[] {
  const fields: number[] = [];
  const reader = Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field !== 15 && !fields.includes(field)) fields.push(field);
    reader.skipType(tag & 7);
  }
  return fields;
}

export function encodeSyncRequest(request: SyncRequestWire): Buffer {
  return asBuffer(felix.SyncRequest.encode(request).finish());
}

export function decodeSyncRequest(bytes: Uint8Array): SyncRequestWire {
  return felix.SyncRequest.decode(bytes);
}

export function encodeToDataplane(message: ToDataplaneWire): Buffer {
  return asBuffer(felix.ToDataplane.encode(message).finish());
}

/** protobufjs hands out a Buffer on Node already; grpc-js wants one, so make sure without a copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
