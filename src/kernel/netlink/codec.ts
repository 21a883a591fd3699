import { cidrOf, ipFromBytes, type Cidr, type Family, type IpAddress } from '../../model/ip';
import { formatMac } from '../../model/mac';
import { encodeAttribute, parseAttributes, stringAttribute } from './attributes';
import {
  AF_INET,
  AF_INET6,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_AF_SPEC,
  IFLA_IFNAME,
  IFLA_INET_CONF,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_LOCAL6,
  IFLA_VXLAN_PORT,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_LEN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_NH_ID,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RT_TABLE_COMPAT,
  FIB_RULE_HDR_LEN,
  FRA_DPORT_RANGE,
  FRA_DST,
  FRA_FWMARK,
  FRA_FWMASK,
  FRA_GOTO,
  FRA_IIFNAME,
  FRA_IP_PROTO,
  FRA_L3MDEV,
  FRA_OIFNAME,
  FRA_PRIORITY,
  FRA_PROTOCOL,
  FRA_SPORT_RANGE,
  FRA_SRC,
  FRA_TABLE,
  FRA_UID_RANGE,
  IFADDRMSG_LEN,
  IFA_ADDRESS,
  IFA_LOCAL,
  NHA_BLACKHOLE,
  NHA_GATEWAY,
  NHA_GROUP,
  NHA_GROUP_TYPE,
  NHA_ID,
  NHA_OIF,
  NHA_RES_GROUP,
  NHA_RES_GROUP_BUCKETS,
  NHA_RES_GROUP_IDLE_TIMER,
  NHA_RES_GROUP_UNBALANCED_TIMER,
  NHMSG_LEN,
  NLA_F_NESTED,
  NETCONFA_FORWARDING,
  NETCONFA_IFINDEX,
  NETCONFA_IFINDEX_ALL,
  NETCONFA_IFINDEX_DEFAULT,
  NETCONFA_RP_FILTER,
  NETCONFMSG_LEN,
} from './constants';
import { RequestWriter } from './writer';

/**
 * The one codec of rtnetlink messages: routes (struct rtmsg), neighbours and FDB entries (struct
 * ndmsg) and links (struct ifinfomsg), each as a plain value with a decoder for what the kernel
 * sends and an encoder for what we send. Decoders take the payload after the netlink header (as
 * NetlinkSession hands it over) and read attributes with the project's one parser
 * (./attributes.ts), leniently: newer kernels append attributes we do not know. Encoders either
 * write into a RequestWriter (batches: no buffer per request) or return a payload for the
 * session's single-request calls. See ./README.md for how to add a message type.
 */

export function familyCode(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

/** An address attribute's value; undefined when absent or not 4 or 16 bytes. */
export function ipOf(b: Buffer | undefined): IpAddress | undefined {
  if (!b || (b.length !== 4 && b.length !== 16)) return undefined;
  return ipFromBytes(Uint8Array.from(b));
}

/** A host-order u32 attribute's value; undefined when absent or too short. */
export function u32Of(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Routes (RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE)

/** A route message's fields that the project reads or writes. */
export interface RouteMessage {
  readonly family: number;
  readonly dstLen: number;
  /** RTA_TABLE when present, else rtm_table. */
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  /** rtm_flags (RTNH_F_ONLINK lives here). */
  readonly flags: number;
  readonly dst?: IpAddress;
  readonly oif?: number;
  readonly gateway?: IpAddress;
  /** RTA_PRIORITY (the metric); absent reads as 0. */
  readonly priority?: number;
  /** RTA_NH_ID: the nexthop object the route uses. */
  readonly nhId?: number;
  /** An RTA_MULTIPATH attribute is present (plain ECMP). */
  readonly multipath?: boolean;
}

/** Reads a route message; undefined when it is too short to be one. */
export function decodeRoute(data: Buffer): RouteMessage | undefined {
  if (data.length < RTMSG_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(RTMSG_LEN), 'lenient');
  const dst = ipOf(attrs.get(RTA_DST));
  const oif = u32Of(attrs.get(RTA_OIF));
  const gateway = ipOf(attrs.get(RTA_GATEWAY));
  const priority = u32Of(attrs.get(RTA_PRIORITY));
  const nhId = u32Of(attrs.get(RTA_NH_ID));
  return {
    family: data.readUInt8(0),
    dstLen: data.readUInt8(1),
    table: u32Of(attrs.get(RTA_TABLE)) ?? data.readUInt8(4),
    protocol: data.readUInt8(5),
    scope: data.readUInt8(6),
    type: data.readUInt8(7),
    flags: data.readUInt32LE(8),
    ...(dst ? { dst } : {}),
    ...(oif !== undefined ? { oif } : {}),
    ...(gateway ? { gateway } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(nhId !== undefined ? { nhId } : {}),
    ...(attrs.has(RTA_MULTIPATH) ? { multipath: true } : {}),
  };
}

/**
 * A route request with a metric and optionally a nexthop object or a device, for policy-routing
 * tables (rtmsg, then RTA_TABLE, RTA_DST unless the prefix is /0, RTA_PRIORITY, RTA_NH_ID, RTA_OIF).
 * The batch encoder below is for the return path's many same-shaped routes.
 */
export function writeRouteWithMetric(
  w: RequestWriter,
  type: number,
  flags: number,
  f: RouteFields,
  dst: Cidr,
  extra: { readonly priority: number; readonly nhId?: number; readonly oif?: number },
): void {
  const at = w.begin(type, flags, RTMSG_LEN);
  w.u8(at, familyCode(f.family));
  w.u8(at + 1, dst.prefixLength);
  w.u8(at + 4, f.table < 256 ? f.table : RT_TABLE_COMPAT);
  w.u8(at + 5, f.protocol);
  w.u8(at + 6, f.scope);
  w.u8(at + 7, f.type);
  w.u32(at + 8, f.flags);
  w.attrU32(RTA_TABLE, f.table);
  if (dst.prefixLength > 0) w.attrIp(RTA_DST, dst.address);
  w.attrU32(RTA_PRIORITY, extra.priority);
  if (extra.nhId !== undefined) w.attrU32(RTA_NH_ID, extra.nhId);
  if (extra.oif !== undefined) w.attrU32(RTA_OIF, extra.oif);
  w.finish();
}

/** The destination of a route message as a prefix (the family's zero address when RTA_DST is absent: a default route). */
export function routeDst(m: RouteMessage): Cidr {
  return cidrOf(m.dst ?? ipFromBytes(new Uint8Array(m.family === AF_INET ? 4 : 16)), m.dstLen);
}

/** A route lookup (RTM_GETROUTE for one address, not a dump): rtmsg and RTA_DST. */
export function routeLookupPayload(dst: IpAddress): Buffer {
  const head = Buffer.alloc(RTMSG_LEN);
  head.writeUInt8(familyCode(dst.family), 0);
  head.writeUInt8(dst.family === 4 ? 32 : 128, 1);
  return Buffer.concat([head, encodeAttribute(RTA_DST, dst.bytes)]);
}

/** A route dump of every family and table (the caller filters). */
export function routeDumpPayload(): Buffer {
  return Buffer.alloc(RTMSG_LEN);
}

/** The fixed fields of a route request; address fields are per route. */
export interface RouteFields {
  readonly family: Family;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  readonly type: number;
  readonly flags: number;
}

/**
 * What every route request of one shape (message type and flags, the fixed fields, whether it
 * names a device, the gateway's family) has in common: a whole request with zeroed prefix length,
 * addresses and device, and where those go. A batch copies it per route and writes only those.
 */
class RouteShape {
  readonly bytes: Buffer;
  readonly dstAt: number;
  readonly oifAt: number;
  readonly gatewayAt: number;

  constructor(
    readonly key: string,
    w: RequestWriter,
    readonly type: number,
    readonly flags: number,
    readonly f: RouteFields,
    readonly withOif: boolean,
    readonly gateway: Family | 0,
  ) {
    const at = w.begin(type, flags, RTMSG_LEN);
    w.u8(at, familyCode(f.family));
    w.u8(at + 4, f.table < 256 ? f.table : RT_TABLE_COMPAT);
    w.u8(at + 5, f.protocol);
    w.u8(at + 6, f.scope);
    w.u8(at + 7, f.type);
    w.u32(at + 8, f.flags);
    w.attrU32(RTA_TABLE, f.table);
    const addrLen = f.family === 4 ? 4 : 16;
    w.attrBytes(RTA_DST, new Uint8Array(addrLen));
    // Offsets from the request's start: header 16, rtmsg 12, RTA_TABLE 8, RTA_DST's own header 4.
    this.dstAt = 16 + RTMSG_LEN + 8 + 4;
    let next = this.dstAt + addrLen;
    this.oifAt = -1;
    if (withOif) {
      w.attrU32(RTA_OIF, 0);
      this.oifAt = next + 4;
      next += 8;
    }
    this.gatewayAt = -1;
    if (gateway !== 0) {
      w.attrBytes(RTA_GATEWAY, new Uint8Array(gateway === 4 ? 4 : 16));
      this.gatewayAt = next + 4;
    }
    w.finish();
    this.bytes = Buffer.from(w.done().bytes);
  }

  /** Whether a request of these values has this shape: the usual case, the batch's previous route's shape. */
  fits(type: number, flags: number, f: RouteFields, withOif: boolean, gateway: Family | 0): boolean {
    const g = this.f;
    return (
      this.type === type &&
      this.flags === flags &&
      this.withOif === withOif &&
      this.gateway === gateway &&
      (g === f ||
        (g.family === f.family && g.table === f.table && g.protocol === f.protocol && g.scope === f.scope && g.type === f.type && g.flags === f.flags))
    );
  }
}

/**
 * The route encoder of one batch: RTM_NEWROUTE and RTM_DELROUTE alike, rtmsg then table, dst, oif
 * (when known) and gateway attributes, each request a copy of its shape's template with its own
 * values written in (one or a few shapes per batch: IPv4, IPv6, with and without gateway).
 */
export class RouteEncoder {
  private readonly shapes = new Map<string, RouteShape>();
  private last: RouteShape | undefined;

  write(w: RequestWriter, type: number, flags: number, f: RouteFields, dst: Cidr, oif: number | undefined, gateway: IpAddress | undefined): void {
    const withOif = oif !== undefined;
    const gatewayFamily = gateway?.family ?? 0;
    // No key string per route: most routes of a batch have the previous one's shape.
    let shape = this.last?.fits(type, flags, f, withOif, gatewayFamily) ? this.last : undefined;
    if (!shape) {
      const key = `${type} ${flags} ${f.family} ${f.table} ${f.protocol} ${f.scope} ${f.type} ${f.flags} ${withOif} ${gatewayFamily}`;
      shape = this.shapes.get(key);
      if (!shape) {
        shape = new RouteShape(key, new RequestWriter(1), type, flags, f, withOif, gatewayFamily);
        this.shapes.set(key, shape);
      }
    }
    this.last = shape;
    const at = w.beginFrom(shape.bytes);
    w.u8(at + 16 + 1, dst.prefixLength);
    w.ipAt(at + shape.dstAt, dst.address);
    if (oif !== undefined) w.u32(at + shape.oifAt, oif);
    if (gateway) w.ipAt(at + shape.gatewayAt, gateway);
    w.finish();
  }
}

// ---------------------------------------------------------------------------------------------
// Neighbours and FDB entries (RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH)

export interface NeighbourMessage {
  readonly family: number;
  readonly ifindex: number;
  /** NUD_* bits. */
  readonly state: number;
  /** NTF_* bits. */
  readonly flags: number;
  readonly dst?: IpAddress;
  /** "aa:bb:cc:dd:ee:ff", when the message carries a 6-byte link-layer address. */
  readonly lladdr?: string;
}

export function decodeNeighbour(data: Buffer): NeighbourMessage | undefined {
  if (data.length < NDMSG_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(NDMSG_LEN), 'lenient');
  const dst = ipOf(attrs.get(NDA_DST));
  const lladdr = attrs.get(NDA_LLADDR);
  return {
    family: data.readUInt8(0),
    ifindex: data.readInt32LE(4),
    state: data.readUInt16LE(8),
    flags: data.readUInt8(10),
    ...(dst ? { dst } : {}),
    ...(lladdr && lladdr.length === 6 ? { lladdr: formatMac(lladdr) } : {}),
  };
}

/** An ndmsg with nothing but the family (a dump of one family) or the fields given. */
export function neighbourPayload(m: { family: number; ifindex?: number; state?: number; flags?: number; dst?: IpAddress }): Buffer {
  const head = Buffer.alloc(NDMSG_LEN);
  head.writeUInt8(m.family, 0);
  head.writeInt32LE(m.ifindex ?? 0, 4);
  head.writeUInt16LE(m.state ?? 0, 8);
  head.writeUInt8(m.flags ?? 0, 10);
  return m.dst ? Buffer.concat([head, encodeAttribute(NDA_DST, m.dst.bytes)]) : head;
}

/** One neighbour request (ARP/NDP and FDB entries alike) into a batch: ndmsg, dst, and the MAC when given. */
export function writeNeighbour(w: RequestWriter, type: number, flags: number, family: number, ifindex: number, state: number, ndFlags: number, dst: IpAddress, mac: Uint8Array | undefined): void {
  const at = w.begin(type, flags, NDMSG_LEN);
  w.u8(at, family);
  w.i32(at + 4, ifindex);
  w.u16(at + 8, state);
  w.u8(at + 10, ndFlags);
  w.attrIp(NDA_DST, dst);
  if (mac) w.attrBytes(NDA_LLADDR, mac);
  w.finish();
}

// ---------------------------------------------------------------------------------------------
// Links (RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK)

export interface VxlanInfo {
  readonly vni: number;
  readonly port: number;
  readonly parentIndex?: number;
  /** The local address (IFLA_VXLAN_LOCAL or LOCAL6), as text. */
  readonly local?: string;
}

export interface LinkMessage {
  readonly index: number;
  /** IFF_* bits. */
  readonly flags: number;
  readonly name?: string;
  readonly mtu?: number;
  /** "aa:bb:cc:dd:ee:ff" for a 6-byte address. */
  readonly address?: string;
  /** IFLA_INFO_KIND ('' when none). */
  readonly kind: string;
  readonly vxlan?: VxlanInfo;
  /** net.ipv4.conf.<dev>.* from IFLA_AF_SPEC: the value of devconf id n at index n - 1 (absent: no IPv4 on the link). */
  readonly ipv4Conf?: readonly number[];
}

export function decodeLink(data: Buffer): LinkMessage | undefined {
  if (data.length < IFINFOMSG_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(IFINFOMSG_LEN), 'lenient');
  const name = attrs.get(IFLA_IFNAME);
  const mtu = u32Of(attrs.get(IFLA_MTU));
  const address = attrs.get(IFLA_ADDRESS);
  const linkinfo = attrs.get(IFLA_LINKINFO);
  const info = linkinfo ? parseAttributes(linkinfo, 'lenient') : undefined;
  const kindBytes = info?.get(IFLA_INFO_KIND);
  const kind = kindBytes ? stringAttribute(kindBytes) : '';
  const infoData = info?.get(IFLA_INFO_DATA);
  const vxlan = kind === 'vxlan' && infoData ? decodeVxlanInfo(infoData) : undefined;
  const afSpec = attrs.get(IFLA_AF_SPEC);
  const inet = afSpec ? parseAttributes(afSpec, 'lenient').get(AF_INET) : undefined;
  const conf = inet ? parseAttributes(inet, 'lenient').get(IFLA_INET_CONF) : undefined;
  const ipv4Conf = conf ? Array.from({ length: Math.floor(conf.length / 4) }, (_, i) => conf.readUInt32LE(i * 4)) : undefined;
  return {
    index: data.readInt32LE(4),
    flags: data.readUInt32LE(8),
    ...(name ? { name: stringAttribute(name) } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(address && address.length === 6 ? { address: formatMac(address) } : {}),
    kind,
    ...(vxlan ? { vxlan } : {}),
    ...(ipv4Conf ? { ipv4Conf } : {}),
  };
}

function decodeVxlanInfo(data: Buffer): VxlanInfo {
  const d = parseAttributes(data, 'lenient');
  const id = d.get(IFLA_VXLAN_ID);
  const port = d.get(IFLA_VXLAN_PORT);
  const link = u32Of(d.get(IFLA_VXLAN_LINK));
  const local = d.get(IFLA_VXLAN_LOCAL);
  const local6 = d.get(IFLA_VXLAN_LOCAL6);
  const localIp = (local?.length === 4 ? ipOf(local) : undefined) ?? (local6?.length === 16 ? ipOf(local6) : undefined);
  return {
    vni: u32Of(id) ?? 0,
    port: port && port.length >= 2 ? port.readUInt16BE(0) : 0,
    ...(link !== undefined ? { parentIndex: link } : {}),
    ...(localIp ? { local: localIp.text } : {}),
  };
}

/** A link request's payload: ifinfomsg, then the attributes given. */
export function linkPayload(m: {
  index?: number;
  flags?: number;
  change?: number;
  name?: string;
  address?: Uint8Array;
  mtu?: number;
  /** IFLA_LINKINFO: kind and its nested data attributes. */
  info?: { kind: string; data: Buffer };
  /** net.ipv4.conf.<dev>.* to set, as [devconf id, value] (IFLA_AF_SPEC → AF_INET → IFLA_INET_CONF). */
  ipv4Conf?: ReadonlyArray<readonly [number, number]>;
}): Buffer {
  const head = Buffer.alloc(IFINFOMSG_LEN);
  head.writeInt32LE(m.index ?? 0, 4);
  head.writeUInt32LE(m.flags ?? 0, 8);
  head.writeUInt32LE(m.change ?? 0, 12);
  const parts: Buffer[] = [head];
  if (m.name !== undefined) parts.push(encodeAttribute(IFLA_IFNAME, Buffer.from(`${m.name}\0`)));
  if (m.address) parts.push(encodeAttribute(IFLA_ADDRESS, m.address));
  if (m.mtu !== undefined) parts.push(encodeAttribute(IFLA_MTU, u32(m.mtu)));
  if (m.info) {
    parts.push(encodeAttribute(IFLA_LINKINFO, Buffer.concat([encodeAttribute(IFLA_INFO_KIND, Buffer.from(m.info.kind)), encodeAttribute(IFLA_INFO_DATA, m.info.data)])));
  }
  if (m.ipv4Conf?.length) {
    const conf = Buffer.concat(m.ipv4Conf.map(([id, value]) => encodeAttribute(id, u32(value))));
    const inet = encodeAttribute(IFLA_INET_CONF | NLA_F_NESTED, conf);
    parts.push(encodeAttribute(IFLA_AF_SPEC | NLA_F_NESTED, encodeAttribute(AF_INET | NLA_F_NESTED, inet)));
  }
  return Buffer.concat(parts);
}

/** IFLA_INFO_DATA of a VXLAN device: id, parent, port (big-endian), local address, learning off. */
export function vxlanInfoData(v: { vni: number; port: number; parentIndex: number; local?: IpAddress }): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(v.port); // __be16 on the wire, unlike the other integers
  const parts: Buffer[] = [encodeAttribute(IFLA_VXLAN_ID, u32(v.vni)), encodeAttribute(IFLA_VXLAN_LINK, u32(v.parentIndex)), encodeAttribute(IFLA_VXLAN_PORT, port)];
  if (v.local) parts.push(encodeAttribute(v.local.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, v.local.bytes));
  // The daemon programs every FDB entry; learning would let any inner source MAC repoint one.
  parts.push(encodeAttribute(IFLA_VXLAN_LEARNING, Buffer.from([0])));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Policy rules (RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE)

/** Selectors a rule message may carry besides its source: named as `ip rule` prints them. */
const RULE_SELECTORS: ReadonlyArray<readonly [number, string]> = [
  [FRA_DST, 'to'],
  [FRA_IIFNAME, 'iif'],
  [FRA_GOTO, 'goto'],
  [FRA_FWMARK, 'fwmark'],
  [FRA_OIFNAME, 'oif'],
  [FRA_L3MDEV, 'l3mdev'],
  [FRA_UID_RANGE, 'uidrange'],
  [FRA_IP_PROTO, 'ipproto'],
  [FRA_SPORT_RANGE, 'sport'],
  [FRA_DPORT_RANGE, 'dport'],
];

export interface RuleMessage {
  readonly family: number;
  readonly srcLen: number;
  readonly dstLen: number;
  /** FRA_TABLE when present, else the header's table byte. */
  readonly table: number;
  readonly action: number;
  readonly flags: number;
  readonly src?: IpAddress;
  readonly priority?: number;
  /** FRA_PROTOCOL, when the kernel reports it (4.17+). */
  readonly protocol?: number;
  /** FRA_FWMARK and FRA_FWMASK (the kernel reports a mask of all ones when none was given). */
  readonly fwmark?: { readonly value: number; readonly mask: number };
  /** The other selectors present (`iif`, `goto`, ...), by name; fwmark is read above. */
  readonly selectors: readonly string[];
}

export function decodeRule(data: Buffer): RuleMessage | undefined {
  if (data.length < FIB_RULE_HDR_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(FIB_RULE_HDR_LEN), 'lenient');
  const src = ipOf(attrs.get(FRA_SRC));
  const priority = u32Of(attrs.get(FRA_PRIORITY));
  const proto = attrs.get(FRA_PROTOCOL);
  const mark = u32Of(attrs.get(FRA_FWMARK));
  const mask = u32Of(attrs.get(FRA_FWMASK));
  return {
    family: data.readUInt8(0),
    dstLen: data.readUInt8(1),
    srcLen: data.readUInt8(2),
    table: u32Of(attrs.get(FRA_TABLE)) ?? data.readUInt8(4),
    action: data.readUInt8(7),
    flags: data.readUInt32LE(8),
    ...(src ? { src } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(proto && proto.length >= 1 ? { protocol: proto.readUInt8(0) } : {}),
    ...(mark !== undefined ? { fwmark: { value: mark, mask: mask ?? 0xffffffff } } : {}),
    selectors: RULE_SELECTORS.filter(([a]) => attrs.has(a) && a !== FRA_FWMARK).map(([, name]) => name),
  };
}

/** fib_rule_hdr, then FRA_SRC (none for 0/0), FRA_PRIORITY, FRA_TABLE, FRA_PROTOCOL, and FRA_FWMARK/FRA_FWMASK for a mark rule. */
export function writeRule(
  w: RequestWriter,
  type: number,
  flags: number,
  r: {
    readonly src: Cidr;
    readonly priority: number;
    readonly table: number;
    readonly protocol: number;
    readonly action: number;
    readonly fwmark?: { readonly value: number; readonly mask: number };
  },
): void {
  const at = w.begin(type, flags, FIB_RULE_HDR_LEN);
  w.u8(at, familyCode(r.src.family));
  w.u8(at + 2, r.src.prefixLength);
  w.u8(at + 4, r.table < 256 ? r.table : 0);
  w.u8(at + 7, r.action);
  if (r.src.prefixLength > 0) w.attrIp(FRA_SRC, r.src.address);
  w.attrU32(FRA_PRIORITY, r.priority);
  w.attrU32(FRA_TABLE, r.table);
  w.attrBytes(FRA_PROTOCOL, Uint8Array.of(r.protocol));
  if (r.fwmark) {
    w.attrU32(FRA_FWMARK, r.fwmark.value);
    w.attrU32(FRA_FWMASK, r.fwmark.mask);
  }
  w.finish();
}

// ---------------------------------------------------------------------------------------------
// Nexthop objects and groups (RTM_NEWNEXTHOP, RTM_DELNEXTHOP, RTM_GETNEXTHOP)

export interface NexthopMessage {
  readonly family: number;
  readonly protocol: number;
  /** nh_flags (RTNH_F_ONLINK). */
  readonly flags: number;
  readonly id?: number;
  readonly oif?: number;
  readonly gateway?: IpAddress;
  readonly blackhole: boolean;
  /** Member ids, for a group. */
  readonly group?: readonly number[];
  readonly groupType?: number;
  /** A resilient group's parameters, timers in clock_t. */
  readonly resilient?: { readonly buckets?: number; readonly idleTimer?: number; readonly unbalancedTimer?: number };
}

export function decodeNexthop(data: Buffer): NexthopMessage | undefined {
  if (data.length < NHMSG_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(NHMSG_LEN), 'lenient');
  const id = u32Of(attrs.get(NHA_ID));
  const oif = u32Of(attrs.get(NHA_OIF));
  const gateway = ipOf(attrs.get(NHA_GATEWAY));
  const grp = attrs.get(NHA_GROUP);
  const type = attrs.get(NHA_GROUP_TYPE);
  const res = attrs.get(NHA_RES_GROUP);
  let resilient: NexthopMessage['resilient'];
  if (res) {
    const p = parseAttributes(res, 'lenient');
    const buckets = p.get(NHA_RES_GROUP_BUCKETS);
    const idle = u32Of(p.get(NHA_RES_GROUP_IDLE_TIMER));
    const unbalanced = u32Of(p.get(NHA_RES_GROUP_UNBALANCED_TIMER));
    resilient = {
      ...(buckets && buckets.length >= 2 ? { buckets: buckets.readUInt16LE(0) } : {}),
      ...(idle !== undefined ? { idleTimer: idle } : {}),
      ...(unbalanced !== undefined ? { unbalancedTimer: unbalanced } : {}),
    };
  }
  const group: number[] = [];
  if (grp) for (let off = 0; off + 8 <= grp.length; off += 8) group.push(grp.readUInt32LE(off));
  return {
    family: data.readUInt8(0),
    protocol: data.readUInt8(2),
    flags: data.readUInt32LE(4),
    ...(id !== undefined ? { id } : {}),
    ...(oif !== undefined ? { oif } : {}),
    ...(gateway ? { gateway } : {}),
    blackhole: attrs.has(NHA_BLACKHOLE),
    ...(grp ? { group } : {}),
    ...(type && type.length >= 2 ? { groupType: type.readUInt16LE(0) } : {}),
    ...(resilient ? { resilient } : {}),
  };
}

/**
 * nhmsg and NHA_ID, then either a single nexthop's NHA_OIF and NHA_GATEWAY, or a group's NHA_GROUP
 * (each member with weight 1), NHA_GROUP_TYPE and the nested NHA_RES_GROUP parameters; a delete
 * request carries the id alone.
 */
export function writeNexthop(
  w: RequestWriter,
  type: number,
  flags: number,
  m: {
    readonly family: number;
    readonly protocol: number;
    readonly flags: number;
    readonly id: number;
    readonly oif?: number;
    readonly gateway?: IpAddress;
    readonly group?: readonly number[];
    readonly groupType?: number;
    readonly resilient?: { readonly buckets: number; readonly idleTimer: number; readonly unbalancedTimer: number };
  },
): void {
  const at = w.begin(type, flags, NHMSG_LEN);
  w.u8(at, m.family);
  w.u8(at + 2, m.protocol);
  w.u32(at + 4, m.flags);
  w.attrU32(NHA_ID, m.id);
  if (m.oif !== undefined) w.attrU32(NHA_OIF, m.oif);
  if (m.gateway) w.attrIp(NHA_GATEWAY, m.gateway);
  if (m.group) {
    const members = Buffer.alloc(8 * m.group.length);
    m.group.forEach((id, i) => members.writeUInt32LE(id, 8 * i));
    w.attrBytes(NHA_GROUP, members);
  }
  if (m.groupType !== undefined) {
    const t = Buffer.alloc(2);
    t.writeUInt16LE(m.groupType);
    w.attrBytes(NHA_GROUP_TYPE, t);
  }
  if (m.resilient) {
    const r = m.resilient;
    const nested = Buffer.concat([encodeAttribute(NHA_RES_GROUP_BUCKETS, u16(r.buckets)), encodeAttribute(NHA_RES_GROUP_IDLE_TIMER, u32(r.idleTimer)), encodeAttribute(NHA_RES_GROUP_UNBALANCED_TIMER, u32(r.unbalancedTimer))]);
    w.attrBytes(NHA_RES_GROUP | NLA_F_NESTED, nested);
  }
  w.finish();
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Addresses (RTM_GETADDR dumps)

export interface AddressMessage {
  readonly family: number;
  readonly index: number;
  /** IFA_LOCAL when present (IPv4), else IFA_ADDRESS. */
  readonly address?: IpAddress;
}

export function decodeAddress(data: Buffer): AddressMessage | undefined {
  if (data.length < IFADDRMSG_LEN) return undefined;
  const attrs = parseAttributes(data.subarray(IFADDRMSG_LEN), 'lenient');
  const address = ipOf(attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS));
  return { family: data.readUInt8(0), index: data.readUInt32LE(4), ...(address ? { address } : {}) };
}

/** A dump of every address of every family. */
export function addressDumpPayload(): Buffer {
  return Buffer.alloc(IFADDRMSG_LEN);
}

/**
 * RTM_NEWNETCONF (linux/netconf.h): the kernel's notice that a device's or the namespace's IPv4/IPv6
 * settings changed, with the current values of those it reports (a change notice carries the one
 * setting that changed; a new device's carries them all). `device` is the ifindex, or 'all' /
 * 'default' for net.ipv4.conf.all and .default (ip_forward is "all"'s forwarding).
 */
export interface NetconfMessage {
  readonly family: number;
  readonly device?: number | 'all' | 'default';
  readonly forwarding?: number;
  readonly rpFilter?: number;
}

export function decodeNetconf(data: Buffer): NetconfMessage | undefined {
  if (data.length < 1) return undefined;
  const attrs = parseAttributes(data.subarray(Math.min(NETCONFMSG_LEN, data.length)), 'lenient');
  const index = attrs.get(NETCONFA_IFINDEX);
  const ifindex = index && index.length >= 4 ? index.readInt32LE(0) : undefined;
  const device = ifindex === NETCONFA_IFINDEX_ALL ? 'all' : ifindex === NETCONFA_IFINDEX_DEFAULT ? 'default' : ifindex;
  const forwarding = u32Of(attrs.get(NETCONFA_FORWARDING));
  const rpFilter = u32Of(attrs.get(NETCONFA_RP_FILTER));
  return {
    family: data.readUInt8(0),
    ...(device !== undefined ? { device } : {}),
    ...(forwarding !== undefined ? { forwarding } : {}),
    ...(rpFilter !== undefined ? { rpFilter } : {}),
  };
}
