import { describeCause } from '../errors';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';
import { setSyncState, type GatewayMetrics, type ProbeKind } from '../observability/metrics';
import {
  evaluateReadiness,
  type CheckName,
  type ProbeInputs,
  type ReadinessInputs,
  type ReadinessReport,
  type ReconcileInputs,
  type SetupInputs,
  type SyncInputs,
} from './readiness';

/** Anything that can say how its probe targets are doing (a ProbeRunner, or a test double). */
export interface ProbeSource {
  inputs(): ProbeInputs;
}

export interface ReadinessTrackerOptions {
  readonly clock: Clock;
  readonly datastoreTimeoutMs: number;
  readonly logger?: Logger;
  readonly metrics?: GatewayMetrics;
}

/** Node timers cannot wait longer than this; a longer review is simply re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The health model the rest of the gateway feeds: stream events, reconcile results, probe
 * results, the drain. It keeps only the inputs; readiness itself is `evaluateReadiness`. After
 * every input, and when a time window runs out on its own, it re-evaluates, logs a change of
 * readiness once (with the reason) and updates the readiness metrics.
 */
export class ReadinessTracker {
  private sync: SyncInputs = { connected: false };
  private reconcile: ReconcileInputs = {};
  /** Undefined until the setup guard is attached: the check is not part of readiness without it. */
  private setup: SetupInputs | undefined;
  private everReady = false;
  private readonly probes = new Map<ProbeKind, ProbeSource>();
  private drainingSince: number | undefined;
  private lastReady: boolean | undefined;
  private lastFailing = '';
  private review: TimerHandle | undefined;
  private stopped = false;
  private readonly listeners: ((report: ReadinessReport) => void)[] = [];

  constructor(private readonly opts: ReadinessTrackerOptions) {}

  /** The stream supervisor is dialling Felix. */
  syncConnecting(): void {
    if (this.opts.metrics) setSyncState(this.opts.metrics, 'connecting');
  }

  /** The stream is open (a snapshot will follow). (Reconnects are counted by the client; see metrics followPolicySync.) */
  syncConnected(): void {
    this.sync = { ...this.sync, connected: true };
    if (this.opts.metrics) setSyncState(this.opts.metrics, 'connected');
    this.update();
  }

  /** Felix sent in_sync: the snapshot is complete. */
  syncInSync(): void {
    const now = this.opts.clock.now();
    const { outOfSyncSince: _cleared, ...rest } = this.sync;
    this.sync = { ...rest, connected: true, firstInSyncAt: this.sync.firstInSyncAt ?? now, lastInSyncAt: now };
    if (this.opts.metrics) setSyncState(this.opts.metrics, 'in_sync');
    this.update();
  }

  /** The stream ended or failed. The kernel keeps its state; readiness holds for HEALTH_TIMEOUT_DATASTORE. */
  syncDisconnected(error?: unknown): void {
    const now = this.opts.clock.now();
    this.sync = {
      ...this.sync,
      connected: false,
      outOfSyncSince: this.sync.outOfSyncSince ?? now,
      ...(error !== undefined ? { lastError: describeCause(error), lastErrorAt: now } : {}),
    };
    if (this.opts.metrics) setSyncState(this.opts.metrics, 'disconnected');
    this.update();
  }

  /** The stream supervisor stopped for good (shutdown). */
  syncStopped(): void {
    this.syncDisconnected();
    if (this.opts.metrics) setSyncState(this.opts.metrics, 'stopped');
  }

  /**
   * The outcome of a kernel reconcile. Also counts failures and, when `durationMs` is given,
   * observes the reconcile duration metric.
   */
  reconcileResult(ok: boolean, error?: unknown, durationMs?: number): void {
    const now = this.opts.clock.now();
    this.reconcile = ok
      ? { ...this.reconcile, lastOk: true, lastSuccessAt: now }
      : { ...this.reconcile, lastOk: false, lastError: describeCause(error ?? 'failed'), lastErrorAt: now };
    const m = this.opts.metrics;
    if (m) {
      if (!ok) m.reconcileErrors.inc();
      if (durationMs !== undefined) m.reconcileDuration.observe({ result: ok ? 'success' : 'failure' }, durationMs / 1000);
    }
    this.update();
  }

  /** The setup guard exists: its check is part of readiness from now on (failing until its first result). */
  attachSetup(): void {
    this.setup ??= {};
    this.update();
  }

  /** The setup guard's finding: undefined when init's setup holds (or was put back), else what cannot be put back. */
  setupResult(problem: unknown): void {
    const now = this.opts.clock.now();
    this.setup =
      problem === undefined
        ? { ...this.setup, ok: true, lastSuccessAt: now }
        : { ...this.setup, ok: false, lastError: describeCause(problem), lastErrorAt: now };
    this.update();
  }

  /**
   * Calls `listener` whenever readiness or the set of failing checks changes (the readiness stream
   * pushes it to the client nodes at once), never for a report that changes neither.
   */
  onChange(listener: (report: ReadinessReport) => void): void {
    this.listeners.push(listener);
  }

  /** Whether /readiness has said 200 at any time since start (a never-ready gateway has no clients to drain). */
  get wasEverReady(): boolean {
    return this.everReady;
  }

  /** Adds a probe check to readiness; call `update()` (e.g. from ProbeRunner's onResult) when it changes. */
  attachProbe(kind: ProbeKind, source: ProbeSource): void {
    this.probes.set(kind, source);
    this.update();
  }

  /** From now on /readiness says 503 so clients move away; there is no way back. */
  startDrain(): void {
    if (this.drainingSince !== undefined) return;
    this.drainingSince = this.opts.clock.now();
    this.update();
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  inputs(): ReadinessInputs {
    const icmp = this.probes.get('icmp')?.inputs();
    const http = this.probes.get('http')?.inputs();
    return {
      datastoreTimeoutMs: this.opts.datastoreTimeoutMs,
      sync: this.sync,
      reconcile: this.reconcile,
      ...(this.setup ? { setup: this.setup } : {}),
      ...(icmp ? { icmp } : {}),
      ...(http ? { http } : {}),
      ...(this.drainingSince !== undefined ? { drainingSince: this.drainingSince } : {}),
    };
  }

  /** Readiness now; also logs and records a change, like every input does. */
  report(): ReadinessReport {
    return this.update();
  }

  /** Re-evaluates at once. Probe runners call this after each result. */
  update(): ReadinessReport {
    const now = this.opts.clock.now();
    const report = evaluateReadiness(this.inputs(), now);
    if (report.ready) this.everReady = true;
    this.record(report);
    this.scheduleReview(report, now);
    return report;
  }

  /** Cancels the pending review timer (shutdown). */
  stop(): void {
    this.stopped = true;
    this.review?.cancel();
    this.review = undefined;
  }

  private record(report: ReadinessReport): void {
    const { logger, metrics } = this.opts;
    if (metrics) {
      metrics.ready.set(report.ready ? 1 : 0);
      for (const [name, check] of Object.entries(report.checks) as [CheckName, { ok: boolean }][]) {
        metrics.readinessCheck.set({ check: name }, check.ok ? 1 : 0);
      }
    }
    const failing = report.failing.join(',');
    const reasons = report.failing.map((name) => `${name}: ${report.checks[name]?.reason ?? ''}`).join('; ');
    if (report.ready !== this.lastReady) {
      const fields = { component: 'health', event: 'readiness_changed', ready: report.ready, failing: report.failing };
      if (report.ready) logger?.info(fields, 'gateway is ready: every readiness check holds');
      else logger?.warn({ ...fields, reason: reasons }, `gateway is not ready: ${reasons}`);
    } else if (!report.ready && failing !== this.lastFailing) {
      logger?.info(
        { component: 'health', event: 'readiness_reason_changed', ready: false, failing: report.failing, reason: reasons },
        `gateway is still not ready: ${reasons}`,
      );
    }
    const changed = report.ready !== this.lastReady || failing !== this.lastFailing;
    this.lastReady = report.ready;
    this.lastFailing = failing;
    if (changed) for (const listener of this.listeners) listener(report);
  }

  private scheduleReview(report: ReadinessReport, now: number): void {
    this.review?.cancel();
    this.review = undefined;
    if (this.stopped || report.reviewAt === undefined) return;
    this.review = this.opts.clock.setTimeout(() => {
      this.review = undefined;
      this.update();
    }, Math.min(report.reviewAt - now, MAX_TIMER_MS));
  }
}
