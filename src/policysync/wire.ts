/**
 * Just enough of the protobuf wire format to name the fields of a message that protobufjs skipped
 * (payloads we do not declare), and for the test Felix to send such payloads. Pure; no I/O.
 */

/** Field numbers of the top-level fields in `bytes`, in order; undefined if the bytes are not valid. */
export function scanTopLevelFields(bytes: Uint8Array): number[] | undefined {
  const fields: number[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos);
    if (!tag) return undefined;
    pos = tag.next;
    const fieldNumber = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (fieldNumber < 1) return undefined;
    switch (wireType) {
      case 0: {
        const v = readVarint(bytes, pos);
        if (!v) return undefined;
        pos = v.next;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = readVarint(bytes, pos);
        if (!len) return undefined;
        pos = len.next + len.value;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        // Groups (3, 4) are proto2-only and never sent by Felix.
        return undefined;
    }
    if (pos > bytes.length) return undefined;
    fields.push(fieldNumber);
  }
  return fields;
}

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

function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let pos = start; pos < bytes.length && pos < start + 10; pos++) {
    const b = bytes[pos] ?? 0;
    value += (b & 0x7f) * scale;
    scale *= 0x80;
    if ((b & 0x80) === 0) return { value, next: pos + 1 };
  }
  return undefined;
}
