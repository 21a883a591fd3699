import type { DaemonConfig } from '../daemon-config';
import type { AddressConflict } from '../dataplane/desired';
import type { FailsafeKind } from '../init/ruleset';
import type { SetupGuardStatus } from '../init/setup-guard';
import type { EntryCounts, ReconcilerStatus } from '../dataplane/reconciler';
import type { CarrierState, CarrierStatus } from '../health/carrier';
import type { CheckName, CheckReport, ReadinessInputs, ReadinessReport } from '../health/readiness';
import { checkFields, defined, isoFrom, roundMs, targetTimes, type CheckFields } from '../health/render';
import type { SyncConnectionState } from '../model/felix';
import type { ProbeKind } from '../observability/metrics';
import type { EventCounts, PolicySyncStats } from '../policysync/client';

/**
 * The document `egress-gateway status` shows, built by a pure function from what the daemon's parts
 * already hold in memory (never by asking the kernel again): the status of a daemon whose stream,
 * kernel or probes are failing is exactly what an operator needs to see.
 *
 * Times in the document are ISO wall-clock strings; `now` is the daemon's wall clock when it was
 * built, so a reader can show ages without trusting its own clock.
 */

/** Bumped when a field changes meaning or goes away; new fields do not bump it. */
export const STATUS_FORMAT = 1;

/** Where the daemon serves the document on its status socket (here, not in server.ts, so the client need not load fastify). */
export const STATUS_PATH = '/status';

export type DaemonPhase = 'starting' | 'running' | 'draining' | 'stopping' | 'stopped';

/** The same fields /readiness shows per check (health/render.ts). */
export type StatusCheck = CheckFields;

export interface PolicySyncSection {
  readonly socket: string;
  readonly state: SyncConnectionState;
  /** The current stream has delivered its in_sync. */
  readonly inSync: boolean;
  readonly firstInSync?: string;
  readonly lastInSync?: string;
  /** Since when the daemon has been out of sync after having been in sync (a disconnect). */
  readonly outOfSyncSince?: string;
  readonly attempts: number;
  readonly reconnects: number;
  readonly streams: number;
  readonly messages: Readonly<EventCounts>;
  readonly lastError?: string;
  readonly lastErrorTime?: string;
  /**
   * While `state` is connecting: `dialing` (no connection to the socket yet) or `awaiting headers`
   * (connected, request sent, Felix has not answered: it sends nothing until it is in sync itself),
   * and since when.
   */
  readonly connecting?: { readonly step: 'dialing' | 'awaiting headers'; readonly since: string };
}

export interface DriftReport {
  /** Programmed and desired counts differ, or the last reconcile failed. */
  readonly drifted: boolean;
  /** One line per cause, e.g. "routes: 3 desired, 2 programmed". */
  readonly reasons: readonly string[];
  /** The failed kernel operations of the last reconcile, as the reconciler reported them (at most MAX_FAILURES). */
  readonly failures: readonly string[];
  /** How many more failures there were than are listed. */
  readonly failuresOmitted: number;
}

export interface DataplaneSection {
  /** The reconciler holds a complete snapshot (it writes nothing before one). */
  readonly inSync: boolean;
  readonly desired: EntryCounts;
  /** What the daemon believes the kernel holds after its last pass (not read from the kernel for this). */
  readonly programmed: EntryCounts;
  readonly drift: DriftReport;
  readonly lastReconcile?: {
    readonly ok: boolean;
    readonly at: string;
    readonly durationMs: number;
    readonly full: boolean;
    readonly operations: number;
    readonly error?: string;
  };
  /** The gateway's own block, as Felix named it. */
  readonly self?: { readonly dst: string; readonly node: string };
  /** Routes received but not programmed. */
  readonly skipped: number;
  /** Node addresses claimed by more than one node: who keeps each, and whose blocks get no return path. */
  readonly conflicts: readonly AddressConflict[];
}

export type TargetState = 'up' | 'down' | 'pending';

export interface ProbeTargetStatus {
  readonly target: string;
  /** up: the last attempt was answered; down: it was not; pending: no attempt has finished. */
  readonly state: TargetState;
  /** The last answer is recent enough to count for readiness. */
  readonly counts: boolean;
  readonly lastSuccess?: string;
  readonly latencyMs?: number;
  readonly lastError?: string;
  readonly lastErrorTime?: string;
}

export interface ProbeSection {
  readonly kind: ProbeKind;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly targets: readonly ProbeTargetStatus[];
}

/** init's ruleset, fail-safe and sysctls as the daemon holds them. */
export interface SetupSection {
  readonly backend: string;
  readonly lastRulesetCheck?: string;
  /** Changes noticed (and put back, unless `problem` says otherwise) since the daemon started, per item. */
  readonly drift: Readonly<Record<string, number>>;
  readonly lastDrift?: { readonly item: string; readonly at: string; readonly detail: string };
  /** Forwarded packets the fail-safe dropped (about to leave without SNAT) since the daemon started. */
  readonly failsafeDropped: number;
  /** The same by kind: invalid (conntrack could not place them), stale (of connections tracked without SNAT), escaped (the alarm). */
  readonly failsafeDroppedByKind: Readonly<Record<FailsafeKind, number>>;
  /** Conntrack entries of connections tracked without SNAT that the daemon deleted. */
  readonly staleFlowsDeleted: number;
  readonly problem?: string;
}

function setupOf(g: SetupGuardStatus, iso: (t: number | undefined) => string | undefined): SetupSection {
  return {
    backend: g.backend,
    ...defined('lastRulesetCheck', iso(g.lastRulesetCheck)),
    drift: { ...g.drift },
    ...(g.lastDrift ? { lastDrift: { item: g.lastDrift.item, at: iso(g.lastDrift.at) ?? '', detail: g.lastDrift.detail } } : {}),
    failsafeDropped: g.failsafeDropped,
    failsafeDroppedByKind: { ...g.failsafeDroppedByKind },
    staleFlowsDeleted: g.staleFlowsDeleted,
    ...defined('problem', g.problem),
  };
}

/** The underlay device's carrier as the daemon last saw it (absent when the daemon does not watch it). */
export interface UnderlaySection {
  readonly device: string;
  readonly carrier: CarrierState;
  readonly since?: string;
  readonly changes: number;
  /** What the last carrier-up did: the probes' next hops, the unresolved entries deleted, errors. */
  readonly lastRecovery?: { readonly at: string; readonly nextHops: readonly string[]; readonly deleted: readonly string[]; readonly errors: readonly string[] };
}

export interface StatusDocument {
  readonly format: typeof STATUS_FORMAT;
  readonly version: string;
  readonly pid: number;
  readonly phase: DaemonPhase;
  readonly now: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly ready: boolean;
  readonly failing: readonly CheckName[];
  readonly checks: Readonly<Partial<Record<CheckName, StatusCheck>>>;
  readonly policysync: PolicySyncSection;
  readonly dataplane: DataplaneSection;
  readonly probes: readonly ProbeSection[];
  readonly underlay?: UnderlaySection;
  /** What init set up, as the daemon holds it (src/init/setup-guard.ts); absent when the guard is off. */
  readonly setup?: SetupSection;
  readonly drain: { readonly draining: boolean; readonly since?: string; readonly delayMs: number };
  readonly config: {
    readonly statusSocket: string;
    readonly policysyncSocket: string;
    readonly egressIpv4?: string;
    readonly egressIpv6?: string;
    readonly vxlanDevice: string;
    readonly underlayDevice: string;
    /** The configured port (0: no health server) and, once listening, the bound one. */
    readonly health: { readonly host: string; readonly port: number; readonly boundPort?: number };
    readonly resyncIntervalMs: number;
    readonly datastoreTimeoutMs: number;
    readonly drainDelayMs: number;
    readonly logLevel: string;
  };
}

/** Everything the builder reads; the Daemon gathers it from its parts. */
export interface StatusInputs {
  readonly version: string;
  readonly pid: number;
  readonly phase: DaemonPhase;
  /** The daemon's clock (monotonic ms) now, and the wall clock (epoch ms) at the same moment. */
  readonly now: number;
  readonly wallNow: number;
  /** On the daemon's clock. */
  readonly startedAt: number;
  readonly config: Pick<DaemonConfig, 'socketPath' | 'egressIpv4' | 'egressIpv6' | 'vxlanDevice' | 'underlayDevice' | 'resyncIntervalMs' | 'logLevel' | 'statusSocket'> & {
    readonly health: Pick<DaemonConfig['health'], 'host' | 'port' | 'datastoreTimeoutMs' | 'drainDelayMs' | 'icmp' | 'http'>;
  };
  readonly healthPort?: number;
  /** PolicySyncClient.stats(); its lastInSyncAt is on the daemon's clock. */
  readonly sync: PolicySyncStats;
  /** ReadinessTracker.report() and .inputs(), taken at `now`. */
  readonly readiness: ReadinessReport;
  readonly readinessInputs: ReadinessInputs;
  /** ReturnPathReconciler.status(); its lastReconcile.at is wall-clock. */
  readonly reconciler: ReconcilerStatus;
  /** Entries that failed in the last reconcile, when the reconciler can tell (messages). */
  readonly reconcileFailures?: readonly string[];
  /** CarrierMonitor.status(); its times are on the daemon's clock. */
  readonly underlay?: CarrierStatus;
  /** SetupGuard.status(); its times are on the daemon's clock. */
  readonly setup?: SetupGuardStatus;
}

/** A long failure list is cut here: the first few say what is wrong, the count says how much. */
export const MAX_FAILURES = 20;

export function buildStatus(inputs: StatusInputs): StatusDocument {
  const { now, wallNow, config } = inputs;
  const iso = isoFrom(now, wallNow);
  const isoWall = (t: number): string => new Date(t).toISOString();
  const ri = inputs.readinessInputs;

  const checks: Partial<Record<CheckName, StatusCheck>> = {};
  for (const [name, check] of Object.entries(inputs.readiness.checks) as [CheckName, CheckReport][]) {
    checks[name] = checkFields(check, iso);
  }

  const sync = inputs.sync;
  const policysync: PolicySyncSection = {
    socket: config.socketPath,
    state: sync.state,
    inSync: sync.inSync,
    ...defined('firstInSync', iso(ri.sync.firstInSyncAt)),
    ...defined('lastInSync', iso(sync.lastInSyncAt ?? ri.sync.lastInSyncAt)),
    // The tracker also marks a failed first dial; "out of sync" only means something after an in_sync.
    ...defined('outOfSyncSince', ri.sync.firstInSyncAt === undefined ? undefined : iso(ri.sync.outOfSyncSince)),
    attempts: sync.attempts,
    reconnects: sync.reconnects,
    streams: sync.streams,
    messages: { ...sync.messages },
    ...defined('lastError', ri.sync.lastError),
    ...defined('lastErrorTime', iso(ri.sync.lastErrorAt)),
    ...(sync.state === 'connecting' && (sync.awaitingHeadersSince ?? sync.dialingSince) !== undefined
      ? {
          connecting: {
            step: sync.awaitingHeadersSince !== undefined ? ('awaiting headers' as const) : ('dialing' as const),
            since: iso(sync.awaitingHeadersSince ?? sync.dialingSince) ?? '',
          },
        }
      : {}),
  };

  const r = inputs.reconciler;
  const last = r.lastReconcile;
  const dataplane: DataplaneSection = {
    inSync: r.inSync,
    desired: { ...r.counts.desired },
    programmed: { ...r.counts.programmed },
    drift: driftOf(r, inputs.reconcileFailures ?? []),
    ...(last
      ? {
          lastReconcile: {
            ok: last.ok,
            at: isoWall(last.at),
            durationMs: roundMs(last.durationMs),
            full: last.full,
            operations: last.operations,
            ...defined('error', last.error),
          },
        }
      : {}),
    ...(r.self ? { self: { ...r.self } } : {}),
    skipped: r.skipped,
    conflicts: r.conflicts.map((c) => ({ ...c, refused: c.refused.map((x) => ({ ...x })) })),
  };

  const probes: ProbeSection[] = [];
  for (const kind of ['icmp', 'http'] as const) {
    const p = ri[kind];
    if (!p) continue;
    probes.push({
      kind,
      intervalMs: config.health[kind].intervalMs,
      timeoutMs: p.timeoutMs,
      targets: p.targets.map((t) => {
        const answered = t.lastSuccessAt !== undefined && (t.lastErrorAt === undefined || t.lastSuccessAt >= t.lastErrorAt);
        const state: TargetState = answered ? 'up' : t.lastErrorAt !== undefined ? 'down' : 'pending';
        return {
          target: t.target,
          state,
          counts: t.lastSuccessAt !== undefined && now <= t.lastSuccessAt + p.timeoutMs,
          ...targetTimes(t, iso),
        };
      }),
    });
  }

  return {
    format: STATUS_FORMAT,
    version: inputs.version,
    pid: inputs.pid,
    phase: inputs.phase,
    now: isoWall(wallNow),
    startedAt: iso(inputs.startedAt) ?? isoWall(wallNow),
    uptimeSeconds: Math.max(0, Math.floor((now - inputs.startedAt) / 1000)),
    ready: inputs.readiness.ready,
    failing: [...inputs.readiness.failing],
    checks,
    policysync,
    dataplane,
    probes,
    ...(inputs.underlay ? { underlay: underlayOf(inputs.underlay, iso) } : {}),
    ...(inputs.setup ? { setup: setupOf(inputs.setup, iso) } : {}),
    drain: {
      draining: ri.drainingSince !== undefined,
      ...defined('since', iso(ri.drainingSince)),
      delayMs: config.health.drainDelayMs,
    },
    config: {
      statusSocket: config.statusSocket,
      policysyncSocket: config.socketPath,
      ...defined('egressIpv4', config.egressIpv4?.text),
      ...defined('egressIpv6', config.egressIpv6?.text),
      vxlanDevice: config.vxlanDevice,
      underlayDevice: config.underlayDevice,
      health: { host: config.health.host, port: config.health.port, ...defined('boundPort', inputs.healthPort) },
      resyncIntervalMs: config.resyncIntervalMs,
      datastoreTimeoutMs: config.health.datastoreTimeoutMs,
      drainDelayMs: config.health.drainDelayMs,
      logLevel: config.logLevel,
    },
  };
}

/**
 * Drift: what the daemon wants in the kernel and what its last pass left there differ in number, or
 * the last pass failed. Counts compare per class, so a missing route and an extra FDB entry both show.
 */
export function driftOf(r: ReconcilerStatus, failures: readonly string[]): DriftReport {
  const reasons: string[] = [];
  const classes: [keyof EntryCounts, string][] = [
    ['routes', 'routes'],
    ['neighbours', 'neighbours'],
    ['fdb', 'FDB entries'],
  ];
  for (const [key, label] of classes) {
    const want = r.counts.desired[key];
    const have = r.counts.programmed[key];
    if (want !== have) reasons.push(`${label}: ${want} desired, ${have} programmed`);
  }
  const last = r.lastReconcile;
  // Failures are only listed for a failed last pass: a later success has made them history.
  const failed = last !== undefined && !last.ok;
  if (failed) reasons.push(`the last reconcile failed: ${last.error ?? 'unknown error'}`);
  const listed = failed ? failures.slice(0, MAX_FAILURES) : [];
  return {
    drifted: reasons.length > 0,
    reasons,
    failures: listed,
    failuresOmitted: failed ? failures.length - listed.length : 0,
  };
}

function underlayOf(u: CarrierStatus, iso: (t: number | undefined) => string | undefined): UnderlaySection {
  const r = u.lastRecovery;
  return {
    device: u.device,
    carrier: u.carrier,
    ...defined('since', iso(u.since)),
    changes: u.changes,
    ...(r ? { lastRecovery: { at: iso(r.at) ?? '', nextHops: [...r.nextHops], deleted: [...r.deleted], errors: [...r.errors] } } : {}),
  };
}
