import { kernelError, GatewayError } from '../errors';
import type { BatchErrors, ReturnPathKernel } from '../kernel/return-path';
import { describeEntry, type EntryClass, type RouteEntry } from '../model/entries';
import type { DesiredState, IncumbentLookup, ReturnPathOptions } from './desired';
import { planOperations, type ReturnPathEntries, type ReturnPathPlan } from './diff';
import { HeldState, type HeldTable } from './held';
import { NodeParts, type TouchedKeys } from './node-parts';
import type { RouteStore } from './route-store';

/**
 * One pass: read (when full) → diff → apply. The desired state comes from the route store; what
 * the kernel holds is the held state (./held.ts), from the read or from the last pass.
 *
 * After a clean pass, the next one diffs only what changed: the desired state is kept per node
 * (NodeParts), the nodes the route store saw change are recomputed, and only their keys are
 * diffed. A full pass reads the kernel; when the read holds exactly what the last clean pass left
 * (one comparison per entry), it too diffs only what changed. Only an in_sync (a new route set)
 * has the parts built afresh.
 *
 * A full pass first takes the kernel's fingerprint (a digest of the owned entries, summed up from
 * the dumps' bytes, no objects built) and the same digest of the held maps. When they are equal, the
 * kernel holds exactly what the gateway believes and the read is skipped: a periodic resync with
 * no drift costs the dumps' kernel time and one pass over their bytes.
 */

export interface PassOutcome {
  /** Kernel writes attempted (0 when the kernel already held the desired state). */
  readonly operations: number;
  /** Per-entry failures (or the read's), every entry having been tried. */
  readonly errors: readonly GatewayError[];
}

export interface PassOptions {
  readonly kernel: ReturnPathKernel;
  /** Told before the pass writes and after its writes are answered (the kernel watch stops listening meanwhile). */
  readonly writing?: { pause(): void; resume(): void };
  readonly returnPath: ReturnPathOptions;
  readonly store: RouteStore;
  /**
   * The whole desired state of the store now (cached by the caller per store version). `incumbent`
   * says who holds each node address in the kernel (from the read, or what was held), which settles
   * a conflict in the holder's favour.
   */
  desired(incumbent?: IncumbentLookup): DesiredState;
}

export class ReturnPathPass {
  /** What the kernel holds, as far as the gateway knows; undefined before the first pass. */
  private heldState: HeldState | undefined;
  /** The desired state per node, kept up to date by every pass; dropped by an in_sync. */
  private parts: NodeParts | undefined;
  /** What is held equals the union of the parts (the last pass used them, without clash, and succeeded). */
  private partsExact = false;
  /** The digest of the held maps as they were at `version`: a resync after no write needs no new one. */
  private heldDigest: { readonly held: HeldState; readonly version: number; readonly print: string } | undefined;

  constructor(private readonly opts: PassOptions) {}

  get held(): HeldState | undefined {
    return this.heldState;
  }

  /** The route set was replaced whole (in_sync), not changed node by node: the parts are void. */
  reset(): void {
    this.parts = undefined;
    this.partsExact = false;
  }

  async run(full: boolean): Promise<PassOutcome> {
    const { store } = this.opts;
    // Parts live across passes, full ones included: brought up to date with what changed, they
    // cost nothing when nothing did.
    const dirty = store.takeDirty();
    let keys: TouchedKeys | undefined;
    if (this.parts) keys = this.parts.update(dirty);
    else if (!full) this.parts = new NodeParts(store, this.opts.returnPath);
    const parts = this.parts;
    const exact = parts !== undefined && !parts.clashes;
    // The last pass left the kernel holding exactly the union of the parts as they were before
    // this update, and the parts now differ from it only under `keys`.
    const known = exact && this.partsExact && keys !== undefined ? this.heldState : undefined;
    let read: ReturnPathEntries | undefined;
    if (full) {
      try {
        // Not before the first pass: there is nothing held yet to compare the kernel with.
        if (!this.heldState || !(await this.kernelHoldsHeld(this.heldState))) read = await this.readKernel();
      } catch (err) {
        return { operations: 0, errors: [err instanceof GatewayError ? err : kernelError('reading the return path from the kernel', err)] };
      }
    }
    let held: HeldState;
    let plan: ReturnPathPlan;
    if (known && keys && (!read || known.holdsExactly(read))) {
      held = known;
      plan = held.diffKeys((parts as NodeParts).entriesFor(keys), keys);
    } else {
      // After a kernel read the held maps hold the kernel's copies; where they equal the wanted
      // entry the diff keeps the wanted one, which shares its prefix and addresses with the store.
      held = read ? HeldState.of(read) : (this.heldState ?? new HeldState());
      // Without parts (none since the last in_sync: one desiredReturnPath is cheaper than building
      // them), or with two nodes claiming one key (only the full computation settles that, in favour
      // of the node the kernel holds the address for now: read before the desired state is made).
      const vxlan = this.opts.returnPath.vxlanDevice;
      const before = held;
      plan = held.diffAll(exact ? parts.all() : this.opts.desired((address) => before.neighbourMac(vxlan, address)));
    }
    const errors: GatewayError[] = [];
    const operations = planOperations(plan);
    if (operations > 0) this.opts.writing?.pause();
    try {
      await this.apply(plan, held, errors);
    } finally {
      if (operations > 0) this.opts.writing?.resume();
    }
    this.heldState = held;
    // An in_sync while the pass ran drops the parts: those it used say nothing of the new snapshot.
    this.partsExact = exact && this.parts === parts && errors.length === 0;
    return { operations, errors };
  }

  /**
   * After a clean pass that had no parts: build them now, after the pass is reported, rather than
   * in the first update's pass (~40 ms at 10k routes, which that update would wait for). They match
   * what is held when the store has not changed since the pass began (`version`).
   */
  buildParts(version: number): void {
    if (this.parts) return;
    this.parts = new NodeParts(this.opts.store, this.opts.returnPath);
    this.partsExact = this.opts.store.version === version && !this.parts.clashes;
  }

  /** The kernel's fingerprint equals the digest of the held maps: it holds exactly them. */
  private async kernelHoldsHeld(held: HeldState): Promise<boolean> {
    const { kernel, returnPath } = this.opts;
    const dev = returnPath.vxlanDevice;
    const print = await kernel.fingerprint(dev);
    const version = held.version;
    const cached = this.heldDigest;
    if (cached?.held === held && cached.version === version) return print === cached.print;
    const digest = await kernel.digest(held.entries(), dev);
    this.heldDigest = { held, version, print: digest };
    return print === digest;
  }

  private async readKernel(): Promise<ReturnPathEntries> {
    const { kernel, returnPath } = this.opts;
    const dev = returnPath.vxlanDevice;
    const [routes, neighbours, fdb] = await Promise.all([kernel.routes.list(), kernel.neighbours.list(dev), kernel.fdb.list(dev)]);
    return { routes, neighbours, fdb };
  }

  /**
   * Adds before deletes, and lower layers first on the way up: FDB, neighbours, underlay routes,
   * then the block routes that use them; on the way down, the reverse. Each step hands a whole
   * class to the port at once (one promise, few datagrams); each entry's result updates its held
   * map, and a failure is reported with that entry's description.
   */
  private async apply(plan: ReturnPathPlan, held: HeldState, errors: GatewayError[]): Promise<void> {
    const vxlan = this.opts.returnPath.vxlanDevice;
    const onVxlan = (r: RouteEntry): boolean => r.dev === vxlan;
    const k = this.opts.kernel;
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

    await step('fdb', held.fdb, 'upsert', plan.fdb.upserts, (xs) => k.fdb.upsertMany(xs));
    await step('neighbour', held.neighbours, 'upsert', plan.neighbours.upserts, (xs) => k.neighbours.upsertMany(xs));
    await step('route', held.routes, 'upsert', plan.routes.upserts.filter((u) => !onVxlan(u.entry)), (xs) => k.routes.upsertMany(xs));
    await step('route', held.routes, 'upsert', plan.routes.upserts.filter((u) => onVxlan(u.entry)), (xs) => k.routes.upsertMany(xs));

    await step('route', held.routes, 'remove', asItems(plan.routes.removals.filter(onVxlan)), (xs) => k.routes.removeMany(entriesOf(xs)));
    await step('neighbour', held.neighbours, 'remove', asItems(plan.neighbours.removals), (xs) => k.neighbours.removeMany(entriesOf(xs)));
    await step('fdb', held.fdb, 'remove', asItems(plan.fdb.removals), (xs) => k.fdb.removeMany(entriesOf(xs)));
    await step('route', held.routes, 'remove', asItems(plan.routes.removals.filter((r) => !onVxlan(r))), (xs) => k.routes.removeMany(entriesOf(xs)));
  }
}
