import type { FdbEntry, NeighbourEntry } from '../model/entries';
import { cidrOf, parseCidr, type Cidr, type IpAddress } from '../model/ip';
import { gatewayVxlanMac } from '../model/mac';
import type { NexthopEntry, NexthopGroupEntry, RuleEntry, TableRouteEntry } from '../model/policy-routing';
import type { SteeringSpec } from '../model/steering';
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
  /** Gateways of the table's group, in address order; empty: only the backstop (fail closed). */
  readonly gateways: readonly string[];
  readonly groupId?: number;
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

const DEFAULT_V4 = parseCidr('0.0.0.0/0') as Cidr;

/** A gateway list's identity: its IPv4 addresses, deduplicated, in numeric order. */
function gatewayKey(gateways: readonly IpAddress[]): string[] {
  const v4 = new Map<string, IpAddress>();
  for (const g of gateways) if (g.family === 4) v4.set(g.text, g);
  return [...v4.keys()].sort(compareIpv4Text);
}

function compareIpv4Text(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

interface ClientGroup {
  /** Joined gateway key; '' for the fail-closed group. */
  readonly key: string;
  readonly gateways: string[];
  /** Pod IPv4 addresses by text, with the pod's name. */
  readonly members: Map<string, { readonly ip: IpAddress; readonly pod: string }>;
}

export function desiredSteering(spec: Pick<SteeringSpec, 'clients' | 'bypass' | 'keepFlows'>, options: SteeringOptions, kernel: SteeringKernelView): DesiredSteering {
  const problems: string[] = [];
  const gatewayIps = new Map<string, IpAddress>();

  // 1. Clients grouped by gateway set. Only IPv4 is steered (see docs/agent.md): an IPv6 pod
  //    address keeps the node's path, as with Enterprise's Felix; an IPv6 gateway address is unused.
  const groups = new Map<string, ClientGroup>();
  const seenIps = new Map<string, string>();
  const ipv6Pods = new Set<string>();
  const ipv6Gateways = new Set<string>();
  for (const c of [...spec.clients].sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0))) {
    for (const g of c.gateways) {
      if (g.family === 4) gatewayIps.set(g.text, g);
      else ipv6Gateways.add(g.text);
    }
    const gws = gatewayKey(c.gateways);
    const key = gws.join(',');
    for (const ip of c.ips) {
      if (ip.family !== 4) {
        ipv6Pods.add(c.pod);
        continue;
      }
      const other = seenIps.get(ip.text);
      if (other !== undefined) {
        problems.push(`pod ${c.pod}: address ${ip.text} is also ${other}'s; steered as ${other}'s`);
        continue;
      }
      seenIps.set(ip.text, c.pod);
      let g = groups.get(key);
      if (!g) {
        g = { key, gateways: gws, members: new Map() };
        groups.set(key, g);
      }
      g.members.set(ip.text, { ip, pod: c.pod });
    }
  }
  for (const pod of ipv6Pods) problems.push(`pod ${pod}: IPv6 addresses are not steered (IPv4 only): its IPv6 traffic takes the node's path`);
  if (ipv6Gateways.size) problems.push(`IPv6 gateway addresses ${[...ipv6Gateways].sort().join(', ')} are not used (IPv4 only)`);

  // 2. Pins keep their slots and tables (a flow's mark must keep meaning its gateway); then each
  //    client group keeps the table most of its pods' rules point at now.
  const nexthopOf = new Map<string, number>();
  for (const n of kernel.nexthops) if (n.dev === options.device && n.gateway.family === 4 && !nexthopOf.has(n.gateway.text)) nexthopOf.set(n.gateway.text, n.id);
  const pinning = options.flowMark ? planPins(spec, options, options.flowMark, kernel, nexthopOf, gatewayIps) : undefined;
  const assignment = assignTables([...groups.values()], kernel, options, problems, pinning?.tables ?? new Set());

  // 3. Nexthop ids: an existing one for each gateway and each kept group, fresh ones otherwise.
  const ids = new IdAllocator(options.nexthopIds, kernel);
  const groupById = new Map(kernel.groups.map((g) => [g.id, g]));

  const rules: RuleEntry[] = [];
  const routes: TableRouteEntry[] = [];
  const nexthops = new Map<string, NexthopEntry>();
  const nhGroups: NexthopGroupEntry[] = [];
  const tables: SteeringTable[] = [];
  const bypass = bypassCidrs(spec, problems);
  const usedGroupIds = new Set<number>();

  for (const { group, table } of assignment) {
    routes.push({ table, dst: DEFAULT_V4, type: 'unreachable', metric: BACKSTOP_METRIC });
    routes.push({ table, dst: CALICO_POD_GATEWAY, type: 'device', dev: options.device, metric: ROUTE_METRIC });
    for (const dst of bypass) routes.push({ table, dst, type: 'throw', metric: ROUTE_METRIC });
    let groupId: number | undefined;
    if (group.gateways.length > 0) {
      const members: number[] = [];
      for (const gw of group.gateways) {
        let id = nexthopOf.get(gw);
        if (id === undefined) {
          id = ids.next();
          nexthopOf.set(gw, id);
        }
        if (!nexthops.has(gw)) nexthops.set(gw, { id, gateway: gatewayIps.get(gw) as IpAddress, dev: options.device });
        members.push(id);
      }
      groupId = keptGroupId(table, kernel, groupById, options, usedGroupIds) ?? ids.next();
      usedGroupIds.add(groupId);
      nhGroups.push({ id: groupId, members: members.sort((a, b) => a - b), ...options.group });
      routes.push({ table, dst: DEFAULT_V4, type: 'nexthop', nexthopId: groupId, metric: ROUTE_METRIC });
    }
    for (const key of [...group.members.keys()].sort(compareIpv4Text)) {
      const { ip } = group.members.get(key) as { ip: IpAddress };
      rules.push({ family: 4, src: cidrOf(ip, 32), priority: options.rulePriority, table });
    }
    tables.push({
      table,
      gateways: group.gateways,
      ...(groupId !== undefined ? { groupId } : {}),
      pods: podsOf(group),
    });
  }

  // 4. Pins: new ones take free tables after the client groups; each gets its gateway's nexthop.
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
      const table = want.table ?? freeTable();
      if (table === undefined) {
        problems.push(`no free route table in ${options.tables.first}-${options.tables.last} to pin the flows of gateway ${want.gateway}: a drain of it moves them`);
        continue;
      }
      taken.add(table);
      let id = nexthopOf.get(want.gateway);
      if (id === undefined) {
        id = ids.next();
        nexthopOf.set(want.gateway, id);
      }
      if (!nexthops.has(want.gateway)) nexthops.set(want.gateway, { id, gateway: gatewayIps.get(want.gateway) as IpAddress, dev: options.device });
      const pin: Pin = { gateway: want.gateway, slot: want.slot, mark: markOf(want.slot, options.flowMark.mask), table };
      pins.push(pin);
      rules.push({ family: 4, src: DEFAULT_V4, priority: options.rulePriority - 1, table, fwmark: { value: pin.mark, mask: options.flowMark.mask } });
      routes.push({ table, dst: DEFAULT_V4, type: 'nexthop', nexthopId: id, metric: ROUTE_METRIC });
      // The encapsulated packet keeps the mark: its own lookup for the gateway must not come back here.
      const throws = new Map<string, Cidr>([[`${want.gateway}/32`, cidrOf(gatewayIps.get(want.gateway) as IpAddress, 32)]]);
      for (const dst of bypass) throws.set(dst.text, dst);
      for (const dst of throws.values()) routes.push({ table, dst, type: 'throw', metric: ROUTE_METRIC });
    }
    problems.push(...pinning.problems);
  }

  const neighbours: NeighbourEntry[] = [];
  const fdb: FdbEntry[] = [];
  for (const n of nexthops.values()) {
    const mac = gatewayVxlanMac(n.gateway);
    neighbours.push({ ip: n.gateway, mac, dev: options.device });
    fdb.push({ mac, dst: n.gateway, dev: options.device });
  }

  return {
    rules,
    routes,
    nexthops: [...nexthops.values()].sort((a, b) => a.id - b.id),
    groups: nhGroups.sort((a, b) => a.id - b.id),
    neighbours,
    fdb,
    tables: tables.sort((a, b) => a.table - b.table),
    pins: pins.sort((a, b) => a.slot - b.slot),
    problems,
  };
}

/**
 * Which gateways get a pin, with which slot, and which keep their table: the clients' gateways and
 * the spec's keepFlows (IPv4). A gateway pinned now keeps its slot and table; a new one takes the
 * lowest slot nobody holds (preferring one no rule in the kernel names, so that a slot just given
 * up does not carry old flows to a new gateway at once). Without a slot left, a gateway is not
 * pinned and the problem is reported.
 */
function planPins(
  spec: Pick<SteeringSpec, 'clients' | 'keepFlows'>,
  options: SteeringOptions,
  flowMark: FlowMark,
  kernel: SteeringKernelView,
  nexthopOf: ReadonlyMap<string, number>,
  gatewayIps: Map<string, IpAddress>,
): { wanted: Array<{ gateway: string; slot: number; table?: number }>; tables: Set<number>; problems: string[] } {
  const problems: string[] = [];
  for (const g of spec.keepFlows ?? []) if (g.family === 4) gatewayIps.set(g.text, g);
  const pinned = [...gatewayIps.keys()].sort(compareIpv4Text);
  const gatewayOf = new Map<number, string>([...nexthopOf].map(([gw, id]) => [id, gw]));
  const have = new Map(pinsInKernel(kernel.rules, kernel.routes, gatewayOf, flowMark, options.rulePriority - 1).map((p) => [p.gateway, p]));
  const inRange = (t: number): boolean => t >= options.tables.first && t <= options.tables.last;
  const wanted: Array<{ gateway: string; slot: number; table?: number }> = [];
  const slots = new Set<number>();
  const tables = new Set<number>();
  for (const gw of pinned) {
    const p = have.get(gw);
    if (p && !slots.has(p.slot) && !tables.has(p.table) && inRange(p.table)) {
      slots.add(p.slot);
      tables.add(p.table);
      wanted.push({ gateway: gw, slot: p.slot, table: p.table });
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
    if (wanted.some((w) => w.gateway === gw)) continue;
    const slot = freeSlot();
    if (slot === undefined) {
      problems.push(`no flow mark left in ${flowMark.mask.toString(16)} (${max} gateways) to pin gateway ${gw}: a drain of it moves its flows`);
      continue;
    }
    slots.add(slot);
    wanted.push({ gateway: gw, slot });
  }
  return { wanted: wanted.sort((a, b) => compareIpv4Text(a.gateway, b.gateway)), tables, problems };
}

function podsOf(group: ClientGroup): string[] {
  return [...new Set([...group.members.values()].map((m) => m.pod))].sort();
}

/** The spec's cluster destinations for the throw routes: IPv4, not the default route itself. */
function bypassCidrs(spec: Pick<SteeringSpec, 'bypass'>, problems: string[]): Cidr[] {
  const out = new Map<string, Cidr>();
  for (const c of spec.bypass ?? []) {
    if (c.family !== 4) continue;
    if (c.text === CALICO_POD_GATEWAY.text) continue;
    if (c.prefixLength === 0) {
      problems.push(`bypass ${c.text} ignored: it would take every destination off the gateways`);
      continue;
    }
    out.set(c.text, c);
  }
  return [...out.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
}

/** The group a table's default route uses now, when it is ours and can be replaced in place. */
function keptGroupId(
  table: number,
  kernel: SteeringKernelView,
  groupById: ReadonlyMap<number, NexthopGroupEntry>,
  options: SteeringOptions,
  used: ReadonlySet<number>,
): number | undefined {
  for (const r of kernel.routes) {
    if (r.table !== table || r.type !== 'nexthop' || r.nexthopId === undefined || r.dst.family !== 4 || r.dst.prefixLength !== 0) continue;
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
): Array<{ group: ClientGroup; table: number }> {
  const { first, last } = options.tables;
  // The pins' tables are never a client group's.
  const inRange = (t: number): boolean => t >= first && t <= last && !reserved.has(t);
  const ruleTable = new Map<string, number>();
  for (const r of kernel.rules) {
    if (r.family === 4 && r.src.prefixLength === 32 && r.priority === options.rulePriority && !r.unexpected && inRange(r.table)) {
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
  const gatewaysOfTable = currentGatewaySets(kernel, options);
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
      problems.push(`no free route table in ${first}-${last} for gateways ${g.gateways.join(',')}: pods ${podsOf(g).join(', ')} fail closed`);
    }
  }
  return [...tableOf].map(([group, table]) => ({ group, table })).sort((a, b) => a.table - b.table);
}

/**
 * Each of our tables with its backstop, by the gateway set its default route spreads over now
 * (the same key as a client group's: '' for a table with no gateway route), in table order.
 */
function currentGatewaySets(kernel: SteeringKernelView, options: SteeringOptions): Map<number, string> {
  const gatewayOf = new Map<number, string>();
  for (const n of kernel.nexthops) if (n.dev === options.device && n.gateway.family === 4) gatewayOf.set(n.id, n.gateway.text);
  const membersOf = new Map(kernel.groups.map((g) => [g.id, g.members]));
  const out = new Map<number, string>();
  const v4Defaults = kernel.routes.filter((r) => r.dst.family === 4 && r.dst.prefixLength === 0 && !r.unexpected).sort((a, b) => a.table - b.table);
  for (const r of v4Defaults) if (r.type === 'unreachable' && !out.has(r.table)) out.set(r.table, '');
  for (const r of v4Defaults) {
    if (r.type !== 'nexthop' || r.nexthopId === undefined) continue;
    const members = membersOf.get(r.nexthopId);
    const gws = members?.map((id) => gatewayOf.get(id));
    if (!gws || gws.some((g) => g === undefined)) continue;
    out.set(r.table, (gws as string[]).sort(compareIpv4Text).join(','));
  }
  return out;
}
