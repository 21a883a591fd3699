import { isIP } from 'node:net';
import type { HealthConfig } from '../config/health-config';
import { describeCause } from '../errors';
import { refreshUnresolvedNextHops } from '../kernel/neighbour-refresh';
import type { LinkWatch, NeighbourCache } from '../kernel/ports';
import type { LinkCarrier } from '../model/link';
import type { Clock } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';

/**
 * Watches the underlay device's carrier (eth0) and, when it comes back, gets the probes' path
 * going again at once instead of a second later.
 *
 * Why: when eth0 loses its carrier the kernel flushes eth0's neighbour entries. A probe sent while
 * the link is down leaves an INCOMPLETE entry for its next hop whose ARP/NDP solicitations go
 * nowhere; the next one is due only after the retransmit time (1 s by default), which can be up to
 * a second after the link is back, and the echo request waits in that entry's queue meanwhile.
 * Deleting the unresolved entry makes the next packet start a fresh resolution at once, so on
 * carrier-up the monitor deletes the INCOMPLETE/FAILED entries of the probe targets' next hops on
 * that device (never a resolved, PERMANENT or NOARP one, never another device's), then runs a
 * probe round at once instead of waiting for the next tick.
 *
 * The kernel work (next hops, the neighbour cache) is ../kernel/neighbour-refresh.ts; this file
 * decides when, logs and counts.
 *
 * A lost carrier does not by itself touch readiness: the probes decide (a pod may lose its
 * carrier for a moment without losing a packet that matters, and a missing probe configuration
 * means the operator did not ask for upstream checks).
 */

export { neighboursToRefresh } from '../kernel/neighbour-refresh';

/**
 * The addresses the probes reach, for the monitor's `targets`: every ICMP target, and the HTTP
 * targets given by address (a name would need DNS, which may be what is down). Pure, for tests.
 */
export function carrierTargets(health: Pick<HealthConfig, 'icmp' | 'http'>): string[] {
  const httpHosts = health.http.targets.map((u) => u.hostname.replace(/^\[|\]$/g, '')).filter((h) => isIP(h) !== 0);
  return [...health.icmp.targets.map((ip) => ip.text), ...httpHosts];
}

export type CarrierState = 'up' | 'down' | 'unknown';

/** What one carrier-up did, for the log and `status`. */
export interface CarrierRecovery {
  /** On the monitor's clock. */
  readonly at: number;
  /** The probe targets' next hops on the device. */
  readonly nextHops: readonly string[];
  /** Entries deleted, as "ip (state)". */
  readonly deleted: readonly string[];
  readonly errors: readonly string[];
}

export interface CarrierStatus {
  readonly device: string;
  readonly carrier: CarrierState;
  /** When the current state was first seen (on the monitor's clock). */
  readonly since?: number;
  /** Changes seen since start (the first report is not a change). */
  readonly changes: number;
  readonly lastRecovery?: CarrierRecovery;
}

export interface CarrierMonitorOptions {
  /** The underlay device, UNDERLAY_DEVICE (eth0). */
  readonly device: string;
  readonly watch: LinkWatch;
  readonly neighbours: NeighbourCache;
  /** Addresses the probes reach (ICMP targets, HTTP targets given by address). */
  readonly targets: readonly string[];
  /** Runs a probe round at once. */
  readonly probeNow: (reason: string) => void;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly metrics?: GatewayMetrics;
}

export class CarrierMonitor {
  private carrier: CarrierState = 'unknown';
  private since: number | undefined;
  private changes = 0;
  private lastRecovery: CarrierRecovery | undefined;
  /** Recoveries run one after the other; a flapping link queues them rather than interleaving. */
  private recovering: Promise<void> = Promise.resolve();
  private running = false;

  constructor(private readonly opts: CarrierMonitorOptions) {}

  /** Subscribes to link events; throws when the kernel refuses. */
  start(): void {
    if (this.running) return;
    // Before watch(): the current state is reported from inside it.
    this.running = true;
    try {
      this.watchLinks();
    } catch (err) {
      this.running = false;
      throw err;
    }
  }

  private watchLinks(): void {
    this.opts.watch.watch({
      onLink: (link) => this.onLink(link),
      onError: (err) =>
        this.opts.logger?.warn({ component: 'underlay', event: 'link_watch_error', device: this.opts.device, err }, `watching ${this.opts.device}'s carrier: ${describeCause(err)}`),
    });
  }

  /** Stops watching; resolves once a recovery under way has finished. */
  async stop(): Promise<void> {
    this.running = false;
    this.opts.watch.close();
    await this.recovering;
  }

  status(): CarrierStatus {
    return {
      device: this.opts.device,
      carrier: this.carrier,
      ...(this.since !== undefined ? { since: this.since } : {}),
      changes: this.changes,
      ...(this.lastRecovery ? { lastRecovery: this.lastRecovery } : {}),
    };
  }

  /** Resolves when the recoveries started so far have finished (tests). */
  settled(): Promise<void> {
    return this.recovering;
  }

  private onLink(link: LinkCarrier): void {
    const { device, clock, logger, metrics } = this.opts;
    if (!this.running || link.name !== device) return;
    const next: CarrierState = link.carrier ? 'up' : 'down';
    const previous = this.carrier;
    // The kernel reports a link again for many reasons (statistics, MTU, a fresh listing).
    if (next === previous) return;
    const now = clock.now();
    const lastedMs = this.since !== undefined ? Math.round(now - this.since) : undefined;
    this.carrier = next;
    this.since = now;
    metrics?.underlayCarrier.set({ device }, link.carrier ? 1 : 0);
    if (previous === 'unknown') {
      const fields = { component: 'underlay', event: 'carrier_initial', device, carrier: next };
      if (link.carrier) logger?.info(fields, `${device} has a carrier`);
      else logger?.warn(fields, `${device} has no carrier at start; readiness is left to the probes`);
      return;
    }
    this.changes++;
    metrics?.underlayCarrierChanges.inc({ device, state: next });
    const fields = { component: 'underlay', event: 'carrier_changed', device, carrier: next, ...(lastedMs !== undefined ? { previousForMs: lastedMs } : {}) };
    if (!link.carrier) {
      logger?.info(fields, `${device} lost its carrier; readiness is left to the probes`);
      return;
    }
    logger?.info(fields, `${device} has its carrier back after ${lastedMs ?? '?'} ms: refreshing unresolved next hops and probing at once`);
    if (this.opts.targets.length === 0) return;
    this.recovering = this.recovering
      .then(() => this.recover())
      // recover() reports what fails; this only keeps one surprise from stopping every later recovery.
      .catch((err: unknown) => logger?.error({ component: 'underlay', event: 'carrier_recovery_failed', device, err }, `recovering after ${device}'s carrier came back: ${describeCause(err)}`));
  }

  private async recover(): Promise<void> {
    const { device, neighbours, targets, clock, logger, metrics } = this.opts;
    const { nextHops, deleted, errors } = await refreshUnresolvedNextHops(neighbours, device, targets);
    if (deleted.length > 0) metrics?.underlayNeighboursRefreshed.inc({ device }, deleted.length);
    const recovery: CarrierRecovery = { at: clock.now(), nextHops, deleted, errors };
    this.lastRecovery = recovery;
    const fields = { component: 'underlay', event: 'carrier_recovery', device, nextHops, deleted, ...(errors.length > 0 ? { errors } : {}) };
    const what = deleted.length > 0 ? `deleted unresolved neighbour entries ${deleted.join(', ')}` : 'no unresolved neighbour entry in the way';
    if (errors.length > 0) logger?.warn(fields, `${device} carrier back: ${what}; ${errors.join('; ')}`);
    else logger?.info(fields, `${device} carrier back: ${what}`);
    // After the deletions: a probe sent before them would have queued on the entry and gone with it.
    if (this.running) this.opts.probeNow(`${device} carrier back`);
  }
}
