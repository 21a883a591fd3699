import { parseDaemonConfig } from '../../src/daemon-config';
import type { ReconcilerStatus } from '../../src/dataplane/reconciler';
import { evaluateReadiness, type ReadinessInputs } from '../../src/health/readiness';
import type { PolicySyncStats } from '../../src/policysync/client';
import type { StatusInputs } from '../../src/status/model';

/**
 * Status inputs for the builder and renderer tests: one healthy gateway, and variations of it. Clock
 * times are on a fake monotonic clock (NOW); the wall clock at NOW is WALL.
 */
export const NOW = 5_000_000;
export const WALL = Date.UTC(2024, 4, 1, 12, 0, 0);

export const CONFIG_ENV = {
  EGRESS_POD_IP: '100.64.2.7',
  ICMP_PROBE_IPS: '198.51.100.13,203.0.113.1',
  ICMP_PROBE_INTERVAL: '1s',
  ICMP_PROBE_TIMEOUT: '3s',
  HTTP_PROBE_URLS: 'http://203.0.113.80/health',
  HTTP_PROBE_INTERVAL: '2s',
  HTTP_PROBE_TIMEOUT: '4s',
};

export const config = parseDaemonConfig(CONFIG_ENV);

const syncStats: PolicySyncStats = {
  state: 'connected',
  inSync: true,
  attempts: 2,
  reconnects: 1,
  streams: 2,
  messages: { in_sync: 1, route_update: 3, route_remove: 0, vtep_update: 1, vtep_remove: 0, ignored: 2, malformed: 0 },
  lastInSyncAt: NOW - 12_000,
};

const reconciler: ReconcilerStatus = {
  inSync: true,
  lastReconcile: { ok: true, at: WALL - 3_000, durationMs: 4.25, full: true, operations: 5 },
  counts: { desired: { routes: 2, neighbours: 1, fdb: 1 }, programmed: { routes: 2, neighbours: 1, fdb: 1 } },
  self: { dst: '100.64.2.0/26', node: 'node2' },
  skipped: 1,
  conflicts: [],
};

const readinessInputs: ReadinessInputs = {
  datastoreTimeoutMs: 90_000,
  sync: { connected: true, firstInSyncAt: NOW - 60_000, lastInSyncAt: NOW - 12_000, lastError: 'stream ended by Felix', lastErrorAt: NOW - 13_000 },
  reconcile: { lastOk: true, lastSuccessAt: NOW - 3_000 },
  icmp: {
    timeoutMs: 3_000,
    targets: [
      { target: '198.51.100.13', lastSuccessAt: NOW - 400, lastLatencyMs: 0.3125 },
      { target: '203.0.113.1', lastSuccessAt: NOW - 2_500, lastLatencyMs: 1.5, lastError: 'no answer within 1000ms', lastErrorAt: NOW - 500 },
    ],
  },
  http: { timeoutMs: 4_000, targets: [{ target: 'http://203.0.113.80/health', lastSuccessAt: NOW - 1_000, lastLatencyMs: 12.5 }] },
};

export interface Variation {
  readonly sync?: Partial<PolicySyncStats>;
  readonly reconciler?: Partial<ReconcilerStatus>;
  readonly readinessInputs?: Partial<ReadinessInputs>;
  readonly reconcileFailures?: readonly string[];
  readonly phase?: StatusInputs['phase'];
  readonly healthPort?: number;
}

/** An HTTP check with a second target that has not answered yet (the first attempt is still out). */
export const HTTP_WITH_PENDING: ReadinessInputs['http'] = {
  timeoutMs: 4_000,
  targets: [
    { target: 'http://203.0.113.80/health', lastSuccessAt: NOW - 1_000, lastLatencyMs: 12.5 },
    { target: 'http://203.0.113.81/' },
  ],
};

/** The healthy gateway with `v` laid over it; readiness is evaluated from the inputs, as the tracker does. */
export function statusInputs(v: Variation = {}): StatusInputs {
  const ri: ReadinessInputs = { ...readinessInputs, ...v.readinessInputs };
  return {
    version: '0.1.0',
    pid: 4242,
    phase: v.phase ?? 'running',
    now: NOW,
    wallNow: WALL,
    startedAt: NOW - 3_723_000,
    config,
    ...(v.healthPort !== undefined ? { healthPort: v.healthPort } : { healthPort: 8080 }),
    sync: { ...syncStats, ...v.sync },
    readiness: evaluateReadiness(ri, NOW),
    readinessInputs: ri,
    reconciler: { ...reconciler, ...v.reconciler },
    ...(v.reconcileFailures ? { reconcileFailures: v.reconcileFailures } : {}),
  };
}
