import type { Logger } from './observability/logger';

/**
 * One lifecycle for the daemon: components start in the order they were added and stop in
 * reverse, so nothing is stopped while something started after it still depends on it.
 * A component that fails to start stops the ones already started, then the error propagates.
 * stop() may come while start() is still running (a SIGTERM during start-up): no further component
 * starts, the one being started is let finish (it sees the aborted signal) and is stopped with the rest.
 */
export interface Component {
  readonly name: string;
  start?(signal: AbortSignal): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/** How start() ended: every component started, or stop() came first. */
export type StartOutcome = 'started' | 'stopped';

export class Lifecycle {
  private readonly components: Component[] = [];
  private readonly started: Component[] = [];
  private readonly abort = new AbortController();
  private stopping: Promise<void> | undefined;
  /** The start of the component being started, settled either way; stop() waits for it. */
  private starting: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** Aborted when stop begins: long tasks (timers, streams, probes) watch it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  add(component: Component): this {
    this.components.push(component);
    return this;
  }

  /** Resolves 'stopped' when stop() came before every component had started, once all that did start is stopped again. */
  async start(): Promise<StartOutcome> {
    for (const c of this.components) {
      if (this.stopping) return this.stopped();
      const attempt = this.startOne(c);
      this.starting = attempt.then(
        () => undefined,
        () => undefined,
      );
      try {
        await attempt;
      } catch (err) {
        // A start that fails after stop() was asked for is most likely the abort itself: not a start failure.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have been called while the await above ran
        if (this.stopping) {
          this.log.warn({ component: 'lifecycle', event: 'start_failed', target: c.name, err }, `starting ${c.name} failed while stopping`);
          return await this.stopped();
        }
        this.log.error({ component: 'lifecycle', event: 'start_failed', target: c.name, err }, `starting ${c.name} failed`);
        await this.stop();
        throw err;
      } finally {
        this.starting = undefined;
      }
    }
    return this.stopping ? this.stopped() : 'started';
  }

  /** start()'s answer once stop() has begun: after everything started has been stopped. */
  private async stopped(): Promise<StartOutcome> {
    await this.stopping;
    return 'stopped';
  }

  /** Idempotent: a second call waits for the first. Errors while stopping are logged, not thrown. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Records the component as started before the returned promise settles, so stopAll() sees it. */
  private async startOne(c: Component): Promise<void> {
    await c.start?.(this.abort.signal);
    this.started.push(c);
    this.log.debug({ component: 'lifecycle', event: 'started', target: c.name }, `started ${c.name}`);
  }

  private async stopAll(): Promise<void> {
    this.abort.abort();
    // Called during start(): let the component being started finish, so that it is stopped too.
    await this.starting;
    for (const c of [...this.started].reverse()) {
      try {
        await c.stop?.();
        this.log.debug({ component: 'lifecycle', event: 'stopped', target: c.name }, `stopped ${c.name}`);
      } catch (err) {
        this.log.warn({ component: 'lifecycle', event: 'stop_failed', target: c.name, err }, `stopping ${c.name} failed`);
      }
    }
    this.started.length = 0;
  }
}
