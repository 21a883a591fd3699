/**
 * Just enough of the protobuf wire format to hand-encode fields: the daemon's SyncRequest (client.ts),
 * the test Felix (payloads we do not declare) and tests. Pure; no I/O.
 */

/** A length-delimited field (wire type 2) holding `body` (e.g. an empty message). */
export function encodeBytesField(fieldNumber: number, body: Uint8Array = new Uint8Array()): Buffer {
  return Buffer.concat([encodeVarint(fieldNumber * 8 + 2), encodeVarint(body.length), body]);
}

/** A varint field (wire type 0), e.g. sequence_number. */
export function encodeVarintField(fieldNumber: number, value: number): Buffer {
  return Buffer.concat([encodeVarint(fieldNumber * 8), encodeVarint(value)]);
}

export function encodeVarint(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`cannot encode ${value} as a varint`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
