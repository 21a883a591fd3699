import type { PodInfo } from '../cluster';

/**
 * Gateway health as the client node sees it (pure: no I/O, no timers). Four signals, each a record
 * with its state and when that last changed; `gatewayVerdict` turns them into whether the gateway
 * may take new flows and whether its established flows keep their path. The runners (monitor.ts,
 * stream.ts, echo.ts) feed the records. docs/design.md section 12 has the reasoning and the numbers.
 *
 * - kube: the pod's Ready condition and deletionTimestamp, from the watch.
 * - stream: GET /readiness/stream on the pod's `health` port: the gateway pushes its readiness and
 *   the start of its drain at once; a daemon that dies closes it (FIN/RST) at once.
 * - echo: ICMP echo to the pod's address every 100 ms, answered by the gateway's kernel: a gateway
 *   whose packets stop arriving (its node cut off) is found without the gateway's process doing
 *   anything. Once it has answered, `misses` in a row make it down, which also ends the stream (a new
 *   stream, once the path is back, brings a fresh state rather than what TCP retransmits late).
 * - poll: what Enterprise Felix does (GET /readiness every 10 s, 3 failures): used only where no
 *   stream can be had (a gateway without the stream endpoint, such as Tigera's image, or when the
 *   agent is told not to open streams).
 */

export interface HealthPolicy {
  readonly intervalMs: number;
  /** One poll's budget; a poll that takes longer is a failure. */
  readonly timeoutMs: number;
  /** Failures in a row before the gateway is dropped. */
  readonly failureThreshold: number;
}

export const FELIX_HEALTH_POLICY: HealthPolicy = { intervalMs: 10_000, timeoutMs: 5_000, failureThreshold: 3 };

/**
 * pending: no poll has finished yet; up / down: as the polls say; unprobed: the pod names no
 * `health` port, so only Kubernetes' view counts (as with Felix, which has nothing to poll).
 */
export type ProbeState = 'pending' | 'up' | 'down' | 'unprobed';

export interface ProbeRecord {
  readonly key: string;
  /** The URL polled; absent when unprobed. */
  readonly url?: string;
  readonly state: ProbeState;
  /** Failures in a row. */
  readonly failures: number;
  readonly polls: number;
  /** When the state last changed (clock ms). */
  readonly since: number;
  readonly lastSuccessAt?: number;
  readonly lastFailureAt?: number;
  readonly lastError?: string;
}

export function newRecord(key: string, url: string | undefined, now: number): ProbeRecord {
  return { key, ...(url !== undefined ? { url } : {}), state: url === undefined ? 'unprobed' : 'pending', failures: 0, polls: 0, since: now };
}

/** The record after one poll: a success brings it up at once; `failureThreshold` failures in a row bring it down. */
export function recordPoll(r: ProbeRecord, ok: boolean, now: number, policy: HealthPolicy, error?: string): ProbeRecord {
  if (ok) {
    const { lastError: _drop, ...rest } = r;
    return { ...rest, state: 'up', failures: 0, polls: r.polls + 1, since: r.state === 'up' ? r.since : now, lastSuccessAt: now };
  }
  const failures = r.failures + 1;
  // Before the first success a gateway is given the same allowance: pending stays pending until the threshold.
  const state = failures >= policy.failureThreshold ? 'down' : r.state;
  return { ...r, state, failures, polls: r.polls + 1, since: state === r.state ? r.since : now, lastFailureAt: now, lastError: error ?? 'failed' };
}

/**
 * The stream of one gateway. pending: not connected yet since the agent began watching the gateway;
 * live: connected, the last line says `ready`/`draining`; lost: it ended, or could not be opened,
 * and is being dialled again; unsupported: the gateway answered without a stream (404: an older gateway
 * or Tigera's image; 503: its stream cap is full), so it is polled instead and the stream is tried
 * again later; off: the agent opens no streams (AGENT_GATEWAY_STREAM=false).
 */
export type StreamState = 'pending' | 'live' | 'lost' | 'unsupported' | 'off';

export interface StreamRecord {
  readonly state: StreamState;
  /** When `state` (or, while live, what the gateway says) last changed. */
  readonly since: number;
  /** What the gateway said last, while live. */
  readonly ready?: boolean;
  readonly draining?: boolean;
  readonly failing?: readonly string[];
  /** Streams opened (the first included). */
  readonly connects: number;
  readonly lastError?: string;
}

export function newStreamRecord(now: number, off = false): StreamRecord {
  return { state: off ? 'off' : 'pending', since: now, connects: 0 };
}

/** A state line from the gateway: live, saying `ready`/`draining`; `since` moves only when something changed. */
export function recordStreamState(r: StreamRecord, s: { ready: boolean; draining: boolean; failing: readonly string[] }, now: number, connected: boolean): StreamRecord {
  const same = r.state === 'live' && r.ready === s.ready && r.draining === s.draining && (r.failing ?? []).join(',') === s.failing.join(',');
  const { lastError: _drop, ...rest } = r;
  return { ...rest, state: 'live', ready: s.ready, draining: s.draining, failing: [...s.failing], since: same ? r.since : now, connects: r.connects + (connected ? 1 : 0) };
}

/** The stream ended or could not be opened: lost (or unsupported, when the gateway has none to give). */
export function recordStreamEnd(r: StreamRecord, state: 'lost' | 'unsupported', error: string, now: number): StreamRecord {
  const { ready: _r, draining: _d, failing: _f, ...rest } = r;
  // A gateway that cannot be reached from the start is lost too: a failed dial is evidence, where
  // "pending" (usable when Kubernetes says Ready) only covers the first round trip.
  return { ...rest, state, since: state === r.state ? r.since : now, lastError: error };
}

/**
 * The ICMP echo of one gateway. pending: no answer yet; up: answering; down: it answered before
 * and `misses` echoes in a row went unanswered since; unavailable: it has never answered although
 * `misses` were sent (ICMP blocked by a policy, or no raw socket): the echo says nothing then, and
 * the stream's heartbeat is the check of last resort; off: no echo (AGENT_GATEWAY_ECHO_INTERVAL=0).
 */
export type EchoState = 'pending' | 'up' | 'down' | 'unavailable' | 'off';

export interface EchoRecord {
  readonly state: EchoState;
  readonly since: number;
  /** Unanswered in a row. */
  readonly misses: number;
  readonly sent: number;
  readonly answered: number;
  readonly lastRttMs?: number;
  readonly lastError?: string;
}

export function newEchoRecord(now: number, off = false): EchoRecord {
  return { state: off ? 'off' : 'pending', since: now, misses: 0, sent: 0, answered: 0 };
}

/** One echo's outcome: an answer (with its round trip) or a miss (no answer before the next was due, or sending failed). */
export function recordEcho(r: EchoRecord, answer: { rttMs: number } | { error: string }, now: number, missThreshold: number): EchoRecord {
  if ('rttMs' in answer) {
    const { lastError: _drop, ...rest } = r;
    return { ...rest, state: 'up', since: r.state === 'up' ? r.since : now, misses: 0, sent: r.sent + 1, answered: r.answered + 1, lastRttMs: answer.rttMs };
  }
  const misses = r.misses + 1;
  let state = r.state;
  if (misses >= missThreshold) state = r.state === 'up' || r.state === 'down' ? 'down' : 'unavailable';
  return { ...r, state, since: state === r.state ? r.since : now, misses, sent: r.sent + 1, lastError: answer.error };
}

/** Kubernetes' view, and when the agent saw it change. */
export interface KubeRecord {
  readonly ready: boolean;
  readonly deleting: boolean;
  readonly since: number;
}

export function recordKube(r: KubeRecord | undefined, pod: Pick<PodInfo, 'ready' | 'deleting'>, now: number): KubeRecord {
  if (r && r.ready === pod.ready && r.deleting === pod.deleting) return r;
  return { ready: pod.ready, deleting: pod.deleting, since: now };
}

export interface GatewaySignals {
  readonly kube?: KubeRecord;
  readonly stream?: StreamRecord;
  readonly echo?: EchoRecord;
  readonly poll?: ProbeRecord;
}

/** Which signal decided a verdict. */
export type DecidingSignal = 'kube' | 'stream' | 'echo' | 'poll' | 'address';

export interface Verdict {
  /** May take new flows now. */
  readonly usable: boolean;
  /**
   * Its established flows keep their path (pinned to it; docs/design.md section 12): while it is
   * usable, while it drains (until the pod is gone), and for `keepFlowsMs` after it stopped being
   * usable for any other reason (a daemon that crashed and is restarted by the kubelet meanwhile
   * breaks none of them; past that, they move and the server resets them, which is quicker for the
   * application than a connection that hangs).
   */
  readonly keepFlows: boolean;
  readonly reason: string;
  readonly decidedBy: DecidingSignal;
  /** When the verdict changes by itself (the grace running out), in clock ms. */
  readonly reviewAt?: number;
}

/**
 * Whether a gateway may take new flows now, and whether its established ones stay, from its
 * signals. In order:
 * 1. no address: nothing to steer to;
 * 2. being deleted (deletionTimestamp): draining, whatever else is said;
 * 3. a live stream: its word, both ways (it is newer than the pod's Ready condition, which the
 *    kubelet updates only every readinessProbe period);
 * 4. a lost stream, or an echo gone silent: unreachable;
 * 5. no stream to be had (pending, unsupported, off): the pod's Ready condition and the poll, as
 *    before issue #16 (a gateway whose first poll has not returned counts as usable when Kubernetes
 *    says Ready: an agent that restarts must not fail every client closed for a round trip).
 */
export function gatewayVerdict(pod: Pick<PodInfo, 'ips' | 'ready' | 'deleting'>, signals: GatewaySignals, now: number, keepFlowsMs: number): Verdict {
  if (pod.ips.length === 0) return { usable: false, keepFlows: false, reason: 'no address yet', decidedBy: 'address' };
  if (pod.deleting) return { usable: false, keepFlows: true, reason: 'terminating (draining)', decidedBy: 'kube' };
  const { stream, echo, poll } = signals;
  const lost = (reason: string, since: number, decidedBy: DecidingSignal): Verdict => {
    const until = since + keepFlowsMs;
    const keep = now < until;
    return { usable: false, keepFlows: keep, reason, decidedBy, ...(keep ? { reviewAt: until } : {}) };
  };
  if (stream?.state === 'live') {
    if (stream.draining) return { usable: false, keepFlows: true, reason: 'draining (stream)', decidedBy: 'stream' };
    if (stream.ready) return { usable: true, keepFlows: true, reason: 'ready (stream)', decidedBy: 'stream' };
    return lost(`not ready (stream): ${(stream.failing ?? []).join(', ') || 'no reason given'}`, stream.since, 'stream');
  }
  if (stream?.state === 'lost') return lost(`unreachable: stream lost (${stream.lastError ?? 'closed'})`, stream.since, 'stream');
  if (echo?.state === 'down') return lost(`unreachable: ${echo.misses} echoes unanswered`, echo.since, 'echo');
  if (!pod.ready) return lost('not Ready in Kubernetes', signals.kube?.since ?? now, 'kube');
  if (poll?.state === 'down') return lost(`/readiness failed ${poll.failures} times in a row: ${poll.lastError ?? ''}`, poll.since, 'poll');
  if (poll?.state === 'up') return { usable: true, keepFlows: true, reason: 'ready (poll)', decidedBy: 'poll' };
  if (poll?.state === 'unprobed') return { usable: true, keepFlows: true, reason: 'Ready in Kubernetes (no "health" port to poll)', decidedBy: 'kube' };
  const waiting = stream?.state === 'pending' ? 'stream connecting' : 'first poll pending';
  return { usable: true, keepFlows: true, reason: `Ready in Kubernetes (${waiting})`, decidedBy: 'kube' };
}

/** The URL Felix polls: the pod's first IPv4 address (else its first), its `health` port, /readiness. */
export function readinessUrl(pod: PodInfo, path = '/readiness'): string | undefined {
  if (pod.healthPort === undefined) return undefined;
  const ip = pod.ips.find((a) => a.family === 4) ?? pod.ips[0];
  if (!ip) return undefined;
  const host = ip.family === 6 ? `[${ip.text}]` : ip.text;
  return `http://${host}:${pod.healthPort}${path}`;
}
