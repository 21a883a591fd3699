import { request } from 'node:http';
import type { Clock, TimerHandle } from '../../model/clock';
import type { Logger } from '../../observability/logger';
import type { PodInfo } from '../cluster';
import { newRecord, readinessUrl, recordPoll, type HealthPolicy, type ProbeRecord } from './state';

/** One readiness poll: resolves ok for HTTP 200, not ok (with why) for anything else, never rejects. */
export type ReadinessProbe = (url: string, timeoutMs: number) => Promise<{ readonly ok: boolean; readonly detail: string }>;

/**
 * Runs the polls: one timer per gateway, the first poll at once when a gateway is added (so a new
 * gateway is judged within one round trip), then every interval. Polls of one gateway never
 * overlap (the next is scheduled when the last has finished). Calls onChange when a gateway's
 * state changes; the records are what `status` and the metrics show.
 */
export class GatewayHealthMonitor {
  private readonly records = new Map<string, ProbeRecord>();
  private readonly timers = new Map<string, TimerHandle>();
  /** Bumped per gateway when its target changes, so a poll in flight for an old target is dropped. */
  private readonly generation = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly logger: Logger;
      readonly policy: HealthPolicy;
      readonly probe: ReadinessProbe;
      readonly onChange: (key: string, record: ProbeRecord) => void;
    },
  ) {}

  /** Polls exactly these gateways from now on; a gateway whose URL changed starts over as pending. */
  setTargets(gateways: Iterable<PodInfo>): void {
    if (this.stopped) return;
    const wanted = new Map<string, string | undefined>();
    for (const g of gateways) wanted.set(g.key, readinessUrl(g));
    for (const key of [...this.records.keys()]) {
      if (!wanted.has(key)) this.forget(key);
    }
    for (const [key, url] of wanted) {
      const have = this.records.get(key);
      if (have && have.url === url) continue;
      if (have) this.forget(key);
      this.records.set(key, newRecord(key, url, this.deps.clock.now()));
      this.generation.set(key, (this.generation.get(key) ?? 0) + 1);
      if (url !== undefined) this.schedule(key, url, 0);
    }
  }

  get(key: string): ProbeRecord | undefined {
    return this.records.get(key);
  }

  all(): ProbeRecord[] {
    return [...this.records.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  private forget(key: string): void {
    this.timers.get(key)?.cancel();
    this.timers.delete(key);
    this.records.delete(key);
    this.generation.set(key, (this.generation.get(key) ?? 0) + 1);
  }

  private schedule(key: string, url: string, delayMs: number): void {
    const gen = this.generation.get(key);
    this.timers.set(
      key,
      this.deps.clock.setTimeout(() => {
        this.timers.delete(key);
        void this.poll(key, url, gen);
      }, delayMs),
    );
  }

  private async poll(key: string, url: string, gen: number | undefined): Promise<void> {
    const started = this.deps.clock.now();
    const result = await this.deps.probe(url, this.deps.policy.timeoutMs);
    if (this.stopped || this.generation.get(key) !== gen) return;
    const before = this.records.get(key);
    if (!before) return;
    const after = recordPoll(before, result.ok, this.deps.clock.now(), this.deps.policy, result.ok ? undefined : result.detail);
    this.records.set(key, after);
    if (after.state !== before.state) {
      this.deps.logger.info(
        { component: 'gateway-health', event: 'gateway_health_changed', gateway: key, url, from: before.state, to: after.state, failures: after.failures, detail: result.detail },
        `gateway ${key}: ${before.state} → ${after.state} (${result.detail})`,
      );
      this.deps.onChange(key, after);
    }
    const elapsed = this.deps.clock.now() - started;
    this.schedule(key, url, Math.max(0, this.deps.policy.intervalMs - elapsed));
  }
}

/** GET url over plain HTTP: ok for 200 only (Felix's rule), anything else is a failure with a reason. */
export const httpReadinessProbe: ReadinessProbe = (url, timeoutMs) =>
  new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, detail });
    };
    const req = request(url, { method: 'GET', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200, `HTTP ${res.statusCode ?? '?'}`));
      res.on('error', (err) => done(false, err.message));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done(false, `no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    req.end();
  });
