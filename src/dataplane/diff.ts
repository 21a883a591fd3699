import {
  fdbKind,
  neighbourKind,
  routeKind,
  type EntryKind,
  type FdbEntry,
  type NeighbourEntry,
  type ReturnPathEntries,
  type RouteEntry,
} from '../model/entries';

/** What the diff needs of an entry kind: its key and its equality (the agent's steering has kinds of its own). */
export type DiffKind<T> = Pick<EntryKind<T>, 'key' | 'same'>;

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

export type { ReturnPathEntries } from '../model/entries';

export interface ReturnPathPlan {
  readonly routes: ClassPlan<RouteEntry>;
  readonly neighbours: ClassPlan<NeighbourEntry>;
  readonly fdb: ClassPlan<FdbEntry>;
}

/**
 * Entries under one key: the entry itself, or a list while the kernel holds several (rare: only
 * what others left behind). A one-element array per key cost ~1.5 MiB at 50k routes.
 */
export type Held<T> = T | T[];
export type HeldMap<T> = Map<string, Held<T>>;

/** Adds `x` under its key, after whatever the key already holds. */
export function holdEntry<T>(map: HeldMap<T>, kind: DiffKind<T>, x: T): void {
  const k = kind.key(x);
  const held = map.get(k);
  if (held === undefined) map.set(k, x);
  else if (Array.isArray(held)) held.push(x);
  else map.set(k, [held, x]);
}

/**
 * One diff for every class: entries are equal when they print the same, so an unchanged entry is
 * never rewritten (a restarted daemon on a kernel that already holds the right state does nothing).
 */
export function diffClass<T>(kind: DiffKind<T>, have: readonly T[], want: readonly T[]): ClassPlan<T> {
  const haveByKey: HeldMap<T> = new Map();
  for (const h of have) holdEntry(haveByKey, kind, h);
  // The desired state has unique keys; tolerate a careless caller (diffHeld does not).
  const wanted = new Set<string>();
  const unique = want.filter((w) => {
    const k = kind.key(w);
    if (wanted.has(k)) return false;
    wanted.add(k);
    return true;
  });
  return diffHeld(kind, haveByKey, unique, { keys: wanted });
}

/**
 * diffClass over what is held, already by key: a full pass builds that map anyway (as what it will
 * believe the kernel holds), so this builds no second one, and in the usual case (every held key
 * wanted) no set of wanted keys either. `want` must have unique keys. With `adopt`, a wanted entry
 * that the kernel holds exactly, alone under its key, replaces the held copy in `have` (the copies
 * read from the kernel share nothing with Felix's routes; the wanted ones do): no operation touches
 * those keys. `keys`, when the caller has it, is the set of wanted keys.
 */
export function diffHeld<T>(kind: DiffKind<T>, have: HeldMap<T>, want: readonly T[], opts: { adopt?: boolean; keys?: ReadonlySet<string> } = {}): ClassPlan<T> {
  const upserts: { entry: T; existing?: T }[] = [];
  const removals: T[] = [];
  let unchanged = 0;
  const sameEntries: T[] = [];
  // Held keys some wanted entry has: when that is all of them, nothing else is to be removed.
  let heldWanted = 0;
  for (const w of want) {
    const k = kind.key(w);
    const held = have.get(k);
    if (held === undefined) {
      upserts.push({ entry: w }); // nothing under this key: nothing to compare (10k at a first pass)
      continue;
    }
    heldWanted++;
    if (!Array.isArray(held)) {
      if (kind.same(held, w)) {
        unchanged++;
        sameEntries.push(w);
        if (opts.adopt) have.set(k, w);
      } else upserts.push({ entry: w, existing: held });
      continue;
    }
    const same = held.findIndex((h) => kind.same(h, w));
    if (same >= 0) {
      unchanged++;
      for (let i = 0; i < held.length; i++) if (i !== same) removals.push(held[i] as T);
    } else {
      upserts.push({ entry: w, existing: held[0] });
      removals.push(...held.slice(1));
    }
  }
  if (heldWanted < have.size) {
    const wanted = opts.keys ?? new Set(want.map((w) => kind.key(w)));
    for (const [k, held] of have) {
      if (wanted.has(k)) continue;
      if (Array.isArray(held)) removals.push(...held);
      else removals.push(held);
    }
  }
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
