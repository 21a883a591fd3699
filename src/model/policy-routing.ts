import type { Cidr, Family, IpAddress } from './ip';

/**
 * The kernel objects that steer a client node's pods to their gateways (the OSS agent's dataplane),
 * as plain values: policy rules, route-table entries, nexthop objects and resilient nexthop groups.
 * Devices are named, not indexed, as in the return path's entries.
 */

/**
 * `ip rule`: packets from `src` (and, for a flow pin, carrying `fwmark`) look up `table` (action
 * FR_ACT_TO_TBL), at `priority`.
 */
export interface RuleEntry {
  readonly family: Family;
  readonly src: Cidr;
  readonly priority: number;
  readonly table: number;
  /** Packets whose mark, masked, equals `value` (a flow pinned to one gateway; src is then 0/0). */
  readonly fwmark?: { readonly value: number; readonly mask: number };
  /**
   * Set only on a rule read back from the kernel that carries selectors or an action the agent
   * never writes (say an `iif`, a `fwmark`, or `unreachable` instead of a table): what they are.
   * Such a rule is never equal to a wanted one, so it is replaced.
   */
  readonly unexpected?: string;
}

/** What a route-table entry does with a packet. */
export type TableRouteType =
  /** Forward through a nexthop object (`nhid`). */
  | 'nexthop'
  /** Reject: the sender gets "no route to host" (the fail-closed answer). */
  | 'unreachable'
  /** End this table's lookup as if nothing matched: the next policy rule decides. */
  | 'throw'
  /** Straight out of `dev` (scope link, no gateway). */
  | 'device';

/** A route in one of the agent's tables. */
export interface TableRouteEntry {
  readonly table: number;
  readonly dst: Cidr;
  readonly type: TableRouteType;
  /** Set for type 'nexthop'. */
  readonly nexthopId?: number;
  /** Set for type 'device'. */
  readonly dev?: string;
  /** The route's priority (RTA_PRIORITY): two routes to one dst with different metrics coexist. */
  readonly metric: number;
  /** As for rules: what an owned route read back carries that the agent never writes (a gateway, another type). */
  readonly unexpected?: string;
}

/** A nexthop object with one gateway: `ip nexthop add id N via <gateway> dev <dev> onlink`. */
export interface NexthopEntry {
  readonly id: number;
  readonly gateway: IpAddress;
  readonly dev: string;
}

/**
 * A resilient nexthop group: `buckets` hash buckets, each pointing at one member. When members
 * come or go, only the buckets of removed members move at once; the others move to a new member
 * only after `idleTimerS` without traffic (or after `unbalancedTimerS` of imbalance, when not 0),
 * so flows through the remaining members stay where they are.
 */
export interface NexthopGroupEntry {
  readonly id: number;
  /** Member nexthop ids, ascending; each with weight 1. */
  readonly members: readonly number[];
  readonly buckets: number;
  readonly idleTimerS: number;
  readonly unbalancedTimerS: number;
}

/** "from 100.64.1.5 lookup 1000 priority 100" (as `ip rule` words it; family from the address, or "(IPv6)" after "all"). */
export function formatRule(r: RuleEntry): string {
  const src = r.fwmark && r.src.prefixLength === 0 ? 'all' : r.src.text;
  const mark = r.fwmark ? ` fwmark 0x${r.fwmark.value.toString(16)}/0x${r.fwmark.mask.toString(16)}` : '';
  // "all" says no family: an IPv6 rule says so (`ip -6 rule` lists it apart).
  const family = src === 'all' && r.family === 6 ? ' (IPv6)' : '';
  return `from ${src}${mark} lookup ${r.table} priority ${r.priority}${family}${r.unexpected ? ` (unexpected: ${r.unexpected})` : ''}`;
}

/** "table 1000 default nhid 7 metric 10", "table 1000 unreachable default metric 4294967295". */
export function formatTableRoute(r: TableRouteEntry): string {
  const dst = r.dst.prefixLength === 0 ? `default${r.dst.family === 6 ? ' (IPv6)' : ''}` : r.dst.text;
  const what = r.type === 'nexthop' ? `${dst} nhid ${r.nexthopId ?? '?'}` : r.type === 'device' ? `${dst} dev ${r.dev ?? '?'}` : `${r.type} ${dst}`;
  return `table ${r.table} ${what} metric ${r.metric}${r.unexpected ? ` (unexpected: ${r.unexpected})` : ''}`;
}

/** "id 7 via 100.64.2.7 dev egress.calico onlink". */
export function formatNexthop(n: NexthopEntry): string {
  return `id ${n.id} via ${n.gateway.text} dev ${n.dev} onlink`;
}

/** "id 9 group 7/8 type resilient buckets 512 idle_timer 120 unbalanced_timer 0", as `ip nexthop` prints it. */
export function formatNexthopGroup(g: NexthopGroupEntry): string {
  return `id ${g.id} group ${g.members.join('/')} type resilient buckets ${g.buckets} idle_timer ${g.idleTimerS} unbalanced_timer ${g.unbalancedTimerS}`;
}
