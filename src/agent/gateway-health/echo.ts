import type { Clock, TimerHandle } from '../../model/clock';
import type { IpAddress } from '../../model/ip';
import { newEchoRecord, recordEcho, type EchoRecord } from './state';

/** Sends one ICMP echo and resolves on its answer (src/health/icmp.ts's Pinger); rejects when sending fails or on abort. */
export interface EchoPort {
  echo(target: IpAddress, signal: AbortSignal): Promise<void>;
}

export interface EchoPolicy {
  /** One echo per interval; an echo not answered when the next is due is a miss. */
  readonly intervalMs: number;
  /** Misses in a row that make a gateway that had answered down. */
  readonly misses: number;
}

/**
 * The echo of one gateway: an ICMP echo request to the pod's address every interval, which the
 * gateway's kernel answers (its process is never woken, so a thousand client nodes at ten echoes a
 * second cost it no userspace work at all: docs/benchmarks.md). An echo counts as answered only
 * before the next one is due; so after the path breaks, `misses` × interval (300 ms by default)
 * pass before the gateway is down. The record changes on every echo; `onChange` is called only
 * when its state does.
 */
export class GatewayEcho {
  private record: EchoRecord;
  private timer: TimerHandle | undefined;
  private inFlight: { controller: AbortController; sentAt: number; done: boolean } | undefined;
  private stopped = false;

  constructor(
    private readonly target: IpAddress,
    private readonly deps: {
      readonly clock: Clock;
      readonly port: EchoPort;
      readonly policy: EchoPolicy;
      readonly onChange: (record: EchoRecord, before: EchoRecord) => void;
    },
  ) {
    this.record = newEchoRecord(deps.clock.now());
  }

  get current(): EchoRecord {
    return this.record;
  }

  start(): void {
    this.tick();
  }

  /** Starts over as pending (a fresh stream reached the gateway: the echo must prove itself again). */
  reset(): void {
    const before = this.record;
    this.record = newEchoRecord(this.deps.clock.now());
    if (before.state !== this.record.state) this.deps.onChange(this.record, before);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.inFlight?.controller.abort(new Error('stopped'));
  }

  private tick(): void {
    if (this.stopped) return;
    const last = this.inFlight;
    if (last && !last.done) {
      last.done = true;
      last.controller.abort(new Error('no answer in time'));
      this.update({ error: `no answer within ${this.deps.policy.intervalMs} ms` });
    }
    const controller = new AbortController();
    const echo = { controller, sentAt: this.deps.clock.now(), done: false };
    this.inFlight = echo;
    this.deps.port.echo(this.target, controller.signal).then(
      () => {
        if (echo.done || this.stopped) return;
        echo.done = true;
        this.update({ rttMs: this.deps.clock.now() - echo.sentAt });
      },
      (err: unknown) => {
        if (echo.done || this.stopped) return;
        echo.done = true;
        this.update({ error: err instanceof Error ? err.message : String(err) });
      },
    );
    this.timer = this.deps.clock.setTimeout(() => this.tick(), this.deps.policy.intervalMs);
  }

  private update(answer: { rttMs: number } | { error: string }): void {
    const before = this.record;
    this.record = recordEcho(before, answer, this.deps.clock.now(), this.deps.policy.misses);
    if (this.record.state !== before.state) this.deps.onChange(this.record, before);
  }
}
