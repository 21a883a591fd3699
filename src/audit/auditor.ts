import { describeCause } from '../errors';
import type { Sysctl } from '../kernel/ports';
import { CONNTRACK_ACCOUNTING_SYSCTLS } from '../init/plan';
import type { Clock, TimerHandle } from '../model/clock';
import type { IpAddress } from '../model/ip';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { PORT_USE_TOP_N, type AuditConfig } from './config';
import type { ConntrackEvent } from '../kernel/netlink/conntrack';
import { TokenBucket } from './rate-limit';
import type { AuditSink } from './sink';
import type { ConntrackEvents } from '../kernel/netlink/conntrack-events';
import { SnatTracker, type AuditRecord } from './tracker';

/**
 * The SNAT audit as a daemon component: conntrack events → tracker → rate limit → sink, with the
 * metrics moved on the way. Every failure here is logged and counted, never thrown into the
 * daemon: the audit log must not take the gateway down (a connection storm costs dropped lines,
 * not forwarding).
 */

export interface AuditorDeps {
  readonly config: AuditConfig;
  readonly source: ConntrackEvents;
  readonly sink: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Monotonic, for the rate limit and timers. */
  readonly clock: Clock;
  /** Wall clock, epoch milliseconds, for the log's times. */
  readonly wallClock?: () => number;
  readonly nodeFor: (ip: IpAddress) => string | undefined;
  /** When given, the byte counters and timestamps are switched on in the gateway's namespace at start. */
  readonly sysctl?: Sysctl;
  /** How often the source-port gauges are refreshed; default 5 s. */
  readonly publishIntervalMs?: number;
  /** At most this many drop warnings per interval; default 10 s. */
  readonly dropWarningIntervalMs?: number;
  readonly maxTracked?: number;
}

export class SnatAuditor {
  readonly tracker: SnatTracker;
  private readonly bucket: TokenBucket;
  private readonly wallClock: () => number;
  private publishTimer: TimerHandle | undefined;
  private running = false;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private dropsSinceWarning = 0;
  private lastDropWarning = -Infinity;
  /** Destinations exported in the gauge at the last refresh, so ones that fell out are removed. */
  private exported = new Set<string>();

  constructor(private readonly deps: AuditorDeps) {
    this.tracker = new SnatTracker({ nodeFor: deps.nodeFor, ...(deps.maxTracked !== undefined ? { maxTracked: deps.maxTracked } : {}) });
    this.bucket = new TokenBucket(deps.config.ratePerSecond, deps.config.burst);
    this.wallClock = deps.wallClock ?? Date.now;
  }

  /**
   * Switches the counters on, subscribes, then loads the connections already there (a restarted
   * daemon adopts them silently: their start lines were written by the previous run). Only a
   * refused subscription fails the start: without it there is no audit at all.
   */
  async start(): Promise<void> {
    const log = this.deps.logger;
    // Conntrack keeps counters only with nf_conntrack_acct=1 and times only with
    // nf_conntrack_timestamp=1, per namespace, for connections made after: set them before subscribing.
    for (const { key, value } of CONNTRACK_ACCOUNTING_SYSCTLS) {
      if (!this.deps.sysctl) break;
      try {
        await this.deps.sysctl.set(key, value);
      } catch (err) {
        log.warn(
          { component: 'audit', event: 'sysctl_failed', key, err },
          `could not set ${key}=${value}: end lines will lack ${key.endsWith('acct') ? 'bytes and packets' : 'kernel timestamps'} unless it is set otherwise`,
        );
      }
    }
    this.deps.source.open({
      onEvent: (e) => this.onEvent(e),
      onMalformed: (err) => {
        this.deps.metrics.conntrackMalformed.inc();
        log.warn({ component: 'audit', event: 'conntrack_malformed', err: { message: err.message } }, 'skipped a conntrack message that could not be decoded');
      },
      onOverrun: () => this.onOverrun(),
      onError: (err) => log.warn({ component: 'audit', event: 'conntrack_socket_error', err }, `conntrack event socket: ${describeCause(err)}`),
    });
    this.running = true;
    await this.resync('start');
    this.publish();
    log.info(
      { component: 'audit', event: 'audit_started', destination: typeof this.deps.config.destination === 'string' ? 'stdout' : this.deps.config.destination.path, active: this.tracker.active },
      'SNAT audit log on',
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    this.publishTimer?.cancel();
    this.publishTimer = undefined;
    this.deps.source.close();
    await this.resyncing?.catch(() => undefined);
    await this.deps.sink.close();
  }

  /** Resolves when no resync is running (for tests). */
  async whenIdle(): Promise<void> {
    while (this.resyncing) await this.resyncing;
  }

  private onEvent(e: ConntrackEvent): void {
    if (!this.running) return;
    const m = this.deps.metrics;
    const result = this.tracker.handle(e, this.wallClock());
    if (result.started) m.snatConnectionsStarted.inc({ protocol: result.started });
    if (result.ended) m.snatConnectionsEnded.inc({ protocol: result.ended });
    if (result.started || result.ended) m.snatConnectionsActive.set(this.tracker.active);
    if (result.record) this.write(result.record);
  }

  private write(record: AuditRecord): void {
    const m = this.deps.metrics;
    if (!this.bucket.take(this.deps.clock.now())) {
      this.dropped('rate_limit');
      return;
    }
    const outcome = this.deps.sink.write(JSON.stringify(record));
    if (outcome === 'written') m.auditLines.inc({ event: record.event });
    else this.dropped(outcome === 'backpressure' ? 'backpressure' : 'write_error');
  }

  /** Counts every drop; warns at most once per interval, with how many were dropped since the last warning. */
  private dropped(reason: 'rate_limit' | 'backpressure' | 'write_error'): void {
    this.deps.metrics.auditDropped.inc({ reason });
    this.dropsSinceWarning++;
    const now = this.deps.clock.now();
    if (now - this.lastDropWarning < (this.deps.dropWarningIntervalMs ?? 10_000)) return;
    this.deps.logger.warn(
      { component: 'audit', event: 'audit_lines_dropped', reason, dropped: this.dropsSinceWarning },
      `dropped ${this.dropsSinceWarning} audit line(s) (${reason}); see egress_gateway_audit_log_dropped_total`,
    );
    this.lastDropWarning = now;
    this.dropsSinceWarning = 0;
  }

  /** Events were lost: the starts and ends in the gap are gone for good, but the table can be repaired. */
  private onOverrun(): void {
    this.deps.metrics.conntrackOverruns.inc();
    this.deps.logger.warn(
      { component: 'audit', event: 'conntrack_overrun' },
      'conntrack events were lost (netlink receive buffer full); resynchronising the connection table from a dump',
    );
    void this.resync('overrun');
  }

  /** One resync at a time; a request during one runs once more afterwards. */
  private resync(reason: string): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    const run = async (): Promise<void> => {
      do {
        this.resyncAgain = false;
        await this.resyncOnce(reason);
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by another call while the await above ran
      } while (this.resyncAgain && this.running);
    };
    this.resyncing = run().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async resyncOnce(reason: string): Promise<void> {
    const mark = this.tracker.beginResync();
    let entries: ConntrackEvent[];
    try {
      entries = await this.deps.source.list();
    } catch (err) {
      this.tracker.resync([], Number.NEGATIVE_INFINITY, this.wallClock()); // ends the dump window, removes nothing
      this.deps.logger.warn({ component: 'audit', event: 'conntrack_dump_failed', reason, err }, 'could not read the conntrack table; the active-connection gauge may be off until the next overrun');
      return;
    }
    if (!this.running) return;
    const result = this.tracker.resync(entries, mark, this.wallClock());
    for (const protocol of result.endedProtocols) this.deps.metrics.snatConnectionsEnded.inc({ protocol });
    this.deps.metrics.snatConnectionsActive.set(this.tracker.active);
    if (result.adopted > 0 || result.vanished > 0 || reason !== 'start') {
      this.deps.logger.info(
        { component: 'audit', event: 'conntrack_resynced', reason, adopted: result.adopted, vanished: result.vanished, active: this.tracker.active },
        `conntrack table read: ${result.adopted} connection(s) adopted, ${result.vanished} ended unseen`,
      );
    }
  }

  /**
   * Refreshes the source-port gauges. Only the top N destinations get a series (a gateway can talk
   * to millions of destinations; a series each would swamp Prometheus), plus one unlabelled max.
   * Exhaustion threatens the busiest destination first, so the top of the list is what matters.
   */
  publish(): void {
    const m = this.deps.metrics;
    const top = this.tracker.topPortUse(PORT_USE_TOP_N);
    const now = new Set<string>();
    for (const u of top) {
      m.snatSourcePorts.set({ protocol: u.protocol, destination: u.destination }, u.ports);
      now.add(`${u.protocol} ${u.destination}`);
    }
    for (const key of this.exported) {
      if (now.has(key)) continue;
      const [protocol = '', destination = ''] = key.split(' ');
      m.snatSourcePorts.remove({ protocol, destination });
    }
    this.exported = now;
    m.snatSourcePortsMax.set(top[0]?.ports ?? 0);
    m.snatDestinations.set(this.tracker.destinations);
    m.snatConnectionsActive.set(this.tracker.active);
    if (!this.running) return;
    this.publishTimer?.cancel();
    this.publishTimer = this.deps.clock.setTimeout(() => this.publish(), this.deps.publishIntervalMs ?? 5_000);
  }
}
