import { ErrorCodes, GatewayError, describeCause, isGatewayError, kernelError } from '../errors';
import type { Links, Sysctl } from '../kernel/ports';
import { expectedIptablesLines, expectedNftListing, type NftTableRead, type OwnedRulesetReader } from '../kernel/netfilter-state';
import { tupleText } from '../kernel/netlink/conntrack';
import type { ConntrackTable } from '../kernel/netlink/conntrack-table';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { netfilterFor, type InitPorts } from './apply';
import { rulesetsFor, type InitPlan, type SysctlSetting } from './plan';
import { FAILSAFE_KINDS, OWNED, failsafeKindOf, type FailsafeKind, type RulesetPayload } from './ruleset';
import { staleFlows, type DeviceLookup } from './stale-flows';

/**
 * The daemon's half of init: it holds what init set up, as the vxlan0 guard holds the device.
 *
 * What is held: the owned ruleset (the SNAT and MSS clamp chains or table, the jumps into the
 * chains, the fail-safe table), with the MSS clamp following vxlan0's MTU; and init's sysctls
 * (forwarding, rp_filter). Init's own plan and ruleset text are the reference (`rulesetsFor`): there
 * is no second renderer.
 *
 * When it looks:
 *   - the ruleset: at start, every `fullIntervalMs` (RESYNC_INTERVAL), and at once (debounced) when
 *     the kernel says something changed: nf_tables events for nftables and iptables-nft, and link
 *     events for vxlan0's MTU (the daemon wires them to `requestCheck`). iptables-legacy sends no
 *     events, so with it the rules are also read at every quick check;
 *   - the sysctls: at once (debounced) when the kernel says one changed (rtnetlink netconf
 *     notifications: every forwarding and rp_filter write with a new value; the daemon wires them to
 *     `requestSysctlCheck`), and with every ruleset check. Only when those notifications cannot be
 *     had (`pollSysctls`) are they read at every quick check (`quickIntervalMs`, 2 s).
 * With an nf_tables backend and the notifications, nothing runs on a short timer: an idle daemon
 * reads init's setup only at the full check.
 *
 * What it does on a change: logs it once (`setup_drift`, with what changed), counts it
 * (egress_gateway_setup_drift_total{item}), and puts init's setting back. A setting it cannot put
 * back (a read-only /proc/sys, as an unprivileged container has; a netfilter tool failing) is
 * reported through `onProblem`, which turns readiness 503 with the reason, and is tried again at
 * the next check.
 *
 * How a change is recognised: a read of what we own (OwnedRulesetReader: iptables-save's owned lines,
 * or an nft table's listing) is compared with what the kernel listed right after our own last apply
 * of the same text. Our payloads are written in the form the tools print them back, so at start an
 * intact ruleset reads back as its own text and nothing is written. Where a tool prints it otherwise
 * (another nft version may), the guard applies it once (an atomic, idempotent rewrite of what we own)
 * and keeps what the kernel lists then as the reference; a read before that apply that differs from
 * the one after it is a change made while no daemon was watching.
 *
 * The fail-safe table's counters tell what was about to leave without SNAT, by kind (FailsafeKind in
 * ruleset.ts), read at every full check and after every repair:
 *   - invalid packets (conntrack could not place them, so NAT could never translate them): normal in
 *     real traffic now and then; counted and logged at debug, never a problem;
 *   - packets of stale connections (tracked without SNAT while the SNAT and the fail-safe were both
 *     missing): their conntrack entries are deleted (stale-flows.ts), after every repair of the
 *     ruleset or the fail-safe and whenever such drops are seen; never a problem (nothing leaks);
 *   - escaped packets (a new connection the SNAT did not translate): expected while the rules were
 *     broken (that is what the fail-safe is for). With the owned rules intact they mean something
 *     else stops the SNAT (a foreign rule ahead of our jump, a notrack rule): readiness reports it
 *     until a full interval passes without new ones, since the daemon cannot take a foreign rule away.
 */

export interface SetupGuardOptions {
  readonly plan: InitPlan;
  /** vxlan0's MTU, for the MSS clamp. */
  readonly links: Pick<Links, 'get'>;
  readonly sysctl: Sysctl;
  /** The plan's backend, and nft for the fail-safe when that is an iptables backend. */
  readonly netfilter: Pick<InitPorts, 'netfilter' | 'failsafe'>;
  readonly reader: OwnedRulesetReader;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics?: Pick<GatewayMetrics, 'setupDrift' | 'failsafeDropped' | 'staleFlowsDeleted'>;
  /** Where the entries of stale connections are deleted (ctnetlink and a route lookup); absent: they are left to expire. */
  readonly staleFlows?: { readonly conntrack: ConntrackTable; readonly deviceOf: DeviceLookup };
  /** Period of the full check (the ruleset and the fail-safe's counter); RESYNC_INTERVAL. */
  readonly fullIntervalMs: number;
  /** Period of the quick check (what has no notification: `pollSysctls`, `pollRules`); default 2 s. */
  readonly quickIntervalMs?: number;
  /** No event tells of rule changes (iptables-legacy): read the iptables rules at every quick check. */
  readonly pollRules: boolean;
  /** No netconf notification tells of sysctl changes (the subscription failed): read them at every quick check. */
  readonly pollSysctls: boolean;
  /** Quiet time after an event before the check runs, so a burst of changes costs one check (one `nft -f` transaction sends several events at once); default 20 ms. */
  readonly debounceMs?: number;
  /** What is wrong and cannot be put back now (an error), or nothing any more (undefined). Called on changes only. */
  onProblem(problem: GatewayError | undefined): void;
}

export const DEFAULT_SETUP_QUICK_INTERVAL_MS = 2_000;

/** What `status` shows of the guard. */
export interface SetupGuardStatus {
  readonly backend: string;
  /** Clock time of the last completed check of the ruleset. */
  readonly lastRulesetCheck?: number;
  /** Changes noticed since start, per item. */
  readonly drift: Readonly<Record<string, number>>;
  readonly lastDrift?: { readonly item: string; readonly at: number; readonly detail: string };
  /** Packets the fail-safe dropped since start, all kinds. */
  readonly failsafeDropped: number;
  readonly failsafeDroppedByKind: Readonly<Record<FailsafeKind, number>>;
  /** Conntrack entries of stale connections deleted since start. */
  readonly staleFlowsDeleted: number;
  /** What is wrong now and could not be put back. */
  readonly problem?: string;
}

interface Learned {
  /** The payload text last applied. */
  readonly text: string;
  /** What the kernel listed right after. */
  readonly listing: string;
  readonly mtu: number;
}

/**
 * What a check reads besides the sysctls: nothing, the iptables rules alone (the quick check with
 * iptables-legacy, whose changes no event reports), or every payload and the fail-safe's counter.
 */
type RulesScope = 'none' | 'iptables' | 'all';

interface Check {
  readonly rules: RulesScope;
  readonly sysctls: boolean;
}

const FULL_CHECK: Check = { rules: 'all', sysctls: true };

function union(a: Check | undefined, b: Check): Check {
  return a ? { rules: wider(a.rules, b.rules), sysctls: a.sysctls || b.sysctls } : b;
}

const SCOPE_RANK: Readonly<Record<RulesScope, number>> = { none: 0, iptables: 1, all: 2 };

function wider(a: RulesScope, b: RulesScope): RulesScope {
  return SCOPE_RANK[a] >= SCOPE_RANK[b] ? a : b;
}

/** net/ipv4/ip_forward → net.ipv4.ip_forward, as operators write it (interface names keep their dots unambiguous enough for a log). */
function dotted(key: string): string {
  return key.split('/').join('.');
}

/** The slot a payload fills: a new text for the same slot replaces the old one (an MSS change). */
function slotOf(p: Pick<RulesetPayload, 'part' | 'family'>): string {
  return `${p.part === 'failsafe' ? 'failsafe' : 'ruleset'}:${p.family}`;
}

/** Lines of `b` not in `a`, and of `a` not in `b`, a few of each: what a log line can show of a change. */
export function describeListingChange(before: string, after: string, max = 3): string {
  const a = before.split('\n').filter((l) => l !== '');
  const b = after.split('\n').filter((l) => l !== '');
  const gone = a.filter((l) => !b.includes(l) && !l.startsWith('*'));
  const added = b.filter((l) => !a.includes(l) && !l.startsWith('*'));
  const cut = (xs: string[]): string => xs.slice(0, max).join(' | ') + (xs.length > max ? ` (and ${xs.length - max} more)` : '');
  const parts: string[] = [];
  if (b.length === 0) return 'everything we own there is gone';
  if (gone.length > 0) parts.push(`missing: ${cut(gone)}`);
  if (added.length > 0) parts.push(`unexpected: ${cut(added)}`);
  return parts.length > 0 ? parts.join('; ') : 'the same rules in another order';
}

export class SetupGuard {
  private readonly quickIntervalMs: number;
  private readonly debounceMs: number;
  private started = false;
  private running: Promise<void> | undefined;
  /** A check asked for while one runs: run again after it (with the rules when any asker wanted them). */
  private again: Check | undefined;
  private quickTimer: TimerHandle | undefined;
  private fullTimer: TimerHandle | undefined;
  private debounceTimer: TimerHandle | undefined;
  /** What the debounced check will look at: the union of what was asked for meanwhile. */
  private requested: Check | undefined;
  private readonly learned = new Map<string, Learned>();
  private lastMtu: number | undefined;
  /** Items found changed and not yet right again: logged and counted once per episode. */
  private readonly open = new Map<string, string>();
  /** Problems per item (cannot be put back); readiness fails while any is set. */
  private readonly problems = new Map<string, GatewayError>();
  /** What was last reported through onProblem ('' for nothing wrong); undefined before the first report. */
  private reportedProblem: string | undefined;
  private lastCounts: FailsafeCounts | undefined;
  /** The fail-safe's counters as this check last read them (after our apply, when there was one). */
  private readCounts: FailsafeCounts | undefined;
  /** Unexplained escaped packets are a problem until this clock time (one full interval after the last). */
  private dropsProblemUntil: number | undefined;
  private readonly driftCounts: Record<string, number> = {};
  private lastDrift: SetupGuardStatus['lastDrift'];
  private lastRulesetCheck: number | undefined;
  private readonly dropped: Record<FailsafeKind, number> = { invalid: 0, stale: 0, escaped: 0 };
  private staleDeleted = 0;

  constructor(private readonly opts: SetupGuardOptions) {
    this.quickIntervalMs = opts.quickIntervalMs ?? DEFAULT_SETUP_QUICK_INTERVAL_MS;
    this.debounceMs = opts.debounceMs ?? 20;
    // Every kind's series exists from the start, so a rate over it is 0 rather than missing.
    for (const kind of FAILSAFE_KINDS) opts.metrics?.failsafeDropped.inc({ kind }, 0);
  }

  /** The first full check (which applies the ruleset once, see above), then the timers. Never rejects. */
  async start(): Promise<void> {
    this.started = true;
    await this.check(FULL_CHECK);
    this.scheduleQuick();
    this.scheduleFull();
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const t of [this.quickTimer, this.fullTimer, this.debounceTimer]) t?.cancel();
    this.quickTimer = this.fullTimer = this.debounceTimer = undefined;
    await this.running;
  }

  /** Something the kernel reported may have changed the ruleset (an nf_tables event, vxlan0's MTU): look soon. */
  requestCheck(reason: string): void {
    this.request(FULL_CHECK, reason);
  }

  /** The kernel reported a forwarding or rp_filter change (netconf): read the sysctls soon. */
  requestSysctlCheck(reason: string): void {
    this.request({ rules: 'none', sysctls: true }, reason);
  }

  private request(what: Check, reason: string): void {
    if (!this.started) return;
    this.requested = union(this.requested, what);
    if (this.debounceTimer) return;
    this.opts.logger.debug({ component: 'setup-guard', event: 'setup_check_requested', reason }, `checking init's setup: ${reason}`);
    this.debounceTimer = this.opts.clock.setTimeout(() => {
      this.debounceTimer = undefined;
      const requested = this.requested ?? FULL_CHECK;
      this.requested = undefined;
      void this.check(requested);
    }, this.debounceMs);
  }

  /** One check now (after any running one); resolves when done. Never rejects. */
  check(what: Check): Promise<void> {
    if (this.running) {
      this.again = union(this.again, what);
      return this.running.then(() => this.running);
    }
    this.running = this.checkOnce(what).finally(() => {
      this.running = undefined;
      const again = this.again;
      this.again = undefined;
      if (again && this.started) void this.check(again);
    });
    return this.running;
  }

  /** Resolves once no check is running (timers may still be pending); for tests. */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  status(): SetupGuardStatus {
    const problem = [...this.problems.values()][0];
    return {
      backend: this.opts.plan.backend,
      ...(this.lastRulesetCheck !== undefined ? { lastRulesetCheck: this.lastRulesetCheck } : {}),
      drift: { ...this.driftCounts },
      ...(this.lastDrift ? { lastDrift: this.lastDrift } : {}),
      failsafeDropped: FAILSAFE_KINDS.reduce((sum, k) => sum + this.dropped[k], 0),
      failsafeDroppedByKind: { ...this.dropped },
      staleFlowsDeleted: this.staleDeleted,
      ...(problem ? { problem: problem.message } : {}),
    };
  }

  /** Only for what the kernel does not notify: with nothing to poll, no timer at all. */
  private scheduleQuick(): void {
    const { pollRules, pollSysctls } = this.opts;
    if (!this.started || (!pollRules && !pollSysctls)) return;
    this.quickTimer = this.opts.clock.setTimeout(() => {
      this.quickTimer = undefined;
      void this.check({ rules: pollRules ? 'iptables' : 'none', sysctls: pollSysctls }).then(() => this.scheduleQuick());
    }, this.quickIntervalMs);
  }

  private scheduleFull(): void {
    if (!this.started) return;
    this.fullTimer = this.opts.clock.setTimeout(() => {
      this.fullTimer = undefined;
      void this.check(FULL_CHECK).then(() => this.scheduleFull());
    }, this.opts.fullIntervalMs);
  }

  private async checkOnce(what: Check): Promise<void> {
    this.problems.delete('guard');
    try {
      if (what.sysctls) await this.checkSysctls();
      if (what.rules !== 'none') {
        this.readCounts = undefined;
        const repaired = await this.checkRules(what.rules);
        if (what.rules === 'all' || repaired) {
          const staleDropped = this.checkFailsafeCounters(repaired);
          // After a repair, connections tracked while the SNAT was missing would keep leaving untranslated.
          if (repaired || staleDropped) await this.deleteStaleFlows(repaired ? 'the rules were put back' : 'the fail-safe dropped packets of them');
        }
        if (what.rules === 'all') this.lastRulesetCheck = this.opts.clock.now();
      }
    } catch (err) {
      // A bug here must not take the daemon down; it is a problem readiness reports.
      this.problems.set('guard', new GatewayError(ErrorCodes.INTERNAL, `checking init's setup failed: ${describeCause(err)}`, { cause: err }));
    }
    this.report();
  }

  /**
   * In the plan's order, which puts a key before the keys writing it resets (ip_forward resets every
   * conf.*.forwarding). One drift per cause: a key found off while an earlier one is off too (it was
   * changed after this check read it) sends the check back to the start, so the cause is logged and
   * put back, and this key, which the kernel set back with it, is read again, not logged as its own.
   */
  private async checkSysctls(): Promise<void> {
    const { sysctl } = this.opts;
    const settings = this.opts.plan.sysctls;
    let restarted = false;
    for (let i = 0; i < settings.length; i++) {
      const s = settings[i];
      if (s === undefined) break;
      const item = `sysctl:${dotted(s.key)}`;
      let value: string;
      try {
        value = await sysctl.get(s.key);
      } catch (err) {
        // A device's key is missing while the device is (the vxlan0 guard reports and re-creates it).
        if (isPerDevice(s) && isMissing(err)) {
          this.problems.delete(item);
          continue;
        }
        this.problems.set(item, failed(`reading ${dotted(s.key)}`, err));
        continue;
      }
      if (value === s.value) {
        this.settled(item);
        continue;
      }
      if (!restarted && (await this.anyOff(settings.slice(0, i)))) {
        restarted = true;
        i = -1;
        continue;
      }
      this.drifted(item, `${dotted(s.key)} is ${value}, init set ${s.value}`);
      try {
        await sysctl.set(s.key, s.value);
      } catch (err) {
        this.problems.set(item, failed(`${dotted(s.key)} is ${value}, not ${s.value}, and the daemon cannot set it back${readOnlyHint(err)}`, err));
        continue;
      }
      this.repaired(item, `${dotted(s.key)} set back to ${s.value}`);
    }
  }

  /** Whether one of these reads other than the plan says now (a read that fails counts as not: its own turn reports it). */
  private async anyOff(settings: readonly SysctlSetting[]): Promise<boolean> {
    for (const s of settings) {
      try {
        if ((await this.opts.sysctl.get(s.key)) !== s.value) return true;
      } catch {
        /* reported when its turn comes */
      }
    }
    return false;
  }

  /** True when something had to be put back (so fail-safe drops since the last look are explained). */
  private async checkRules(scope: Exclude<RulesScope, 'none'>): Promise<boolean> {
    const { plan, links } = this.opts;
    let mtu: number | undefined;
    try {
      mtu = (await links.get(plan.vxlan.name))?.mtu;
    } catch (err) {
      this.problems.set('mtu', failed(`reading ${plan.vxlan.name}'s MTU for the MSS clamp`, err));
    }
    if (mtu !== undefined) this.problems.delete('mtu');
    // vxlan0 missing: the vxlan0 guard re-creates it; meanwhile the clamp stays as it was.
    mtu ??= this.lastMtu;
    if (mtu === undefined) return false;
    let payloads: RulesetPayload[];
    try {
      payloads = rulesetsFor(plan, mtu);
    } catch (err) {
      this.problems.set('mtu', new GatewayError(ErrorCodes.KERNEL_OP_FAILED, `${plan.vxlan.name}'s MTU ${mtu}: ${describeCause(err)}`));
      return false;
    }
    const lastMtu = this.lastMtu;
    this.lastMtu = mtu;
    let repairedAny = false;
    for (const p of payloads) {
      if (scope === 'iptables' && p.family === 'inet') continue;
      const item = slotOf(p);
      let current: string;
      try {
        current = await this.read(p);
      } catch (err) {
        this.problems.set(item, failed(`reading the ${item} rules back`, err));
        continue;
      }
      const known = this.learned.get(item);
      if (known && known.text === p.text && known.listing === current) {
        this.settled(item);
        continue;
      }
      if (!known && current === expectedListing(p)) {
        // As init wrote it (the kernel lists it as we write it): nothing to put back, nothing to write.
        this.learned.set(item, { text: p.text, listing: current, mtu });
        this.settled(item);
        continue;
      }
      let why: string | undefined;
      if (!known) why = current === '' ? 'missing at start-up' : undefined;
      else if (known.text !== p.text) why = `the MSS clamp follows ${plan.vxlan.name}'s MTU, ${lastMtu ?? known.mtu} → ${mtu}`;
      else why = describeListingChange(known.listing, current);
      if (why !== undefined) this.drifted(item, `${item}: ${why}`);
      let after: string;
      try {
        await netfilterFor(this.opts.netfilter, p).apply(p.text, p.family);
        after = await this.read(p);
      } catch (err) {
        this.problems.set(item, failed(`putting back the ${item} rules`, err));
        continue;
      }
      this.learned.set(item, { text: p.text, listing: after, mtu });
      if (!known && why === undefined && current !== after) {
        // Our text was applied over something else: changed while no daemon was watching.
        this.drifted(item, `${item}: found changed at start-up: ${describeListingChange(after, current)}`);
        why = 'found at start-up';
      }
      if (why !== undefined) {
        this.repaired(item, `${item} put back`);
        repairedAny = true;
      } else this.settled(item);
    }
    if (repairedAny) {
      // Drops up to the repair belong to the breakage: count them in this check, not the next.
      try {
        this.readCounts = failsafeCounts(await this.opts.reader.nftTable(OWNED.nftFailsafeTable));
      } catch {
        /* the next check reads it */
      }
    }
    return repairedAny;
  }

  /**
   * `explained`: this check put rules back, so escaped packets since the last look left while they
   * were broken. Returns whether packets of stale connections were dropped since the last look.
   */
  private checkFailsafeCounters(explained: boolean): boolean {
    const counts = this.readCounts;
    if (counts === undefined) return false; // the read failed: reported as that item's problem
    const previous = this.lastCounts;
    this.lastCounts = counts;
    const now = this.opts.clock.now();
    // A smaller count: the table was written again (by us, at start or in a repair), from zero.
    const added = (k: FailsafeKind): number => (previous !== undefined && counts[k] > previous[k] ? counts[k] - previous[k] : 0);
    const log = this.opts.logger;
    const underlay = this.opts.plan.underlay;
    for (const kind of FAILSAFE_KINDS) {
      const n = added(kind);
      if (n === 0) continue;
      this.dropped[kind] += n;
      this.opts.metrics?.failsafeDropped.inc({ kind }, n);
    }
    const invalid = added('invalid');
    if (invalid > 0) {
      log.debug(
        { component: 'setup-guard', event: 'failsafe_dropped', kind: 'invalid', packets: invalid },
        `the fail-safe dropped ${invalid} forwarded packets that conntrack marked invalid (it could not place them in a connection, so NAT could not translate them): normal now and then, not a fault of the SNAT`,
      );
    }
    const stale = added('stale');
    if (stale > 0) {
      log.info(
        { component: 'setup-guard', event: 'failsafe_dropped', kind: 'stale', packets: stale },
        `the fail-safe dropped ${stale} forwarded packets of connections tracked without SNAT (made while the SNAT was missing); deleting those conntrack entries`,
      );
    }
    const escaped = added('escaped');
    if (escaped > 0) {
      const fields = { component: 'setup-guard', event: 'failsafe_dropped', kind: 'escaped', packets: escaped, explained };
      if (explained) {
        log.info(fields, `the fail-safe dropped ${escaped} forwarded packets while the SNAT rules were broken (none left with a client's address)`);
      } else {
        log.warn(fields, `the fail-safe dropped ${escaped} forwarded packets of new connections that were about to leave without SNAT although our rules are intact: something else stops the SNAT`);
        this.dropsProblemUntil = now + this.opts.fullIntervalMs;
        this.problems.set(
          'failsafe',
          new GatewayError(
            ErrorCodes.KERNEL_OP_FAILED,
            `the fail-safe dropped ${escaped} forwarded packets of new connections that were about to leave ${underlay} without SNAT, though the owned rules are intact (a foreign rule ahead of ours, or a notrack rule?)`,
          ),
        );
      }
    } else if (this.dropsProblemUntil !== undefined && now >= this.dropsProblemUntil) {
      this.dropsProblemUntil = undefined;
      this.problems.delete('failsafe');
    }
    return stale > 0;
  }

  /** Deletes the conntrack entries of client connections tracked without SNAT (stale-flows.ts). Never throws: the fail-safe keeps dropping what is left. */
  private async deleteStaleFlows(why: string): Promise<void> {
    const s = this.opts.staleFlows;
    if (!s) return;
    const { plan, logger } = this.opts;
    try {
      const entries = await s.conntrack.list();
      const ownAddresses = [plan.egress.ipv4, plan.egress.ipv6].filter((a) => a !== undefined);
      const stale = await staleFlows(entries, { tunnel: plan.vxlan.name, underlay: plan.underlay, ownAddresses }, s.deviceOf);
      if (stale.length === 0) return;
      const deleted = await s.conntrack.remove(stale);
      this.staleDeleted += deleted;
      this.opts.metrics?.staleFlowsDeleted.inc(deleted);
      logger.info(
        { component: 'setup-guard', event: 'stale_flows_deleted', why, deleted, flows: stale.slice(0, 5).map((e) => tupleText(e.orig)) },
        `deleted ${deleted} conntrack entries of client connections tracked without SNAT (${why}): their next packets are translated`,
      );
    } catch (err) {
      logger.warn(
        { component: 'setup-guard', event: 'stale_flows_failed', why, err },
        `deleting the conntrack entries of connections tracked without SNAT failed: ${describeCause(err)}; the fail-safe keeps dropping their packets, tried again when it does`,
      );
    }
  }

  /** What the kernel lists for the payload's slot; remembers the fail-safe's counters on the way. */
  private async read(p: RulesetPayload): Promise<string> {
    const r = this.opts.reader;
    if (p.family !== 'inet') return r.iptables(p.family);
    const table = await r.nftTable(p.part === 'failsafe' ? OWNED.nftFailsafeTable : OWNED.nftTable);
    if (p.part === 'failsafe') this.readCounts = failsafeCounts(table);
    return table.text;
  }

  private drifted(item: string, detail: string): void {
    if (this.open.has(item)) return;
    this.open.set(item, detail);
    this.driftCounts[item] = (this.driftCounts[item] ?? 0) + 1;
    this.lastDrift = { item, at: this.opts.clock.now(), detail };
    this.opts.metrics?.setupDrift.inc({ item });
    this.opts.logger.warn({ component: 'setup-guard', event: 'setup_drift', item, detail }, `init's setup changed: ${detail}; putting it back`);
  }

  private repaired(item: string, what: string): void {
    this.problems.delete(item);
    this.open.delete(item);
    this.opts.logger.info({ component: 'setup-guard', event: 'setup_restored', item }, what);
  }

  /** The item is as init set it. */
  private settled(item: string): void {
    this.problems.delete(item);
    if (this.open.delete(item)) this.opts.logger.info({ component: 'setup-guard', event: 'setup_restored', item }, `${item} is as init set it again`);
  }

  private report(): void {
    const problem = [...this.problems.values()][0];
    const key = problem?.message ?? '';
    if (key === this.reportedProblem) return;
    this.reportedProblem = key;
    if (problem) {
      this.opts.logger.warn({ component: 'setup-guard', event: 'setup_broken', err: problem }, `${problem.message}; readiness is 503 until it is put back`);
    }
    this.opts.onProblem(problem);
  }
}

type FailsafeCounts = Readonly<Record<FailsafeKind, number>>;

/** The fail-safe's counters by kind, from its table's per-rule counters (a rule that is not ours counts for nothing). */
function failsafeCounts(table: NftTableRead): FailsafeCounts {
  const out: Record<FailsafeKind, number> = { invalid: 0, stale: 0, escaped: 0 };
  for (const [line, packets] of table.counters) {
    const kind = failsafeKindOf(line);
    if (kind) out[kind] += packets;
  }
  return out;
}

/** "doing: why", keeping the code of an error that has one (a tool missing stays BACKEND_UNAVAILABLE). */
function failed(doing: string, err: unknown): GatewayError {
  return isGatewayError(err) ? new GatewayError(err.code, `${doing}: ${err.message}`, { cause: err }) : kernelError(doing, err);
}

/** How the kernel lists an intact payload of ours (see OwnedRulesetReader). */
function expectedListing(p: RulesetPayload): string {
  return p.family === 'inet' ? expectedNftListing(p.text) : expectedIptablesLines(p.text, [OWNED.natChain, OWNED.mangleChain]);
}

function isPerDevice(s: SysctlSetting): boolean {
  return /^net\/ipv[46]\/conf\/(?!all\/|default\/)/.test(s.key);
}

function isMissing(err: unknown): boolean {
  const text = describeCause(err);
  return /ENOENT|no such file/i.test(text);
}

function readOnlyHint(err: unknown): string {
  const text = describeCause(err);
  if (/EROFS|read-only/i.test(text)) return ' (/proc/sys is read-only in this container: init sets it; fix it from a privileged container or restart the pod)';
  if (/EACCES|EPERM|permission/i.test(text)) return ' (no permission: the daemon lacks CAP_NET_ADMIN or /proc/sys is read-only)';
  return '';
}
