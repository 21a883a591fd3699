import {
  fdbKind,
  neighbourKind,
  routeKind,
  type EntryKind,
  type FdbEntry,
  type NeighbourEntry,
  type RouteEntry,
} from './entries';

/** What must change for one class of entry to go from `have` to `want`. */
export interface ClassPlan<T> {
  /** Entries to create, or to replace (`existing` is what the kernel holds under the same key). */
  readonly upserts: readonly { readonly entry: T; readonly existing?: T }[];
  readonly removals: readonly T[];
  readonly unchanged: number;
  /**
   * The wanted entries the kernel already holds exactly, alone under their key: a caller may keep
   * these rather than the copies read from the kernel (which share nothing with Felix's routes).
   */
  readonly same: readonly T[];
}

export interface ReturnPathEntries {
  readonly routes: readonly RouteEntry[];
  readonly neighbours: readonly NeighbourEntry[];
  readonly fdb: readonly FdbEntry[];
}

export interface ReturnPathPlan {
  readonly routes: ClassPlan<RouteEntry>;
  readonly neighbours: ClassPlan<NeighbourEntry>;
  readonly fdb: ClassPlan<FdbEntry>;
}

/**
 * One diff for every class: entries are equal when they print the same, so an unchanged entry is
 * never rewritten (a restarted daemon on a kernel that already holds the right state does nothing).
 */
export function diffClass<T>(kind: EntryKind<T>, have: readonly T[], want: readonly T[]): ClassPlan<T> {
  const haveByKey = new Map<string, T[]>();
  for (const h of have) {
    const k = kind.key(h);
    const list = haveByKey.get(k);
    if (list) list.push(h);
    else haveByKey.set(k, [h]);
  }
  const upserts: { entry: T; existing?: T }[] = [];
  const removals: T[] = [];
  let unchanged = 0;
  const sameEntries: T[] = [];
  const wanted = new Set<string>();
  for (const w of want) {
    const k = kind.key(w);
    if (wanted.has(k)) continue; // desired state has unique keys; tolerate a careless caller
    wanted.add(k);
    const held = haveByKey.get(k);
    if (held === undefined) {
      upserts.push({ entry: w }); // nothing under this key: no rendering to compare (10k at a first pass)
      continue;
    }
    const text = kind.format(w);
    const same = held.findIndex((h) => kind.format(h) === text);
    if (same >= 0) {
      unchanged++;
      if (held.length === 1) sameEntries.push(w);
      removals.push(...held.filter((_, i) => i !== same));
    } else {
      const [first, ...rest] = held;
      upserts.push(first === undefined ? { entry: w } : { entry: w, existing: first });
      removals.push(...rest);
    }
  }
  for (const [k, held] of haveByKey) if (!wanted.has(k)) removals.push(...held);
  return { upserts, removals, unchanged, same: sameEntries };
}

export function diffReturnPath(have: ReturnPathEntries, want: ReturnPathEntries): ReturnPathPlan {
  return {
    routes: diffClass(routeKind, have.routes, want.routes),
    neighbours: diffClass(neighbourKind, have.neighbours, want.neighbours),
    fdb: diffClass(fdbKind, have.fdb, want.fdb),
  };
}

export function planOperations(plan: ReturnPathPlan): number {
  return [plan.routes, plan.neighbours, plan.fdb].reduce((n, c) => n + c.upserts.length + c.removals.length, 0);
}

/** The plan as text, one operation a line: adds (lower layers first), then deletes (upper layers first). */
export function formatPlan(plan: ReturnPathPlan): string {
  const lines: string[] = [];
  const up = <T>(cls: string, kind: EntryKind<T>, c: ClassPlan<T>): void => {
    for (const u of c.upserts) lines.push(`${u.existing ? 'replace' : 'add'} ${cls} ${kind.format(u.entry)}`);
  };
  const down = <T>(cls: string, kind: EntryKind<T>, c: ClassPlan<T>): void => {
    for (const r of c.removals) lines.push(`del ${cls} ${kind.format(r)}`);
  };
  up('fdb', fdbKind, plan.fdb);
  up('neigh', neighbourKind, plan.neighbours);
  up('route', routeKind, plan.routes);
  down('route', routeKind, plan.routes);
  down('neigh', neighbourKind, plan.neighbours);
  down('fdb', fdbKind, plan.fdb);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
