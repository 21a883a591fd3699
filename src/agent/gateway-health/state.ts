import type { PodInfo } from '../cluster';

/**
 * Gateway health as the client node sees it, at least what Enterprise Felix does: poll each
 * gateway's `GET /readiness` on its container port named `health` every interval (10 s), drop it
 * after `failureThreshold` (3) failures in a row, take it back after one success. Kubernetes'
 * own view counts too: a pod that is not Ready, or that is being deleted (draining), takes no new
 * flows whatever the poll says.
 *
 * This file is the pure part (no I/O, no timers): the per-gateway record and the verdict. The
 * monitor (monitor.ts) runs the polls. Issue #16's faster signals add inputs to `gatewayVerdict`.
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

export interface Verdict {
  readonly usable: boolean;
  readonly reason: string;
}

/**
 * Whether a gateway may take new flows now. A gateway whose poll is still pending counts as usable
 * when Kubernetes says it is Ready (the kubelet polls the same /readiness): an agent that restarts
 * must not fail every client closed until its first round of polls is back.
 */
export function gatewayVerdict(pod: PodInfo, probe: ProbeRecord | undefined): Verdict {
  if (pod.ips.length === 0) return { usable: false, reason: 'no address yet' };
  if (pod.deleting) return { usable: false, reason: 'terminating (draining)' };
  if (!pod.ready) return { usable: false, reason: 'not Ready in Kubernetes' };
  if (probe?.state === 'down') return { usable: false, reason: `/readiness failed ${probe.failures} times in a row: ${probe.lastError ?? ''}` };
  if (probe?.state === 'up') return { usable: true, reason: 'ready' };
  if (probe?.state === 'unprobed') return { usable: true, reason: 'Ready in Kubernetes (no "health" port to poll)' };
  return { usable: true, reason: 'Ready in Kubernetes (first poll pending)' };
}

/** The URL Felix polls: the pod's first IPv4 address (else its first), its `health` port, /readiness. */
export function readinessUrl(pod: PodInfo): string | undefined {
  if (pod.healthPort === undefined) return undefined;
  const ip = pod.ips.find((a) => a.family === 4) ?? pod.ips[0];
  if (!ip) return undefined;
  const host = ip.family === 6 ? `[${ip.text}]` : ip.text;
  return `http://${host}:${pod.healthPort}/readiness`;
}
