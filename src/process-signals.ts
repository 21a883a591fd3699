/**
 * The process's signals, caught from the first moment `start` runs and held until the daemon listens.
 *
 * Without a listener, SIGTERM, SIGINT and SIGHUP kill a Node process at once (as PID 1 in a container
 * they are ignored instead). Loading the daemon's modules takes a while, and a signal in that time
 * killed `start` without its cleanup. The CLI makes this latch first thing for `start`, before it
 * loads the daemon; runDaemon subscribes later and gets what came meanwhile, in order.
 */

export type SignalListener = (signal: NodeJS.Signals) => void;

/** Where signals come from: the process, this latch, or a test's emitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: SignalListener): unknown;
  off(signal: NodeJS.Signals, listener: SignalListener): unknown;
}

/** The signals `start` handles (docs/design.md section 7): SIGTERM and SIGINT drain, SIGHUP is logged and ignored. */
export const DAEMON_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export class SignalLatch implements SignalSource {
  private readonly held: NodeJS.Signals[] = [];
  private readonly listeners = new Map<NodeJS.Signals, SignalListener[]>();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    const ls = this.listeners.get(signal);
    if (ls && ls.length > 0) for (const l of [...ls]) l(signal);
    else this.held.push(signal);
  };

  constructor(
    source: SignalSource = process,
    readonly signals: readonly NodeJS.Signals[] = DAEMON_SIGNALS,
  ) {
    for (const s of signals) source.on(s, this.onSignal);
  }

  /** Signals of this kind that came before anyone listened are delivered now, in order. */
  on(signal: NodeJS.Signals, listener: SignalListener): this {
    const ls = this.listeners.get(signal) ?? [];
    ls.push(listener);
    this.listeners.set(signal, ls);
    const waiting = this.held.filter((s) => s === signal);
    if (waiting.length > 0) {
      this.held.splice(0, this.held.length, ...this.held.filter((s) => s !== signal));
      for (const s of waiting) listener(s);
    }
    return this;
  }

  off(signal: NodeJS.Signals, listener: SignalListener): this {
    const ls = this.listeners.get(signal);
    if (ls) this.listeners.set(signal, ls.filter((l) => l !== listener));
    return this;
  }

  /** Signals received that nobody has taken yet. */
  pending(): readonly NodeJS.Signals[] {
    return [...this.held];
  }
}
