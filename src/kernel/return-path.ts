import type { FdbEntry, NeighbourEntry, ReturnPathEntries, RouteEntry } from '../model/entries';

/**
 * The kernel tables the return path lives in, limited to what the gateway owns:
 * - routes: main table, route protocol RETURN_PATH_ROUTE_PROTOCOL;
 * - neighbours and FDB entries: permanent ones on the VXLAN device.
 * `list` shows only owned entries; `remove` never touches anything else. `upsert` creates the entry
 * or replaces the owned entry with the same key (NLM_F_CREATE|NLM_F_REPLACE); a route whose
 * destination is held by a route the gateway does not own fails with EEXIST rather than replacing it.
 * Removing an entry that is already gone succeeds.
 */

/**
 * Route protocol number of every route the gateway programs. 0x45 ('E', for egress) is not used by
 * the kernel's RTPROT_* values nor by iproute2's rt_protos (which stop at 4, 8–19, 42, 99, 186–192),
 * so `ip route show proto 69` lists exactly our routes.
 */
export const RETURN_PATH_ROUTE_PROTOCOL = 0x45;

/** The main routing table (RT_TABLE_MAIN). */
export const MAIN_TABLE = 254;

/**
 * What a batch call returns: one slot per item, in order, undefined when that item succeeded and
 * its own error otherwise. A batch never fails as a whole, so one bad entry never hides the rest.
 */
export type BatchErrors = readonly (Error | undefined)[];

/** An upsert: `existing` is what the kernel held under the same key, when anything (a replace, not a create). */
export interface Upsert<T> {
  readonly entry: T;
  readonly existing?: T;
}

/**
 * Each port has single-entry calls and batch calls with the same meaning; the reconciler uses the
 * batch calls, which let an adapter write a whole class of entries at once (one promise, a few
 * datagrams) instead of one promise per entry.
 */
export interface Routes {
  list(): Promise<RouteEntry[]>;
  /** `existing` is what the kernel held under the same key, when anything (a replace, not a create). */
  upsert(route: RouteEntry, existing?: RouteEntry): Promise<void>;
  remove(route: RouteEntry): Promise<void>;
  upsertMany(items: readonly Upsert<RouteEntry>[]): Promise<BatchErrors>;
  removeMany(routes: readonly RouteEntry[]): Promise<BatchErrors>;
}

export interface Neighbours {
  list(dev: string): Promise<NeighbourEntry[]>;
  upsert(neighbour: NeighbourEntry): Promise<void>;
  remove(neighbour: NeighbourEntry): Promise<void>;
  upsertMany(items: readonly Upsert<NeighbourEntry>[]): Promise<BatchErrors>;
  removeMany(neighbours: readonly NeighbourEntry[]): Promise<BatchErrors>;
}

export interface Fdb {
  list(dev: string): Promise<FdbEntry[]>;
  upsert(entry: FdbEntry): Promise<void>;
  remove(entry: FdbEntry): Promise<void>;
  upsertMany(items: readonly Upsert<FdbEntry>[]): Promise<BatchErrors>;
  removeMany(entries: readonly FdbEntry[]): Promise<BatchErrors>;
}

/** Batch calls made of single ones, for adapters with nothing to gain from batching (the fake). */
export async function eachOf<T>(items: readonly T[], one: (item: T) => Promise<void>): Promise<BatchErrors> {
  const out: (Error | undefined)[] = [];
  for (const item of items) {
    try {
      await one(item);
      out.push(undefined);
    } catch (err) {
      out.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return out;
}

export interface ReturnPathKernel {
  readonly routes: Routes;
  readonly neighbours: Neighbours;
  readonly fdb: Fdb;
  /**
   * A digest of the owned routes and the owned entries on `vxlanDevice` as the kernel holds them,
   * equal (but for a 64-bit collision) to `digest` of the same entries whatever their order. Much
   * cheaper than listing them: a periodic resync whose fingerprint equals the digest of what the
   * gateway believes the kernel holds has nothing to read.
   */
  fingerprint(vxlanDevice: string): Promise<string>;
  /** What `fingerprint` returns when the kernel holds exactly `entries` as its owned entries. */
  digest(entries: ReturnPathEntries, vxlanDevice: string): Promise<string>;
}
