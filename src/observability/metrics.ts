import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric the gateway exports, defined in one place on its own registry (never the global
 * one, so tests and several instances do not collide). Parts of the gateway receive this object
 * and move the metrics they own; names share one prefix and follow Prometheus conventions
 * (`_total` counters, `_seconds` durations, base units).
 */
export const METRIC_PREFIX = 'egress_gateway_';

export type ProbeKind = 'icmp' | 'http';
export type ProbeResult = 'success' | 'failure';
/** PolicySync message kinds, as decoded (see SyncEvent in ../model/felix.ts). */
export type SyncMessageKind = 'in_sync' | 'route_update' | 'route_remove' | 'vtep_update' | 'vtep_remove' | 'ignored' | 'malformed';
export type SyncStreamState = 'connecting' | 'connected' | 'in_sync' | 'disconnected' | 'stopped';
export type ProgrammedKind = 'route' | 'neighbour' | 'fdb';

export const SYNC_STREAM_STATES: readonly SyncStreamState[] = ['connecting', 'connected', 'in_sync', 'disconnected', 'stopped'];
const SYNC_MESSAGE_KINDS: readonly SyncMessageKind[] = ['in_sync', 'route_update', 'route_remove', 'vtep_update', 'vtep_remove', 'ignored', 'malformed'];

/** The PolicySync totals the metrics follow (PolicySyncStats in ../policysync/client.ts has this shape). */
export interface PolicySyncCounts {
  readonly messages: Readonly<Record<SyncMessageKind, number>>;
  /** Streams that started after the first one. */
  readonly reconnects: number;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** 1 when /readiness says 200. */
  readonly ready: Gauge;
  /** Per readiness check (policysync, reconcile, icmp, http, drain): 1 holds, 0 fails. */
  readonly readinessCheck: Gauge<'check'>;
  /** Probe attempts by kind, target and result. */
  readonly probeAttempts: Counter<'kind' | 'target' | 'result'>;
  /** 1 when the target's last attempt succeeded. */
  readonly probeUp: Gauge<'kind' | 'target'>;
  /** Round-trip time of successful probes. */
  readonly probeDuration: Histogram<'kind' | 'target'>;
  /** 1 for the stream's current state, 0 for the others. */
  readonly policySyncState: Gauge<'state'>;
  readonly policySyncMessages: Counter<'kind'>;
  readonly policySyncMalformed: Counter;
  readonly policySyncReconnects: Counter;
  /**
   * Makes policySyncMessages, policySyncMalformed and policySyncReconnects follow `source`, read when
   * the metrics are scraped. The daemon passes its PolicySync client's stats, the same numbers
   * `status` shows, so the two cannot disagree (and nothing is counted per message twice: a labelled
   * prom-client inc per message cost ~17 ms of a 10k-route snapshot).
   */
  readonly followPolicySync: (source: () => PolicySyncCounts) => void;
  /** Entries the gateway holds in the kernel now, by kind (route, neighbour, fdb). */
  readonly programmed: Gauge<'kind'>;
  readonly reconcileDuration: Histogram<'result'>;
  readonly reconcileErrors: Counter;
  // SNAT audit (src/audit); these move only while AUDIT_LOG is on.
  /** SNATed connections the kernel tracks now. */
  readonly snatConnectionsActive: Gauge;
  readonly snatConnectionsStarted: Counter<'protocol'>;
  readonly snatConnectionsEnded: Counter<'protocol'>;
  /** Distinct egress source ports in use per destination, for the busiest destinations only (top N). */
  readonly snatSourcePorts: Gauge<'protocol' | 'destination'>;
  /** The largest per-destination source-port count over all destinations (no label: always one series). */
  readonly snatSourcePortsMax: Gauge;
  /** Destinations with at least one SNATed connection. */
  readonly snatDestinations: Gauge;
  readonly auditLines: Counter<'event'>;
  /** Audit lines not written: rate_limit, backpressure (the reader is slow) or write_error. */
  readonly auditDropped: Counter<'reason'>;
  /** Times the kernel dropped conntrack events because the receive buffer was full (ENOBUFS). */
  readonly conntrackOverruns: Counter;
  readonly conntrackMalformed: Counter;
  // The underlay's carrier (src/health/carrier.ts); series appear once the device has been seen.
  /** 1 while the underlay device (eth0) has a carrier. */
  readonly underlayCarrier: Gauge<'device'>;
  /** Carrier changes of the underlay device, by the new state (up, down). */
  readonly underlayCarrierChanges: Counter<'device' | 'state'>;
  /** Unresolved neighbour entries deleted when the carrier came back, so resolution starts at once. */
  readonly underlayNeighboursRefreshed: Counter<'device'>;
  // What init set up, held by the daemon (src/init/setup-guard.ts).
  /** Changes to init's setup the daemon noticed, by item (ruleset:ipv4, failsafe:inet, sysctl:net.ipv4.ip_forward, ...). */
  readonly setupDrift: Counter<'item'>;
  /** Forwarded packets the fail-safe dropped because they were about to leave without SNAT, by kind (FailsafeKind: invalid, stale, escaped). */
  readonly failsafeDropped: Counter<'kind'>;
  /** Conntrack entries of connections tracked without SNAT that the guard deleted. */
  readonly staleFlowsDeleted: Counter;
  /** A second node claimed a node address another node holds (the newcomer's blocks are skipped). */
  readonly routeConflicts: Counter;
  /** Health-port connections refused because HEALTH_MAX_CONNECTIONS were open. */
  readonly healthConnectionsDropped: Counter;
  /** Readiness streams of client-node agents open now (GET /readiness/stream). */
  readonly healthStreams: Gauge;
  /** Readiness streams refused because the stream cap was reached (the agent polls instead). */
  readonly healthStreamsRefused: Counter;
}

export interface MetricsOptions {
  /**
   * Process and Node.js runtime metrics (CPU, memory, heap spaces, event-loop lag), under the same
   * prefix, all of prom-client's defaults but the per-GC histogram (see collectRuntimeMetrics). Default true.
   */
  readonly processMetrics?: boolean;
}

/**
 * For counters that follow a source's running totals: given a total, what it grew by since the
 * last call with the same key (0 when it did not grow). The totals are remembered per key.
 */
function addedSinceLast(): (key: string, total: number) => number {
  const reported = new Map<string, number>();
  return (key, total) => {
    const added = total - (reported.get(key) ?? 0);
    reported.set(key, total);
    return added;
  };
}

/** Period of the event-loop lag histogram's sampling timer. */
export const EVENT_LOOP_SAMPLE_MS = 1_000;

/** prom-client's default metric left out: a histogram observed on every garbage collection. */
export const SKIPPED_DEFAULT_METRIC = 'gc';

type DefaultMetric = (registry: Registry, config: { prefix: string; eventLoopMonitoringPrecision: number }) => void;

/**
 * prom-client's default metrics without `nodejs_gc_duration_seconds`. That one subscribes a
 * PerformanceObserver to every GC, and Node then builds a performance entry (on Node 20 with
 * deprecated accessors made per entry) and runs a callback per scavenge: with the daemon's small
 * young generation (--max-semi-space-size=2) a 10k-route snapshot takes hundreds of scavenges and
 * the observer cost ~9 ms of it in CPU profiles. No Node API reads GC totals at scrape time instead
 * (v8.GCProfiler, tried, costs about as much per GC), so the figure is not exported; heap sizes per
 * space still are. collectDefaultMetrics has no option to leave one out, so each of its metrics
 * (named by its own metricsList, one module each) is registered here; a prom-client that moves
 * them fails at startup and in the unit test, not silently.
 */
export function collectRuntimeMetrics(registry: Registry, prefix: string): void {
  for (const name of collectDefaultMetrics.metricsList) {
    if (name === SKIPPED_DEFAULT_METRIC) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- prom-client exports no way to pick single default metrics; its modules are named by its own metricsList
    const register = require(`prom-client/lib/metrics/${name}`) as DefaultMetric;
    // The event-loop lag histogram samples with a timer of this period. prom-client's default, 10 ms,
    // wakes an idle daemon 100 times a second: ~0.9 % of a core with nothing to do (measured by
    // bench/footprint.ts at 0 routes). At 1 s a stall still shows, by the delay of the next tick.
    register(registry, { prefix, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
}

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;
  const registers = [registry];
  if (options.processMetrics ?? true) collectRuntimeMetrics(registry, p);
  let policySync: (() => PolicySyncCounts) | undefined;
  // A scrape adds to each counter what the source counted since the last scrape.
  const sinceLast = addedSinceLast();

  const metrics: GatewayMetrics = {
    registry,
    ready: new Gauge({ name: `${p}ready`, help: 'Whether the gateway reports ready (1) or not (0)', registers }),
    readinessCheck: new Gauge({
      name: `${p}readiness_check`,
      help: 'Whether each readiness check holds (1) or fails (0)',
      labelNames: ['check'],
      registers,
    }),
    probeAttempts: new Counter({
      name: `${p}probe_attempts_total`,
      help: 'Probe attempts by kind, target and result',
      labelNames: ['kind', 'target', 'result'],
      registers,
    }),
    probeUp: new Gauge({
      name: `${p}probe_up`,
      help: 'Whether the last probe of the target succeeded (1) or not (0)',
      labelNames: ['kind', 'target'],
      registers,
    }),
    probeDuration: new Histogram({
      name: `${p}probe_duration_seconds`,
      help: 'Round-trip time of successful probes',
      labelNames: ['kind', 'target'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    policySyncState: new Gauge({
      name: `${p}policysync_state`,
      help: 'PolicySync stream state: 1 for the current state, 0 for the others',
      labelNames: ['state'],
      registers,
    }),
    policySyncMessages: new Counter({
      name: `${p}policysync_messages_total`,
      help: 'PolicySync messages received, by kind',
      labelNames: ['kind'],
      registers,
      collect(this: Counter<'kind'>) {
        const counts = policySync?.().messages;
        if (!counts) return;
        for (const kind of SYNC_MESSAGE_KINDS) {
          const added = sinceLast(`messages/${kind}`, counts[kind]);
          if (added > 0) this.inc({ kind }, added);
        }
      },
    }),
    policySyncMalformed: new Counter({
      name: `${p}policysync_malformed_messages_total`,
      help: 'PolicySync messages that failed validation and were skipped',
      registers,
      collect(this: Counter) {
        const malformed = policySync?.().messages.malformed;
        if (malformed === undefined) return;
        const added = sinceLast('malformed', malformed);
        if (added > 0) this.inc(added);
      },
    }),
    policySyncReconnects: new Counter({
      name: `${p}policysync_reconnects_total`,
      help: 'PolicySync streams that started after the first one (failed dials are not counted)',
      registers,
      collect(this: Counter) {
        const reconnects = policySync?.().reconnects;
        if (reconnects === undefined) return;
        const added = sinceLast('reconnects', reconnects);
        if (added > 0) this.inc(added);
      },
    }),
    followPolicySync: (source) => {
      policySync = source;
    },
    programmed: new Gauge({
      name: `${p}programmed_entries`,
      help: 'Kernel entries the gateway has programmed, by kind',
      labelNames: ['kind'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: `${p}reconcile_duration_seconds`,
      help: 'Time taken by kernel reconciles, by result',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    reconcileErrors: new Counter({
      name: `${p}reconcile_errors_total`,
      help: 'Kernel reconciles that failed',
      registers,
    }),
    snatConnectionsActive: new Gauge({ name: `${p}snat_connections_active`, help: 'SNATed connections in the conntrack table', registers }),
    snatConnectionsStarted: new Counter({
      name: `${p}snat_connections_started_total`,
      help: 'SNATed connections seen starting, by protocol',
      labelNames: ['protocol'],
      registers,
    }),
    snatConnectionsEnded: new Counter({
      name: `${p}snat_connections_ended_total`,
      help: 'SNATed connections seen ending, by protocol',
      labelNames: ['protocol'],
      registers,
    }),
    snatSourcePorts: new Gauge({
      name: `${p}snat_source_ports_in_use`,
      help: 'Distinct egress source ports in use towards a destination; only the busiest destinations are exported',
      labelNames: ['protocol', 'destination'],
      registers,
    }),
    snatSourcePortsMax: new Gauge({
      name: `${p}snat_source_ports_in_use_max`,
      help: 'The highest number of egress source ports in use towards any one destination',
      registers,
    }),
    snatDestinations: new Gauge({ name: `${p}snat_destinations`, help: 'Destinations with SNATed connections', registers }),
    auditLines: new Counter({ name: `${p}audit_log_lines_total`, help: 'Audit log lines written, by event', labelNames: ['event'], registers }),
    auditDropped: new Counter({
      name: `${p}audit_log_dropped_total`,
      help: 'Audit log lines dropped, by reason (rate_limit, backpressure, write_error)',
      labelNames: ['reason'],
      registers,
    }),
    conntrackOverruns: new Counter({
      name: `${p}conntrack_event_overruns_total`,
      help: 'Times conntrack events were lost because the netlink receive buffer was full',
      registers,
    }),
    conntrackMalformed: new Counter({
      name: `${p}conntrack_malformed_messages_total`,
      help: 'Conntrack netlink messages that could not be decoded',
      registers,
    }),
    underlayCarrier: new Gauge({
      name: `${p}underlay_carrier`,
      help: 'Whether the underlay device (eth0) has a carrier (1) or not (0)',
      labelNames: ['device'],
      registers,
    }),
    underlayCarrierChanges: new Counter({
      name: `${p}underlay_carrier_changes_total`,
      help: 'Carrier changes of the underlay device, by the new state (up, down)',
      labelNames: ['device', 'state'],
      registers,
    }),
    underlayNeighboursRefreshed: new Counter({
      name: `${p}underlay_neighbours_refreshed_total`,
      help: "Unresolved neighbour entries of the probes' next hops deleted when the underlay carrier came back",
      labelNames: ['device'],
      registers,
    }),
    setupDrift: new Counter({
      name: `${p}setup_drift_total`,
      help: 'Changes to what init set up (ruleset, fail-safe, sysctls) that the daemon noticed, by item',
      labelNames: ['item'],
      registers,
    }),
    failsafeDropped: new Counter({
      name: `${p}failsafe_dropped_packets_total`,
      help:
        'Forwarded packets the fail-safe dropped because they were about to leave without SNAT, by kind: invalid (conntrack could not place them; normal now and then), stale (of a connection tracked without SNAT before a repair), escaped (of a new connection the SNAT did not translate)',
      labelNames: ['kind'],
      registers,
    }),
    staleFlowsDeleted: new Counter({
      name: `${p}failsafe_stale_flows_deleted_total`,
      help: 'Conntrack entries of client connections tracked without SNAT (while it was missing) that the daemon deleted, so their next packets are translated',
      registers,
    }),
    routeConflicts: new Counter({
      name: `${p}route_conflicts_total`,
      help: 'Node addresses claimed by a second node while another node holds them; the newcomer\'s blocks are skipped',
      registers,
    }),
    healthConnectionsDropped: new Counter({
      name: `${p}health_connections_dropped_total`,
      help: 'Health-port connections refused because HEALTH_MAX_CONNECTIONS were already open',
      registers,
    }),
    healthStreams: new Gauge({
      name: `${p}health_streams`,
      help: "Readiness streams open now (GET /readiness/stream, one per client node's agent)",
      registers,
    }),
    healthStreamsRefused: new Counter({
      name: `${p}health_streams_refused_total`,
      help: 'Readiness streams refused because three quarters of HEALTH_MAX_CONNECTIONS were streams already (those agents poll instead)',
      registers,
    }),
  };
  // Start every state and kind at zero so dashboards see the series before the first event.
  for (const state of SYNC_STREAM_STATES) metrics.policySyncState.set({ state }, 0);
  for (const kind of ['route', 'neighbour', 'fdb'] as const) metrics.programmed.set({ kind }, 0);
  metrics.ready.set(0);
  return metrics;
}

/** Marks `state` as the stream's current state. */
export function setSyncState(metrics: GatewayMetrics, state: SyncStreamState): void {
  for (const s of SYNC_STREAM_STATES) metrics.policySyncState.set({ state: s }, s === state ? 1 : 0);
}
