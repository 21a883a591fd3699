import { desiredReturnPath, type ReturnPathOptions } from './desired';
import type { ReturnPathEntries } from './diff';
import { fdbKind, neighbourKind, routeKind, type EntryKind, type FdbEntry, type NeighbourEntry, type RouteEntry } from './entries';
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
}

type ClassName = keyof Part;
const CLASSES: readonly ClassName[] = ['routes', 'neighbours', 'fdb'];

/** Keys an incremental pass must diff, per class. */
export interface TouchedKeys {
  readonly routes: Set<string>;
  readonly neighbours: Set<string>;
  readonly fdb: Set<string>;
}

function partOf(store: RouteStore, node: string, opts: ReturnPathOptions): Part {
  const vtep = store.vtepOf(node);
  const d = desiredReturnPath(store.routesOf(node), vtep ? [vtep] : [], opts);
  const byKey = <T>(kind: EntryKind<T>, xs: readonly T[]): Map<string, T> => new Map(xs.map((x) => [kind.key(x), x]));
  return { routes: byKey(routeKind, d.routes), neighbours: byKey(neighbourKind, d.neighbours), fdb: byKey(fdbKind, d.fdb) };
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

  constructor(
    private readonly store: RouteStore,
    private readonly opts: ReturnPathOptions,
  ) {
    for (const node of [...store.nodes()]) this.recompute(node);
  }

  /** True when some key has two owners: the union of parts is then not the desired state. */
  get clashes(): boolean {
    return this.clashCount > 0;
  }

  /** Recomputes the parts of `nodes`; returns every key they held before or hold now. */
  update(nodes: Iterable<string>): TouchedKeys {
    const touched: TouchedKeys = { routes: new Set(), neighbours: new Set(), fdb: new Set() };
    for (const node of nodes) {
      const old = this.parts.get(node);
      if (old) for (const cls of CLASSES) for (const k of old[cls].keys()) touched[cls].add(k);
      const now = this.recompute(node);
      if (now) for (const cls of CLASSES) for (const k of now[cls].keys()) touched[cls].add(k);
    }
    return touched;
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

  private recompute(node: string): Part | undefined {
    const old = this.parts.get(node);
    if (old) for (const cls of CLASSES) for (const k of old[cls].keys()) this.disown(cls, k, node);
    const now = partOf(this.store, node, this.opts);
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
