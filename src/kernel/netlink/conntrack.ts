import { ipFromBytes, type IpAddress } from '../../model/ip';
import { AttributeError, encodeAttribute, parseAttributes as parseNetlinkAttributes } from './attributes';
import { NFGENMSG_LEN, NFNL_SUBSYS_CTNETLINK, NLA_F_NESTED, NLMSG_HDRLEN, NLM_F_CREATE } from './constants';

/**
 * A decoder for ctnetlink conntrack event messages (NETLINK_NETFILTER, subsystem CTNETLINK), written
 * from the kernel's uapi headers (linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h,
 * nf_conntrack_common.h). Pure: bytes in, plain values out; nothing here touches a socket.
 *
 * Byte order: the netlink and attribute headers are in host order (little-endian on every
 * architecture the image is built for, as in ./constants.ts); ctnetlink's own values
 * (status, ports, counters, id, timestamps) are big-endian, as the kernel writes them with
 * nla_put_be*.
 */

/** Multicast groups of NETLINK_NETFILTER (enum nfnetlink_groups): numbers for NETLINK_ADD_MEMBERSHIP. */
export const NFNLGRP_CONNTRACK_NEW = 1;
export const NFNLGRP_CONNTRACK_UPDATE = 2;
export const NFNLGRP_CONNTRACK_DESTROY = 3;

export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;
/** nlmsg_type = subsystem << 8 | message. */
export const CT_NEW_TYPE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
export const CT_DELETE_TYPE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
export const CT_GET_TYPE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;

/** enum ctattr_type */
export const CTA = {
  TUPLE_ORIG: 1,
  TUPLE_REPLY: 2,
  STATUS: 3,
  COUNTERS_ORIG: 9,
  COUNTERS_REPLY: 10,
  ID: 12,
  ZONE: 18,
  TIMESTAMP: 20,
} as const;
/** enum ctattr_tuple */
export const CTA_TUPLE = { IP: 1, PROTO: 2, ZONE: 3 } as const;
/** enum ctattr_ip */
export const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
/** enum ctattr_l4proto */
export const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3, ICMP_ID: 4, ICMP_TYPE: 5, ICMP_CODE: 6, ICMPV6_ID: 7, ICMPV6_TYPE: 8, ICMPV6_CODE: 9 } as const;
/** enum ctattr_counters */
export const CTA_COUNTERS = { PACKETS: 1, BYTES: 2 } as const;
/** enum ctattr_tstamp */
export const CTA_TIMESTAMP_ATTR = { START: 1, STOP: 2 } as const;

/** enum ip_conntrack_status: the connection's source was rewritten (SNAT or masquerade). */
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;

// The netlink numbers the conntrack tests build messages with; all defined once in ./constants.ts.
export { NFGENMSG_LEN, NFNL_SUBSYS_CTNETLINK, NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_OVERRUN, NLM_F_CREATE, NLM_F_EXCL } from './constants';

export type TransportName = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | 'udplite' | 'dccp' | 'gre';
const PROTOCOL_NAMES: Readonly<Record<number, TransportName>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  47: 'gre',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

/** A protocol number as a name when it has one ("tcp"), else the number as text ("253"). */
export function protocolName(n: number): string {
  return PROTOCOL_NAMES[n] ?? String(n);
}

/** One direction of a connection, as conntrack sees it. Ports are absent for portless protocols. */
export interface ConntrackTuple {
  readonly src: IpAddress;
  readonly dst: IpAddress;
  readonly protocol: number;
  readonly srcPort?: number;
  readonly dstPort?: number;
  /** ICMP and ICMPv6 flows: the echo identifier and the message type and code (what names the flow instead of ports). */
  readonly icmp?: { readonly id: number; readonly type: number; readonly code: number };
}

export interface ConntrackCounters {
  readonly packets: bigint;
  readonly bytes: bigint;
}

export type ConntrackEventKind = 'new' | 'update' | 'destroy';

/** One decoded conntrack message (an event, or an entry of a dump). */
export interface ConntrackEvent {
  readonly kind: ConntrackEventKind;
  readonly family: number;
  readonly orig: ConntrackTuple;
  readonly reply: ConntrackTuple;
  /** CTA_STATUS bits; absent when the message did not carry them. */
  readonly status?: number;
  /** CTA_ID: the kernel's id of the connection, the same in its NEW and DESTROY events. */
  readonly id?: number;
  readonly zone?: number;
  readonly countersOrig?: ConntrackCounters;
  readonly countersReply?: ConntrackCounters;
  /** CTA_TIMESTAMP, nanoseconds since the epoch (present with net.netfilter.nf_conntrack_timestamp=1). */
  readonly startNs?: bigint;
  readonly stopNs?: bigint;
}

/** Why a message could not be decoded; the caller counts it and moves on. */
export class ConntrackDecodeError extends Error {
  constructor(why: string) {
    super(`malformed ctnetlink message: ${why}`);
    this.name = 'ConntrackDecodeError';
  }
}

/** One netlink message of a datagram. */
export interface RawMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly port: number;
  readonly payload: Buffer;
}

/** Splits a datagram into netlink messages; a header that overruns the datagram ends the walk with an error. */
export function splitMessages(datagram: Buffer): RawMessage[] {
  const out: RawMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) {
      throw new ConntrackDecodeError(`netlink message at offset ${off} claims ${len} bytes, ${datagram.length - off} remain`);
    }
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      port: datagram.readUInt32LE(off + 12),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/**
 * Attributes of one level, by type (the last wins on a repeat; ctnetlink never repeats one). Strict:
 * a cut attribute or stray bytes make the message malformed.
 */
export function parseAttributes(buf: Buffer): Map<number, Buffer> {
  try {
    return parseNetlinkAttributes(buf, 'strict');
  } catch (err) {
    if (err instanceof AttributeError) throw new ConntrackDecodeError(err.message);
    throw err;
  }
}

/**
 * Decodes one ctnetlink message: `type` and `flags` from the netlink header, `payload` after it.
 * Returns undefined for messages that are not conntrack entries (other subsystems, expectations);
 * throws ConntrackDecodeError for a conntrack message that is cut or inconsistent.
 * A NEW-type message is a new connection only with NLM_F_CREATE: the kernel sends state changes
 * (update events, dump entries) as NEW-type messages without it.
 */
export function decodeConntrack(type: number, flags: number, payload: Buffer): ConntrackEvent | undefined {
  if (type >> 8 !== NFNL_SUBSYS_CTNETLINK) return undefined;
  const msg = type & 0xff;
  let kind: ConntrackEventKind;
  if (msg === IPCTNL_MSG_CT_DELETE) kind = 'destroy';
  else if (msg === IPCTNL_MSG_CT_NEW) kind = flags & NLM_F_CREATE ? 'new' : 'update';
  else return undefined;
  if (payload.length < NFGENMSG_LEN) throw new ConntrackDecodeError(`payload of ${payload.length} bytes has no nfgenmsg header`);
  const family = payload.readUInt8(0);
  const attrs = parseAttributes(payload.subarray(NFGENMSG_LEN));

  const origAttr = attrs.get(CTA.TUPLE_ORIG);
  const replyAttr = attrs.get(CTA.TUPLE_REPLY);
  if (!origAttr || !replyAttr) throw new ConntrackDecodeError('CTA_TUPLE_ORIG or CTA_TUPLE_REPLY is missing');
  const orig = decodeTuple(origAttr, 'CTA_TUPLE_ORIG');
  const reply = decodeTuple(replyAttr, 'CTA_TUPLE_REPLY');

  const status = attrs.get(CTA.STATUS);
  const id = attrs.get(CTA.ID);
  const zone = attrs.get(CTA.ZONE);
  const co = attrs.get(CTA.COUNTERS_ORIG);
  const cr = attrs.get(CTA.COUNTERS_REPLY);
  const ts = attrs.get(CTA.TIMESTAMP);
  const tsAttrs = ts ? parseAttributes(ts) : undefined;
  const start = tsAttrs?.get(CTA_TIMESTAMP_ATTR.START);
  const stop = tsAttrs?.get(CTA_TIMESTAMP_ATTR.STOP);
  return {
    kind,
    family,
    orig,
    reply,
    ...(status ? { status: be32(status, 'CTA_STATUS') } : {}),
    ...(id ? { id: be32(id, 'CTA_ID') } : {}),
    ...(zone ? { zone: be16(zone, 'CTA_ZONE') } : {}),
    ...(co ? { countersOrig: decodeCounters(co, 'CTA_COUNTERS_ORIG') } : {}),
    ...(cr ? { countersReply: decodeCounters(cr, 'CTA_COUNTERS_REPLY') } : {}),
    ...(start ? { startNs: be64(start, 'CTA_TIMESTAMP_START') } : {}),
    ...(stop ? { stopNs: be64(stop, 'CTA_TIMESTAMP_STOP') } : {}),
  };
}

function decodeTuple(buf: Buffer, what: string): ConntrackTuple {
  const attrs = parseAttributes(buf);
  const ipAttr = attrs.get(CTA_TUPLE.IP);
  const protoAttr = attrs.get(CTA_TUPLE.PROTO);
  if (!ipAttr || !protoAttr) throw new ConntrackDecodeError(`${what} lacks CTA_TUPLE_IP or CTA_TUPLE_PROTO`);
  const ip = parseAttributes(ipAttr);
  const v4src = ip.get(CTA_IP.V4_SRC);
  const v4dst = ip.get(CTA_IP.V4_DST);
  const v6src = ip.get(CTA_IP.V6_SRC);
  const v6dst = ip.get(CTA_IP.V6_DST);
  let src: IpAddress;
  let dst: IpAddress;
  if (v4src && v4dst) {
    src = address(v4src, 4, `${what} v4 source`);
    dst = address(v4dst, 4, `${what} v4 destination`);
  } else if (v6src && v6dst) {
    src = address(v6src, 16, `${what} v6 source`);
    dst = address(v6dst, 16, `${what} v6 destination`);
  } else {
    throw new ConntrackDecodeError(`${what} has no source and destination address of one family`);
  }
  const proto = parseAttributes(protoAttr);
  const num = proto.get(CTA_PROTO.NUM);
  if (!num || num.length < 1) throw new ConntrackDecodeError(`${what} lacks CTA_PROTO_NUM`);
  const sp = proto.get(CTA_PROTO.SRC_PORT);
  const dp = proto.get(CTA_PROTO.DST_PORT);
  const v6 = v6src !== undefined;
  const icmpId = proto.get(v6 ? CTA_PROTO.ICMPV6_ID : CTA_PROTO.ICMP_ID);
  const icmpType = proto.get(v6 ? CTA_PROTO.ICMPV6_TYPE : CTA_PROTO.ICMP_TYPE);
  const icmpCode = proto.get(v6 ? CTA_PROTO.ICMPV6_CODE : CTA_PROTO.ICMP_CODE);
  return {
    src,
    dst,
    protocol: num.readUInt8(0),
    ...(sp ? { srcPort: be16(sp, `${what} source port`) } : {}),
    ...(dp ? { dstPort: be16(dp, `${what} destination port`) } : {}),
    ...(icmpId && icmpType && icmpCode
      ? { icmp: { id: be16(icmpId, `${what} ICMP id`), type: u8(icmpType, `${what} ICMP type`), code: u8(icmpCode, `${what} ICMP code`) } }
      : {}),
  };
}

function decodeCounters(buf: Buffer, what: string): ConntrackCounters {
  const attrs = parseAttributes(buf);
  const packets = attrs.get(CTA_COUNTERS.PACKETS);
  const bytes = attrs.get(CTA_COUNTERS.BYTES);
  if (!packets || !bytes) throw new ConntrackDecodeError(`${what} lacks packets or bytes`);
  return { packets: be64(packets, `${what} packets`), bytes: be64(bytes, `${what} bytes`) };
}

function address(buf: Buffer, size: 4 | 16, what: string): IpAddress {
  if (buf.length !== size) throw new ConntrackDecodeError(`${what} has ${buf.length} bytes, not ${size}`);
  return ipFromBytes(Uint8Array.from(buf));
}

function u8(buf: Buffer, what: string): number {
  if (buf.length < 1) throw new ConntrackDecodeError(`${what} is empty`);
  return buf.readUInt8(0);
}

function be16(buf: Buffer, what: string): number {
  if (buf.length < 2) throw new ConntrackDecodeError(`${what} has ${buf.length} bytes, not 2`);
  return buf.readUInt16BE(0);
}

function be32(buf: Buffer, what: string): number {
  if (buf.length < 4) throw new ConntrackDecodeError(`${what} has ${buf.length} bytes, not 4`);
  return buf.readUInt32BE(0);
}

function be64(buf: Buffer, what: string): bigint {
  if (buf.length < 8) throw new ConntrackDecodeError(`${what} has ${buf.length} bytes, not 8`);
  return buf.readBigUInt64BE(0);
}

/** True when conntrack rewrote the source: the status bit when present, else the tuples tell. */
export function isSourceNatted(e: ConntrackEvent): boolean {
  if (e.status !== undefined) return (e.status & IPS_SRC_NAT) !== 0;
  return e.reply.dst.text !== e.orig.src.text || e.reply.dstPort !== e.orig.srcPort;
}

/**
 * A dump request for every conntrack entry of one family (AF_INET=2, AF_INET6=10), or all (0):
 * the payload after the netlink header.
 */
export function dumpRequestPayload(family: number): Buffer {
  return nfgenmsg(family);
}

/** The nfgenmsg header: family, NFNETLINK_V0, res_id 0 (big-endian). */
function nfgenmsg(family: number): Buffer {
  const b = Buffer.alloc(NFGENMSG_LEN);
  b.writeUInt8(family, 0);
  return b;
}

function be16Bytes(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
}

function be32Bytes(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** CTA_TUPLE_* nested: the addresses and what names the flow in its protocol (ports, or the ICMP id, type and code). */
function encodeTuple(t: ConntrackTuple): Buffer {
  const v6 = t.src.family === 6;
  const ip = Buffer.concat([
    encodeAttribute(v6 ? CTA_IP.V6_SRC : CTA_IP.V4_SRC, t.src.bytes),
    encodeAttribute(v6 ? CTA_IP.V6_DST : CTA_IP.V4_DST, t.dst.bytes),
  ]);
  const proto: Buffer[] = [encodeAttribute(CTA_PROTO.NUM, Buffer.from([t.protocol]))];
  if (t.srcPort !== undefined) proto.push(encodeAttribute(CTA_PROTO.SRC_PORT, be16Bytes(t.srcPort)));
  if (t.dstPort !== undefined) proto.push(encodeAttribute(CTA_PROTO.DST_PORT, be16Bytes(t.dstPort)));
  if (t.icmp) {
    proto.push(
      encodeAttribute(v6 ? CTA_PROTO.ICMPV6_ID : CTA_PROTO.ICMP_ID, be16Bytes(t.icmp.id)),
      encodeAttribute(v6 ? CTA_PROTO.ICMPV6_TYPE : CTA_PROTO.ICMP_TYPE, Buffer.from([t.icmp.type])),
      encodeAttribute(v6 ? CTA_PROTO.ICMPV6_CODE : CTA_PROTO.ICMP_CODE, Buffer.from([t.icmp.code])),
    );
  }
  return Buffer.concat([encodeAttribute(CTA_TUPLE.IP | NLA_F_NESTED, ip), encodeAttribute(CTA_TUPLE.PROTO | NLA_F_NESTED, Buffer.concat(proto))]);
}

/**
 * The payload of an IPCTNL_MSG_CT_DELETE for one entry as a dump listed it: its original tuple, its
 * zone, and its id, so that a connection that ended meanwhile and was replaced by another with the
 * same tuple is not deleted (the kernel answers ENOENT then).
 */
export function deleteRequestPayload(e: Pick<ConntrackEvent, 'family' | 'orig' | 'id' | 'zone'>): Buffer {
  return Buffer.concat([
    nfgenmsg(e.family),
    encodeAttribute(CTA.TUPLE_ORIG | NLA_F_NESTED, encodeTuple(e.orig)),
    ...(e.zone !== undefined ? [encodeAttribute(CTA.ZONE, be16Bytes(e.zone))] : []),
    ...(e.id !== undefined ? [encodeAttribute(CTA.ID, be32Bytes(e.id))] : []),
  ]);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** One direction of a connection as text: "tcp 100.64.1.5:39000 > 203.0.113.10:443". */
export function tupleText(t: ConntrackTuple): string {
  return `${protocolName(t.protocol)} ${hostPort(t.src, t.srcPort)} > ${hostPort(t.dst, t.dstPort)}`;
}

/** "198.51.100.1:80", "[2001:db8::1]:80", or the address alone. */
export function hostPort(ip: IpAddress, port: number | undefined): string {
  const host = ip.family === 6 ? `[${ip.text}]` : ip.text;
  return port === undefined ? host : `${host}:${port}`;
}
