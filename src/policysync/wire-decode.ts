import type {
  PayloadName,
  ReceivedMessage,
  RouteUpdateWire,
  ToDataplaneWire,
  TunnelTypeWire,
  VtepUpdateWire,
} from './proto';
import { TO_DATAPLANE_FIELDS } from './proto';

/**
 * A hand-written reader for the ToDataplane payloads an l3-routes subscriber uses, straight from the
 * wire into the same plain objects proto-loader makes (keepCase, defaults filled in, uint64 as a
 * decimal string, enums as numbers, `payload` naming the oneof member). Why: at a 10k-route snapshot
 * protobufjs' generic decode and its Long handling were a fifth of the time to receive it. The
 * .proto stays the contract: field numbers and types below are its own, and a unit test decodes the
 * same bytes both ways and compares.
 *
 * Stricter than protobufjs where protobufjs is lax: a field of the wrong wire type, or a nested
 * message whose fields run past its own length, is undecodable rather than read anyway.
 */

class Undecodable extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** The reader's position; module state instead of an object per message (decoding is synchronous). */
let pos = 0;
/** The last varint read, as its low and high 32 bits (unsigned). */
let lo = 0;
let hi = 0;

function readVarint(buf: Uint8Array, end: number): void {
  let low = 0;
  let high = 0;
  let b: number;
  let shift = 0;
  for (; shift < 28; shift += 7) {
    if (pos >= end) throw new Undecodable('index out of range');
    b = buf[pos++] as number;
    low |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = low >>> 0;
      hi = 0;
      return;
    }
  }
  // Byte 5 carries bits 28..34: 4 into the low word, 3 into the high one.
  if (pos >= end) throw new Undecodable('index out of range');
  b = buf[pos++] as number;
  low |= (b & 0x0f) << 28;
  high = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (shift = 3; ; shift += 7) {
      if (shift > 31) throw new Undecodable('invalid varint encoding');
      if (pos >= end) throw new Undecodable('index out of range');
      b = buf[pos++] as number;
      if (shift < 32) high |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
  }
  lo = low >>> 0;
  hi = high >>> 0;
}

function readLength(buf: Uint8Array, end: number): number {
  readVarint(buf, end);
  if (hi !== 0 || pos + lo > end) throw new Undecodable('index out of range');
  return lo;
}

/** uint64 as proto-loader's `longs: String` gives it. */
function uint64Text(): string {
  if (hi < 0x200000) return String(hi * 0x100000000 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/** int32 (and enums): the low 32 bits, signed, as protobufjs reads them. */
function int32(): number {
  return lo | 0;
}

/**
 * Tried and dropped (2026-11-25): making short ASCII strings from their char codes in JS (faster in
 * a micro-benchmark, ~4 ms of 24 cold, but no change in the routes benchmark's daemon), and looking
 * repeated node names and addresses up by their bytes to share one string (slower: hashing and
 * comparing the bytes cost more than making the string).
 */
function readString(buf: Uint8Array, end: number): string {
  const len = readLength(buf, end);
  const start = pos;
  pos += len;
  return Buffer.prototype.toString.call(buf, 'utf8', start, pos);
}

function skip(buf: Uint8Array, wireType: number, end: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      readVarint(buf, end);
      return;
    case WIRE_FIXED64:
      pos += 8;
      break;
    case WIRE_BYTES: {
      const len = readLength(buf, end); // before reading pos: readLength moves it
      pos += len;
      return;
    }
    case WIRE_FIXED32:
      pos += 4;
      break;
    default:
      // Groups (3, 4) are proto2-only and never sent by Felix; 6 and 7 do not exist.
      throw new Undecodable(`invalid wire type ${wireType}`);
  }
  if (pos > end) throw new Undecodable('index out of range');
}

/** Reads a tag; returns the field number and leaves the wire type in `lo & 7`. */
function readTag(buf: Uint8Array, end: number): number {
  readVarint(buf, end);
  const field = hi === 0 ? lo >>> 3 : -1;
  if (field < 1 || field > 0x1fffffff) throw new Undecodable(`invalid field number in tag ${lo}`);
  return field;
}

function expectWire(field: number, wireType: number, want: number, message: string): void {
  if (wireType !== want) throw new Undecodable(`${message} field ${field} has wire type ${wireType}, not ${want}`);
}

function readRouteUpdate(buf: Uint8Array, end: number): RouteUpdateWire {
  let type = 0;
  let ipPoolType = 0;
  let dst = '';
  let dstNodeName = '';
  let dstNodeIp = '';
  let sameSubnet = false;
  let natOutgoing = false;
  let localWorkload = false;
  let tunnelType: TunnelTypeWire | null = null;
  let borrowed = false;
  let types = 0;
  while (pos < end) {
    const field = readTag(buf, end);
    const wt = lo & 7;
    switch (field) {
      case 1:
      case 2:
      case 7:
      case 8:
      case 9:
      case 11:
      case 12: {
        expectWire(field, wt, WIRE_VARINT, 'RouteUpdate');
        readVarint(buf, end);
        const flag = lo !== 0 || hi !== 0;
        if (field === 1) type = int32();
        else if (field === 2) ipPoolType = int32();
        else if (field === 12) types = int32();
        else if (field === 7) sameSubnet = flag;
        else if (field === 8) natOutgoing = flag;
        else if (field === 9) localWorkload = flag;
        else borrowed = flag;
        break;
      }
      case 3:
      case 4:
      case 5: {
        expectWire(field, wt, WIRE_BYTES, 'RouteUpdate');
        const s = readString(buf, end);
        if (field === 3) dst = s;
        else if (field === 4) dstNodeName = s;
        else dstNodeIp = s;
        break;
      }
      case 10: {
        expectWire(field, wt, WIRE_BYTES, 'RouteUpdate');
        const len = readLength(buf, end);
        tunnelType = readTunnelType(buf, pos + len);
        break;
      }
      default:
        skip(buf, wt, end);
    }
  }
  return {
    type,
    ip_pool_type: ipPoolType,
    dst,
    dst_node_name: dstNodeName,
    dst_node_ip: dstNodeIp,
    same_subnet: sameSubnet,
    nat_outgoing: natOutgoing,
    local_workload: localWorkload,
    tunnel_type: tunnelType,
    borrowed,
    types,
  };
}

function readTunnelType(buf: Uint8Array, end: number): TunnelTypeWire {
  const t = { ipip: false, vxlan: false, wireguard: false };
  while (pos < end) {
    const field = readTag(buf, end);
    const wt = lo & 7;
    if (field >= 1 && field <= 3) {
      expectWire(field, wt, WIRE_VARINT, 'TunnelType');
      readVarint(buf, end);
      const flag = lo !== 0 || hi !== 0;
      if (field === 1) t.ipip = flag;
      else if (field === 2) t.vxlan = flag;
      else t.wireguard = flag;
    } else skip(buf, wt, end);
  }
  return t;
}

/** RouteRemove.dst (2) and VXLANTunnelEndpointRemove.node (1): messages of one string. */
function readOneString(buf: Uint8Array, end: number, wanted: number, message: string): string {
  let value = '';
  while (pos < end) {
    const field = readTag(buf, end);
    const wt = lo & 7;
    if (field === wanted) {
      expectWire(field, wt, WIRE_BYTES, message);
      value = readString(buf, end);
    } else skip(buf, wt, end);
  }
  return value;
}

const VTEP_FIELDS = ['node', 'mac', 'ipv4_addr', 'parent_device_ip', 'mac_v6', 'ipv6_addr', 'parent_device_ipv6'] as const;

function readVtepUpdate(buf: Uint8Array, end: number): VtepUpdateWire {
  const v: Record<(typeof VTEP_FIELDS)[number], string> = {
    node: '',
    mac: '',
    ipv4_addr: '',
    parent_device_ip: '',
    mac_v6: '',
    ipv6_addr: '',
    parent_device_ipv6: '',
  };
  while (pos < end) {
    const field = readTag(buf, end);
    const wt = lo & 7;
    const name = VTEP_FIELDS[field - 1];
    if (name !== undefined) {
      expectWire(field, wt, WIRE_BYTES, 'VXLANTunnelEndpointUpdate');
      v[name] = readString(buf, end);
    } else skip(buf, wt, end);
  }
  return v;
}

function readEmpty(buf: Uint8Array, end: number): Record<string, never> {
  while (pos < end) {
    readTag(buf, end);
    skip(buf, lo & 7, end);
  }
  return {};
}

/** Decodes one ToDataplane; never throws. */
export function decodeToDataplaneBytes(bytes: Uint8Array): ReceivedMessage {
  try {
    return readToDataplane(bytes);
  } catch (err) {
    if (!(err instanceof Undecodable)) throw err;
    return { ok: false, reason: `undecodable ToDataplane (${bytes.length} bytes): ${err.message}` };
  }
}

/** How to read each declared payload's body; a name per field number comes from proto.ts. */
const PAYLOAD_READERS: { readonly [K in PayloadName]: (buf: Uint8Array, end: number) => NonNullable<ToDataplaneWire[K]> } = {
  in_sync: readEmpty,
  route_update: readRouteUpdate,
  route_remove: (buf, end) => ({ dst: readOneString(buf, end, 2, 'RouteRemove') }),
  vtep_update: readVtepUpdate,
  vtep_remove: (buf, end) => ({ node: readOneString(buf, end, 1, 'VXLANTunnelEndpointRemove') }),
};

/** Field number -> payload name, from TO_DATAPLANE_FIELDS, the project's one list of those numbers. */
const PAYLOAD_BY_FIELD = new Map<number, PayloadName>(
  (Object.keys(PAYLOAD_READERS) as PayloadName[]).map((name) => [TO_DATAPLANE_FIELDS[name], name]),
);

function readToDataplane(buf: Uint8Array): ReceivedMessage {
  pos = 0;
  const end = buf.length;
  const msg: ToDataplaneWire = { sequence_number: '0' };
  let payload: PayloadName | undefined;
  let unknown: number[] | undefined;
  while (pos < end) {
    const field = readTag(buf, end);
    const wt = lo & 7;
    if (field === TO_DATAPLANE_FIELDS.sequence_number) {
      expectWire(field, wt, WIRE_VARINT, 'ToDataplane');
      readVarint(buf, end);
      msg.sequence_number = uint64Text();
      continue;
    }
    const name = PAYLOAD_BY_FIELD.get(field);
    if (name === undefined) {
      skip(buf, wt, end);
      // Only used to name a payload we do not declare (see decode.ts), so in order, without repeats.
      if (!unknown) unknown = [field];
      else if (!unknown.includes(field)) unknown.push(field);
      continue;
    }
    expectWire(field, wt, WIRE_BYTES, 'ToDataplane');
    const len = readLength(buf, end); // before reading pos: readLength moves it
    // A oneof: the member last on the wire wins, as proto3 says.
    if (payload !== undefined) msg[payload] = null;
    payload = name;
    // Each reader returns the type of its own member (PAYLOAD_READERS' type says so); TypeScript
    // cannot follow that through a name that is a union, hence the widened view of msg.
    (msg as Record<PayloadName, unknown>)[name] = PAYLOAD_READERS[name](buf, pos + len);
  }
  if (payload !== undefined) msg.payload = payload;
  return { ok: true, message: msg, unknownFields: payload === undefined && unknown ? unknown : [] };
}
