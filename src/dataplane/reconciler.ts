import { ErrorCodes, GatewayError, kernelError } from '../errors';
import type { BatchErrors, ReturnPathKernel } from '../kernel/return-path';
import type { SyncEvent } from '../model/felix';
import { systemClock, type Clock, type TimerHandle } from '../model/clock';
import type { IpAddress } from '../model/ip';
import type { Logger } from '../observability/logger';
import { desiredReturnPath, type DesiredState, type ReturnPathOptions } from './desired';
import { diffClass, diffHeld, holdEntry, planOperations, type Held, type HeldMap, type ReturnPathEntries, type ReturnPathPlan } from './diff';
import {
  describeEntry,
  fdbKind,
  neighbourKind,
  routeKind,
  type EntryClass,
  type EntryKind,
  type RouteEntry,
} from '../model/entries';
import { NodeParts, type TouchedKeys } from './node-parts';
import { RouteStore } from './route-store';

/**
 * Keeps the kernel's return path equal to what Felix's routes call for.
 *
 * Events only change the in-memory route store and call `trigger`; a debounced pass does the work,
 * so a burst of updates costs one pass (the window is short: while a pass runs, the next changes
 * gather for the one after it). A full pass computes the whole desired state, diffs it against what
 * the kernel holds, and applies adds before deletes. Error policy: every entry is tried; failures
 * are collected (never stopping at the first), reported together, and the next pass — soon, with
 * backoff — is a full resync that re-reads the kernel. Passes that follow a clean one diff against
 * what that pass left (no kernel read), and only for what changed: the desired state is kept per
 * node (NodeParts), the nodes the route store saw change are recomputed, and only their keys are
 * diffed. A periodic full resync repairs drift made by others; it reads the whole kernel but, when
 * the read holds exactly what the last clean pass left (checked entry by entry, in the order of the
 * last read when the kernel lists it so), diffs only what changed since, as a live pass would: the
 * parts are kept across full passes and only an in_sync (a new route set) has them built afresh.
 *
 * Nothing is written before the first in_sync, and nothing is written between a stream's end and
 * the next stream's in_sync: established flows keep working on the state the kernel already has.
 */

export interface ReconcilerOptions {
  readonly kernel: ReturnPathKernel;
  readonly returnPath: ReturnPathOptions;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Wall-clock milliseconds for `at` in results; default Date.now. */
  readonly wallClock?: () => number;
  /** Quiet time that gathers a burst of updates into one pass; default 2 ms. */
  readonly debounceMs?: number;
  /** Period of the full resync that repairs drift; default 30 s. */
  readonly resyncIntervalMs?: number;
  /** First retry after a failed pass; doubles up to retryMaxMs. Defaults 500 ms and 30 s. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Called after every pass, for metrics and readiness. */
  readonly onReconciled?: (result: ReconcileResult) => void;
}

/** All the per-entry failures of one pass. */
export class ReconcileError extends GatewayError {
  readonly errors: readonly GatewayError[];
  constructor(errors: readonly GatewayError[], attempted: number) {
    const first = errors[0]?.message ?? 'unknown failure';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super(ErrorCodes.KERNEL_OP_FAILED, `reconciling the return path: ${errors.length} of ${attempted} kernel operations failed: ${first}${more}`);
    this.name = 'ReconcileError';
    this.errors = errors;
  }
}

export interface EntryCounts {
  readonly routes: number;
  readonly neighbours: number;
  readonly fdb: number;
}

export interface ReconcileResult {
  readonly ok: boolean;
  /** True when the kernel was read (first pass, periodic resync, after a failure). */
  readonly full: boolean;
  readonly reason: string;
  /** Wall-clock milliseconds when the pass ended. */
  readonly at: number;
  readonly durationMs: number;
  /** Kernel writes attempted (0 when the kernel already held the desired state). */
  readonly operations: number;
  readonly error?: ReconcileError;
}

export interface ReconcilerStatus {
  /** The current stream has reached in_sync. */
  readonly inSync: boolean;
  readonly lastReconcile?: {
    readonly ok: boolean;
    readonly at: number;
    readonly durationMs: number;
    readonly full: boolean;
    readonly operations: number;
    readonly error?: string;
  };
  readonly counts: { readonly desired: EntryCounts; readonly programmed: EntryCounts };
  /** The gateway's own LOCAL_WORKLOAD route, when Felix sent one. */
  readonly self?: { readonly dst: string; readonly node: string };
  /** Routes received but not programmed (see DesiredState.skipped). */
  readonly skipped: number;
}

function heldList<T>(h: Held<T> | undefined): readonly T[] {
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/**
 * One class of what the gateway believes the kernel holds, by key, with the number of entries kept
 * as they are recorded (status and metrics read it after every pass; a scan was O(n) per call).
 */
class HeldTable<T> {
  readonly map: HeldMap<T> = new Map();
  private n = 0;
  /**
   * Every held entry once, in the order the last kernel read that matched listed them (equal, entry
   * by entry, to what is held: keeping a wanted entry in place of its equal copy keeps that true);
   * dropped by any change. A table the kernel has not changed is listed in the same order again, so
   * an idle resync compares the read with this, position by position, without a lookup.
   */
  private order: readonly T[] | undefined;
  constructor(private readonly kind: EntryKind<T>) {}

  get count(): number {
    return this.n;
  }

  /** One more entry the kernel holds under its key (from a kernel read). */
  hold(x: T): void {
    holdEntry(this.map, this.kind, x);
    this.n++;
    this.order = undefined;
  }

  /** The kernel now holds `x` under its key, in place of what it held there. */
  upserted(x: T): void {
    const k = this.kind.key(x);
    this.n += 1 - heldList(this.map.get(k)).length;
    this.map.set(k, x);
    this.order = undefined;
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
  }

  /** Wanted entries the kernel holds exactly, alone under their key: keep them, not the copies read. */
  adopt(xs: readonly T[]): void {
    for (const w of xs) {
      const k = this.kind.key(w);
      if (!Array.isArray(this.map.get(k))) this.map.set(k, w);
    }
  }

  /**
   * `read` (a kernel read of this class) holds exactly these entries. In the order of the last
   * matching read: one comparison per entry; otherwise one lookup per entry, where building a map of
   * the read and diffing it costs four. Entries under a key that holds several, or read twice, make
   * it false (the full diff sorts those out).
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

/** What the gateway believes the kernel holds (a key may hold several entries in the kernel). */
class Programmed {
  readonly routes = new HeldTable(routeKind);
  readonly neighbours = new HeldTable(neighbourKind);
  readonly fdb = new HeldTable(fdbKind);

  static of(e: ReturnPathEntries): Programmed {
    const p = new Programmed();
    for (const x of e.routes) p.routes.hold(x);
    for (const x of e.neighbours) p.neighbours.hold(x);
    for (const x of e.fdb) p.fdb.hold(x);
    return p;
  }

  holdsExactly(read: ReturnPathEntries): boolean {
    return this.routes.holdsExactly(read.routes) && this.neighbours.holdsExactly(read.neighbours) && this.fdb.holdsExactly(read.fdb);
  }

  counts(): EntryCounts {
    return { routes: this.routes.count, neighbours: this.neighbours.count, fdb: this.fdb.count };
  }
}

/** The diff restricted to `keys`: every other key is known to be as the last pass left it. */
function diffKeys(have: Programmed, want: ReturnPathEntries, keys: TouchedKeys): ReturnPathPlan {
  const held = <T>(table: HeldTable<T>, ks: Set<string>): T[] => {
    const out: T[] = [];
    for (const k of ks) out.push(...heldList(table.map.get(k)));
    return out;
  };
  return {
    routes: diffClass(routeKind, held(have.routes, keys.routes), want.routes),
    neighbours: diffClass(neighbourKind, held(have.neighbours, keys.neighbours), want.neighbours),
    fdb: diffClass(fdbKind, held(have.fdb, keys.fdb), want.fdb),
  };
}

/**
 * The whole diff, against the held maps themselves; wanted entries the kernel holds exactly are
 * adopted into `have` (see diffHeld), so a resync that finds nothing changed builds no second map.
 */
function diffAll(have: Programmed, want: ReturnPathEntries): ReturnPathPlan {
  return {
    routes: diffHeld(routeKind, have.routes.map, want.routes, { adopt: true }),
    neighbours: diffHeld(neighbourKind, have.neighbours.map, want.neighbours, { adopt: true }),
    fdb: diffHeld(fdbKind, have.fdb.map, want.fdb, { adopt: true }),
  };
}

export class ReturnPathReconciler {
  private readonly store = new RouteStore();
  private readonly kernel: ReturnPathKernel;
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly debounceMs: number;
  private readonly resyncIntervalMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;

  private started = false;
  private needFull = true;
  private failures = 0;
  private programmed: Programmed | undefined;
  private last: ReconcileResult | undefined;
  private desiredCache: { version: number; state: DesiredState } | undefined;
  /** The desired state per node, kept up to date by every pass; dropped by an in_sync. */
  private parts: NodeParts | undefined;
  /** What is programmed equals the union of the parts (the last pass used them, without clash). */
  private partsExact = false;

  /**
   * Work done (for tests): NodeParts built from scratch, and passes that diffed the whole desired
   * state rather than only the keys that changed (an idle resync does neither).
   */
  readonly work = { partsBuilt: 0, wholeDiffs: 0 };

  private passTimer: { handle: TimerHandle; due: number } | undefined;
  private resyncTimer: TimerHandle | undefined;
  private running: Promise<ReconcileResult> | undefined;
  private rerun = false;
  private fullAfterRunning = false;

  constructor(private readonly opts: ReconcilerOptions) {
    this.kernel = opts.kernel;
    this.clock = opts.clock ?? systemClock;
    this.wallClock = opts.wallClock ?? Date.now;
    this.debounceMs = opts.debounceMs ?? 2;
    this.resyncIntervalMs = opts.resyncIntervalMs ?? 30_000;
    this.retryInitialMs = opts.retryInitialMs ?? 500;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
  }

  /** A new PolicySync stream begins: its snapshot, up to in_sync, will replace the current routes. */
  streamStarted(): void {
    this.store.streamStarted();
  }

  /** The stream ended: the kernel is left exactly as it is until the next stream's in_sync. */
  streamEnded(): void {
    this.store.streamEnded();
  }

  apply(event: SyncEvent): void {
    const change = this.store.apply(event);
    if (change === 'in_sync') {
      // A new snapshot: compare with the kernel itself, and delete what the snapshot did not name.
      // The store's tables were replaced whole, not changed node by node: the parts are void.
      this.parts = undefined;
      this.partsExact = false;
      this.needFull = true;
      this.trigger('in_sync', 0);
    } else if (change === 'changed') {
      this.trigger('update', this.debounceMs);
    }
  }

  /**
   * The kernel lost entries behind the reconciler's back (vxlan0 deleted and re-created takes its
   * routes, neighbours and FDB entries with it): the next pass re-reads the kernel, and runs now.
   */
  requestResync(reason: string): void {
    this.needFull = true;
    // A pass already running read the kernel before the loss; make the one after it a full one too.
    if (this.running) this.fullAfterRunning = true;
    this.trigger(reason, 0);
  }

  /** Begins reconciling (passes already due run now); call once. */
  start(): void {
    this.started = true;
    if (this.store.inSync) this.trigger('start', 0);
  }

  /** Stops timers and waits for a running pass to finish. The kernel state is left in place. */
  async stop(): Promise<void> {
    this.started = false;
    this.passTimer?.handle.cancel();
    this.passTimer = undefined;
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    if (this.running) await this.running.catch(() => undefined);
  }

  /** Resolves once no pass is running (timers may still be pending). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
  }

  /**
   * Runs a pass now (after any running one); undefined when not in sync, so nothing may be written.
   * For the daemon's init step and for tests; the debounced trigger is the usual way in.
   */
  async reconcileNow(reason = 'requested'): Promise<ReconcileResult | undefined> {
    await this.whenIdle();
    if (!this.store.inSync) return undefined;
    return this.runPass(reason);
  }

  /** The client node whose pod route covers `ip`, from the routes in use (for the SNAT audit log). */
  nodeFor(ip: IpAddress): string | undefined {
    return this.store.nodeFor(ip);
  }

  desired(): DesiredState {
    if (!this.desiredCache || this.desiredCache.version !== this.store.version) {
      this.desiredCache = {
        version: this.store.version,
        state: desiredReturnPath(this.store.routes(), this.store.vteps(), this.opts.returnPath),
      };
    }
    return this.desiredCache.state;
  }

  /** What the gateway believes the kernel holds; cheap, unlike status() (which needs the desired state). */
  programmedCounts(): EntryCounts {
    return this.programmed?.counts() ?? { routes: 0, neighbours: 0, fdb: 0 };
  }

  status(): ReconcilerStatus {
    const d = this.desired();
    const last = this.last;
    return {
      inSync: this.store.inSync,
      ...(last
        ? {
            lastReconcile: {
              ok: last.ok,
              at: last.at,
              durationMs: last.durationMs,
              full: last.full,
              operations: last.operations,
              ...(last.error ? { error: last.error.message } : {}),
            },
          }
        : {}),
      counts: {
        desired: { routes: d.routes.length, neighbours: d.neighbours.length, fdb: d.fdb.length },
        programmed: this.programmedCounts(),
      },
      ...(d.self ? { self: { dst: d.self.dst.text, node: d.self.node } } : {}),
      skipped: d.skipped.length,
    };
  }

  private trigger(reason: string, delayMs: number): void {
    if (!this.started || !this.store.inSync) return; // start() or the next in_sync will trigger
    if (this.running) {
      this.rerun = true;
      return;
    }
    const due = this.clock.now() + delayMs;
    // Debounce with a fixed window: a later event joins the pass already scheduled, never delays it.
    if (this.passTimer && this.passTimer.due <= due) return;
    this.passTimer?.handle.cancel();
    const handle = this.clock.setTimeout(() => {
      this.passTimer = undefined;
      if (!this.started || !this.store.inSync) return;
      void this.runPass(reason).catch(() => undefined);
    }, delayMs);
    this.passTimer = { handle, due };
  }

  private runPass(reason: string): Promise<ReconcileResult> {
    const p = this.pass(reason).finally(() => {
      this.running = undefined;
      this.afterPass();
    });
    this.running = p;
    return p;
  }

  private afterPass(): void {
    if (this.fullAfterRunning) {
      this.fullAfterRunning = false;
      this.needFull = true;
    }
    if (!this.started) return;
    if (this.last && !this.last.ok) {
      const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.max(0, this.failures - 1));
      this.trigger('retry', delay);
    } else if (this.rerun) {
      this.rerun = false;
      this.trigger('update', this.debounceMs);
    }
  }

  private scheduleResync(): void {
    this.resyncTimer?.cancel();
    if (!this.started) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      this.needFull = true;
      this.trigger('resync', 0);
    }, this.resyncIntervalMs);
  }

  private async pass(reason: string): Promise<ReconcileResult> {
    const startedAt = this.clock.now();
    const full = this.needFull || !this.programmed;
    this.rerun = false;
    const version = this.store.version;
    // Parts live across passes, full ones included: brought up to date with what changed, they
    // cost nothing when nothing did (an idle resync used to rebuild every node's part).
    const dirty = this.store.takeDirty();
    let keys: TouchedKeys | undefined;
    if (this.parts) keys = this.parts.update(dirty);
    else if (!full) this.parts = this.buildParts();
    const parts = this.parts;
    const exact = parts !== undefined && !parts.clashes;
    // The last pass left the kernel holding exactly the union of the parts as they were before this
    // update, and the parts now differ from it only under `keys`. A pass that reads the kernel
    // checks that it still holds that (so a resync that finds no drift diffs only what changed).
    const known = exact && this.partsExact && keys !== undefined ? (this.programmed as Programmed) : undefined;
    let whole: ReturnPathEntries | undefined;
    if (!known) {
      // No parts since the last in_sync (one desiredReturnPath is cheaper than building them; they
      // are built after this pass), or two nodes claim one key (only the full computation settles
      // that, by its order rules), or the parts were just built or not used last time.
      whole = exact ? parts.all() : this.desired();
    }
    const errors: GatewayError[] = [];
    let read: ReturnPathEntries | undefined;
    if (full) {
      try {
        read = await this.readKernel();
      } catch (err) {
        errors.push(err instanceof GatewayError ? err : kernelError('reading the return path from the kernel', err));
        return this.finish(reason, full, startedAt, 0, errors, errors.length);
      }
    }
    let have: Programmed;
    let plan: ReturnPathPlan;
    if (known && keys && (!read || known.holdsExactly(read))) {
      have = known;
      plan = diffKeys(have, (parts as NodeParts).entriesFor(keys), keys);
      // Keys in `same` get no operation: hold the wanted entry there, as diffAll does.
      have.routes.adopt(plan.routes.same);
      have.neighbours.adopt(plan.neighbours.same);
      have.fdb.adopt(plan.fdb.same);
    } else {
      // After a kernel read `have` holds the kernel's copies (~200 bytes a route with their own
      // address objects); where they equal the wanted entry the diff keeps the wanted one, which
      // shares its prefix and addresses with the route store.
      have = read ? Programmed.of(read) : (this.programmed as Programmed);
      this.work.wholeDiffs++;
      // (`whole` is unset only when the kernel failed the check: the parts, exact, are the desired state.)
      plan = diffAll(have, whole ?? (parts as NodeParts).all());
    }
    const attempted = planOperations(plan);
    await this.applyPlan(plan, have, errors);
    this.programmed = have;
    // An in_sync while the pass ran drops the parts: those it used say nothing of the new snapshot.
    this.partsExact = exact && this.parts === parts && errors.length === 0;
    const result = this.finish(reason, full, startedAt, attempted, errors, attempted);
    if (!this.parts && result.ok && this.started) {
      // Build the parts now, after the pass is reported, rather than in the first update's pass
      // (~40 ms at 10k routes, which that update and those queued behind it would wait for).
      // They match what is programmed when nothing changed while the pass ran.
      this.parts = this.buildParts();
      this.partsExact = this.store.version === version && !this.parts.clashes;
    }
    return result;
  }

  private buildParts(): NodeParts {
    this.work.partsBuilt++;
    return new NodeParts(this.store, this.opts.returnPath);
  }

  private finish(reason: string, full: boolean, startedAt: number, operations: number, errors: GatewayError[], attempted: number): ReconcileResult {
    const ok = errors.length === 0;
    const result: ReconcileResult = {
      ok,
      full,
      reason,
      at: this.wallClock(),
      durationMs: this.clock.now() - startedAt,
      operations,
      ...(ok ? {} : { error: new ReconcileError(errors, Math.max(1, attempted)) }),
    };
    if (ok) {
      this.failures = 0;
      this.needFull = false;
      if (full) this.scheduleResync();
    } else {
      this.failures++;
      this.needFull = true; // what the kernel holds is no longer known: read it next time
    }
    this.last = result;
    const log = this.opts.logger;
    if (log) {
      const fields = { component: 'reconciler', event: 'reconciled', reason, full, operations, durationMs: result.durationMs };
      if (ok) log[operations > 0 ? 'info' : 'debug'](fields, 'return path reconciled');
      else log.warn({ ...fields, err: result.error, failures: result.error?.errors.length }, 'return path reconcile failed; retrying with a full resync');
    }
    this.opts.onReconciled?.(result);
    return result;
  }

  private async readKernel(): Promise<ReturnPathEntries> {
    const dev = this.opts.returnPath.vxlanDevice;
    const [routes, neighbours, fdb] = await Promise.all([
      this.kernel.routes.list(),
      this.kernel.neighbours.list(dev),
      this.kernel.fdb.list(dev),
    ]);
    return { routes, neighbours, fdb };
  }

  /**
   * Adds before deletes, and lower layers first on the way up: FDB, neighbours, underlay routes,
   * then the block routes that use them; on the way down, the reverse. Within a step all entries go
   * at once (the netlink session packs them into few datagrams and bounds what is in flight).
   */
  private async applyPlan(plan: ReturnPathPlan, have: Programmed, errors: GatewayError[]): Promise<void> {
    const vxlan = this.opts.returnPath.vxlanDevice;
    const onVxlan = (r: RouteEntry): boolean => r.dev === vxlan;
    const k = this.kernel;

    // Each step hands a whole class to the port at once: one promise per step, not per entry (at
    // 10k routes the promises and closures cost more than the encoding); errors still come back
    // one per entry and are reported with that entry's description.
    const step = async <T>(
      cls: EntryClass,
      table: HeldTable<T>,
      op: 'upsert' | 'remove',
      items: readonly { entry: T; existing?: T }[],
      run: (items: readonly { entry: T; existing?: T }[]) => Promise<BatchErrors>,
    ): Promise<void> => {
      if (items.length === 0) return;
      let results: BatchErrors;
      try {
        results = await run(items);
      } catch (err) {
        // An adapter that fails a whole batch: every entry of it failed for that reason.
        results = items.map(() => (err instanceof Error ? err : new Error(String(err))));
      }
      items.forEach((item, idx) => {
        const err = idx < results.length ? results[idx] : new Error('no result from the kernel adapter');
        if (err !== undefined) errors.push(kernelError(`${op === 'upsert' ? 'programming' : 'removing'} ${describeEntry(cls, item.entry as never)}`, err));
        else if (op === 'upsert') table.upserted(item.entry);
        else table.removed(item.entry);
      });
    };
    const asItems = <T>(xs: readonly T[]): { entry: T }[] => xs.map((entry) => ({ entry }));
    const entriesOf = <T>(items: readonly { entry: T }[]): T[] => items.map((i) => i.entry);

    await step('fdb', have.fdb, 'upsert', plan.fdb.upserts, (xs) => k.fdb.upsertMany(xs));
    await step('neighbour', have.neighbours, 'upsert', plan.neighbours.upserts, (xs) => k.neighbours.upsertMany(xs));
    await step('route', have.routes, 'upsert', plan.routes.upserts.filter((u) => !onVxlan(u.entry)), (xs) => k.routes.upsertMany(xs));
    await step('route', have.routes, 'upsert', plan.routes.upserts.filter((u) => onVxlan(u.entry)), (xs) => k.routes.upsertMany(xs));

    await step('route', have.routes, 'remove', asItems(plan.routes.removals.filter(onVxlan)), (xs) => k.routes.removeMany(entriesOf(xs)));
    await step('neighbour', have.neighbours, 'remove', asItems(plan.neighbours.removals), (xs) => k.neighbours.removeMany(entriesOf(xs)));
    await step('fdb', have.fdb, 'remove', asItems(plan.fdb.removals), (xs) => k.fdb.removeMany(entriesOf(xs)));
    await step('route', have.routes, 'remove', asItems(plan.routes.removals.filter((r) => !onVxlan(r))), (xs) => k.routes.removeMany(entriesOf(xs)));
  }
}
