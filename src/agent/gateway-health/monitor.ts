import { request } from 'node:http';
import { READINESS_STREAM_PATH } from '../../config/variables';
import type { Clock, TimerHandle } from '../../model/clock';
import type { Logger } from '../../observability/logger';
import type { PodInfo } from '../cluster';
import { GatewayEcho, type EchoPolicy, type EchoPort } from './echo';
import {
  gatewayVerdict,
  newEchoRecord,
  newRecord,
  newStreamRecord,
  readinessUrl,
  recordKube,
  recordPoll,
  type EchoRecord,
  type GatewaySignals,
  type HealthPolicy,
  type KubeRecord,
  type ProbeRecord,
  type StreamRecord,
  type Verdict,
} from './state';
import { DEFAULT_STREAM_POLICY, GatewayStream, httpStreamTransport, type StreamPolicy, type StreamTransport } from './stream';

/** One readiness poll: resolves ok for HTTP 200, not ok (with why) for anything else, never rejects. */
export type ReadinessProbe = (url: string, timeoutMs: number) => Promise<{ readonly ok: boolean; readonly detail: string }>;

export interface SignalPolicy {
  /** Open a readiness stream to each gateway (false: poll only, as Felix). */
  readonly stream: boolean;
  readonly streamPolicy: StreamPolicy;
  /** Undefined: no ICMP echo. */
  readonly echo?: EchoPolicy;
  /** How long a gateway that stops being usable (not by a drain) keeps its established flows. */
  readonly keepFlowsMs: number;
}

/** The agent's settings as the monitor's policy. */
export function signalPolicyOf(c: { stream: boolean; heartbeatMs: number; echoIntervalMs: number; echoMisses: number; flowGraceMs: number }): SignalPolicy {
  return {
    stream: c.stream,
    streamPolicy: { ...DEFAULT_STREAM_POLICY, heartbeatMs: c.heartbeatMs },
    ...(c.echoIntervalMs > 0 ? { echo: { intervalMs: c.echoIntervalMs, misses: c.echoMisses } } : {}),
    keepFlowsMs: c.flowGraceMs,
  };
}

/** A signal of one gateway changed: `signal` says which, `from`/`to` its states. */
export interface HealthChange {
  readonly gateway: string;
  readonly signal: 'stream' | 'echo' | 'poll';
  readonly from: string;
  readonly to: string;
  readonly detail?: string;
}

/** Per gateway, what `status` and the metrics show. */
export interface GatewayHealthView {
  readonly key: string;
  readonly signals: GatewaySignals;
}

interface Entry {
  readonly key: string;
  pod: PodInfo;
  /** The poll URL (and the stream's host and port); undefined: the pod names no health port. */
  readonly url?: string;
  kube: KubeRecord;
  stream?: GatewayStream;
  streamOff?: StreamRecord;
  echo?: GatewayEcho;
  echoOff?: EchoRecord;
  poll?: ProbeRecord;
  pollTimer?: TimerHandle;
  /** Bumped when polling stops or the target changes, so a poll in flight for an old one is dropped. */
  pollGeneration: number;
}

/**
 * Every signal of every gateway this node's pods may use (docs/design.md section 12): the stream,
 * the echo and, where no stream can be had, Felix's poll, plus Kubernetes' view from the watch.
 * Runs only for the gateways it is given (`setTargets`: the ones some client here matches), so the
 * cost of watching a gateway stays with the nodes that use it. Calls `onChange` after every change
 * that can alter a verdict; `verdict()` says what the signals add up to now.
 */
export class GatewayHealthMonitor {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly logger: Logger;
      /** Felix's poll. */
      readonly policy: HealthPolicy;
      readonly signals: SignalPolicy;
      readonly probe: ReadinessProbe;
      readonly transport?: StreamTransport;
      /** The ICMP echo; undefined: none can be sent (the echo is off whatever the policy says). */
      readonly echo?: EchoPort;
      readonly onChange: (change: HealthChange) => void;
    },
  ) {}

  /** Watches exactly these gateways from now on; one whose address or port changed starts over. */
  setTargets(gateways: Iterable<PodInfo>): void {
    if (this.stopped) return;
    const now = this.deps.clock.now();
    const wanted = new Map<string, PodInfo>();
    for (const g of gateways) wanted.set(g.key, g);
    for (const key of [...this.entries.keys()]) if (!wanted.has(key)) this.forget(key);
    for (const [key, pod] of wanted) {
      const url = readinessUrl(pod);
      const have = this.entries.get(key);
      const address = pod.ips.find((a) => a.family === 4) ?? pod.ips[0];
      const haveAddress = have?.pod.ips.find((a) => a.family === 4) ?? have?.pod.ips[0];
      if (have && have.url === url && haveAddress?.text === address?.text) {
        have.kube = recordKube(have.kube, pod, now);
        have.pod = pod;
        continue;
      }
      if (have) this.forget(key);
      this.add(key, pod, url, now);
    }
  }

  signals(key: string): GatewaySignals | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    return {
      kube: e.kube,
      stream: e.stream?.state ?? e.streamOff,
      echo: e.echo?.current ?? e.echoOff,
      ...(e.poll ? { poll: e.poll } : {}),
    };
  }

  /** What the signals say about `pod` now (a gateway not watched: Kubernetes' view alone). */
  verdict(pod: PodInfo): Verdict {
    const now = this.deps.clock.now();
    return gatewayVerdict(pod, this.signals(pod.key) ?? { kube: recordKube(undefined, pod, now) }, now, this.deps.signals.keepFlowsMs);
  }

  all(): GatewayHealthView[] {
    return [...this.entries.keys()].sort().map((key) => ({ key, signals: this.signals(key) as GatewaySignals }));
  }

  /** The poll record of a gateway (the shape `status` showed before issue #16). */
  get(key: string): ProbeRecord | undefined {
    return this.entries.get(key)?.poll;
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.entries.keys()]) this.forget(key);
  }

  private add(key: string, pod: PodInfo, url: string | undefined, now: number): void {
    const e: Entry = { key, pod, ...(url !== undefined ? { url } : {}), kube: recordKube(undefined, pod, now), pollGeneration: 0 };
    this.entries.set(key, e);
    const { signals } = this.deps;
    if (signals.stream && url !== undefined) {
      e.stream = new GatewayStream(readinessUrl(pod, READINESS_STREAM_PATH) as string, {
        clock: this.deps.clock,
        transport: this.deps.transport ?? httpStreamTransport,
        policy: signals.streamPolicy,
        onChange: (record, before) => this.streamChanged(e, record, before),
      });
    } else {
      e.streamOff = newStreamRecord(now, true);
    }
    const address = pod.ips.find((a) => a.family === 4) ?? pod.ips[0];
    // A pod without a health port is judged by Kubernetes alone (as Felix has nothing to poll there).
    if (signals.echo && this.deps.echo && address && url !== undefined) {
      e.echo = new GatewayEcho(address, {
        clock: this.deps.clock,
        port: this.deps.echo,
        policy: signals.echo,
        onChange: (record, before) => this.echoChanged(e, record, before),
      });
    } else {
      e.echoOff = newEchoRecord(now, true);
    }
    e.stream?.start();
    e.echo?.start();
    // Without a stream, the poll: Felix's way, at once and then every interval.
    if (!e.stream) this.startPolling(e);
  }

  private forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    e.stream?.stop();
    e.echo?.stop();
    this.stopPolling(e);
  }

  private streamChanged(e: Entry, record: StreamRecord, before: StreamRecord): void {
    if (this.entries.get(e.key) !== e) return;
    const said = (r: StreamRecord): string => (r.state === 'live' ? (r.draining ? 'live (draining)' : r.ready ? 'live (ready)' : 'live (not ready)') : r.state);
    const from = said(before);
    const to = said(record);
    // A fresh stream reached the gateway: the echo proves itself again (it may have been cut, or be blocked now).
    if (record.connects > before.connects && (e.echo?.current.state === 'down' || e.echo?.current.state === 'unavailable')) e.echo.reset();
    if (record.state === 'unsupported' && before.state !== 'unsupported') this.startPolling(e);
    if (record.state !== 'unsupported' && before.state === 'unsupported') this.stopPolling(e);
    if (from === to) return;
    const detail = record.state === 'live' ? (record.failing?.join(', ') ?? '') : (record.lastError ?? '');
    this.changed({ gateway: e.key, signal: 'stream', from, to, ...(detail ? { detail } : {}) });
  }

  private echoChanged(e: Entry, record: EchoRecord, before: EchoRecord): void {
    if (this.entries.get(e.key) !== e) return;
    // The path is gone: end the stream, so that what the gateway says next comes over a new one.
    if (record.state === 'down') e.stream?.restart(`${record.misses} echoes unanswered`);
    this.changed({ gateway: e.key, signal: 'echo', from: before.state, to: record.state, ...(record.lastError ? { detail: record.lastError } : {}) });
  }

  private changed(change: HealthChange): void {
    this.deps.logger.info(
      { component: 'gateway-health', event: 'gateway_signal_changed', gateway: change.gateway, signal: change.signal, from: change.from, to: change.to, detail: change.detail },
      `gateway ${change.gateway}: ${change.signal} ${change.from} → ${change.to}${change.detail ? ` (${change.detail})` : ''}`,
    );
    this.deps.onChange(change);
  }

  private startPolling(e: Entry): void {
    if (e.url === undefined) {
      e.poll = newRecord(e.key, undefined, this.deps.clock.now());
      return;
    }
    e.pollGeneration++;
    e.poll ??= newRecord(e.key, e.url, this.deps.clock.now());
    this.schedulePoll(e, 0);
  }

  private stopPolling(e: Entry): void {
    e.pollGeneration++;
    e.pollTimer?.cancel();
    delete e.pollTimer;
  }

  private schedulePoll(e: Entry, delayMs: number): void {
    const gen = e.pollGeneration;
    e.pollTimer = this.deps.clock.setTimeout(() => {
      delete e.pollTimer;
      void this.poll(e, gen);
    }, delayMs);
  }

  private async poll(e: Entry, gen: number): Promise<void> {
    const url = e.url as string;
    const started = this.deps.clock.now();
    const result = await this.deps.probe(url, this.deps.policy.timeoutMs);
    if (this.stopped || this.entries.get(e.key) !== e || e.pollGeneration !== gen || !e.poll) return;
    const before = e.poll;
    const after = recordPoll(before, result.ok, this.deps.clock.now(), this.deps.policy, result.ok ? undefined : result.detail);
    e.poll = after;
    if (after.state !== before.state) this.changed({ gateway: e.key, signal: 'poll', from: before.state, to: after.state, detail: result.detail });
    const elapsed = this.deps.clock.now() - started;
    this.schedulePoll(e, Math.max(0, this.deps.policy.intervalMs - elapsed));
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
