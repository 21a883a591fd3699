import { diffClass, type ClassPlan } from '../dataplane/diff';
import { describeEntry, fdbKind, neighbourKind, type FdbEntry, type NeighbourEntry } from '../model/entries';
import { describeCause, GatewayError, kernelError } from '../errors';
import type { OwnedNftTable } from '../kernel/nft-table';
import type { PolicyRouting, PolicyRoutingWatch } from '../kernel/policy-routing';
import type { Links, Sysctl } from '../kernel/ports';
import type { BatchErrors, Fdb, Neighbours, Upsert } from '../kernel/return-path';
import { ReconcileError } from '../dataplane/reconciler';
import { PassScheduler } from '../dataplane/scheduler';
import { systemClock, type Clock } from '../model/clock';
import { clientVtepMac } from '../model/mac';
import type { NexthopEntry, NexthopGroupEntry, RuleEntry, TableRouteEntry } from '../model/policy-routing';
import { steeringSpecText, type SteeringSpec } from '../model/steering';
import type { Logger } from '../observability/logger';
import { DEFAULT_STEERING_OPTIONS, desiredSteering, type DesiredSteering, type SteeringOptions, type SteeringSpecView, type SteeringTable } from './desired';
import { groupKind, nexthopKind, ruleKind, tableRouteKind } from './kinds';
import { NAT_EXEMPTION_TABLE, natExemptionPresent, renderNatExemption } from './nat-exemption';
import { LEGACY_PINS_TABLE, PINS_TABLE, pinsPresent, renderPins, type Pin } from './pins';

/**
 * Keeps a client node's kernel equal to the SteeringSpec the agent's control plane computes
 * (see desired.ts for what that is). Tailscale's router contract: `set(spec)` may be called again
 * and again; a pass reads everything the agent owns back from the kernel, computes the desired
 * state, and writes only the differences, so the same spec twice writes nothing the second time.
 *
 * Passes run after `set`, after a kernel notification about something the agent owns (drift is
 * repaired when it happens, not at the next poll), after a failure (backoff 500 ms → 30 s) and
 * every `resyncIntervalMs` as a backstop (the NAT exemption has no notifications). Nothing is
 * written before the first `set`: an agent that restarts leaves the kernel as it found it until
 * its control plane has the whole picture.
 *
 * Order within a pass: device, NAT exemption; then adds, lowest layer first (FDB, neighbours,
 * nexthops, groups, table routes, rules), then deletes, highest layer first. So a rule only ever
 * points at a table that already holds its backstop, a rule goes before its table's routes, a
 * group's members are replaced before the nexthops it dropped are deleted. Two guards on top:
 * no rule is added for a table whose backstop could not be written, and no backstop is deleted
 * while a rule of ours still points at its table. Error policy: every entry is tried, failures
 * are collected and reported together, and the pass is retried.
 */

export interface SteeringKernel {
  readonly policy: PolicyRouting;
  readonly neighbours: Neighbours;
  readonly fdb: Fdb;
  readonly links: Links;
  readonly sysctl: Sysctl;
  readonly nat: OwnedNftTable;
  /** The flow pins' nftables table (./pins.ts); needed only with the `flowMark` option. */
  readonly pins?: OwnedNftTable;
  /** The IPv4-only pins table of earlier versions, which only teardown reads (every pins write deletes it). */
  readonly legacyPins?: OwnedNftTable;
  readonly watch?: PolicyRoutingWatch;
}

export interface SteeringReconcilerOptions {
  readonly kernel: SteeringKernel;
  readonly steering?: Partial<SteeringOptions>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly wallClock?: () => number;
  /** Quiet time gathering a burst of notifications into one pass; default 2 ms. */
  readonly debounceMs?: number;
  /** Full pass period, whatever happens; default 10 s. */
  readonly resyncIntervalMs?: number;
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  readonly onReconciled?: (result: SteeringResult) => void;
}

/** All the per-entry failures of one steering pass. */
export class SteeringError extends ReconcileError {
  constructor(errors: readonly GatewayError[], attempted: number) {
    super(errors, attempted, 'the steering');
    this.name = 'SteeringError';
  }
}

export interface SteeringResult {
  readonly ok: boolean;
  readonly reason: string;
  readonly at: number;
  readonly durationMs: number;
  /** Kernel writes attempted (0 when the kernel already held the desired state). */
  readonly operations: number;
  /** One line per write, in the order made ("add rule from 100.64.1.5 lookup 1000 priority 100"). */
  readonly writes: readonly string[];
  readonly error?: SteeringError;
}

export interface SteeringStatus {
  readonly spec?: string;
  readonly tables: readonly SteeringTable[];
  /** The flow pins: gateway, slot, mark and table (empty without pinning). */
  readonly pins: readonly Pin[];
  readonly problems: readonly string[];
  readonly lastReconcile?: { readonly ok: boolean; readonly at: number; readonly durationMs: number; readonly operations: number; readonly error?: string };
}

/** The errno under a coded error (kernelError keeps it as the cause). */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code;
}

/** What one pass found in the kernel. */
interface KernelRead {
  readonly rules: RuleEntry[];
  readonly routes: TableRouteEntry[];
  readonly nexthops: readonly NexthopEntry[];
  readonly groups: readonly NexthopGroupEntry[];
  readonly foreignNexthopIds: readonly number[];
  readonly neighbours: NeighbourEntry[];
  readonly fdb: FdbEntry[];
}

export class SteeringReconciler {
  private readonly kernel: SteeringKernel;
  private readonly options: SteeringOptions;
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly debounceMs: number;
  private readonly log: Logger | undefined;

  private spec: SteeringSpec | undefined;
  private started = false;
  private last: SteeringResult | undefined;
  private lastDesired: DesiredSteering | undefined;
  private lastProblems = '';
  /** What the last pass could not set on the node that the steering works without (the hashing sysctls). */
  private nodeProblems: string[] = [];
  /** When passes run: debounce, retry with backoff, periodic resync (the return path's scheduler). */
  private readonly scheduler: PassScheduler;

  constructor(private readonly opts: SteeringReconcilerOptions) {
    this.kernel = opts.kernel;
    this.options = { ...DEFAULT_STEERING_OPTIONS, ...opts.steering };
    this.clock = opts.clock ?? systemClock;
    this.wallClock = opts.wallClock ?? Date.now;
    this.debounceMs = opts.debounceMs ?? 2;
    this.log = opts.logger?.child({ component: 'steering' });
    this.scheduler = new PassScheduler({
      clock: this.clock,
      debounceMs: this.debounceMs,
      resyncIntervalMs: opts.resyncIntervalMs ?? 10_000,
      retryInitialMs: opts.retryInitialMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 30_000,
      // Nothing is written before the first spec.
      canRun: () => this.spec !== undefined,
      // Every pass reads everything the agent owns back: a node's steering is small.
      pass: async (reason) => (await this.pass(reason)).ok,
    });
  }

  /** The whole desired steering of this node; the first call allows the first kernel write. */
  set(spec: SteeringSpec): void {
    const before = this.spec ? steeringSpecText(this.spec) : undefined;
    this.spec = spec;
    if (before === steeringSpecText(spec) && this.last?.ok) return;
    this.scheduler.trigger('spec', 0);
  }

  /** Subscribes to kernel notifications and begins reconciling (a spec already set is applied now). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.kernel.watch?.watch(this.options.device, {
      onChange: (what) => this.scheduler.trigger(`kernel: ${what}`, this.debounceMs),
      onError: (err) => {
        this.log?.warn({ event: 'steering_watch_error', err }, 'kernel notifications lost; reading everything again');
        this.scheduler.requestFull('kernel notifications lost');
      },
    });
    this.scheduler.start();
  }

  /** Stops timers and notifications and waits for a running pass. The kernel state stays as it is. */
  async stop(): Promise<void> {
    this.started = false;
    this.kernel.watch?.close();
    await this.scheduler.stop();
  }

  /**
   * The agent's port (`SteeringDataplane.apply` of src/agent/ports.ts): sets the spec, starts the
   * reconciler if it was not, and resolves once a pass has made the kernel hold it; rejects with
   * the pass's SteeringError (code KERNEL_OP_FAILED) when some of it could not be programmed. The
   * reconciler keeps retrying on its own either way.
   */
  async apply(spec: SteeringSpec): Promise<void> {
    this.spec = spec;
    if (!this.started) this.start();
    const result = await this.reconcileNow('spec');
    if (result?.error) throw result.error;
  }

  /**
   * Uninstall: removes everything the agent owns on this node, rules first (every pod goes back to
   * the node's own path, as before the agent), then routes, nexthops, neighbours and FDB entries,
   * then the NAT exemption and egress.calico itself. For `egress-gateway agent --teardown`; an
   * agent that merely stops leaves the kernel as it is. The node-wide sysctls it may have set
   * (fib_multipath_hash_*) stay: their earlier values are not known.
   */
  async teardown(): Promise<SteeringResult> {
    await this.stop();
    const result = await this.pass('teardown', true);
    const writes = [...result.writes];
    const errors: GatewayError[] = result.error ? [...result.error.errors] : [];
    const owned: Array<[OwnedNftTable | undefined, { family: string; name: string }, string]> = [
      [this.kernel.pins, PINS_TABLE, 'deleting the flow pins'],
      [this.kernel.legacyPins, LEGACY_PINS_TABLE, "deleting an earlier version's flow pins"],
      [this.kernel.nat, NAT_EXEMPTION_TABLE, 'deleting the NAT exemption'],
    ];
    for (const [nft, t, doing] of owned) {
      if (!nft) continue;
      try {
        if ((await nft.read()) !== undefined) {
          const table = `${t.family} ${t.name}`;
          await nft.write(`table ${table}\ndelete table ${table}\n`);
          writes.push(`delete nftables table ${table}`);
        }
      } catch (err) {
        errors.push(err instanceof GatewayError ? err : kernelError(doing, err));
      }
    }
    // The device goes last, and only once no rule of ours is left to steer into it.
    if (result.ok) {
      try {
        if (await this.kernel.links.remove(this.options.device)) writes.push(`delete device ${this.options.device}`);
      } catch (err) {
        errors.push(err instanceof GatewayError ? err : kernelError(`deleting ${this.options.device}`, err));
      }
    }
    if (errors.length === 0) return { ...result, writes };
    return { ...result, ok: false, writes, error: new SteeringError(errors, writes.length + errors.length) };
  }

  /** Runs a pass now (after a running one); undefined before the first spec. For tests and tools. */
  async reconcileNow(reason = 'requested'): Promise<SteeringResult | undefined> {
    await this.scheduler.whenIdle();
    if (!this.spec) return undefined;
    await this.scheduler.runNow(reason);
    return this.last;
  }

  status(): SteeringStatus {
    const last = this.last;
    return {
      ...(this.spec ? { spec: steeringSpecText(this.spec) } : {}),
      tables: this.lastDesired?.tables ?? [],
      pins: this.lastDesired?.pins ?? [],
      problems: [...this.nodeProblems, ...(this.lastDesired?.problems ?? [])],
      ...(last
        ? {
            lastReconcile: {
              ok: last.ok,
              at: last.at,
              durationMs: last.durationMs,
              operations: last.operations,
              ...(last.error ? { error: last.error.message } : {}),
            },
          }
        : {}),
    };
  }

  /** One pass; `teardown`: as for a spec without clients, leaving the device and the nftables tables alone. */
  private async pass(reason: string, teardown = false): Promise<SteeringResult> {
    const spec: SteeringSpecView = teardown ? { clients: [] } : (this.spec as SteeringSpec);
    const startedAt = this.clock.now();
    const writes: string[] = [];
    const errors: GatewayError[] = [];
    let attempted = 0;
    const fail = (doing: string, err: unknown): void => {
      errors.push(err instanceof GatewayError ? err : kernelError(doing, err));
    };

    // Device and NAT exemption first. A missing device makes the gateways' nexthops fail; the rules
    // and backstops still go in, so the pods fail closed rather than leave through the node.
    if (!teardown) {
      attempted += await this.ensureDevice(spec as SteeringSpec, writes, fail);
      attempted += await this.ensureNatExemption(writes, fail);
    }

    let read: KernelRead;
    try {
      read = await this.read();
    } catch (err) {
      fail('reading the steering state from the kernel', err);
      return this.finish(reason, startedAt, attempted, writes, errors);
    }
    let desired: DesiredSteering;
    try {
      desired = desiredSteering(spec, this.options, read);
    } catch (err) {
      fail('computing the steering', err);
      return this.finish(reason, startedAt, attempted, writes, errors);
    }
    this.lastDesired = desired;
    const all = [...this.nodeProblems, ...desired.problems];
    const problems = all.join('\n');
    if (problems !== this.lastProblems) {
      this.lastProblems = problems;
      for (const p of all) this.log?.warn({ event: 'steering_problem' }, p);
    }

    const plan = {
      fdb: diffClass(fdbKind, read.fdb, desired.fdb),
      neighbours: diffClass(neighbourKind, read.neighbours, desired.neighbours),
      nexthops: diffClass(nexthopKind, read.nexthops, desired.nexthops),
      groups: diffClass(groupKind, read.groups, desired.groups),
      routes: diffClass(tableRouteKind, read.routes, desired.routes),
      rules: diffClass(ruleKind, read.rules, desired.rules),
    };

    // Adds, lowest layer first.
    attempted += await this.upserts(plan.fdb, (i) => this.kernel.fdb.upsertMany(i), (e) => describeEntry('fdb', e), writes, fail);
    attempted += await this.upserts(plan.neighbours, (i) => this.kernel.neighbours.upsertMany(i), (e) => describeEntry('neighbour', e), writes, fail);
    attempted += await this.upserts(plan.nexthops, (i) => this.kernel.policy.upsertNexthops(i), (e) => `nexthop ${nexthopKind.format(e)}`, writes, fail);
    attempted += await this.upserts(plan.groups, (i) => this.kernel.policy.upsertGroups(i), (e) => `nexthop group ${groupKind.format(e)}`, writes, fail);
    const routeResults = await this.upsertsWithResults(plan.routes, (i) => this.kernel.policy.upsertTableRoutes(i), (e) => `route ${tableRouteKind.format(e)}`, writes, fail);
    attempted += plan.routes.upserts.length;

    // Tables whose backstop of the rule's family the kernel holds now: the only ones a rule may
    // point at (the IPv4 and IPv6 tables of one number are two tables to the kernel).
    const guarded = new Set<string>();
    const tableOf = (family: number, table: number): string => `${family} ${table}`;
    const isBackstop = (r: TableRouteEntry): boolean => r.type === 'unreachable' && r.dst.prefixLength === 0 && !r.unexpected;
    for (const r of plan.routes.same) if (isBackstop(r)) guarded.add(tableOf(r.dst.family, r.table));
    plan.routes.upserts.forEach((u, k) => {
      if (isBackstop(u.entry) && !routeResults[k]) guarded.add(tableOf(u.entry.dst.family, u.entry.table));
    });
    // A rule is "replaced" by adding the new one and deleting the old one afterwards.
    const ruleAdds: RuleEntry[] = [];
    const ruleDels: RuleEntry[] = [...plan.rules.removals];
    for (const u of plan.rules.upserts) {
      // A pin's table has no backstop on purpose: its flows fall through to their pod's own table.
      if (!guarded.has(tableOf(u.entry.family, u.entry.table)) && !u.entry.fwmark) {
        fail(`adding rule ${ruleKind.format(u.entry)}`, new Error(`table ${u.entry.table} has no IPv${u.entry.family} backstop route: not steering into it`));
        continue;
      }
      ruleAdds.push(u.entry);
      if (u.existing) ruleDels.push(u.existing);
    }
    attempted += ruleAdds.length;
    const addErrors = await this.kernel.policy.addRules(ruleAdds);
    const added = new Set<RuleEntry>();
    ruleAdds.forEach((r, k) => {
      const err = addErrors[k];
      if (err) fail(`adding rule ${ruleKind.format(r)}`, err);
      else {
        added.add(r);
        writes.push(`add rule ${ruleKind.format(r)}`);
      }
    });
    // Keep the old rule of a move whose new rule failed: the pod stays where it was.
    const dels = ruleDels.filter((old) => {
      const u = plan.rules.upserts.find((x) => x.existing === old);
      return !u || added.has(u.entry);
    });

    // Deletes, highest layer first.
    attempted += dels.length;
    const delErrors = await this.kernel.policy.removeRules(dels);
    const remainingRules = new Set(read.rules);
    dels.forEach((r, k) => {
      const err = delErrors[k];
      if (err) fail(`deleting rule ${ruleKind.format(r)}`, err);
      else {
        remainingRules.delete(r);
        writes.push(`del rule ${ruleKind.format(r)}`);
      }
    });
    const pointedAt = new Set<string>([...remainingRules, ...added].map((r) => tableOf(r.family, r.table)));
    const routeDels = plan.routes.removals.filter((r) => {
      if (!isBackstop(r) || !pointedAt.has(tableOf(r.dst.family, r.table))) return true;
      fail(`deleting route ${tableRouteKind.format(r)}`, new Error(`a rule still points at table ${r.table}: keeping its backstop`));
      return false;
    });
    attempted += await this.removals(routeDels, (x) => this.kernel.policy.removeTableRoutes(x), (e) => `route ${tableRouteKind.format(e)}`, writes, fail);
    attempted += await this.removals(
      plan.groups.removals.map((g) => g.id),
      (x) => this.kernel.policy.removeNexthops(x),
      (id) => `nexthop group id ${id}`,
      writes,
      fail,
    );
    attempted += await this.removals(
      plan.nexthops.removals.map((n) => n.id),
      (x) => this.kernel.policy.removeNexthops(x),
      (id) => `nexthop id ${id}`,
      writes,
      fail,
    );
    attempted += await this.removals(plan.neighbours.removals, (x) => this.kernel.neighbours.removeMany(x), (e) => describeEntry('neighbour', e), writes, fail);
    attempted += await this.removals(plan.fdb.removals, (x) => this.kernel.fdb.removeMany(x), (e) => describeEntry('fdb', e), writes, fail);

    // The pins' marks last: their rules and tables are in place by now, and stale slots go only now.
    if (!teardown && this.options.flowMark) attempted += await this.ensurePins(desired.pins, writes, fail);

    return this.finish(reason, startedAt, attempted, writes, errors);
  }

  private async ensurePins(pins: readonly Pin[], writes: string[], fail: (doing: string, err: unknown) => void): Promise<number> {
    const nft = this.kernel.pins;
    const mark = this.options.flowMark;
    if (!nft || !mark) return 0;
    try {
      if (pinsPresent(await nft.read(), this.options.device, mark, pins)) return 0;
      await nft.write(renderPins(this.options.device, mark, pins));
      writes.push(`write nftables table ${PINS_TABLE.family} ${PINS_TABLE.name} (${pins.length} pinned gateway(s))`);
    } catch (err) {
      fail('writing the flow pins', err);
    }
    return 1;
  }

  private finish(reason: string, startedAt: number, attempted: number, writes: string[], errors: GatewayError[]): SteeringResult {
    const durationMs = this.clock.now() - startedAt;
    const error = errors.length ? new SteeringError(errors, Math.max(attempted, errors.length)) : undefined;
    const result: SteeringResult = { ok: !error, reason, at: this.wallClock(), durationMs, operations: writes.length + errors.length, writes, ...(error ? { error } : {}) };
    this.last = result;
    if (error) this.log?.error({ event: 'steering_failed', reason, err: error, writes: writes.length }, error.message);
    else if (writes.length) this.log?.info({ event: 'steering_changed', reason, writes }, `steering: ${writes.length} kernel writes (${reason})`);
    this.opts.onReconciled?.(result);
    return result;
  }

  private async read(): Promise<KernelRead> {
    const [rules, routes, listing, neighbours, fdb] = await Promise.all([
      this.kernel.policy.listRules(),
      this.kernel.policy.listTableRoutes(),
      this.kernel.policy.listNexthops(),
      this.kernel.neighbours.list(this.options.device),
      this.kernel.fdb.list(this.options.device),
    ]);
    return { rules, routes, nexthops: listing.nexthops, groups: listing.groups, foreignNexthopIds: listing.foreignIds, neighbours, fdb };
  }

  /** egress.calico as the spec says (parent: the device that holds the node IP), and its rp_filter. */
  private async ensureDevice(spec: SteeringSpec, writes: string[], fail: (doing: string, err: unknown) => void): Promise<number> {
    const d = spec.device;
    const doing = `ensuring ${this.options.device} (vni ${d.vni}, port ${d.port}, local ${d.localIp.text})`;
    let attempted = 0;
    try {
      const parent = await this.kernel.policy.deviceWithAddress(d.localIp);
      if (!parent) throw new Error(`no interface holds the node address ${d.localIp.text}`);
      const before = await this.kernel.links.get(this.options.device);
      const after = await this.kernel.links.ensureVxlan({
        name: this.options.device,
        vni: d.vni,
        port: d.port,
        parent,
        mac: clientVtepMac(d.nodeName),
        local: d.localIp.text,
      });
      if (!before || before.index !== after.index || before.mac !== after.mac || !before.up) {
        attempted++;
        writes.push(`ensure device ${this.options.device} (vxlan ${d.vni} port ${d.port} dev ${parent} local ${d.localIp.text} mac ${after.mac})`);
      }
    } catch (err) {
      attempted++;
      fail(doing, err);
      return attempted;
    }
    // Replies come back decapsulated from outside addresses whose route points elsewhere: strict
    // reverse-path filtering would drop them. Loose (2) holds whatever conf/all says (the kernel
    // takes the larger of the two values). Over rtnetlink, not /proc/sys: CAP_NET_ADMIN is enough,
    // and an unprivileged container's /proc/sys is read-only. (IPv6 has no rp_filter.)
    try {
      if ((await this.kernel.links.ipv4Conf(this.options.device, 'rp_filter')) !== 2) {
        attempted++;
        await this.kernel.links.setIpv4Conf(this.options.device, 'rp_filter', 2);
        writes.push(`set net.ipv4.conf.${this.options.device}.rp_filter = 2`);
      }
    } catch (err) {
      fail(`setting net.ipv4.conf.${this.options.device}.rp_filter to 2 (loose)`, err);
    }
    // 'l4' is policy 3 (the fields below), not policy 1: policy 1 takes a forwarded packet's own
    // L4 hash when it has one, and a pod's packets carry their socket's random txhash across the
    // veth, which TCP draws afresh after a retransmission timeout: the flow would change bucket,
    // hence gateway, mid-connection. Policy 3 hashes the headers themselves: source and destination
    // address, protocol, source and destination port (0x37).
    // The hashing decides how flows spread over a pod's gateways, not where they may go (a flow
    // stays on its gateway either way): a node whose /proc/sys the agent may not write (an
    // unprivileged container) is reported, not failed, and steered all the same.
    // IPv6: policy 0 hashes the flow label too, which the pod's TCP stack draws afresh after a
    // retransmission timeout (auto_flowlabels): the same trap as policy 1. So IPv6 takes policy 3
    // in both cases, with the addresses alone for 'l3' (fields 0x03) and the 5-tuple for 'l4'.
    // A node without IPv6 (no net/ipv6 in /proc/sys) is not asked.
    this.nodeProblems = [];
    const hash = this.options.multipathHash;
    if (hash) {
      const wanted: Array<[string, string]> =
        hash === 'l4'
          ? [
              ['net/ipv4/fib_multipath_hash_fields', String(0x37)],
              ['net/ipv4/fib_multipath_hash_policy', '3'],
              ['net/ipv6/fib_multipath_hash_fields', String(0x37)],
              ['net/ipv6/fib_multipath_hash_policy', '3'],
            ]
          : [
              ['net/ipv4/fib_multipath_hash_policy', '0'],
              ['net/ipv6/fib_multipath_hash_fields', String(0x03)],
              ['net/ipv6/fib_multipath_hash_policy', '3'],
            ];
      for (const [key, value] of wanted) {
        try {
          let now: string;
          try {
            now = await this.kernel.sysctl.get(key);
          } catch (err) {
            if (key.startsWith('net/ipv6/') && causeCode(err) === 'ENOENT') continue;
            throw err;
          }
          if (now !== value) {
            attempted++;
            await this.kernel.sysctl.set(key, value);
            writes.push(`set ${key} = ${value}`);
          }
        } catch (err) {
          this.nodeProblems.push(`setting ${key} to ${value} (${hash} hashing) failed: ${describeCause(err)}; flows spread as the node's own setting says (set it on the node, or give the agent a writable /proc/sys)`);
        }
      }
    }
    return attempted;
  }

  private async ensureNatExemption(writes: string[], fail: (doing: string, err: unknown) => void): Promise<number> {
    try {
      if (natExemptionPresent(await this.kernel.nat.read(), this.options.device)) return 0;
      await this.kernel.nat.write(renderNatExemption(this.options.device));
      writes.push(`write nftables table ${NAT_EXEMPTION_TABLE.family} ${NAT_EXEMPTION_TABLE.name} (no NAT-outgoing through ${this.options.device})`);
    } catch (err) {
      fail(`keeping NAT-outgoing off ${this.options.device}`, err);
    }
    return 1;
  }

  private async upserts<T>(
    plan: ClassPlan<T>,
    write: (items: readonly Upsert<T>[]) => Promise<BatchErrors>,
    describe: (e: T) => string,
    writes: string[],
    fail: (doing: string, err: unknown) => void,
  ): Promise<number> {
    await this.upsertsWithResults(plan, write, describe, writes, fail);
    return plan.upserts.length;
  }

  private async upsertsWithResults<T>(
    plan: ClassPlan<T>,
    write: (items: readonly Upsert<T>[]) => Promise<BatchErrors>,
    describe: (e: T) => string,
    writes: string[],
    fail: (doing: string, err: unknown) => void,
  ): Promise<BatchErrors> {
    if (!plan.upserts.length) return [];
    const results = await write(plan.upserts);
    plan.upserts.forEach((u, k) => {
      const err = results[k];
      const verb = u.existing ? 'replace' : 'add';
      if (err) fail(`${verb === 'add' ? 'adding' : 'replacing'} ${describe(u.entry)}`, err);
      else writes.push(`${verb} ${describe(u.entry)}`);
    });
    return results;
  }

  private async removals<T>(
    items: readonly T[],
    remove: (items: readonly T[]) => Promise<BatchErrors>,
    describe: (e: T) => string,
    writes: string[],
    fail: (doing: string, err: unknown) => void,
  ): Promise<number> {
    if (!items.length) return 0;
    const results = await remove(items);
    items.forEach((x, k) => {
      const err = results[k];
      if (err) fail(`deleting ${describe(x)}`, err);
      else writes.push(`del ${describe(x)}`);
    });
    return items.length;
  }
}

