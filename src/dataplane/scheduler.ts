import type { Clock, TimerHandle } from '../model/clock';

/**
 * When passes run: events call `trigger(reason)` and a debounced timer runs one pass for a burst
 * (cilium's trigger); a failed pass is retried after a backoff that doubles up to a cap; after each
 * clean full pass the next periodic resync is due. It holds the one full/partial flag, as
 * kube-proxy does: after a failure, an in_sync, a lost device or a periodic resync the next pass
 * re-reads the kernel; otherwise it trusts what the last pass left. No timers elsewhere.
 */

export interface SchedulerOptions {
  readonly clock: Clock;
  /** Quiet time that gathers a burst of updates into one pass. */
  readonly debounceMs: number;
  /** Period of the full resync that repairs drift. */
  readonly resyncIntervalMs: number;
  /** First retry after a failed pass; doubles up to retryMaxMs. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Whether a pass may run now (the stream has reached in_sync). */
  canRun(): boolean;
  /** Runs one pass; `full`: read the kernel first. Resolves whether it succeeded; never rejects. */
  pass(reason: string, full: boolean): Promise<boolean>;
}

export class PassScheduler {
  private started = false;
  /** The one full/partial flag: the next pass reads the kernel. */
  private needFull = true;
  private failures = 0;
  private lastOk = true;
  private passTimer: { handle: TimerHandle; due: number } | undefined;
  private resyncTimer: TimerHandle | undefined;
  private running: Promise<boolean> | undefined;
  private rerun = false;
  /** A full pass was asked for while one ran on what it had read before: the next is full too. */
  private fullAfterRunning = false;

  constructor(private readonly opts: SchedulerOptions) {}

  /** Begins scheduling (a pass already due runs now); call once. */
  start(): void {
    this.started = true;
    if (this.opts.canRun()) this.trigger('start', 0);
  }

  /** Stops timers and waits for a running pass to finish. */
  async stop(): Promise<void> {
    this.started = false;
    this.passTimer?.handle.cancel();
    this.passTimer = undefined;
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    await this.running;
  }

  /** Resolves once no pass is running (timers may still be pending). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** The next pass re-reads the kernel (what it holds is no longer known), and runs now. */
  requestFull(reason: string): void {
    this.needFull = true;
    // A pass already running read the kernel before this; make the one after it a full one too.
    if (this.running) this.fullAfterRunning = true;
    this.trigger(reason, 0);
  }

  /** A pass is wanted after `delayMs`; a later call joins the one already scheduled, never delays it. */
  trigger(reason: string, delayMs: number): void {
    if (!this.started || !this.opts.canRun()) return; // start() or the next in_sync will trigger
    if (this.running) {
      this.rerun = true;
      return;
    }
    const due = this.opts.clock.now() + delayMs;
    if (this.passTimer && this.passTimer.due <= due) return;
    this.passTimer?.handle.cancel();
    const handle = this.opts.clock.setTimeout(() => {
      this.passTimer = undefined;
      if (!this.started || !this.opts.canRun()) return;
      // A pass started by runNow meanwhile: never two at once; this one follows it.
      if (this.running) {
        this.rerun = true;
        return;
      }
      void this.run(reason);
    }, delayMs);
    this.passTimer = { handle, due };
  }

  /** Runs a pass now, after any running one. */
  async runNow(reason: string): Promise<void> {
    await this.whenIdle();
    // This pass does what a scheduled one would have done.
    this.passTimer?.handle.cancel();
    this.passTimer = undefined;
    await this.run(reason);
  }

  private run(reason: string): Promise<boolean> {
    const full = this.needFull;
    this.rerun = false;
    const p = this.opts.pass(reason, full).then((ok) => {
      this.running = undefined;
      this.passed(ok, full);
      return ok;
    });
    this.running = p;
    return p;
  }

  private passed(ok: boolean, full: boolean): void {
    this.lastOk = ok;
    if (ok) {
      this.failures = 0;
      this.needFull = false;
      if (full) this.scheduleResync();
    } else {
      this.failures++;
      this.needFull = true;
    }
    if (this.fullAfterRunning) {
      this.fullAfterRunning = false;
      this.needFull = true;
    }
    if (!this.started) return;
    if (!this.lastOk) {
      this.trigger('retry', Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** Math.max(0, this.failures - 1)));
    } else if (this.rerun) {
      this.rerun = false;
      this.trigger('update', this.opts.debounceMs);
    }
  }

  private scheduleResync(): void {
    this.resyncTimer?.cancel();
    if (!this.started) return;
    this.resyncTimer = this.opts.clock.setTimeout(() => {
      this.resyncTimer = undefined;
      this.needFull = true;
      this.trigger('resync', 0);
    }, this.opts.resyncIntervalMs);
  }
}
