import type { NexthopEntry, NexthopGroupEntry, RuleEntry, TableRouteEntry } from '../model/policy-routing';
import type { IpAddress } from '../model/ip';
import type { BatchErrors, Upsert } from './return-path';

/**
 * The kernel's policy routing as the agent's steering sees it: rules, routes in the agent's own
 * tables, nexthop objects and resilient groups. Owned entries only, recognised by the project's
 * route protocol number (rules: FRA_PROTOCOL; routes: rtm_protocol; nexthops: nh_protocol); routes
 * of the main, local and default tables are never listed (the gateway's return path lives in main
 * under the same protocol, in another network namespace). Batch calls never fail as a whole: one
 * slot per item, as the return path's ports.
 */
export interface PolicyRouting {
  /** Owned rules of both families. */
  listRules(): Promise<RuleEntry[]>;
  addRules(rules: readonly RuleEntry[]): Promise<BatchErrors>;
  /** Removing a rule that is already gone succeeds. */
  removeRules(rules: readonly RuleEntry[]): Promise<BatchErrors>;

  /** Owned routes of both families in every table but main, local and default. */
  listTableRoutes(): Promise<TableRouteEntry[]>;
  /** Creates, or replaces the owned route with the same table, dst and metric (`existing`). */
  upsertTableRoutes(items: readonly Upsert<TableRouteEntry>[]): Promise<BatchErrors>;
  removeTableRoutes(routes: readonly TableRouteEntry[]): Promise<BatchErrors>;

  /** Owned nexthop objects (single and groups), and the ids everybody else's use (never to be taken). */
  listNexthops(): Promise<NexthopListing>;
  upsertNexthops(items: readonly Upsert<NexthopEntry>[]): Promise<BatchErrors>;
  /** Replacing a resilient group keeps the buckets of the members that stay. */
  upsertGroups(items: readonly Upsert<NexthopGroupEntry>[]): Promise<BatchErrors>;
  /** Deletes nexthop objects by id (single or group); one already gone is done. */
  removeNexthops(ids: readonly number[]): Promise<BatchErrors>;

  /** The name of the device that holds `ip` as a local address, if any. */
  deviceWithAddress(ip: IpAddress): Promise<string | undefined>;
}

export interface NexthopListing {
  readonly nexthops: readonly NexthopEntry[];
  readonly groups: readonly NexthopGroupEntry[];
  readonly foreignIds: readonly number[];
}

/** Why the kernel's policy routing may have changed under the agent: it asks for a fresh pass. */
export interface PolicyRoutingWatch {
  /**
   * Calls `onChange` for every kernel notification about an owned rule, route or nexthop, about a
   * permanent neighbour or FDB entry of `device`, or about `device` itself; `onError` when events
   * were lost (the caller then reads everything again). Throws a coded error when the kernel
   * refuses the subscription.
   */
  watch(device: string, handlers: { onChange(what: string): void; onError(err: Error): void }): void;
  close(): void;
}
