import type { FdbEntry, NeighbourEntry } from '../model/entries';
import { cidrOf, parseCidr, parseIp, type Cidr, type Family, type IpAddress } from '../model/ip';
import { gatewayVxlanMac, linkLocalOfMac } from '../model/mac';
import type { NexthopEntry, NexthopGroupEntry, RuleEntry, TableRouteEntry } from '../model/policy-routing';
import { gatewayKey, gatewayText, type SteeringGateway, type SteeringSpec } from '../model/steering';
import { markOf, maxSlot, pinsInKernel, type FlowMark, type Pin } from './pins';

/**
 * What the kernel of a client node must hold for a SteeringSpec (pure: no I/O, no clock).
 *
 *   ip rule from <pod IP> lookup T priority P proto 69          one per steered pod address
 *   table T:  default nhid G metric 10 proto 69                  the pod's gateways (when it has any)
 *             unreachable default metric 4294967295 proto 69     the backstop: fail closed
 *             throw <cluster CIDR> metric 10 proto 69            cluster destinations stay direct
 *             169.254.1.1 dev egress.calico metric 10 proto 69   proxy ARP for the pod's gateway
 *   nexthop G: group of the gateways' nexthops, type resilient   one per table with gateways
 *   nexthop N: via <gateway IP> dev egress.calico onlink         one per gateway
 *   neigh <gateway IP> lladdr a2:2a:<octets> permanent; fdb a2:2a:<octets> dst <gateway IP>
 *
 * The backstop is in every table whatever happens to the gateways: when the default route goes
 * (no gateway is ready; or the kernel drops it because its last nexthop was deleted, say with the
 * device), the lookup still ends in `unreachable` and never falls through to the node's own
 * route. Rules are only ever added once their table holds the backstop (the reconciler's order).
 *
 * Tables are the unit of pinning: clients with the same gateway set share one, and a table keeps
 * its number and its nexthop group when that set changes (the group's members are replaced in
 * place, so a resilient group keeps the buckets of the gateways that stay). Which table is which
 * is read back from the kernel's rules, so the assignment survives an agent restart.
 *
 * IPv6 (dual-stack pods): each table has an IPv6 twin under the same number, written when one of
 * its pods has an IPv6 address (`ip -6 rule from <pod IPv6>/128`, its own backstop, throws and
 * resilient group: a group holds nexthops of one family). The IPv6 half needs no 169.254.1.1 route:
 * a Calico pod's IPv6 gateway is the link-local address of the node's side of its veth, which the
 * node answers as its own. A gateway with no IPv6 address has no IPv6 nexthop; a table whose
 * gateways have none keeps the IPv6 backstop alone, so the pods' IPv6 traffic fails closed like
 * their IPv4 traffic with no gateway (never the node's path: see docs/agent.md for why).
 *
 *   nexthop N6: via fe80::<EUI-64 of the gateway's MAC> dev egress.calico onlink
 *   neigh fe80::<…> lladdr <the gateway's MAC> permanent   (the FDB entry is the IPv4 one, shared)
 *
 * The IPv6 next hop is the link-local address the gateway's vxlan0 derives from its MAC, not its
 * global address: the next hop only names a MAC (the permanent neighbour), and the kernel checks
 * an IPv6 nexthop with a global address against the main table, where a Calico node always routes
 * the gateway's pod network out of another device: `onlink` is refused ("device mismatch"), and
 * without it the lookup must find a route to it out of egress.calico (measured on Linux 6.18, and
 * what the kernel's ip6_validate_gw says). A link-local next hop is checked against neither.
 *
 * The tunnel (egress.calico's `local`, the FDB entries' destinations) has the family of the node's
 * address: IPv4 on a dual-stack node, where gateways are reached at their IPv4 address and their
 * MAC comes from it. A gateway without an address of that family (an IPv6-only gateway seen from
 * an IPv4 node) cannot be reached through the tunnel and is left out, reported as a problem.
 */

export interface SteeringOptions {
  /** The VXLAN device name: `egress.calico`, as Felix. */
  readonly device: string;
  /** Route tables the agent may use (AGENT_ROUTE_TABLES); never Felix's 1–250. */
  readonly tables: { readonly first: number; readonly last: number };
  /** Priority of the agent's rules (AGENT_RULE_PRIORITY). */
  readonly rulePriority: number;
  /** Nexthop object ids the agent may use. */
  readonly nexthopIds: { readonly first: number; readonly last: number };
  /** The resilient groups' parameters (see NexthopGroupEntry). */
  readonly group: { readonly buckets: number; readonly idleTimerS: number; readonly unbalancedTimerS: number };
  /**
   * How the node hashes a flow onto a group's buckets (net.ipv4.fib_multipath_hash_policy and
   * _fields, node-wide settings): 'l3' hashes source and destination addresses only, so all
   * connections of one pod to one server take one gateway; 'l4' adds the protocol and ports, so
   * they spread (policy 3 with the 5-tuple's fields: see the reconciler for why not policy 1).
   * Undefined: the node's setting is left as it is (the kernel's default is l3).
   */
  readonly multipathHash?: 'l3' | 'l4';
  /**
   * Pin every connection to the gateway it started with (./pins.ts), with these mark bits; the
   * pins' rules sit at rulePriority - 1. Undefined: no pinning (the resilient groups alone: a
   * gateway that leaves a group, draining or not, takes its flows with it).
   */
  readonly flowMark?: FlowMark;
}

/** The device Felix names it, and the agent with it. */
export const STEERING_DEVICE = 'egress.calico';
/**
 * Calico's pod gateway: every pod's default route is via 169.254.1.1, which the node answers by
 * proxy ARP, and the kernel answers only when its route lookup for that address *from the pod*
 * ends in a unicast route out of another device. Our rule makes that lookup use the pod's table,
 * so each table routes it out of egress.calico: with the backstop alone a closed pod could not even
 * resolve its gateway (its every connection would hang instead of failing at once, and its traffic
 * to cluster destinations would stop too). A packet really sent to that address dies in
 * egress.calico, which has no FDB entry for it: nothing leaves.
 */
export const CALICO_POD_GATEWAY = parseCidr('169.254.1.1/32') as Cidr;
/** Metric of the gateway route and the throw routes; the backstop's is the largest there is. */
export const ROUTE_METRIC = 10;
export const BACKSTOP_METRIC = 0xffffffff;
/** Nexthop ids 0x45000000–0x45ffffff: the project's protocol number (0x45) in the top byte. */
export const NEXTHOP_IDS = { first: 0x45000000, last: 0x45ffffff } as const;
/**
 * 512 buckets: the more buckets, the fewer flows share one, and the more buckets sit idle and can
 * go to a gateway that joins. 120 s idle: a bucket moves to a new gateway only after two minutes
 * without a packet (the kernel's default). 0 unbalanced: never move a busy bucket to restore
 * balance, so no established flow is ever moved off a gateway that stays.
 */
export const DEFAULT_GROUP = { buckets: 512, idleTimerS: 120, unbalancedTimerS: 0 } as const;

export const DEFAULT_STEERING_OPTIONS: SteeringOptions = {
  device: STEERING_DEVICE,
  tables: { first: 1000, last: 1999 },
  rulePriority: 100,
  nexthopIds: NEXTHOP_IDS,
  group: DEFAULT_GROUP,
};

/** What the kernel holds now (owned entries), as far as the desired state depends on it. */
export interface SteeringKernelView {
  readonly rules: readonly RuleEntry[];
  readonly routes: readonly TableRouteEntry[];
  readonly nexthops: readonly NexthopEntry[];
  readonly groups: readonly NexthopGroupEntry[];
  /** Ids of nexthop objects others own. */
  readonly foreignNexthopIds: readonly number[];
}

export interface SteeringTable {
  readonly table: number;
  /** The table's gateways (as gatewayText prints them), in address order; empty: only the backstops (fail closed). */
  readonly gateways: readonly string[];
  /** Its IPv4 group; and its IPv6 group, when its pods have IPv6 addresses and a gateway has one. */
  readonly groupId?: number;
  readonly groupId6?: number;
  /** "namespace/name" of the pods whose rules point here. */
  readonly pods: readonly string[];
}

export interface DesiredSteering {
  readonly rules: readonly RuleEntry[];
  readonly routes: readonly TableRouteEntry[];
  readonly nexthops: readonly NexthopEntry[];
  readonly groups: readonly NexthopGroupEntry[];
  readonly neighbours: readonly NeighbourEntry[];
  readonly fdb: readonly FdbEntry[];
  readonly tables: readonly SteeringTable[];
  /** The flow pins (empty without `flowMark`): what the pins' nftables table must say. */
  readonly pins: readonly Pin[];
  /** Things the spec asked for that cannot be done as asked, one line each (logged, shown in status). */
  readonly problems: readonly string[];
}


const FAMILIES: readonly Family[] = [4, 6];
const DEFAULT_ROUTE: Readonly<Record<Family, Cidr>> = { 4: parseCidr('0.0.0.0/0') as Cidr, 6: parseCidr('::/0') as Cidr };
const HOST_LENGTH: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

/** A gateway as the client node reaches it. */
interface Gateway {
  /** gatewayKey: its IPv4 address, else its IPv6 address. */
  readonly key: string;
  /** gatewayText: every address it has. */
  readonly text: string;
  /** Its vxlan0 MAC and the outer destination of the VXLAN packets to it (the address its MAC comes from). */
  readonly mac: string;
  readonly tunnel: IpAddress;
  /** The next hop per family it has an address of: its IPv4 address; the link-local address of its MAC. */
  readonly via: Readonly<Partial<Record<Family, IpAddress>>>;
}

function gatewayOf(g: SteeringGateway): Gateway | undefined {
  const tunnel = g.ipv4 ?? g.ipv6;
  if (!tunnel) return undefined;
  const mac = gatewayVxlanMac(tunnel);
  return { key: gatewayKey(g), text: gatewayText(g), mac, tunnel, via: { ...(g.ipv4 ? { 4: g.ipv4 } : {}), ...(g.ipv6 ? { 6: linkLocalOfMac(mac) } : {}) } };
}

/** Addresses in numeric order, IPv4 before IPv6. */
function compareIps(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  const x = a.bytes;
  const y = b.bytes;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

const compareGateways = (a: Gateway, b: Gateway): number => compareIps(a.tunnel, b.tunnel);

interface ClientGroup {
  /** Joined gateway keys; '' for the fail-closed group. */
  readonly key: string;
  readonly gateways: Gateway[];
  /** Pod addresses (both families) by text, with the pod's name. */
  readonly members: Map<string, { readonly ip: IpAddress; readonly pod: string }>;
}

/** The spec as desiredSteering reads it; `device` only for its address's family (the tunnel's; IPv4 without it). */
export type SteeringSpecView = Pick<SteeringSpec, 'clients' | 'bypass' | 'keepFlows'> & { readonly device?: Pick<SteeringSpec['device'], 'localIp'> };

export function desiredSteering(spec: SteeringSpecView, options: SteeringOptions, kernel: SteeringKernelView): DesiredSteering {
  const problems: string[] = [];
  const underlay: Family = spec.device?.localIp.family ?? 4;

  // 1. The gateways the tunnel can reach, and the clients grouped by gateway set.
  const gateways = new Map<string, Gateway>();
  const unreachable = new Set<string>();
  const known = (g: SteeringGateway): Gateway | undefined => {
    const gw = gatewayOf(g);
    if (!gw) return undefined;
    if (gw.tunnel.family !== underlay) {
      unreachable.add(gw.text);
      return undefined;
    }
    const had = gateways.get(gw.key);
    if (had) return had;
    gateways.set(gw.key, gw);
    return gw;
  };
  const groups = new Map<string, ClientGroup>();
  const seenIps = new Map<string, string>();
  for (const c of [...spec.clients].sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0))) {
    const gws = new Map<string, Gateway>();
    for (const g of c.gateways) {
      const gw = known(g);
      if (gw) gws.set(gw.key, gw);
    }
    const sorted = [...gws.values()].sort(compareGateways);
    const key = sorted.map((g) => g.key).join(',');
    for (const ip of c.ips) {
      const other = seenIps.get(ip.text);
      if (other !== undefined) {
        problems.push(`pod ${c.pod}: address ${ip.text} is also ${other}'s; steered as ${other}'s`);
        continue;
      }
      seenIps.set(ip.text, c.pod);
      let g = groups.get(key);
      if (!g) {
        g = { key, gateways: sorted, members: new Map() };
        groups.set(key, g);
      }
      g.members.set(ip.text, { ip, pod: c.pod });
    }
  }
  for (const g of spec.keepFlows ?? []) known(g);
  for (const text of [...unreachable].sort()) {
    problems.push(`gateway ${text} has no IPv${underlay} address: ${options.device} (IPv${underlay}) cannot reach it; not used`);
  }

  // 2. Pins keep their slots and tables (a flow's mark must keep meaning its gateway); then each
  //    client group keeps the table most of its pods' rules point at now.
  const nexthopOf = new Map<string, number>();
  for (const n of kernel.nexthops) if (n.dev === options.device && !nexthopOf.has(n.gateway.text)) nexthopOf.set(n.gateway.text, n.id);
  const keyOfVia = new Map<string, string>();
  for (const g of gateways.values()) {
    for (const f of FAMILIES) {
      const via = g.via[f];
      if (via) keyOfVia.set(via.text, g.key);
    }
  }
  // An IPv4 nexthop names its gateway's key even when the spec no longer does.
  for (const n of kernel.nexthops) if (n.gateway.family === 4 && !keyOfVia.has(n.gateway.text)) keyOfVia.set(n.gateway.text, n.gateway.text);
  const keyOfNexthop = new Map<number, string>();
  for (const [via, id] of nexthopOf) {
    const key = keyOfVia.get(via);
    if (key !== undefined) keyOfNexthop.set(id, key);
  }
  const pinning = options.flowMark ? planPins(gateways, options, options.flowMark, kernel, keyOfNexthop) : undefined;
  const assignment = assignTables([...groups.values()], kernel, options, problems, pinning?.tables ?? new Set(), keyOfNexthop);

  // 3. Nexthop ids: an existing one for each gateway and each kept group, fresh ones otherwise.
  const ids = new IdAllocator(options.nexthopIds, kernel);
  const groupById = new Map(kernel.groups.map((g) => [g.id, g]));

  const rules: RuleEntry[] = [];
  const routes: TableRouteEntry[] = [];
  const nexthops = new Map<string, { readonly entry: NexthopEntry; readonly gateway: Gateway }>();
  const nhGroups: NexthopGroupEntry[] = [];
  const tables: SteeringTable[] = [];
  const bypass = bypassCidrs(spec, problems);
  const usedGroupIds = new Set<number>();
  const nexthopFor = (g: Gateway, family: Family): number | undefined => {
    const via = g.via[family];
    if (!via) return undefined;
    let id = nexthopOf.get(via.text);
    if (id === undefined) {
      id = ids.next();
      nexthopOf.set(via.text, id);
    }
    if (!nexthops.has(via.text)) nexthops.set(via.text, { entry: { id, gateway: via, dev: options.device }, gateway: g });
    return id;
  };

  for (const { group, table } of assignment) {
    const families = new Set([...group.members.values()].map((m) => m.ip.family));
    const groupIds: { groupId?: number; groupId6?: number } = {};
    for (const family of FAMILIES) {
      if (!families.has(family)) continue;
      routes.push({ table, dst: DEFAULT_ROUTE[family], type: 'unreachable', metric: BACKSTOP_METRIC });
      if (family === 4) routes.push({ table, dst: CALICO_POD_GATEWAY, type: 'device', dev: options.device, metric: ROUTE_METRIC });
      for (const dst of bypass[family]) routes.push({ table, dst, type: 'throw', metric: ROUTE_METRIC });
      const members = group.gateways.flatMap((g) => nexthopFor(g, family) ?? []);
      if (members.length > 0) {
        const groupId = keptGroupId(table, family, kernel, groupById, options, usedGroupIds) ?? ids.next();
        usedGroupIds.add(groupId);
        nhGroups.push({ id: groupId, members: members.sort((a, b) => a - b), ...options.group });
        routes.push({ table, dst: DEFAULT_ROUTE[family], type: 'nexthop', nexthopId: groupId, metric: ROUTE_METRIC });
        if (family === 4) groupIds.groupId = groupId;
        else groupIds.groupId6 = groupId;
      }
      const own = [...group.members.values()].filter((m) => m.ip.family === family).sort((a, b) => compareIps(a.ip, b.ip));
      for (const { ip } of own) rules.push({ family, src: cidrOf(ip, HOST_LENGTH[family]), priority: options.rulePriority, table });
    }
    tables.push({ table, gateways: group.gateways.map((g) => g.text), ...groupIds, pods: podsOf(group) });
  }

  // 4. Pins: new ones take free tables after the client groups; each gets its gateway's nexthops,
  //    a mark rule and a default route per family the gateway has.
  const pins: Pin[] = [];
  if (pinning && options.flowMark) {
    const taken = new Set<number>([...assignment.map((a) => a.table), ...pinning.tables]);
    const busy = new Set<number>([...kernel.rules.map((r) => r.table), ...kernel.routes.map((r) => r.table)]);
    const freeTable = (): number | undefined => {
      for (let t = options.tables.first; t <= options.tables.last; t++) if (!taken.has(t) && !busy.has(t)) return t;
      for (let t = options.tables.first; t <= options.tables.last; t++) if (!taken.has(t)) return t;
      return undefined;
    };
    for (const want of pinning.wanted) {
      const gw = gateways.get(want.gateway) as Gateway;
      const table = want.table ?? freeTable();
      if (table === undefined) {
        problems.push(`no free route table in ${options.tables.first}-${options.tables.last} to pin the flows of gateway ${gw.text}: a drain of it moves them`);
        continue;
      }
      taken.add(table);
      const mark = markOf(want.slot, options.flowMark.mask);
      for (const family of FAMILIES) {
        const id = nexthopFor(gw, family);
        if (id === undefined) continue;
        rules.push({ family, src: DEFAULT_ROUTE[family], priority: options.rulePriority - 1, table, fwmark: { value: mark, mask: options.flowMark.mask } });
        routes.push({ table, dst: DEFAULT_ROUTE[family], type: 'nexthop', nexthopId: id, metric: ROUTE_METRIC });
        // The encapsulated packet keeps the mark: its own lookup for the gateway must not come back here.
        const throws = new Map<string, Cidr>();
        if (gw.tunnel.family === family) throws.set(gw.tunnel.text, cidrOf(gw.tunnel, HOST_LENGTH[family]));
        for (const dst of bypass[family]) throws.set(dst.text, dst);
        for (const dst of throws.values()) routes.push({ table, dst, type: 'throw', metric: ROUTE_METRIC });
      }
      pins.push({
        gateway: gw.key,
        slot: want.slot,
        mark,
        table,
        ...(gw.via[4] ? { ipv4Nexthop: gw.via[4].text } : {}),
        ...(gw.via[6] ? { ipv6Nexthop: gw.via[6].text } : {}),
      });
    }
    problems.push(...pinning.problems);
  }

  const neighbours: NeighbourEntry[] = [];
  const fdb = new Map<string, FdbEntry>();
  for (const { entry, gateway } of nexthops.values()) {
    neighbours.push({ ip: entry.gateway, mac: gateway.mac, dev: options.device });
    // One forwarding entry per gateway, whichever families' nexthops asked for it.
    if (!fdb.has(gateway.mac)) fdb.set(gateway.mac, { mac: gateway.mac, dst: gateway.tunnel, dev: options.device });
  }

  return {
    rules,
    routes,
    nexthops: [...nexthops.values()].map((n) => n.entry).sort((a, b) => a.id - b.id),
    groups: nhGroups.sort((a, b) => a.id - b.id),
    neighbours,
    fdb: [...fdb.values()],
    tables: tables.sort((a, b) => a.table - b.table),
    pins: pins.sort((a, b) => a.slot - b.slot),
    problems,
  };
}

/**
 * Which gateways get a pin, with which slot, and which keep their table: the clients' gateways and
 * the spec's keepFlows. A gateway pinned now keeps its slot and table; a new one takes the lowest
 * slot nobody holds (preferring one no rule in the kernel names, so that a slot just given up does
 * not carry old flows to a new gateway at once). Without a slot left, a gateway is not pinned and
 * the problem is reported.
 */
function planPins(
  gateways: ReadonlyMap<string, Gateway>,
  options: SteeringOptions,
  flowMark: FlowMark,
  kernel: SteeringKernelView,
  keyOfNexthop: ReadonlyMap<number, string>,
): { wanted: Array<{ gateway: string; slot: number; table?: number }>; tables: Set<number>; problems: string[] } {
  const problems: string[] = [];
  const pinned = [...gateways.values()].sort(compareGateways);
  const have = new Map(pinsInKernel(kernel.rules, kernel.routes, keyOfNexthop, flowMark, options.rulePriority - 1).map((p) => [p.gateway, p]));
  const inRange = (t: number): boolean => t >= options.tables.first && t <= options.tables.last;
  const wanted: Array<{ gateway: string; slot: number; table?: number }> = [];
  const slots = new Set<number>();
  const tables = new Set<number>();
  for (const gw of pinned) {
    const p = have.get(gw.key);
    if (p && !slots.has(p.slot) && !tables.has(p.table) && inRange(p.table)) {
      slots.add(p.slot);
      tables.add(p.table);
      wanted.push({ gateway: gw.key, slot: p.slot, table: p.table });
    }
  }
  const named = new Set(kernel.rules.flatMap((r) => (r.fwmark && r.fwmark.mask === flowMark.mask ? [r.fwmark.value >>> 0] : [])));
  const max = maxSlot(flowMark.mask);
  const freeSlot = (): number | undefined => {
    for (let s = 1; s <= max; s++) if (!slots.has(s) && !named.has(markOf(s, flowMark.mask))) return s;
    for (let s = 1; s <= max; s++) if (!slots.has(s)) return s;
    return undefined;
  };
  for (const gw of pinned) {
    if (wanted.some((w) => w.gateway === gw.key)) continue;
    const slot = freeSlot();
    if (slot === undefined) {
      problems.push(`no flow mark left in ${flowMark.mask.toString(16)} (${max} gateways) to pin gateway ${gw.text}: a drain of it moves its flows`);
      continue;
    }
    slots.add(slot);
    wanted.push({ gateway: gw.key, slot });
  }
  const order = new Map(pinned.map((g, i) => [g.key, i]));
  return { wanted: wanted.sort((a, b) => (order.get(a.gateway) ?? 0) - (order.get(b.gateway) ?? 0)), tables, problems };
}

function podsOf(group: ClientGroup): string[] {
  return [...new Set([...group.members.values()].map((m) => m.pod))].sort();
}

/** The spec's cluster destinations for the throw routes, per family; never a default route. */
function bypassCidrs(spec: Pick<SteeringSpec, 'bypass'>, problems: string[]): Record<Family, Cidr[]> {
  const out: Record<Family, Map<string, Cidr>> = { 4: new Map(), 6: new Map() };
  for (const c of spec.bypass ?? []) {
    if (c.text === CALICO_POD_GATEWAY.text) continue;
    if (c.prefixLength === 0) {
      problems.push(`bypass ${c.text} ignored: it would take every destination off the gateways`);
      continue;
    }
    out[c.family].set(c.text, c);
  }
  const sorted = (m: Map<string, Cidr>): Cidr[] => [...m.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return { 4: sorted(out[4]), 6: sorted(out[6]) };
}

/** The group a table's default route of `family` uses now, when it is ours and can be replaced in place. */
function keptGroupId(
  table: number,
  family: Family,
  kernel: SteeringKernelView,
  groupById: ReadonlyMap<number, NexthopGroupEntry>,
  options: SteeringOptions,
  used: ReadonlySet<number>,
): number | undefined {
  for (const r of kernel.routes) {
    if (r.table !== table || r.type !== 'nexthop' || r.nexthopId === undefined || r.dst.family !== family || r.dst.prefixLength !== 0) continue;
    const g = groupById.get(r.nexthopId);
    // The bucket count of a resilient group cannot change in place: a new one is made instead.
    if (g && g.buckets === options.group.buckets && !used.has(g.id)) return g.id;
  }
  return undefined;
}

/** Lowest free ids of the range: not held by anyone, not handed out in this computation. */
class IdAllocator {
  private readonly taken = new Set<number>();
  private cursor: number;

  constructor(
    private readonly range: { readonly first: number; readonly last: number },
    kernel: SteeringKernelView,
  ) {
    for (const id of kernel.foreignNexthopIds) this.taken.add(id);
    for (const n of kernel.nexthops) this.taken.add(n.id);
    for (const g of kernel.groups) this.taken.add(g.id);
    this.cursor = range.first;
  }

  next(): number {
    while (this.cursor <= this.range.last && this.taken.has(this.cursor)) this.cursor++;
    if (this.cursor > this.range.last) throw new RangeError(`no free nexthop id left in ${this.range.first}-${this.range.last}`);
    this.taken.add(this.cursor);
    return this.cursor;
  }
}

/**
 * Gives each client group a table. A group keeps the table most of its pods' rules point at now
 * (ties: the lower table), so a gateway set that changes keeps its table and group; the others get
 * the lowest table of the range that nothing of ours uses now, then any free one. When the range
 * runs out, the pods of the groups left over are steered into the fail-closed table (no gateway):
 * never left unsteered.
 */
function assignTables(
  groups: readonly ClientGroup[],
  kernel: SteeringKernelView,
  options: SteeringOptions,
  problems: string[],
  reserved: ReadonlySet<number>,
  keyOfNexthop: ReadonlyMap<number, string>,
): Array<{ group: ClientGroup; table: number }> {
  const { first, last } = options.tables;
  // The pins' tables are never a client group's.
  const inRange = (t: number): boolean => t >= first && t <= last && !reserved.has(t);
  const ruleTable = new Map<string, number>();
  for (const r of kernel.rules) {
    if (!r.fwmark && r.src.prefixLength === HOST_LENGTH[r.family] && r.priority === options.rulePriority && !r.unexpected && inRange(r.table)) {
      ruleTable.set(r.src.address.text, r.table);
    }
  }
  const candidates: Array<{ group: ClientGroup; table: number; votes: number }> = [];
  for (const group of groups) {
    const votes = new Map<number, number>();
    for (const ip of group.members.keys()) {
      const t = ruleTable.get(ip);
      if (t !== undefined) votes.set(t, (votes.get(t) ?? 0) + 1);
    }
    for (const [table, n] of votes) candidates.push({ group, table, votes: n });
  }
  candidates.sort((a, b) => b.votes - a.votes || a.table - b.table || (a.group.key < b.group.key ? -1 : 1));
  const tableOf = new Map<ClientGroup, number>();
  const usedTables = new Set<number>();
  for (const c of candidates) {
    if (tableOf.has(c.group) || usedTables.has(c.table)) continue;
    tableOf.set(c.group, c.table);
    usedTables.add(c.table);
  }

  // A group none of whose pods has a rule yet (all its rules were deleted, or it is new) takes a
  // table that already routes to exactly its gateways, if one is left over: repairing a deleted
  // rule puts it back where it was.
  const gatewaysOfTable = currentGatewaySets(kernel, keyOfNexthop);
  for (const g of groups) {
    if (tableOf.has(g)) continue;
    for (const [table, key] of gatewaysOfTable) {
      if (key !== g.key || usedTables.has(table) || !inRange(table)) continue;
      tableOf.set(g, table);
      usedTables.add(table);
      break;
    }
  }

  // Tables something of ours still uses (rules or routes) are taken last: a stale rule pointing at
  // a reused table would briefly see another group's gateways.
  const busy = new Set<number>([...kernel.rules.map((r) => r.table), ...kernel.routes.map((r) => r.table)]);
  const free = (): number | undefined => {
    for (let t = first; t <= last; t++) if (!usedTables.has(t) && !busy.has(t) && inRange(t)) return t;
    for (let t = first; t <= last; t++) if (!usedTables.has(t) && inRange(t)) return t;
    return undefined;
  };
  // The fail-closed group first, then the biggest: if tables run out, the small ones wait.
  const rest = groups
    .filter((g) => !tableOf.has(g))
    .sort((a, b) => (a.key === '' ? -1 : b.key === '' ? 1 : b.members.size - a.members.size || (a.key < b.key ? -1 : 1)));
  const overflow: ClientGroup[] = [];
  for (const g of rest) {
    const t = free();
    if (t === undefined) overflow.push(g);
    else {
      tableOf.set(g, t);
      usedTables.add(t);
    }
  }
  if (overflow.length) {
    let closed = [...tableOf.keys()].find((g) => g.key === '');
    if (!closed) {
      // Every table went to a gateway set: the one with the fewest pods gives its table up, so
      // there is always somewhere to fail closed.
      const smallest = [...tableOf.keys()].sort((a, b) => a.members.size - b.members.size || (a.key < b.key ? 1 : -1))[0];
      if (!smallest) throw new RangeError(`no route table in ${first}-${last}`);
      const t = tableOf.get(smallest) as number;
      tableOf.delete(smallest);
      overflow.push(smallest);
      closed = { key: '', gateways: [], members: new Map() };
      tableOf.set(closed, t);
    }
    for (const g of overflow) {
      for (const [key, m] of g.members) closed.members.set(key, m);
      problems.push(`no free route table in ${first}-${last} for gateways ${g.gateways.map((x) => x.text).join(',')}: pods ${podsOf(g).join(', ')} fail closed`);
    }
  }
  return [...tableOf].map(([group, table]) => ({ group, table })).sort((a, b) => a.table - b.table);
}

/**
 * Each of our tables with a backstop, by the gateway set its default routes spread over now (the
 * same key as a client group's: '' for a table with no gateway route), in table order. The IPv4
 * group names the set when there is one (a gateway without an IPv6 address is in it, not in the
 * IPv6 group); a table of IPv6-only pods has only the IPv6 group.
 */
function currentGatewaySets(kernel: SteeringKernelView, keyOfNexthop: ReadonlyMap<number, string>): Map<number, string> {
  const membersOf = new Map(kernel.groups.map((g) => [g.id, g.members]));
  const out = new Map<number, string>();
  const defaults = kernel.routes.filter((r) => r.dst.prefixLength === 0 && !r.unexpected).sort((a, b) => a.table - b.table || b.dst.family - a.dst.family);
  for (const r of defaults) if (r.type === 'unreachable' && !out.has(r.table)) out.set(r.table, '');
  // IPv6 first, so that the IPv4 group has the last word.
  for (const r of defaults) {
    if (r.type !== 'nexthop' || r.nexthopId === undefined) continue;
    const members = membersOf.get(r.nexthopId);
    const keys = members?.map((id) => keyOfNexthop.get(id));
    if (!keys || keys.some((k) => k === undefined)) continue;
    out.set(r.table, (keys as string[]).sort(compareKeys).join(','));
  }
  return out;
}

/** Gateway keys (addresses as text) in the order compareGateways gives. */
function compareKeys(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  return x && y ? compareIps(x, y) : a < b ? -1 : a > b ? 1 : 0;
}
