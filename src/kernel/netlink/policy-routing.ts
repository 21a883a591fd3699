import { cidrOf, ipFromBytes, type Cidr, type Family, type IpAddress } from '../../model/ip';
import {
  formatNexthop,
  formatNexthopGroup,
  formatRule,
  formatTableRoute,
  type NexthopEntry,
  type NexthopGroupEntry,
  type RuleEntry,
  type TableRouteEntry,
  type TableRouteType,
} from '../../model/policy-routing';
import { ErrorCodes, kernelError } from '../../errors';
import type { NexthopListing, PolicyRouting } from '../policy-routing';
import { RETURN_PATH_ROUTE_PROTOCOL, type BatchErrors, type Upsert } from '../return-path';
import { NLA_F_NESTED, parseAttributes } from './attributes';
import type { LinkIndex } from './return-path';
import { NetlinkError, NlFlags, type NetlinkReply, type NetlinkSession } from './session';
import { RequestWriter } from './writer';

/**
 * Policy routing over rtnetlink: rules (RTM_*RULE, struct fib_rule_hdr + FRA_*), routes in the
 * agent's tables (RTM_*ROUTE with RTA_NH_ID, unreachable and throw types), and nexthop objects with
 * resilient groups (RTM_*NEXTHOP, struct nhmsg + NHA_*, kernel 5.13 or later). Numbers are from
 * linux/fib_rules.h, linux/rtnetlink.h and linux/nexthop.h; requests are written with the project's
 * RequestWriter and read back with its one attribute parser.
 */

const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const RTM_GETRULE = 34;
const RTM_NEWNEXTHOP = 104;
const RTM_DELNEXTHOP = 105;
const RTM_GETNEXTHOP = 106;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;

/** Tables the agent never owns, whatever the protocol of their routes: unspec, default, main, local. */
const RESERVED_TABLES = new Set([0, 253, 254, 255]);
/** rtmsg/fib_rule_hdr carry a table id in one byte; larger ids go in RTA_TABLE/FRA_TABLE. */
const RT_TABLE_COMPAT = 252;

const RTN_UNICAST = 1;
const RTN_UNREACHABLE = 7;
const RTN_THROW = 9;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
const RTA_NH_ID = 30;

const FR_ACT_TO_TBL = 1;
const FRA_DST = 1;
const FRA_SRC = 2;
const FRA_IIFNAME = 3;
const FRA_GOTO = 4;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;
const FRA_OIFNAME = 17;
const FRA_L3MDEV = 19;
const FRA_UID_RANGE = 20;
const FRA_PROTOCOL = 21;
const FRA_IP_PROTO = 22;
const FRA_SPORT_RANGE = 23;
const FRA_DPORT_RANGE = 24;
/** Selectors the agent never writes: a rule of ours carrying one is not what it wanted. */
const FOREIGN_RULE_SELECTORS: ReadonlyArray<[number, string]> = [
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

const NHA_ID = 1;
const NHA_GROUP = 2;
const NHA_GROUP_TYPE = 3;
const NHA_BLACKHOLE = 4;
const NHA_OIF = 5;
const NHA_GATEWAY = 6;
const NHA_RES_GROUP = 12;
const NHA_RES_GROUP_BUCKETS = 1;
const NHA_RES_GROUP_IDLE_TIMER = 2;
const NHA_RES_GROUP_UNBALANCED_TIMER = 3;
const NEXTHOP_GRP_TYPE_RES = 1;
/** In nh_flags of a single nexthop: the gateway is on the link although no address covers it. */
const RTNH_F_ONLINK = 0x4;
/** The resilient group timers are clock_t: USER_HZ (100) ticks a second. */
const USER_HZ = 100;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;

function familyCode(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

function familyOf(code: number): Family | undefined {
  return code === AF_INET ? 4 : code === AF_INET6 ? 6 : undefined;
}

function ipOf(b: Buffer | undefined, family: Family): IpAddress | undefined {
  if (!b || b.length !== (family === 4 ? 4 : 16)) return undefined;
  return ipFromBytes(Uint8Array.from(b));
}

function u32Of(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

function anyAddress(family: Family): IpAddress {
  return ipFromBytes(new Uint8Array(family === 4 ? 4 : 16));
}

function routeTypeCode(t: TableRouteType): number {
  return t === 'nexthop' || t === 'device' ? RTN_UNICAST : t === 'unreachable' ? RTN_UNREACHABLE : RTN_THROW;
}

/** Sends one batch and maps the replies back to the items; "already gone" codes count as done. */
async function send(
  session: NetlinkSession,
  w: RequestWriter,
  itemOf: readonly number[],
  out: (Error | undefined)[],
  describe: (item: number) => string,
  goneCodes: readonly string[] = [],
): Promise<BatchErrors> {
  if (w.count === 0) return out;
  const errors = await session.requestEncoded(w.done(), (k) => describe(itemOf[k] ?? -1));
  errors.forEach((err, k) => {
    if (!err || (err instanceof NetlinkError && goneCodes.includes(err.code))) return;
    out[itemOf[k] as number] = err;
  });
  return out;
}

function writeRule(w: RequestWriter, type: number, flags: number, r: RuleEntry, protocol: number): void {
  const at = w.begin(type, flags, 12);
  w.u8(at, familyCode(r.family));
  w.u8(at + 2, r.src.prefixLength);
  w.u8(at + 4, r.table < 256 ? r.table : 0);
  w.u8(at + 7, FR_ACT_TO_TBL);
  w.attrIp(FRA_SRC, r.src.address);
  w.attrU32(FRA_PRIORITY, r.priority);
  w.attrU32(FRA_TABLE, r.table);
  w.attrBytes(FRA_PROTOCOL, Uint8Array.of(protocol));
  w.finish();
}

function writeTableRoute(w: RequestWriter, type: number, flags: number, r: TableRouteEntry, protocol: number, scope: number, oif?: number): void {
  const at = w.begin(type, flags, 12);
  w.u8(at, familyCode(r.dst.family));
  w.u8(at + 1, r.dst.prefixLength);
  w.u8(at + 4, r.table < 256 ? r.table : RT_TABLE_COMPAT);
  w.u8(at + 5, protocol);
  w.u8(at + 6, scope);
  w.u8(at + 7, routeTypeCode(r.type));
  w.attrU32(RTA_TABLE, r.table);
  if (r.dst.prefixLength > 0) w.attrIp(RTA_DST, r.dst.address);
  w.attrU32(RTA_PRIORITY, r.metric);
  if (r.type === 'nexthop' && r.nexthopId !== undefined) w.attrU32(RTA_NH_ID, r.nexthopId);
  if (oif !== undefined) w.attrU32(RTA_OIF, oif);
  w.finish();
}

function writeNexthop(w: RequestWriter, type: number, flags: number, family: number, nhFlags: number, protocol: number, id: number, attrs: (w: RequestWriter) => void): void {
  const at = w.begin(type, flags, 8);
  w.u8(at, family);
  w.u8(at + 2, protocol);
  w.u32(at + 4, nhFlags);
  w.attrU32(NHA_ID, id);
  attrs(w);
  w.finish();
}

/** NHA_GROUP: struct nexthop_grp { u32 id; u8 weight - 1; u8; u16 } per member, all weight 1. */
function groupMembers(members: readonly number[]): Uint8Array {
  const b = Buffer.alloc(8 * members.length);
  members.forEach((id, i) => b.writeUInt32LE(id, 8 * i));
  return b;
}

/** NHA_RES_GROUP, nested: bucket count (u16) and the two timers (u32 clock_t). */
function resilientParameters(g: NexthopGroupEntry): Uint8Array {
  const b = Buffer.alloc(8 + 8 + 8);
  b.writeUInt16LE(6, 0);
  b.writeUInt16LE(NHA_RES_GROUP_BUCKETS, 2);
  b.writeUInt16LE(g.buckets, 4);
  b.writeUInt16LE(8, 8);
  b.writeUInt16LE(NHA_RES_GROUP_IDLE_TIMER, 10);
  b.writeUInt32LE(Math.round(g.idleTimerS * USER_HZ), 12);
  b.writeUInt16LE(8, 16);
  b.writeUInt16LE(NHA_RES_GROUP_UNBALANCED_TIMER, 18);
  b.writeUInt32LE(Math.round(g.unbalancedTimerS * USER_HZ), 20);
  return b;
}

/** Decodes an owned rule from an RTM_NEWRULE message; undefined for others' rules. */
export function decodeRule(data: Buffer, protocol: number): RuleEntry | undefined {
  if (data.length < 12) return undefined;
  const family = familyOf(data.readUInt8(0));
  if (!family) return undefined;
  const attrs = parseAttributes(data.subarray(12), 'lenient');
  const proto = attrs.get(FRA_PROTOCOL);
  if (!proto || proto.length < 1 || proto.readUInt8(0) !== protocol) return undefined;
  const srcLen = data.readUInt8(2);
  const src: Cidr = cidrOf(ipOf(attrs.get(FRA_SRC), family) ?? anyAddress(family), srcLen);
  const table = u32Of(attrs.get(FRA_TABLE)) ?? data.readUInt8(4);
  const odd: string[] = [];
  const action = data.readUInt8(7);
  if (action !== FR_ACT_TO_TBL) odd.push(`action ${action}`);
  if (data.readUInt8(1) !== 0 && !attrs.has(FRA_DST)) odd.push('to');
  for (const [attr, name] of FOREIGN_RULE_SELECTORS) if (attrs.has(attr)) odd.push(name);
  if (data.readUInt32LE(8) !== 0) odd.push(`flags 0x${data.readUInt32LE(8).toString(16)}`);
  return {
    family,
    src,
    priority: u32Of(attrs.get(FRA_PRIORITY)) ?? 0,
    table,
    ...(odd.length ? { unexpected: odd.join(' ') } : {}),
  };
}

/** Decodes an owned route of a non-reserved table from an RTM_NEWROUTE message; undefined otherwise. */
export function decodeTableRoute(data: Buffer, protocol: number, devName: (ifindex: number) => string | undefined = () => undefined): TableRouteEntry | undefined {
  if (data.length < 12) return undefined;
  const family = familyOf(data.readUInt8(0));
  if (!family || data.readUInt8(5) !== protocol) return undefined;
  const attrs = parseAttributes(data.subarray(12), 'lenient');
  const table = u32Of(attrs.get(RTA_TABLE)) ?? data.readUInt8(4);
  if (RESERVED_TABLES.has(table)) return undefined;
  const dst = cidrOf(ipOf(attrs.get(RTA_DST), family) ?? anyAddress(family), data.readUInt8(1));
  const rtType = data.readUInt8(7);
  const nexthopId = u32Of(attrs.get(RTA_NH_ID));
  const odd: string[] = [];
  const oif = u32Of(attrs.get(RTA_OIF));
  let type: TableRouteType;
  let dev: string | undefined;
  if (rtType === RTN_UNICAST && nexthopId === undefined && oif !== undefined && !attrs.has(RTA_GATEWAY) && !attrs.has(RTA_MULTIPATH)) {
    type = 'device';
    dev = devName(oif) ?? `(ifindex ${oif})`;
  } else if (rtType === RTN_UNICAST) {
    type = 'nexthop';
    if (nexthopId === undefined) odd.push('no nhid');
    if (attrs.has(RTA_GATEWAY) && nexthopId === undefined) odd.push('via');
    if (attrs.has(RTA_MULTIPATH) && nexthopId === undefined) odd.push('multipath');
  } else if (rtType === RTN_UNREACHABLE) type = 'unreachable';
  else if (rtType === RTN_THROW) type = 'throw';
  else {
    type = 'unreachable';
    odd.push(`type ${rtType}`);
  }
  if ((type === 'unreachable' || type === 'throw') && oif !== undefined && family === 4) odd.push('dev');
  return {
    table,
    dst,
    type,
    ...(type === 'nexthop' && nexthopId !== undefined ? { nexthopId } : {}),
    ...(dev !== undefined ? { dev } : {}),
    metric: u32Of(attrs.get(RTA_PRIORITY)) ?? 0,
    ...(odd.length ? { unexpected: odd.join(' ') } : {}),
  };
}

export type DecodedNexthop =
  | { readonly kind: 'single'; readonly owned: boolean; readonly id: number; readonly entry?: NexthopEntry }
  | { readonly kind: 'group'; readonly owned: boolean; readonly id: number; readonly entry?: NexthopGroupEntry };

/**
 * Decodes an RTM_NEWNEXTHOP message: every object yields its id (so new ids avoid foreign ones);
 * owned singles with a gateway and device, and owned resilient groups, yield their entry.
 */
export function decodeNexthop(data: Buffer, protocol: number, devName: (ifindex: number) => string | undefined): DecodedNexthop | undefined {
  if (data.length < 8) return undefined;
  const attrs = parseAttributes(data.subarray(8), 'lenient');
  const id = u32Of(attrs.get(NHA_ID));
  if (id === undefined) return undefined;
  const owned = data.readUInt8(2) === protocol;
  const group = attrs.get(NHA_GROUP);
  if (group) {
    if (!owned) return { kind: 'group', owned, id };
    const members: number[] = [];
    for (let off = 0; off + 8 <= group.length; off += 8) members.push(group.readUInt32LE(off));
    const res = attrs.get(NHA_RES_GROUP);
    const type = attrs.get(NHA_GROUP_TYPE);
    const params = res ? parseAttributes(res, 'lenient') : new Map<number, Buffer>();
    const buckets = params.get(NHA_RES_GROUP_BUCKETS);
    const isResilient = type !== undefined && type.length >= 2 && type.readUInt16LE(0) === NEXTHOP_GRP_TYPE_RES;
    return {
      kind: 'group',
      owned,
      id,
      entry: {
        id,
        members: members.sort((a, b) => a - b),
        // A plain (hash-threshold) group of ours reads back with 0 buckets: never equal to a wanted one.
        buckets: isResilient && buckets && buckets.length >= 2 ? buckets.readUInt16LE(0) : 0,
        idleTimerS: (u32Of(params.get(NHA_RES_GROUP_IDLE_TIMER)) ?? 0) / USER_HZ,
        unbalancedTimerS: (u32Of(params.get(NHA_RES_GROUP_UNBALANCED_TIMER)) ?? 0) / USER_HZ,
      },
    };
  }
  if (!owned) return { kind: 'single', owned, id };
  const family = familyOf(data.readUInt8(0));
  const oif = u32Of(attrs.get(NHA_OIF));
  const gateway = family ? ipOf(attrs.get(NHA_GATEWAY), family) : undefined;
  const onlink = (data.readUInt32LE(4) & RTNH_F_ONLINK) !== 0;
  const dev = oif === undefined ? undefined : devName(oif);
  // A blackhole, a device-only or off-link nexthop of ours is not what the agent writes: listed
  // with an odd device so that it differs and is replaced.
  if (attrs.has(NHA_BLACKHOLE) || !gateway || !onlink) {
    return { kind: 'single', owned, id, entry: { id, gateway: gateway ?? anyAddress(family ?? 4), dev: '(unexpected)' } };
  }
  return { kind: 'single', owned, id, entry: { id, gateway, dev: dev ?? (oif === undefined ? '(none)' : `(ifindex ${oif})`) } };
}

export class NetlinkPolicyRouting implements PolicyRouting {
  constructor(
    private readonly session: NetlinkSession,
    private readonly links: LinkIndex,
    private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL,
  ) {}

  async listRules(): Promise<RuleEntry[]> {
    const replies = await this.dump(RTM_GETRULE, Buffer.alloc(12), 'listing policy rules (RTM_GETRULE dump)');
    const out: RuleEntry[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWRULE) continue;
      const rule = decodeRule(r.data, this.protocol);
      if (rule) out.push(rule);
    }
    return out;
  }

  addRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    const w = new RequestWriter(rules.length, 64);
    const itemOf: number[] = [];
    rules.forEach((r, i) => {
      // Exclusive: the same rule twice is an error (EEXIST), not a second copy.
      writeRule(w, RTM_NEWRULE, NlFlags.CREATE | NlFlags.EXCL, r, this.protocol);
      itemOf.push(i);
    });
    return send(this.session, w, itemOf, new Array<Error | undefined>(rules.length).fill(undefined), (i) => `adding rule ${(rules[i] ? formatRule(rules[i]) : '?')}`);
  }

  removeRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    const w = new RequestWriter(rules.length, 64);
    const itemOf: number[] = [];
    rules.forEach((r, i) => {
      writeRule(w, RTM_DELRULE, 0, r, this.protocol);
      itemOf.push(i);
    });
    return send(this.session, w, itemOf, new Array<Error | undefined>(rules.length).fill(undefined), (i) => `deleting rule ${(rules[i] ? formatRule(rules[i]) : '?')}`, ['ENOENT', 'ESRCH']);
  }

  async listTableRoutes(): Promise<TableRouteEntry[]> {
    await this.links.refresh();
    const replies = await this.dump(RTM_GETROUTE, Buffer.alloc(12), 'listing routes (RTM_GETROUTE dump)');
    const out: TableRouteEntry[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWROUTE) continue;
      const route = decodeTableRoute(r.data, this.protocol, (i) => this.links.nameOf(i));
      if (route) out.push(route);
    }
    return out;
  }

  async upsertTableRoutes(items: readonly Upsert<TableRouteEntry>[]): Promise<BatchErrors> {
    const out = new Array<Error | undefined>(items.length).fill(undefined);
    const w = new RequestWriter(items.length, 64);
    const itemOf: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const { entry, existing } = items[i] as Upsert<TableRouteEntry>;
      let oif: number | undefined;
      if (entry.type === 'device') {
        try {
          oif = await this.links.indexOf(entry.dev ?? '');
        } catch (err) {
          out[i] = err instanceof Error ? err : new Error(String(err));
          continue;
        }
      }
      // Exclusive unless the kernel holds our own route under this key: a foreign route in one of
      // our tables makes this entry fail with EEXIST rather than be overwritten.
      const flags = NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL);
      writeTableRoute(w, RTM_NEWROUTE, flags, entry, this.protocol, entry.type === 'device' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, oif);
      itemOf.push(i);
    }
    return send(this.session, w, itemOf, out, (i) => `writing route ${items[i] ? formatTableRoute(items[i].entry) : '?'}`);
  }

  removeTableRoutes(routes: readonly TableRouteEntry[]): Promise<BatchErrors> {
    const w = new RequestWriter(routes.length, 64);
    const itemOf: number[] = [];
    routes.forEach((r, i) => {
      // Type, metric, nhid and protocol make the kernel pick exactly this route, never the other
      // default of the same table (the fail-closed backstop) nor a foreign one.
      writeTableRoute(w, RTM_DELROUTE, 0, r, this.protocol, RT_SCOPE_NOWHERE);
      itemOf.push(i);
    });
    return send(this.session, w, itemOf, new Array<Error | undefined>(routes.length).fill(undefined), (i) => `deleting route ${(routes[i] ? formatTableRoute(routes[i]) : '?')}`, ['ESRCH', 'ENOENT']);
  }

  async listNexthops(): Promise<NexthopListing> {
    await this.links.refresh();
    let replies;
    try {
      replies = await this.session.dump(RTM_GETNEXTHOP, Buffer.alloc(8), 'RTM_GETNEXTHOP dump');
    } catch (err) {
      // A kernel without nexthop objects (before 5.3) cannot do what the agent needs.
      const code = err instanceof NetlinkError && (err.code === 'EOPNOTSUPP' || err.code === 'EINVAL') ? ErrorCodes.BACKEND_UNAVAILABLE : ErrorCodes.KERNEL_OP_FAILED;
      throw kernelError('listing nexthop objects (RTM_GETNEXTHOP dump; needs Linux 5.13 or later)', err, code);
    }
    const nexthops: NexthopEntry[] = [];
    const groups: NexthopGroupEntry[] = [];
    const foreignIds: number[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWNEXTHOP) continue;
      const nh = decodeNexthop(r.data, this.protocol, (i) => this.links.nameOf(i));
      if (!nh) continue;
      if (!nh.owned) foreignIds.push(nh.id);
      else if (nh.kind === 'group' && nh.entry) groups.push(nh.entry);
      else if (nh.kind === 'single' && nh.entry) nexthops.push(nh.entry);
    }
    return { nexthops, groups, foreignIds };
  }

  async upsertNexthops(items: readonly Upsert<NexthopEntry>[]): Promise<BatchErrors> {
    const out = new Array<Error | undefined>(items.length).fill(undefined);
    const w = new RequestWriter(items.length, 64);
    const itemOf: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const { entry, existing } = items[i] as Upsert<NexthopEntry>;
      let oif: number;
      try {
        oif = await this.links.indexOf(entry.dev);
      } catch (err) {
        out[i] = err instanceof Error ? err : new Error(String(err));
        continue;
      }
      writeNexthop(w, RTM_NEWNEXTHOP, NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL), familyCode(entry.gateway.family), RTNH_F_ONLINK, this.protocol, entry.id, (x) => {
        x.attrU32(NHA_OIF, oif);
        x.attrIp(NHA_GATEWAY, entry.gateway);
      });
      itemOf.push(i);
    }
    return send(this.session, w, itemOf, out, (i) => `writing nexthop ${(items[i] ? formatNexthop(items[i].entry) : '?')}`);
  }

  upsertGroups(items: readonly Upsert<NexthopGroupEntry>[]): Promise<BatchErrors> {
    const w = new RequestWriter(items.length, 96);
    const itemOf: number[] = [];
    items.forEach(({ entry, existing }, i) => {
      writeNexthop(w, RTM_NEWNEXTHOP, NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL), AF_UNSPEC, 0, this.protocol, entry.id, (x) => {
        x.attrBytes(NHA_GROUP, groupMembers(entry.members));
        const type = Buffer.alloc(2);
        type.writeUInt16LE(NEXTHOP_GRP_TYPE_RES);
        x.attrBytes(NHA_GROUP_TYPE, type);
        x.attrBytes(NHA_RES_GROUP | NLA_F_NESTED, resilientParameters(entry));
      });
      itemOf.push(i);
    });
    return send(this.session, w, itemOf, new Array<Error | undefined>(items.length).fill(undefined), (i) => `writing nexthop group ${(items[i] ? formatNexthopGroup(items[i].entry) : '?')}`);
  }

  removeNexthops(ids: readonly number[]): Promise<BatchErrors> {
    const w = new RequestWriter(ids.length, 32);
    const itemOf: number[] = [];
    ids.forEach((id, i) => {
      writeNexthop(w, RTM_DELNEXTHOP, 0, AF_UNSPEC, 0, 0, id, () => undefined);
      itemOf.push(i);
    });
    return send(this.session, w, itemOf, new Array<Error | undefined>(ids.length).fill(undefined), (i) => `deleting nexthop id ${ids[i] ?? '?'}`, ['ENOENT', 'ESRCH']);
  }

  async deviceWithAddress(ip: IpAddress): Promise<string | undefined> {
    await this.links.refresh();
    const replies = await this.dump(RTM_GETADDR, Buffer.alloc(8), 'listing addresses (RTM_GETADDR dump)');
    for (const r of replies) {
      if (r.type !== RTM_NEWADDR || r.data.length < 8) continue;
      const family = familyOf(r.data.readUInt8(0));
      if (family !== ip.family) continue;
      const attrs = parseAttributes(r.data.subarray(8), 'lenient');
      const addr = ipOf(attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS), family);
      if (addr?.text === ip.text) return this.links.nameOf(r.data.readUInt32LE(4));
    }
    return undefined;
  }

  private async dump(type: number, payload: Buffer, what: string): Promise<NetlinkReply[]> {
    try {
      return await this.session.dump(type, payload, what);
    } catch (err) {
      throw kernelError(what, err);
    }
  }
}
