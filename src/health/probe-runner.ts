import { describeCause, isGatewayError } from '../errors';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics, ProbeKind } from '../observability/metrics';
import type { ProbeInputs, ProbeTargetInputs } from './readiness';

/** One thing to probe: `attempt` resolves when the target answered, rejects (or is aborted) when not. */
export interface ProbeTarget {
  /** How logs, metrics and /readiness name the target (an IP, or a URL without credentials). */
  readonly name: string;
  attempt(signal: AbortSignal): Promise<void>;
}

export interface ProbeRunnerOptions {
  readonly kind: ProbeKind;
  readonly targets: readonly ProbeTarget[];
  readonly intervalMs: number;
  /** Window for readiness: a target counts while it answered at most this long ago. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly metrics?: GatewayMetrics;
  readonly logger?: Logger;
  /** Called after every result, so readiness can be re-evaluated at once. */
  readonly onResult?: () => void;
}

interface TargetSlot {
  readonly target: ProbeTarget;
  state: ProbeTargetInputs;
  /** The attempt in flight, if any; its token tells a late answer from a current one. */
  inFlight?: { token: number; controller: AbortController; startedAt: number };
  timer?: TimerHandle;
  nextDue: number;
  /** Last outcome, to log only changes. */
  up?: boolean;
}

/**
 * Runs every target on its own schedule: an attempt every interval, each bounded by the
 * interval (an unanswered attempt is aborted and counted as a failure when the next one is due).
 * Targets never wait for one another, so a hanging HTTP server cannot delay anything else.
 */
export class ProbeRunner {
  private readonly slots: TargetSlot[];
  private running = false;
  private tokens = 0;

  constructor(private readonly opts: ProbeRunnerOptions) {
    this.slots = opts.targets.map((target) => ({ target, state: { target: target.name }, nextDue: 0 }));
  }

  get kind(): ProbeKind {
    return this.opts.kind;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const now = this.opts.clock.now();
    for (const slot of this.slots) {
      slot.nextDue = now;
      this.tick(slot);
    }
  }

  stop(): void {
    this.running = false;
    for (const slot of this.slots) {
      slot.timer?.cancel();
      delete slot.timer;
      if (slot.inFlight) {
        slot.inFlight.controller.abort(new Error('probe stopped'));
        delete slot.inFlight;
      }
    }
  }

  /**
   * One round at once, outside the schedule (the underlay's carrier came back, say): every target
   * is attempted now and its schedule restarts from now. An attempt still in flight is dropped
   * without a result: it went out while the path was broken (its packet may even have been thrown
   * away with an unresolved neighbour entry), so its silence says nothing about the path now.
   */
  runNow(reason: string): void {
    if (!this.running) return;
    const { clock, kind, logger } = this.opts;
    logger?.info(
      { component: 'probe', event: 'probe_round_now', kind, reason, targets: this.slots.length },
      `${kind} probe: a round at once (${reason})`,
    );
    const now = clock.now();
    for (const slot of this.slots) {
      slot.timer?.cancel();
      delete slot.timer;
      if (slot.inFlight) {
        slot.inFlight.controller.abort(new Error(`superseded by a round at once: ${reason}`));
        delete slot.inFlight;
      }
      slot.nextDue = now;
      this.tick(slot);
    }
  }

  /** What readiness needs: per target, the last success and the last error. */
  inputs(): ProbeInputs {
    return { timeoutMs: this.opts.timeoutMs, targets: this.slots.map((s) => ({ ...s.state })) };
  }

  private tick(slot: TargetSlot): void {
    if (!this.running) return;
    const { clock, intervalMs } = this.opts;
    if (slot.inFlight) {
      const { controller } = slot.inFlight;
      delete slot.inFlight;
      const reason = new Error(`no answer within ${intervalMs}ms`);
      controller.abort(reason);
      this.record(slot, false, reason.message);
    }
    this.launch(slot);
    // A fixed schedule (start + n × interval) so that a late timer does not shift later probes.
    const now = clock.now();
    slot.nextDue += intervalMs;
    if (slot.nextDue < now) slot.nextDue = now + intervalMs;
    slot.timer = clock.setTimeout(() => this.tick(slot), slot.nextDue - now);
  }

  private launch(slot: TargetSlot): void {
    const token = ++this.tokens;
    const controller = new AbortController();
    const startedAt = this.opts.clock.now();
    slot.inFlight = { token, controller, startedAt };
    let attempt: Promise<void>;
    try {
      attempt = slot.target.attempt(controller.signal);
    } catch (err) {
      attempt = Promise.reject(err);
    }
    attempt.then(
      () => this.settle(slot, token, true),
      (err: unknown) => this.settle(slot, token, false, isGatewayError(err) ? err.message : describeCause(err)),
    );
  }

  private settle(slot: TargetSlot, token: number, ok: boolean, error?: string): void {
    // Ignore answers to attempts already timed out or stopped.
    if (!this.running || slot.inFlight?.token !== token) return;
    const latencyMs = this.opts.clock.now() - slot.inFlight.startedAt;
    delete slot.inFlight;
    this.record(slot, ok, error, latencyMs);
  }

  private record(slot: TargetSlot, ok: boolean, error?: string, latencyMs?: number): void {
    const { clock, kind, metrics, logger } = this.opts;
    const now = clock.now();
    const target = slot.target.name;
    if (ok) {
      slot.state = { ...slot.state, lastSuccessAt: now, ...(latencyMs !== undefined ? { lastLatencyMs: latencyMs } : {}) };
      if (latencyMs !== undefined) metrics?.probeDuration.observe({ kind, target }, latencyMs / 1000);
    } else {
      slot.state = { ...slot.state, lastErrorAt: now, lastError: error ?? 'failed' };
    }
    metrics?.probeAttempts.inc({ kind, target, result: ok ? 'success' : 'failure' });
    metrics?.probeUp.set({ kind, target }, ok ? 1 : 0);
    if (slot.up !== ok) {
      const fields = { component: 'probe', event: ok ? 'probe_target_up' : 'probe_target_down', kind, target };
      if (ok) logger?.info({ ...fields, latencyMs }, `${kind} probe target ${target} answers`);
      else logger?.warn({ ...fields, error }, `${kind} probe target ${target} does not answer: ${error ?? 'failed'}`);
      slot.up = ok;
    }
    this.opts.onResult?.();
  }
}
