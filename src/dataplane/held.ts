import { fdbKind, neighbourKind, routeKind, type EntryKind } from '../model/entries';
import type { IpAddress } from '../model/ip';
import { diffClass, diffHeld, holdEntry, type HeldMap, type ReturnPathEntries, type ReturnPathPlan } from './diff';
import type { TouchedKeys } from './node-parts';

/**
 * What the gateway believes the kernel holds, the way tailscale's router keeps it: one held map
 * per class of entry (routes, neighbours, FDB), by key. A pass diffs what it wants against these
 * maps and each applied step hands back what the kernel now holds under the keys it touched, so
 * after a pass the maps are exactly the writes that succeeded on top of what was held (or read).
 */

export interface EntryCounts {
  readonly routes: number;
  readonly neighbours: number;
  readonly fdb: number;
}

function heldList<T>(h: T | T[] | undefined): readonly T[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/** One class: the held map, and its size kept as entries come and go (status reads it after every pass). */
export class HeldTable<T> {
  readonly map: HeldMap<T> = new Map();
  private n = 0;
  /**
   * Every held entry once, in the order the last kernel read that matched listed them; dropped by
   * any change. A table the kernel has not changed is listed in the same order again, so an idle
   * resync compares the read with this, position by position, without a lookup.
   */
  private order: readonly T[] | undefined;
  /** Bumped by every change of what is held (adopting equal entries is none). */
  private changes = 0;

  constructor(readonly kind: EntryKind<T>) {}

  get version(): number {
    return this.changes;
  }

  get count(): number {
    return this.n;
  }

  /** One more entry the kernel holds under its key (from a kernel read). */
  hold(x: T): void {
    holdEntry(this.map, this.kind, x);
    this.n++;
    this.order = undefined;
    this.changes++;
  }

  /** The kernel now holds `x` under its key, in place of what it held there. */
  upserted(x: T): void {
    const k = this.kind.key(x);
    this.n += 1 - heldList(this.map.get(k)).length;
    this.map.set(k, x);
    this.order = undefined;
    this.changes++;
  }

  /** The kernel no longer holds `x` (entries under its key that differ from it stay). */
  removed(x: T): void {
    const k = this.kind.key(x);
    const held = heldList(this.map.get(k));
    const rest = held.filter((e) => !this.kind.same(e, x));
    this.n -= held.length - rest.length;
    if (rest.length > 1) this.map.set(k, rest);
    else if (rest.length === 1) this.map.set(k, rest[0] as T);
    else this.map.delete(k);
    this.order = undefined;
    this.changes++;
  }

  /** Wanted entries the kernel holds exactly, alone under their key: keep them, not the copies read. */
  adopt(xs: readonly T[]): void {
    for (const w of xs) {
      const k = this.kind.key(w);
      if (!Array.isArray(this.map.get(k))) this.map.set(k, w);
    }
  }

  /** The entries held under `keys`. */
  under(keys: Iterable<string>): T[] {
    const out: T[] = [];
    for (const k of keys) out.push(...heldList(this.map.get(k)));
    return out;
  }

  /**
   * `read` (a kernel read of this class) holds exactly these entries. In the order of the last
   * matching read: one comparison per entry; otherwise one lookup per entry. Entries under a key
   * that holds several, or read twice, make it false (the full diff sorts those out).
   */
  holdsExactly(read: readonly T[]): boolean {
    if (read.length !== this.n) return false;
    const order = this.order;
    if (order && order.length === read.length) {
      let i = 0;
      while (i < read.length && this.kind.same(order[i] as T, read[i] as T)) i++;
      if (i === read.length) return true;
    }
    const seen = new Set<T>();
    const listed: T[] = [];
    for (const x of read) {
      const h = this.map.get(this.kind.key(x));
      if (h === undefined || Array.isArray(h) || !this.kind.same(h, x)) return false;
      seen.add(h);
      listed.push(h);
    }
    if (seen.size !== read.length) return false;
    this.order = listed;
    return true;
  }
}

/** The three held maps. */
export class HeldState {
  readonly routes = new HeldTable(routeKind);
  readonly neighbours = new HeldTable(neighbourKind);
  readonly fdb = new HeldTable(fdbKind);

  /** What a kernel read found. */
  static of(e: ReturnPathEntries): HeldState {
    const p = new HeldState();
    for (const x of e.routes) p.routes.hold(x);
    for (const x of e.neighbours) p.neighbours.hold(x);
    for (const x of e.fdb) p.fdb.hold(x);
    return p;
  }

  /** Changes with every change of what is held: a value computed from the held maps stays valid while it does not. */
  get version(): number {
    return this.routes.version + this.neighbours.version + this.fdb.version;
  }

  holdsExactly(read: ReturnPathEntries): boolean {
    return this.routes.holdsExactly(read.routes) && this.neighbours.holdsExactly(read.neighbours) && this.fdb.holdsExactly(read.fdb);
  }

  counts(): EntryCounts {
    return { routes: this.routes.count, neighbours: this.neighbours.count, fdb: this.fdb.count };
  }

  /** Every entry held, per class (for `status --entries`, and the fingerprint's comparison). */
  entries(): ReturnPathEntries {
    const all = <T>(t: HeldTable<T>): T[] => t.under(t.map.keys());
    return { routes: all(this.routes), neighbours: all(this.neighbours), fdb: all(this.fdb) };
  }

  /** The MAC of the neighbour entry held for `ip` on `dev` (the first, if several). */
  neighbourMac(dev: string, ip: IpAddress): string | undefined {
    return heldList(this.neighbours.map.get(neighbourKind.key({ ip, mac: '', dev })))[0]?.mac;
  }

  /**
   * The plan restricted to `keys`: every other key is known to be as the last pass left it. Keys
   * that need no operation keep the wanted entry (as `diffAll` does).
   */
  diffKeys(want: ReturnPathEntries, keys: TouchedKeys): ReturnPathPlan {
    const plan = {
      routes: diffClass(routeKind, this.routes.under(keys.routes), want.routes),
      neighbours: diffClass(neighbourKind, this.neighbours.under(keys.neighbours), want.neighbours),
      fdb: diffClass(fdbKind, this.fdb.under(keys.fdb), want.fdb),
    };
    this.routes.adopt(plan.routes.same);
    this.neighbours.adopt(plan.neighbours.same);
    this.fdb.adopt(plan.fdb.same);
    return plan;
  }

  /**
   * The whole plan, against the held maps themselves; wanted entries the kernel holds exactly are
   * adopted (see diffHeld), so a resync that finds nothing changed builds no second map.
   */
  diffAll(want: ReturnPathEntries): ReturnPathPlan {
    return {
      routes: diffHeld(routeKind, this.routes.map, want.routes, { adopt: true }),
      neighbours: diffHeld(neighbourKind, this.neighbours.map, want.neighbours, { adopt: true }),
      fdb: diffHeld(fdbKind, this.fdb.map, want.fdb, { adopt: true }),
    };
  }
}
