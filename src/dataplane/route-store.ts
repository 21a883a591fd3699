import type { FelixRoute, FelixVtep, RouteKind, SyncEvent } from '../model/felix';
import { cidrOf, type IpAddress } from '../model/ip';

/**
 * What Felix has told us, with the stream's snapshot semantics:
 * - on a new stream, updates are collected into a fresh snapshot, and the route set in use does not
 *   change until that stream's in_sync; then the snapshot replaces it whole (entries it did not name
 *   are gone);
 * - after in_sync, updates change the route set in use directly;
 * - while a stream is down (or before the first in_sync) the set in use stays exactly as it was.
 */
export type StoreChange = 'changed' | 'unchanged' | 'buffered' | 'in_sync';

interface Tables {
  readonly routes: Map<string, FelixRoute>;
  readonly vteps: Map<string, FelixVtep>;
  /**
   * The same routes by node name, then dst: an incremental pass recomputes one node at a time.
   * Built when first asked for (byNodeOf), not while a snapshot arrives: the in_sync pass does not
   * read it, so the snapshot's receive and its pass do not pay for it; it is kept up to date from then on.
   */
  byNode: Map<string, Map<string, FelixRoute>> | undefined;
}

const emptyTables = (): Tables => ({ routes: new Map<string, FelixRoute>(), vteps: new Map<string, FelixVtep>(), byNode: undefined });

function addTo(byNode: Map<string, Map<string, FelixRoute>>, r: FelixRoute): void {
  let m = byNode.get(r.dstNodeName);
  if (!m) byNode.set(r.dstNodeName, (m = new Map<string, FelixRoute>()));
  m.set(r.dst.text, r);
}

function byNodeOf(t: Tables): Map<string, Map<string, FelixRoute>> {
  if (!t.byNode) {
    const byNode = new Map<string, Map<string, FelixRoute>>();
    for (const r of t.routes.values()) addTo(byNode, r);
    t.byNode = byNode;
  }
  return t.byNode;
}

function indexRoute(t: Tables, r: FelixRoute): void {
  if (t.byNode) addTo(t.byNode, r);
}

function unindexRoute(t: Tables, r: FelixRoute): void {
  const m = t.byNode?.get(r.dstNodeName);
  if (!m) return;
  m.delete(r.dst.text);
  if (m.size === 0) t.byNode?.delete(r.dstNodeName);
}

/**
 * Shares the parts of a route that many routes repeat. Each decoded message carries its own copy of
 * its node's name and address (an object with its own byte array) and its own kinds set and tunnel
 * flags; at 50k routes on ~100 nodes those copies were over half of what the store held. Values are
 * immutable, so sharing changes nothing a reader can see.
 */
class Interner {
  private readonly names = new Map<string, string>();
  private readonly ips = new Map<string, IpAddress>();
  private readonly kinds = new Map<string, ReadonlySet<RouteKind>>();
  private readonly tunnels = new Map<number, FelixRoute['tunnel']>();
  /** The last kinds set seen and its shared copy: the decoder hands out shared sets, mostly the same one. */
  private lastKinds: { readonly seen: ReadonlySet<RouteKind>; readonly shared: ReadonlySet<RouteKind> } | undefined;

  route(r: FelixRoute): FelixRoute {
    // Names and addresses come and go with nodes: start afresh now and then so that the tables stay
    // about the size of the cluster (routes already stored keep the copies they share).
    if (this.names.size + this.ips.size > 4096) {
      this.names.clear();
      this.ips.clear();
    }
    let name = this.names.get(r.dstNodeName);
    if (name === undefined) this.names.set(r.dstNodeName, (name = r.dstNodeName));
    let ip = r.dstNodeIp;
    if (ip) {
      const shared = this.ips.get(ip.text);
      if (shared) ip = shared;
      else this.ips.set(ip.text, ip);
    }
    let kinds = this.lastKinds?.seen === r.kinds ? this.lastKinds.shared : undefined;
    if (!kinds) {
      const kindsKey = [...r.kinds].join(' ');
      kinds = this.kinds.get(kindsKey);
      if (!kinds) this.kinds.set(kindsKey, (kinds = r.kinds));
      this.lastKinds = { seen: r.kinds, shared: kinds };
    }
    const t = r.tunnel;
    const tunnelKey = (t.ipip ? 1 : 0) | (t.vxlan ? 2 : 0) | (t.wireguard ? 4 : 0);
    let tunnel = this.tunnels.get(tunnelKey);
    if (!tunnel) this.tunnels.set(tunnelKey, (tunnel = t));
    // Every part already the shared one (the decoder shares them): the route as it is, no copy. Its
    // name string is equal to the interned one; the decoder shares that too (decode.ts DecodeCache).
    if (ip === r.dstNodeIp && kinds === r.kinds && tunnel === r.tunnel) return r;
    // Two plain literals rather than a spread: a spread builds the object field by field and leaves
    // it with an out-of-object property store, ~100 bytes more per route.
    const { dst, ipPoolType, sameSubnet, natOutgoing, localWorkload, borrowed } = r;
    return ip
      ? { dst, kinds, ipPoolType, dstNodeName: name, dstNodeIp: ip, sameSubnet, natOutgoing, localWorkload, borrowed, tunnel }
      : { dst, kinds, ipPoolType, dstNodeName: name, sameSubnet, natOutgoing, localWorkload, borrowed, tunnel };
  }
}

export class RouteStore {
  private readonly interner = new Interner();
  private current: Tables = emptyTables();
  /** The snapshot being received; undefined once in sync. */
  private snapshot: Tables | undefined = emptyTables();
  private syncedOnce = false;
  /** Bumped whenever the set in use changes, so derived state can be cached. */
  version = 0;
  /**
   * Nodes changed in the set in use since the last take, each with the destinations of its routes
   * that changed, or null when its VTEP did (everything of the node may then change).
   */
  private dirty = new Map<string, Set<string> | null>();

  private markDirty(node: string, dst: string | null): void {
    const held = this.dirty.get(node);
    if (held === null) return;
    if (dst === null) this.dirty.set(node, null);
    else if (held) held.add(dst);
    else this.dirty.set(node, new Set([dst]));
  }

  /** A new stream begins: a fresh snapshot is collected; the set in use stays until its in_sync. */
  streamStarted(): void {
    this.snapshot = emptyTables();
  }

  /** The stream ended: nothing changes; the next stream starts a new snapshot. */
  streamEnded(): void {
    this.snapshot = emptyTables();
  }

  /** True after in_sync on the current stream. */
  get inSync(): boolean {
    return this.snapshot === undefined;
  }

  /** True once any stream has reached in_sync (the set in use came from Felix at least once). */
  get everInSync(): boolean {
    return this.syncedOnce;
  }

  apply(event: SyncEvent): StoreChange {
    const target = this.snapshot ?? this.current;
    const live = this.snapshot === undefined;
    let changed = false;
    switch (event.kind) {
      case 'in_sync':
        if (!this.snapshot) return 'unchanged'; // a second in_sync on one stream means nothing new
        this.current = this.snapshot;
        this.snapshot = undefined;
        this.syncedOnce = true;
        this.version++;
        return 'in_sync';
      case 'route_update': {
        const route = this.interner.route(event.route);
        const old = target.routes.get(route.dst.text);
        if (old) unindexRoute(target, old);
        target.routes.set(route.dst.text, route);
        indexRoute(target, route);
        // A route that moved from one node to another changes both.
        if (live && old) this.markDirty(old.dstNodeName, route.dst.text);
        if (live) this.markDirty(route.dstNodeName, route.dst.text);
        changed = true;
        break;
      }
      case 'route_remove': {
        const old = target.routes.get(event.dst.text);
        if (old) {
          target.routes.delete(event.dst.text);
          unindexRoute(target, old);
          if (live) this.markDirty(old.dstNodeName, old.dst.text);
        }
        changed = old !== undefined;
        break;
      }
      case 'vtep_update':
        target.vteps.set(event.vtep.node, event.vtep);
        if (live) this.markDirty(event.vtep.node, null);
        changed = true;
        break;
      case 'vtep_remove':
        changed = target.vteps.delete(event.node);
        if (live && changed) this.markDirty(event.node, null);
        break;
      case 'ignored':
      case 'malformed':
        return 'unchanged';
    }
    if (!live) return 'buffered';
    if (changed) this.version++;
    return changed ? 'changed' : 'unchanged';
  }

  /**
   * The nodes changed since the last call, each with its changed destinations (null: its VTEP
   * changed), and forgets them. After an in_sync every node changed: callers recompute everything
   * then, and call this to start afresh.
   */
  takeDirty(): Map<string, ReadonlySet<string> | null> {
    const out = this.dirty;
    this.dirty = new Map();
    return out;
  }

  /** The route in use for `dst` (a prefix's text), if any. */
  routeAt(dst: string): FelixRoute | undefined {
    return this.current.routes.get(dst);
  }

  /** Names of every node some route in use names ('' for routes naming none). */
  nodes(): Iterable<string> {
    return byNodeOf(this.current).keys();
  }

  /** The routes in use that name `node`. */
  routesOf(node: string): Iterable<FelixRoute> {
    return byNodeOf(this.current).get(node)?.values() ?? [];
  }

  vtepOf(node: string): FelixVtep | undefined {
    return this.current.vteps.get(node);
  }

  routes(): Iterable<FelixRoute> {
    return this.current.routes.values();
  }

  vteps(): Iterable<FelixVtep> {
    return this.current.vteps.values();
  }

  get routeCount(): number {
    return this.current.routes.size;
  }

  private nodeIndex: { version: number; byFamily: Map<number, [number, Map<string, string>][]> } | undefined;

  /**
   * The node of the workload route (block or borrowed /32) that covers `ip`, longest prefix first;
   * undefined when none does. For the SNAT audit log: which client node a pod IP lives on.
   * Indexed by family and prefix length, rebuilt only when the route set changes, so a lookup costs
   * a few map reads however many routes there are.
   */
  nodeFor(ip: IpAddress): string | undefined {
    if (!this.nodeIndex || this.nodeIndex.version !== this.version) {
      const byFamily = new Map<number, Map<number, Map<string, string>>>();
      for (const r of this.current.routes.values()) {
        if (r.dstNodeName === '' || !(r.kinds.has('remote_workload') || r.kinds.has('local_workload'))) continue;
        let lengths = byFamily.get(r.dst.family);
        if (!lengths) byFamily.set(r.dst.family, (lengths = new Map<number, Map<string, string>>()));
        let networks = lengths.get(r.dst.prefixLength);
        if (!networks) lengths.set(r.dst.prefixLength, (networks = new Map<string, string>()));
        networks.set(r.dst.address.text, r.dstNodeName);
      }
      const sorted = new Map<number, [number, Map<string, string>][]>();
      for (const [family, lengths] of byFamily) sorted.set(family, [...lengths.entries()].sort((a, b) => b[0] - a[0]));
      this.nodeIndex = { version: this.version, byFamily: sorted };
    }
    for (const [len, networks] of this.nodeIndex.byFamily.get(ip.family) ?? []) {
      const node = networks.get(cidrOf(ip, len).address.text);
      if (node !== undefined) return node;
    }
    return undefined;
  }
}
