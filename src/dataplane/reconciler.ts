import { ErrorCodes, GatewayError } from '../errors';
import type { ReturnPathWatch } from '../kernel/ports';
import type { ReturnPathKernel } from '../kernel/return-path';
import type { SyncEvent } from '../model/felix';
import { systemClock, type Clock } from '../model/clock';
import type { IpAddress } from '../model/ip';
import type { Logger } from '../observability/logger';
import { desiredReturnPath, type AddressConflict, type DesiredState, type IncumbentLookup, type ReturnPathOptions } from './desired';
import type { EntryCounts } from './held';
import type { ReturnPathEntries } from './diff';
import { clientVtepMac } from '../model/mac';
import type { RouteEntry } from '../model/entries';
import { ReturnPathPass } from './pass';
import { RouteStore } from './route-store';
import { PassScheduler } from './scheduler';

/** Which client node a programmed entry is for, from the routes and VTEPs in use. */
export interface EntryAttribution {
  nodeOfRoute(route: RouteEntry): string | undefined;
  nodeOfMac(mac: string): string | undefined;
}

export type { EntryCounts } from './held';

/**
 * Keeps the kernel's return path equal to what Felix's routes call for. Three parts, each in its
 * own file: the scheduler (./scheduler.ts: debounced trigger, retry with backoff, periodic resync,
 * the one full/partial flag), the pass (./pass.ts: read → diff → apply) and the held state
 * (./held.ts: what the kernel holds, one map per class). This file wires them to the route store.
 *
 * Events only change the in-memory route store and trigger a pass. Error policy: every entry is
 * tried; failures are collected (never stopping at the first), reported together, and the next
 * pass — soon, with backoff — is a full resync that re-reads the kernel.
 *
 * Nothing is written before the first in_sync, and nothing is written between a stream's end and
 * the next stream's in_sync: established flows keep working on the state the kernel already has.
 */

export interface ReconcilerOptions {
  readonly kernel: ReturnPathKernel;
  /**
   * The kernel's notifications about the owned entries: a change made by someone else triggers a
   * full pass at once, instead of waiting for the periodic resync. Off when absent.
   */
  readonly watch?: ReturnPathWatch;
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
  /** A node claimed another node's address (logged once per conflict here; for the metric). */
  readonly onConflict?: (conflict: AddressConflict, refused: string) => void;
}

/** All the per-entry failures of one pass. */
export class ReconcileError extends GatewayError {
  readonly errors: readonly GatewayError[];
  /** `what`: the state reconciled, for the message (the agent's steering reuses this error). */
  constructor(errors: readonly GatewayError[], attempted: number, what = 'the return path') {
    const first = errors[0]?.message ?? 'unknown failure';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super(ErrorCodes.KERNEL_OP_FAILED, `reconciling ${what}: ${errors.length} of ${attempted} kernel operations failed: ${first}${more}`);
    this.name = 'ReconcileError';
    this.errors = errors;
  }
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
  /** Node addresses claimed by more than one node, and who keeps each. */
  readonly conflicts: readonly AddressConflict[];
}

export class ReturnPathReconciler {
  private readonly store = new RouteStore();
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly scheduler: PassScheduler;
  private readonly passes: ReturnPathPass;
  private last: ReconcileResult | undefined;
  private desiredCache: { version: number; state: DesiredState } | undefined;
  /** Conflicts already logged ("address refused-node"); one that ends and comes back is logged again. */
  private reportedConflicts = new Set<string>();

  constructor(private readonly opts: ReconcilerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.wallClock = opts.wallClock ?? Date.now;
    this.passes = new ReturnPathPass({
      kernel: opts.kernel,
      returnPath: opts.returnPath,
      store: this.store,
      desired: (incumbent) => this.desired(incumbent),
      ...(opts.watch ? { writing: opts.watch } : {}),
    });
    this.scheduler = new PassScheduler({
      clock: this.clock,
      debounceMs: opts.debounceMs ?? 2,
      resyncIntervalMs: opts.resyncIntervalMs ?? 30_000,
      retryInitialMs: opts.retryInitialMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 30_000,
      canRun: () => this.store.inSync,
      pass: (reason, full) => this.pass(reason, full),
    });
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
      this.passes.reset();
      this.scheduler.requestFull('in_sync');
    } else if (change === 'changed') {
      this.scheduler.trigger('update', this.opts.debounceMs ?? 2);
    }
  }

  /**
   * The kernel lost or changed entries behind the reconciler's back (vxlan0 re-created, a route of
   * ours deleted by someone else): the next pass re-reads the kernel, and runs now.
   */
  requestResync(reason: string): void {
    this.scheduler.requestFull(reason);
  }

  /** Begins reconciling (passes already due run now) and listening to the kernel; call once. */
  start(): void {
    this.opts.watch?.watch(this.opts.returnPath.vxlanDevice, {
      onChange: (what) => {
        this.opts.logger?.debug({ component: 'reconciler', event: 'kernel_changed', what }, `the kernel reported a change to ${what}`);
        this.requestResync(`kernel reported a change to ${what}`);
      },
      onError: (err) => this.opts.logger?.warn({ component: 'reconciler', event: 'kernel_watch_error', err }, `watching the return path's kernel entries: ${err.message}`),
    });
    this.scheduler.start();
  }

  /** Stops timers and the kernel watch, and waits for a running pass to finish. The kernel state is left in place. */
  async stop(): Promise<void> {
    this.opts.watch?.close();
    await this.scheduler.stop();
  }

  /** Resolves once no pass is running (timers may still be pending). */
  whenIdle(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  /**
   * Runs a pass now (after any running one); undefined when not in sync, so nothing may be written.
   * For the daemon's init step and for tests; the debounced trigger is the usual way in.
   */
  async reconcileNow(reason = 'requested'): Promise<ReconcileResult | undefined> {
    await this.scheduler.whenIdle();
    if (!this.store.inSync) return undefined;
    await this.scheduler.runNow(reason);
    return this.last;
  }

  /** The client node whose pod route covers `ip`, from the routes in use (for the SNAT audit log). */
  nodeFor(ip: IpAddress): string | undefined {
    return this.store.nodeFor(ip);
  }

  /**
   * The whole desired state, cached per route-store version. A pass gives `incumbent` (who holds
   * each node address in the kernel, from its read): computed afresh then, since that settles
   * conflicts. Otherwise what is held after the last pass says it.
   */
  desired(incumbent?: IncumbentLookup): DesiredState {
    if (incumbent || !this.desiredCache || this.desiredCache.version !== this.store.version) {
      const vxlan = this.opts.returnPath.vxlanDevice;
      const held = this.passes.held;
      const lookup = incumbent ?? (held ? (ip: IpAddress) => held.neighbourMac(vxlan, ip) : undefined);
      const state = desiredReturnPath(this.store.routes(), this.store.vteps(), this.opts.returnPath, lookup);
      this.desiredCache = { version: this.store.version, state };
      this.reportConflicts(state.conflicts);
    }
    return this.desiredCache.state;
  }

  /** Each conflict once, with both node names, while it lasts. */
  private reportConflicts(conflicts: readonly AddressConflict[]): void {
    const now = new Set<string>();
    for (const c of conflicts) {
      for (const r of c.refused) {
        const key = `${c.address} ${r.node}`;
        now.add(key);
        if (this.reportedConflicts.has(key)) continue;
        this.opts.logger?.warn(
          { component: 'reconciler', event: 'route_conflict', address: c.address, keptBy: c.keptBy, refused: r.node, blocks: r.blocks, because: c.because },
          `node ${r.node} claims node address ${c.address}, which node ${c.keptBy} ${c.because === 'incumbent' ? 'holds' : 'also claims (first by name)'}: ${c.keptBy} keeps it; ${r.blocks} client block(s) of ${r.node} get no return path until the address is free`,
        );
        this.opts.onConflict?.(c, r.node);
      }
    }
    this.reportedConflicts = now;
  }

  /**
   * Every entry the gateway believes the kernel holds, and which client node each is for (from the
   * routes and VTEPs in use): `egress-gateway status --entries`.
   */
  programmedEntries(): { readonly entries: ReturnPathEntries; readonly attribution: EntryAttribution } {
    const entries = this.passes.held?.entries() ?? { routes: [], neighbours: [], fdb: [] };
    const macs = new Map<string, string>();
    for (const node of this.store.nodes()) if (node !== '') macs.set(clientVtepMac(node), node);
    const vxlan = this.opts.returnPath.vxlanDevice;
    const attribution: EntryAttribution = {
      nodeOfMac: (mac) => macs.get(mac),
      nodeOfRoute: (r) => {
        const felix = this.store.routeAt(r.dst.text);
        if (felix && felix.dstNodeName !== '') return felix.dstNodeName;
        if (r.dev === vxlan) return undefined;
        // A tunnel address's /32 out of the underlay: the node whose VTEP names that address.
        for (const v of this.store.vteps()) if (v.ipv4Addr?.text === r.dst.address.text || v.ipv6Addr?.text === r.dst.address.text) return v.node;
        return undefined;
      },
    };
    return { entries, attribution };
  }

  /** What the gateway believes the kernel holds; cheap, unlike status() (which needs the desired state). */
  programmedCounts(): EntryCounts {
    return this.passes.held?.counts() ?? { routes: 0, neighbours: 0, fdb: 0 };
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
      conflicts: d.conflicts,
    };
  }

  private async pass(reason: string, full: boolean): Promise<boolean> {
    const startedAt = this.clock.now();
    const version = this.store.version;
    let outcome;
    try {
      outcome = await this.passes.run(full);
    } catch (err) {
      // A bug, not a kernel answer: reported like a failed pass, so the next one re-reads the kernel.
      outcome = { operations: 0, errors: [err instanceof GatewayError ? err : new GatewayError(ErrorCodes.INTERNAL, `reconciling the return path: ${String(err)}`, { cause: err })] };
    }
    const { operations, errors } = outcome;
    const ok = errors.length === 0;
    const result: ReconcileResult = {
      ok,
      full,
      reason,
      at: this.wallClock(),
      durationMs: this.clock.now() - startedAt,
      operations,
      ...(ok ? {} : { error: new ReconcileError(errors, Math.max(1, operations || errors.length)) }),
    };
    this.last = result;
    const log = this.opts.logger;
    if (log) {
      const fields = { component: 'reconciler', event: 'reconciled', reason, full, operations, durationMs: result.durationMs };
      if (ok) log[operations > 0 ? 'info' : 'debug'](fields, 'return path reconciled');
      else log.warn({ ...fields, err: result.error, failures: result.error?.errors.length }, 'return path reconcile failed; retrying with a full resync');
    }
    this.opts.onReconciled?.(result);
    if (ok) this.passes.buildParts(version);
    return ok;
  }
}
