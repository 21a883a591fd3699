import {
  fdbKind,
  formatFdb,
  formatNeighbour,
  formatRoute,
  neighbourKind,
  routeKind,
  type EntryClass,
  type FdbEntry,
  type NeighbourEntry,
  type ReturnPathEntries,
  type RouteEntry,
} from '../model/entries';
import { eachOf, type Fdb, type Neighbours, type ReturnPathKernel, type Routes } from '../kernel/return-path';

/**
 * A stateful in-memory kernel for the return path. It keeps foreign entries too (routes of other
 * protocols, non-permanent neighbours), so tests can check that the gateway leaves them alone, and
 * it prints itself like `ip route` / `ip neigh` / `bridge fdb`. Errors can be injected per class,
 * operation and entry; every write is logged.
 */

export type FakeOp = 'list' | 'upsert' | 'remove';
export type FakeErrno = 'EEXIST' | 'ENOENT' | 'ENETUNREACH' | 'EBUSY' | 'ENOBUFS' | 'ENODEV' | 'ESRCH' | 'EINVAL';

interface Injection {
  readonly cls: EntryClass;
  readonly op: FakeOp;
  readonly errno: FakeErrno;
  /** Only entries whose printed form contains this text (any entry when absent). */
  readonly match?: string;
  remaining: number;
}

export function errnoError(errno: string, what: string): NodeJS.ErrnoException {
  const err = new Error(`${errno} (${what})`) as NodeJS.ErrnoException;
  err.code = errno;
  return err;
}

interface Held<T> {
  entry: T;
  owned: boolean;
  /** For neighbours: the NUD state shown in the dump. */
  state?: string;
}

export class FakeReturnPathKernel implements ReturnPathKernel {
  private readonly routeTable: Held<RouteEntry>[] = [];
  private readonly neighTable: Held<NeighbourEntry>[] = [];
  private readonly fdbTable: Held<FdbEntry>[] = [];
  private readonly injections: Injection[] = [];
  /** Devices that exist; writes naming another device fail with ENODEV. */
  readonly devices = new Set<string>(['eth0', 'vxlan0']);
  /** Every successful write, in order ("add route …", "replace neigh …", "del fdb …"). */
  readonly writes: string[] = [];
  /** Every call, including lists and failed writes (not fingerprints, counted apart). */
  calls = 0;
  /** Fingerprints taken. */
  fingerprints = 0;
  /** Digests of held maps asked for (each a pass over every held entry). */
  digests = 0;

  readonly routes: Routes = {
    list: async () => {
      this.enter('route', 'list', '');
      return this.routeTable.filter((h) => h.owned).map((h) => h.entry);
    },
    upsert: async (r, existing) => {
      const text = formatRoute(r);
      this.enter('route', 'upsert', text);
      this.needDevice(r.dev, text);
      const i = this.routeTable.findIndex((h) => routeKind.key(h.entry) === routeKind.key(r));
      const held = this.routeTable[i];
      if (held && (!held.owned || !existing)) throw errnoError('EEXIST', `route ${text}`);
      if (held) held.entry = r;
      else this.routeTable.push({ entry: r, owned: true });
      this.writes.push(`${held ? 'replace' : 'add'} route ${text}`);
    },
    remove: async (r) => {
      const text = formatRoute(r);
      this.enter('route', 'remove', text);
      // The adapter's RTM_DELROUTE names the gateway and device too, so the kernel deletes the route
      // that matches them, not just any route to the destination (which matters only when several are held).
      const i = this.routeTable.findIndex((h) => h.owned && formatRoute(h.entry) === text);
      if (i < 0) return;
      this.routeTable.splice(i, 1);
      this.writes.push(`del route ${text}`);
    },
    upsertMany: (items) => eachOf(items, (i) => this.routes.upsert(i.entry, i.existing)),
    removeMany: (routes) => eachOf(routes, (r) => this.routes.remove(r)),
  };

  readonly neighbours: Neighbours = {
    list: async (dev) => {
      this.enter('neighbour', 'list', '');
      return this.neighTable.filter((h) => h.owned && h.entry.dev === dev).map((h) => h.entry);
    },
    upsert: async (n) => {
      const text = formatNeighbour(n);
      this.enter('neighbour', 'upsert', text);
      this.needDevice(n.dev, text);
      const held = this.neighTable.find((h) => neighbourKind.key(h.entry) === neighbourKind.key(n));
      if (held) Object.assign(held, { entry: n, owned: true, state: 'PERMANENT' });
      else this.neighTable.push({ entry: n, owned: true, state: 'PERMANENT' });
      this.writes.push(`${held ? 'replace' : 'add'} neigh ${text}`);
    },
    remove: async (n) => {
      const text = formatNeighbour(n);
      this.enter('neighbour', 'remove', text);
      const i = this.neighTable.findIndex((h) => h.owned && neighbourKind.key(h.entry) === neighbourKind.key(n));
      if (i < 0) return;
      this.neighTable.splice(i, 1);
      this.writes.push(`del neigh ${text}`);
    },
    upsertMany: (items) => eachOf(items, (i) => this.neighbours.upsert(i.entry)),
    removeMany: (ns) => eachOf(ns, (n) => this.neighbours.remove(n)),
  };

  readonly fdb: Fdb = {
    list: async (dev) => {
      this.enter('fdb', 'list', '');
      return this.fdbTable.filter((h) => h.owned && h.entry.dev === dev).map((h) => h.entry);
    },
    upsert: async (f) => {
      const text = formatFdb(f);
      this.enter('fdb', 'upsert', text);
      this.needDevice(f.dev, text);
      const held = this.fdbTable.find((h) => fdbKind.key(h.entry) === fdbKind.key(f));
      if (held) Object.assign(held, { entry: f, owned: true });
      else this.fdbTable.push({ entry: f, owned: true });
      this.writes.push(`${held ? 'replace' : 'add'} fdb ${text}`);
    },
    remove: async (f) => {
      const text = formatFdb(f);
      this.enter('fdb', 'remove', text);
      const i = this.fdbTable.findIndex((h) => h.owned && fdbKind.format(h.entry) === text);
      if (i < 0) return;
      this.fdbTable.splice(i, 1);
      this.writes.push(`del fdb ${text}`);
    },
    upsertMany: (items) => eachOf(items, (i) => this.fdb.upsert(i.entry)),
    removeMany: (fs) => eachOf(fs, (f) => this.fdb.remove(f)),
  };

  /** The owned routes and owned entries on `dev` as sorted text: equal when the entries are. */
  async fingerprint(dev: string): Promise<string> {
    this.fingerprints++;
    const owned = <T>(table: readonly Held<T>[]): T[] => table.filter((h) => h.owned).map((h) => h.entry);
    return sortedText({ routes: owned(this.routeTable), neighbours: owned(this.neighTable), fdb: owned(this.fdbTable) }, dev);
  }

  async digest(e: ReturnPathEntries, dev: string): Promise<string> {
    this.digests++;
    return sortedText(e, dev);
  }

  /** Makes the next `times` matching calls fail with `errno` (Infinity: until cleared). */
  inject(i: { cls: EntryClass; op: FakeOp; errno: FakeErrno; match?: string; times?: number }): void {
    this.injections.push({ cls: i.cls, op: i.op, errno: i.errno, ...(i.match !== undefined ? { match: i.match } : {}), remaining: i.times ?? 1 });
  }

  clearInjections(): void {
    this.injections.length = 0;
  }

  /** Entries someone else put there: the gateway must neither list nor touch them. */
  addForeignRoute(r: RouteEntry, proto = 'static'): void {
    this.routeTable.push({ entry: r, owned: false, state: proto });
  }

  addForeignNeighbour(n: NeighbourEntry, state = 'STALE'): void {
    this.neighTable.push({ entry: n, owned: false, state });
  }

  /** Puts an owned entry in place without logging a write, as a previous run would have left it. */
  seed(e: { route?: RouteEntry; neighbour?: NeighbourEntry; fdb?: FdbEntry }): void {
    if (e.route) this.routeTable.push({ entry: e.route, owned: true });
    if (e.neighbour) this.neighTable.push({ entry: e.neighbour, owned: true, state: 'PERMANENT' });
    if (e.fdb) this.fdbTable.push({ entry: e.fdb, owned: true });
  }

  /** The whole kernel as text, sorted, owned entries marked by protocol / state. */
  dump(): string {
    const routes = this.routeTable.map((h) => `${formatRoute(h.entry)} proto ${h.owned ? 'egress' : (h.state ?? 'static')}`).sort();
    const neighs = this.neighTable
      .map((h) => (h.owned ? formatNeighbour(h.entry) : formatNeighbour(h.entry).replace(/PERMANENT$/, h.state ?? 'STALE')))
      .sort();
    const fdbs = this.fdbTable.map((h) => formatFdb(h.entry)).sort();
    const section = (title: string, lines: string[]): string => `# ${title}\n${lines.map((l) => `${l}\n`).join('')}`;
    return section('ip route', routes) + section('ip neigh', neighs) + section('bridge fdb', fdbs);
  }

  private enter(cls: EntryClass, op: FakeOp, text: string): void {
    this.calls++;
    const i = this.injections.findIndex((j) => j.cls === cls && j.op === op && (j.match === undefined || text.includes(j.match)));
    const inj = this.injections[i];
    if (!inj) return;
    if (--inj.remaining <= 0) this.injections.splice(i, 1);
    throw errnoError(inj.errno, `${op} ${cls}${text ? ` ${text}` : ''}`);
  }

  private needDevice(dev: string, text: string): void {
    if (!this.devices.has(dev)) throw errnoError('ENODEV', text);
  }
}

/** Entries as sorted text: equal when the entries are. */
function sortedText(e: ReturnPathEntries, dev: string): string {
  return [
    ...e.routes.map(formatRoute),
    ...e.neighbours.filter((n) => n.dev === dev).map(formatNeighbour),
    ...e.fdb.filter((f) => f.dev === dev).map(formatFdb),
  ]
    .sort()
    .join('\n');
}
