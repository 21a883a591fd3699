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
  /** Entries the gateway holds in the kernel now, by kind (route, neighbour, fdb). */
  readonly programmed: Gauge<'kind'>;
  readonly reconcileDuration: Histogram<'result'>;
  readonly reconcileErrors: Counter;
}

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (CPU, memory, event-loop lag), under the same prefix. Default true. */
  readonly processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;
  const registers = [registry];
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });

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
    }),
    policySyncMalformed: new Counter({
      name: `${p}policysync_malformed_messages_total`,
      help: 'PolicySync messages that failed validation and were skipped',
      registers,
    }),
    policySyncReconnects: new Counter({
      name: `${p}policysync_reconnects_total`,
      help: 'Times the PolicySync stream was connected again after a disconnect',
      registers,
    }),
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
