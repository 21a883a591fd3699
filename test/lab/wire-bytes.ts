import { Writer } from 'protobufjs/minimal';

/**
 * Protobuf fields written by hand, through protobufjs' Writer: for tests that pin field numbers against
 * bytes they spell out themselves (FELIX-PROTOCOL.md), and for the test Felix's payloads that our .proto
 * does not declare. The daemon never needs this: it has the generated codec (src/policysync/proto.ts).
 */

/** A length-delimited field (wire type 2) holding `body` (e.g. an empty message). */
export function bytesField(fieldNumber: number, body: Uint8Array = new Uint8Array()): Buffer {
  return Buffer.from(Writer.create().uint32((fieldNumber << 3) | 2).bytes(body).finish());
}

/** A varint field (wire type 0), e.g. sequence_number. */
export function varintField(fieldNumber: number, value: number): Buffer {
  return Buffer.from(Writer.create().uint32(fieldNumber << 3).uint64(value).finish());
}

export function stringField(fieldNumber: number, text: string): Buffer {
  return bytesField(fieldNumber, Buffer.from(text, 'utf8'));
}
