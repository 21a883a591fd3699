import type { FelixRoute, FelixVtep } from '../model/felix';
import type { Family, IpAddress } from '../model/ip';
import { clientVtepMac } from '../model/mac';
import { clientSkipReason, desiredReturnPath, nodeContext, ownAddresses, type OwnAddresses, type ReturnPathOptions } from './desired';
import type { ReturnPathEntries } from './diff';
import { fdbKind, neighbourKind, routeKind, type EntryKind, type FdbEntry, type NeighbourEntry, type RouteEntry } from '../model/entries';
import type { RouteStore } from './route-store';

/**
 * The desired return path kept node by node, so that a pass after a few live updates recomputes
 * only the nodes they touched.
 *
 * Why per node is enough: every entry desiredReturnPath makes for a client block depends only on
 * routes and the VTEP of the block's own node (its tunnel address, whether any of its blocks is
 * encapsulated, its underlay-family address for dual-stack), never on another node's — except
 * through a clash: two nodes producing the same key (one node's tunnel /32 equal to another's
 * block, two nodes claiming one node address, two node names with one MAC). So each node's part is
 * desiredReturnPath over that node's routes and VTEP alone, and while no key has two owners the
 * union of the parts equals the full computation. With a clash the caller falls back to the full
 * computation, which settles it by its order rules.
 */

interface Part {
  readonly routes: Map<string, RouteEntry>;
  readonly neighbours: Map<string, NeighbourEntry>;
  readonly fdb: Map<string, FdbEntry>;
  /** What of the node's state every block's entries depend on (see contextOf). */
  readonly context: Context;
  /** Client routes per neighbour key; counted on the first per-route update of the node. */
  refs?: Map<string, number>;
}

interface Context {
  /** Equal texts: equal node-level facts. '' when the node has no client block. */
  readonly text: string;
  /** The tunnel /32 route's key, when the node has one. */
  readonly tunnelKey?: string;
}

/**
 * The node-level facts every client block's entries depend on (nodeContext: the VXLAN outer
 * destination and the tunnel /32 route, which also hides a client block of the same prefix), and
 * whether any block gets entries (the FDB entry exists then). While they stay the same, a changed
 * route changes only its own route entry and the neighbour of its node address; when they change,
 * the whole part is recomputed.
 */
function contextOf(routes: Iterable<FelixRoute>, vtep: FelixVtep | undefined, opts: ReturnPathOptions, families: ReadonlySet<Family>, own: OwnAddresses): Context {
  const clients: FelixRoute[] = [];
  const tunnels: FelixRoute[] = [];
  for (const r of routes) {
    if (r.kinds.has('remote_tunnel')) tunnels.push(r);
    if (r.kinds.has('remote_workload') && clientSkipReason(r, families, own) === undefined) clients.push(r);
  }
  if (clients.length === 0) return { text: '' };
  const ctx = nodeContext(clients, tunnels, vtep, opts);
  if (ctx.outer && ctx.tunnelRoute) {
    // A block equal to the tunnel /32 is skipped; if it is the only block, there is no FDB entry.
    const tunnelKey = routeKind.key(ctx.tunnelRoute);
    return { text: `tunnel ${ctx.outer.text} ${clients.some((c) => c.dst.text !== tunnelKey)}`, tunnelKey };
  }
  return { text: ctx.outer ? `direct ${ctx.outer.text}` : 'none' };
}

type ClassName = 'routes' | 'neighbours' | 'fdb';
const CLASSES: readonly ClassName[] = ['routes', 'neighbours', 'fdb'];

/** Keys an incremental pass must diff, per class. */
export interface TouchedKeys {
  readonly routes: Set<string>;
  readonly neighbours: Set<string>;
  readonly fdb: Set<string>;
}

/** The route in use for `dst` when it names `node`. */
function nodeRoute(store: RouteStore, node: string, dst: string): FelixRoute | undefined {
  const r = store.routeAt(dst);
  return r && r.dstNodeName === node ? r : undefined;
}

/** `context`: the node's, when the caller has just computed it (update() does, to compare). */
function partOf(store: RouteStore, node: string, opts: ReturnPathOptions, families: ReadonlySet<Family>, own: OwnAddresses, context?: Context): Part {
  const vtep = store.vtepOf(node);
  const d = desiredReturnPath(store.routesOf(node), vtep ? [vtep] : [], opts, undefined, own);
  const byKey = <T>(kind: EntryKind<T>, xs: readonly T[]): Map<string, T> => new Map(xs.map((x) => [kind.key(x), x]));
  return {
    routes: byKey(routeKind, d.routes),
    neighbours: byKey(neighbourKind, d.neighbours),
    fdb: byKey(fdbKind, d.fdb),
    context: context ?? contextOf(store.routesOf(node), vtep, opts, families, own),
  };
}

export class NodeParts {
  private readonly parts = new Map<string, Part>();
  /**
   * key → the node whose part holds it, per class; a list only while several do (a clash). Almost
   * every key has one owner, and a one-element array per key cost ~1.5 MiB at 50k routes.
   */
  private readonly owners: Record<ClassName, Map<string, string | string[]>> = { routes: new Map(), neighbours: new Map(), fdb: new Map() };
  /** Keys with more than one owner. */
  private clashCount = 0;

  private readonly families: ReadonlySet<Family>;
  private readonly ownAddresses: OwnAddresses;

  constructor(
    private readonly store: RouteStore,
    private readonly opts: ReturnPathOptions,
  ) {
    this.families = opts.families ?? new Set<Family>([4]);
    this.ownAddresses = ownAddresses(opts.gatewayIps ?? [opts.gatewayIp]);
    for (const node of [...store.nodes()]) this.recompute(node);
  }

  /** True when some key has two owners: the union of parts is then not the desired state. */
  get clashes(): boolean {
    return this.clashCount > 0;
  }

  /**
   * Brings the parts of the changed nodes up to date (node → its changed destinations, or null
   * when its VTEP changed); returns every key they held before or hold now. A node whose context
   * is unchanged is updated route by route; otherwise its part is recomputed whole.
   */
  update(changes: ReadonlyMap<string, ReadonlySet<string> | null>): TouchedKeys {
    const touched: TouchedKeys = { routes: new Set(), neighbours: new Set(), fdb: new Set() };
    for (const [node, dsts] of changes) {
      const old = this.parts.get(node);
      let ctx: Context | undefined;
      if (old && dsts) {
        ctx = contextOf(this.store.routesOf(node), this.store.vtepOf(node), this.opts, this.families, this.ownAddresses);
        if (ctx.text === old.context.text && ctx.tunnelKey === old.context.tunnelKey) {
          for (const dst of dsts) this.updateRoute(node, old, dst, touched);
          continue;
        }
      }
      if (old) for (const cls of CLASSES) for (const k of old[cls].keys()) touched[cls].add(k);
      // The context just computed (if any) is the new part's: the store has not changed since.
      const now = this.recompute(node, ctx);
      if (now) for (const cls of CLASSES) for (const k of now[cls].keys()) touched[cls].add(k);
    }
    return touched;
  }

  /** Redoes the entries of one block of `node`, whose context is unchanged. */
  private updateRoute(node: string, part: Part, dst: string, touched: TouchedKeys): void {
    // The tunnel /32 route is part of the context; a block at its prefix gets nothing.
    if (dst === part.context.tunnelKey) return;
    const dev = this.opts.vxlanDevice;
    const neighbourKey = (ip: IpAddress): string => neighbourKind.key({ ip, mac: '', dev });
    const refs = part.refs ?? (part.refs = this.countRefs(part));
    touched.routes.add(dst);
    const was = part.routes.get(dst);
    if (was) {
      part.routes.delete(dst);
      this.disown('routes', dst, node);
      if (was.gateway) {
        const nk = neighbourKey(was.gateway);
        touched.neighbours.add(nk);
        const left = (refs.get(nk) ?? 0) - 1;
        if (left > 0) refs.set(nk, left);
        else {
          refs.delete(nk);
          part.neighbours.delete(nk);
          this.disown('neighbours', nk, node);
        }
      }
    }
    const r = nodeRoute(this.store, node, dst);
    if (!r || part.context.text === 'none' || !r.kinds.has('remote_workload')) return;
    if (clientSkipReason(r, this.families, this.ownAddresses) !== undefined) return;
    const nodeIp = r.dstNodeIp as IpAddress;
    const route: RouteEntry = { dst: r.dst, gateway: nodeIp, dev, onlink: true };
    part.routes.set(dst, route);
    this.own('routes', dst, node);
    const nk = neighbourKey(nodeIp);
    touched.neighbours.add(nk);
    const held = refs.get(nk) ?? 0;
    if (held === 0) {
      const mac = part.fdb.values().next().value?.mac ?? clientVtepMac(node);
      part.neighbours.set(nk, { ip: nodeIp, mac, dev });
      this.own('neighbours', nk, node);
    }
    refs.set(nk, held + 1);
  }

  /** Client routes per neighbour key in a part built whole. */
  private countRefs(part: Part): Map<string, number> {
    const refs = new Map<string, number>();
    for (const [k, r] of part.routes) {
      if (k === part.context.tunnelKey || !r.gateway) continue;
      const nk = neighbourKind.key({ ip: r.gateway, mac: '', dev: this.opts.vxlanDevice });
      refs.set(nk, (refs.get(nk) ?? 0) + 1);
    }
    return refs;
  }

  /** The desired entries under `keys` (valid only without clashes). */
  entriesFor(keys: TouchedKeys): ReturnPathEntries {
    return { routes: this.lookup('routes', keys.routes), neighbours: this.lookup('neighbours', keys.neighbours), fdb: this.lookup('fdb', keys.fdb) };
  }

  /** The whole desired state, the union of the parts (valid only without clashes). */
  all(): ReturnPathEntries {
    const collect = <C extends ClassName>(cls: C): Part[C] extends Map<string, infer T> ? T[] : never => {
      const out: unknown[] = [];
      for (const p of this.parts.values()) for (const e of p[cls].values()) out.push(e);
      return out as never;
    };
    return { routes: collect('routes'), neighbours: collect('neighbours'), fdb: collect('fdb') };
  }

  private lookup<C extends ClassName>(cls: C, keys: Iterable<string>): (Part[C] extends Map<string, infer T> ? T : never)[] {
    const out: unknown[] = [];
    for (const k of keys) {
      const o = this.owners[cls].get(k);
      const owner = typeof o === 'string' ? o : o?.[0];
      const e = owner === undefined ? undefined : this.parts.get(owner)?.[cls].get(k);
      if (e !== undefined) out.push(e);
    }
    return out as never;
  }

  private recompute(node: string, context?: Context): Part | undefined {
    const old = this.parts.get(node);
    if (old) for (const cls of CLASSES) for (const k of old[cls].keys()) this.disown(cls, k, node);
    const now = partOf(this.store, node, this.opts, this.families, this.ownAddresses, context);
    if (now.routes.size + now.neighbours.size + now.fdb.size === 0) {
      this.parts.delete(node);
      return undefined;
    }
    this.parts.set(node, now);
    for (const cls of CLASSES) for (const k of now[cls].keys()) this.own(cls, k, node);
    return now;
  }

  private own(cls: ClassName, key: string, node: string): void {
    const held = this.owners[cls].get(key);
    if (held === undefined) {
      this.owners[cls].set(key, node);
      return;
    }
    const list = typeof held === 'string' ? [held] : held;
    list.push(node);
    this.owners[cls].set(key, list);
    if (list.length === 2) this.clashCount++;
  }

  private disown(cls: ClassName, key: string, node: string): void {
    const held = this.owners[cls].get(key);
    if (held === undefined) return;
    if (typeof held === 'string') {
      if (held === node) this.owners[cls].delete(key);
      return;
    }
    const i = held.indexOf(node);
    if (i < 0) return;
    held.splice(i, 1);
    if (held.length === 1) {
      this.clashCount--;
      this.owners[cls].set(key, held[0] as string);
    }
  }
}
