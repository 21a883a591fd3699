import type { FdbEntry, NeighbourEntry, RouteEntry } from '../dataplane/entries';

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

export interface Routes {
  list(): Promise<RouteEntry[]>;
  /** `existing` is what the kernel held under the same key, when anything (a replace, not a create). */
  upsert(route: RouteEntry, existing?: RouteEntry): Promise<void>;
  remove(route: RouteEntry): Promise<void>;
}

export interface Neighbours {
  list(dev: string): Promise<NeighbourEntry[]>;
  upsert(neighbour: NeighbourEntry): Promise<void>;
  remove(neighbour: NeighbourEntry): Promise<void>;
}

export interface Fdb {
  list(dev: string): Promise<FdbEntry[]>;
  upsert(entry: FdbEntry): Promise<void>;
  remove(entry: FdbEntry): Promise<void>;
}

export interface ReturnPathKernel {
  readonly routes: Routes;
  readonly neighbours: Neighbours;
  readonly fdb: Fdb;
}
