import type { Logger } from './observability/logger';

/**
 * One lifecycle for the daemon: components start in the order they were added and stop in
 * reverse, so nothing is stopped while something started after it still depends on it.
 * A component that fails to start stops the ones already started, then the error propagates.
 */
export interface Component {
  readonly name: string;
  start?(signal: AbortSignal): Promise<void> | void;
  stop?(): Promise<void> | void;
}

export class Lifecycle {
  private readonly components: Component[] = [];
  private readonly started: Component[] = [];
  private readonly abort = new AbortController();
  private stopping: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** Aborted when stop begins: long tasks (timers, streams, probes) watch it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  add(component: Component): this {
    this.components.push(component);
    return this;
  }

  async start(): Promise<void> {
    for (const c of this.components) {
      try {
        await c.start?.(this.abort.signal);
        this.started.push(c);
        this.log.debug({ component: 'lifecycle', event: 'started', target: c.name }, `started ${c.name}`);
      } catch (err) {
        this.log.error({ component: 'lifecycle', event: 'start_failed', target: c.name, err }, `starting ${c.name} failed`);
        await this.stop();
        throw err;
      }
    }
  }

  /** Idempotent: a second call waits for the first. Errors while stopping are logged, not thrown. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.abort.abort();
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
