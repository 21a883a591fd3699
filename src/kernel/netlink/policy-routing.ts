import { ErrorCodes, kernelError } from '../../errors';
import { cidrOf, ipFromBytes, type Family, type IpAddress } from '../../model/ip';
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
import type { NexthopListing, PolicyRouting } from '../policy-routing';
import { RETURN_PATH_ROUTE_PROTOCOL, type BatchErrors, type Upsert } from '../return-path';
import {
  addressDumpPayload,
  decodeAddress,
  decodeNexthop,
  decodeRoute,
  decodeRule,
  familyCode,
  routeDumpPayload,
  writeNexthop,
  writeRouteWithMetric,
  writeRule,
  type NexthopMessage,
  type RouteMessage,
  type RuleMessage,
} from './codec';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  FIB_RULE_HDR_LEN,
  FR_ACT_TO_TBL,
  NEXTHOP_GRP_TYPE_RES,
  NHMSG_LEN,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETADDR,
  RTM_GETNEXTHOP,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWADDR,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTN_THROW,
  RTN_UNICAST,
  RTN_UNREACHABLE,
  RTNH_F_ONLINK,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_DEFAULT,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RT_TABLE_UNSPEC,
  USER_HZ,
} from './constants';
import type { LinkIndex } from './return-path';
import { NetlinkError, NlFlags, type NetlinkReply, type NetlinkSession } from './session';
import { RequestWriter } from './writer';

/**
 * The steering's policy routing over rtnetlink (the port of ../policy-routing.ts): rules, routes in
 * the agent's tables (nexthop, unreachable, throw and device routes, each with a metric), nexthop
 * objects and resilient groups (kernel 5.13+). Messages are read and written by ./codec.ts; this
 * file decides what is owned (the project's protocol number) and turns messages into entries.
 */

/** Tables that are the kernel's, whatever the protocol of their routes. */
const RESERVED_TABLES = new Set([RT_TABLE_UNSPEC, RT_TABLE_DEFAULT, RT_TABLE_MAIN, RT_TABLE_LOCAL]);

function familyOf(code: number): Family | undefined {
  return code === AF_INET ? 4 : code === AF_INET6 ? 6 : undefined;
}

function anyAddress(family: Family): IpAddress {
  return ipFromBytes(new Uint8Array(family === 4 ? 4 : 16));
}

function routeTypeCode(t: TableRouteType): number {
  return t === 'nexthop' || t === 'device' ? RTN_UNICAST : t === 'unreachable' ? RTN_UNREACHABLE : RTN_THROW;
}

/** An owned rule as the agent sees it; undefined for others' rules. */
export function ruleEntryOf(m: RuleMessage, protocol: number): RuleEntry | undefined {
  const family = familyOf(m.family);
  if (!family || m.protocol !== protocol) return undefined;
  const src = m.src && (m.src.family === family ? m.src : undefined);
  const odd = [...m.selectors];
  if (m.action !== FR_ACT_TO_TBL) odd.push(`action ${m.action}`);
  if (m.dstLen !== 0 && !odd.includes('to')) odd.push('to');
  if (m.flags !== 0) odd.push(`flags 0x${m.flags.toString(16)}`);
  // A mark rule of ours (a flow pin) matches on the mark alone.
  if (m.fwmark && m.srcLen !== 0) odd.push('fwmark with a source');
  return {
    family,
    src: cidrOf(src ?? anyAddress(family), m.srcLen),
    priority: m.priority ?? 0,
    table: m.table,
    ...(m.fwmark ? { fwmark: m.fwmark } : {}),
    ...(odd.length ? { unexpected: odd.join(' ') } : {}),
  };
}

/** An owned route of a non-reserved table as the agent sees it; undefined otherwise. */
export function tableRouteEntryOf(m: RouteMessage, protocol: number, devName: (ifindex: number) => string | undefined): TableRouteEntry | undefined {
  const family = familyOf(m.family);
  if (!family || m.protocol !== protocol || RESERVED_TABLES.has(m.table)) return undefined;
  const dst = cidrOf(m.dst?.family === family ? m.dst : anyAddress(family), m.dstLen);
  const odd: string[] = [];
  let type: TableRouteType;
  let dev: string | undefined;
  if (m.type === RTN_UNICAST && m.nhId === undefined && m.oif !== undefined && !m.gateway && !m.multipath) {
    type = 'device';
    dev = devName(m.oif) ?? `(ifindex ${m.oif})`;
  } else if (m.type === RTN_UNICAST) {
    type = 'nexthop';
    if (m.nhId === undefined) odd.push(m.multipath ? 'multipath' : m.gateway ? 'via' : 'no nhid');
  } else if (m.type === RTN_UNREACHABLE) type = 'unreachable';
  else if (m.type === RTN_THROW) type = 'throw';
  else {
    type = 'unreachable';
    odd.push(`type ${m.type}`);
  }
  // The kernel reports IPv6 reject routes on lo; an IPv4 one with a device is not ours.
  if ((type === 'unreachable' || type === 'throw') && m.oif !== undefined && family === 4) odd.push('dev');
  return {
    table: m.table,
    dst,
    type,
    ...(type === 'nexthop' && m.nhId !== undefined ? { nexthopId: m.nhId } : {}),
    ...(dev !== undefined ? { dev } : {}),
    metric: m.priority ?? 0,
    ...(odd.length ? { unexpected: odd.join(' ') } : {}),
  };
}

export type OwnedNexthop =
  | { readonly kind: 'single'; readonly owned: boolean; readonly id: number; readonly entry?: NexthopEntry }
  | { readonly kind: 'group'; readonly owned: boolean; readonly id: number; readonly entry?: NexthopGroupEntry };

/**
 * Every nexthop object yields its id (new ids avoid foreign ones); owned singles and groups yield
 * their entry too. An owned object of a shape the agent never writes (a blackhole, an off-link or
 * device-only nexthop, a plain hash-threshold group) reads back so that it differs and is replaced.
 */
export function nexthopEntryOf(m: NexthopMessage, protocol: number, devName: (ifindex: number) => string | undefined): OwnedNexthop | undefined {
  if (m.id === undefined) return undefined;
  const id = m.id;
  const owned = m.protocol === protocol;
  if (m.group) {
    if (!owned) return { kind: 'group', owned, id };
    const resilient = m.groupType === NEXTHOP_GRP_TYPE_RES;
    return {
      kind: 'group',
      owned,
      id,
      entry: {
        id,
        members: [...m.group].sort((a, b) => a - b),
        buckets: resilient ? (m.resilient?.buckets ?? 0) : 0,
        idleTimerS: (m.resilient?.idleTimer ?? 0) / USER_HZ,
        unbalancedTimerS: (m.resilient?.unbalancedTimer ?? 0) / USER_HZ,
      },
    };
  }
  if (!owned) return { kind: 'single', owned, id };
  const family = familyOf(m.family) ?? 4;
  const gateway = m.gateway?.family === family ? m.gateway : undefined;
  if (m.blackhole || !gateway || !(m.flags & RTNH_F_ONLINK)) {
    return { kind: 'single', owned, id, entry: { id, gateway: gateway ?? anyAddress(family), dev: '(unexpected)' } };
  }
  const dev = m.oif === undefined ? '(none)' : (devName(m.oif) ?? `(ifindex ${m.oif})`);
  return { kind: 'single', owned, id, entry: { id, gateway, dev } };
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

const slots = (n: number): (Error | undefined)[] => new Array<Error | undefined>(n).fill(undefined);

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class NetlinkPolicyRouting implements PolicyRouting {
  constructor(
    private readonly session: NetlinkSession,
    private readonly links: LinkIndex,
    private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL,
  ) {}

  async listRules(): Promise<RuleEntry[]> {
    const out: RuleEntry[] = [];
    for (const r of await this.dump(RTM_GETRULE, Buffer.alloc(FIB_RULE_HDR_LEN), 'listing policy rules (RTM_GETRULE dump)')) {
      const m = r.type === RTM_NEWRULE ? decodeRule(r.data) : undefined;
      const rule = m && ruleEntryOf(m, this.protocol);
      if (rule) out.push(rule);
    }
    return out;
  }

  addRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    return this.rules(RTM_NEWRULE, NlFlags.CREATE | NlFlags.EXCL, rules, 'adding rule', []);
  }

  removeRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    return this.rules(RTM_DELRULE, 0, rules, 'deleting rule', ['ENOENT', 'ESRCH']);
  }

  async listTableRoutes(): Promise<TableRouteEntry[]> {
    await this.links.refresh();
    const out: TableRouteEntry[] = [];
    for (const r of await this.dump(RTM_GETROUTE, routeDumpPayload(), 'listing routes (RTM_GETROUTE dump)')) {
      const m = r.type === RTM_NEWROUTE ? decodeRoute(r.data) : undefined;
      const route = m && tableRouteEntryOf(m, this.protocol, (i) => this.links.nameOf(i));
      if (route) out.push(route);
    }
    return out;
  }

  async upsertTableRoutes(items: readonly Upsert<TableRouteEntry>[]): Promise<BatchErrors> {
    const out = slots(items.length);
    const w = new RequestWriter(items.length, 64);
    const itemOf: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const { entry, existing } = items[i] as Upsert<TableRouteEntry>;
      let oif: number | undefined;
      if (entry.type === 'device') {
        try {
          oif = await this.links.indexOf(entry.dev ?? '');
        } catch (err) {
          out[i] = asError(err);
          continue;
        }
      }
      // Exclusive unless the kernel holds our own route under this key: a foreign route in one of
      // our tables makes this entry fail with EEXIST rather than be overwritten.
      const flags = NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL);
      this.writeTableRoute(w, RTM_NEWROUTE, flags, entry, entry.type === 'device' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, oif);
      itemOf.push(i);
    }
    return send(this.session, w, itemOf, out, (i) => `writing route ${items[i] ? formatTableRoute(items[i].entry) : '?'}`);
  }

  removeTableRoutes(routes: readonly TableRouteEntry[]): Promise<BatchErrors> {
    const w = new RequestWriter(routes.length, 64);
    // Type, metric, nhid and protocol make the kernel pick exactly this route, never the other
    // default of the same table (the fail-closed backstop) nor a foreign one.
    routes.forEach((r) => this.writeTableRoute(w, RTM_DELROUTE, 0, r, RT_SCOPE_NOWHERE, undefined));
    return send(this.session, w, routes.map((_, i) => i), slots(routes.length), (i) => `deleting route ${routes[i] ? formatTableRoute(routes[i]) : '?'}`, ['ESRCH', 'ENOENT']);
  }

  async listNexthops(): Promise<NexthopListing> {
    await this.links.refresh();
    let replies: NetlinkReply[];
    try {
      replies = await this.session.dump(RTM_GETNEXTHOP, Buffer.alloc(NHMSG_LEN), 'RTM_GETNEXTHOP dump');
    } catch (err) {
      // A kernel without nexthop objects (before 5.3) cannot do what the agent needs.
      const code = err instanceof NetlinkError && (err.code === 'EOPNOTSUPP' || err.code === 'EINVAL') ? ErrorCodes.BACKEND_UNAVAILABLE : ErrorCodes.KERNEL_OP_FAILED;
      throw kernelError('listing nexthop objects (RTM_GETNEXTHOP dump; needs Linux 5.13 or later)', err, code);
    }
    const nexthops: NexthopEntry[] = [];
    const groups: NexthopGroupEntry[] = [];
    const foreignIds: number[] = [];
    for (const r of replies) {
      const m = r.type === RTM_NEWNEXTHOP ? decodeNexthop(r.data) : undefined;
      const nh = m && nexthopEntryOf(m, this.protocol, (i) => this.links.nameOf(i));
      if (!nh) continue;
      if (!nh.owned) foreignIds.push(nh.id);
      else if (nh.kind === 'group' && nh.entry) groups.push(nh.entry);
      else if (nh.kind === 'single' && nh.entry) nexthops.push(nh.entry);
    }
    return { nexthops, groups, foreignIds };
  }

  async upsertNexthops(items: readonly Upsert<NexthopEntry>[]): Promise<BatchErrors> {
    const out = slots(items.length);
    const w = new RequestWriter(items.length, 64);
    const itemOf: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const { entry, existing } = items[i] as Upsert<NexthopEntry>;
      let oif: number;
      try {
        oif = await this.links.indexOf(entry.dev);
      } catch (err) {
        out[i] = asError(err);
        continue;
      }
      writeNexthop(w, RTM_NEWNEXTHOP, NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL), {
        family: familyCode(entry.gateway.family),
        protocol: this.protocol,
        flags: RTNH_F_ONLINK,
        id: entry.id,
        oif,
        gateway: entry.gateway,
      });
      itemOf.push(i);
    }
    return send(this.session, w, itemOf, out, (i) => `writing nexthop ${items[i] ? formatNexthop(items[i].entry) : '?'}`);
  }

  upsertGroups(items: readonly Upsert<NexthopGroupEntry>[]): Promise<BatchErrors> {
    const w = new RequestWriter(items.length, 96);
    for (const { entry, existing } of items) {
      writeNexthop(w, RTM_NEWNEXTHOP, NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL), {
        family: AF_UNSPEC,
        protocol: this.protocol,
        flags: 0,
        id: entry.id,
        group: entry.members,
        groupType: NEXTHOP_GRP_TYPE_RES,
        resilient: { buckets: entry.buckets, idleTimer: Math.round(entry.idleTimerS * USER_HZ), unbalancedTimer: Math.round(entry.unbalancedTimerS * USER_HZ) },
      });
    }
    return send(this.session, w, items.map((_, i) => i), slots(items.length), (i) => `writing nexthop group ${items[i] ? formatNexthopGroup(items[i].entry) : '?'}`);
  }

  removeNexthops(ids: readonly number[]): Promise<BatchErrors> {
    const w = new RequestWriter(ids.length, 32);
    for (const id of ids) writeNexthop(w, RTM_DELNEXTHOP, 0, { family: AF_UNSPEC, protocol: 0, flags: 0, id });
    return send(this.session, w, ids.map((_, i) => i), slots(ids.length), (i) => `deleting nexthop id ${ids[i] ?? '?'}`, ['ENOENT', 'ESRCH']);
  }

  async deviceWithAddress(ip: IpAddress): Promise<string | undefined> {
    await this.links.refresh();
    for (const r of await this.dump(RTM_GETADDR, addressDumpPayload(), 'listing addresses (RTM_GETADDR dump)')) {
      const m = r.type === RTM_NEWADDR ? decodeAddress(r.data) : undefined;
      if (m?.address?.text === ip.text) return this.links.nameOf(m.index);
    }
    return undefined;
  }

  private rules(type: number, flags: number, rules: readonly RuleEntry[], doing: string, goneCodes: readonly string[]): Promise<BatchErrors> {
    const w = new RequestWriter(rules.length, 64);
    // RTM_NEWRULE is exclusive: the same rule twice is an error (EEXIST), not a second copy.
    for (const r of rules) writeRule(w, type, flags, { src: r.src, priority: r.priority, table: r.table, protocol: this.protocol, action: FR_ACT_TO_TBL, ...(r.fwmark ? { fwmark: r.fwmark } : {}) });
    return send(this.session, w, rules.map((_, i) => i), slots(rules.length), (i) => `${doing} ${rules[i] ? formatRule(rules[i]) : '?'}`, goneCodes);
  }

  private writeTableRoute(w: RequestWriter, type: number, flags: number, r: TableRouteEntry, scope: number, oif: number | undefined): void {
    writeRouteWithMetric(
      w,
      type,
      flags,
      { family: r.dst.family, table: r.table, protocol: this.protocol, scope, type: routeTypeCode(r.type), flags: 0 },
      r.dst,
      { priority: r.metric, ...(r.type === 'nexthop' && r.nexthopId !== undefined ? { nhId: r.nexthopId } : {}), ...(oif !== undefined ? { oif } : {}) },
    );
  }

  private async dump(type: number, payload: Buffer, what: string): Promise<NetlinkReply[]> {
    try {
      return await this.session.dump(type, payload, what);
    } catch (err) {
      throw kernelError(what, err);
    }
  }
}
