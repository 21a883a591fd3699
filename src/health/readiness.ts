/**
 * Readiness as a pure function of what the rest of the gateway has reported. Client nodes send
 * traffic only to a gateway that says "ready", so every check must hold; the answer also says
 * when it could change on its own (a window running out), so the tracker can re-evaluate then.
 * No I/O and no timers here: all times are milliseconds on the caller's clock.
 */

export type CheckName = 'policysync' | 'reconcile' | 'setup' | 'icmp' | 'http' | 'drain' | AgentCheckName;
/** The OSS node agent's checks (src/agent/readiness.ts); the gateway never reports them. */
export type AgentCheckName = 'kube' | 'node' | 'dataplane' | 'routefeed';

export interface SyncInputs {
  /** When the stream first reached in_sync; undefined: never. */
  readonly firstInSyncAt?: number;
  /** Set when the stream went out of sync (disconnect), cleared by the next in_sync. */
  readonly outOfSyncSince?: number;
  readonly connected: boolean;
  readonly lastInSyncAt?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

export interface ReconcileInputs {
  /** undefined: no reconcile has finished yet. */
  readonly lastOk?: boolean;
  readonly lastSuccessAt?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

/** What the setup guard (src/init/setup-guard.ts) last found: init's ruleset and sysctls as init set them, or not. */
export interface SetupInputs {
  /** undefined: the first check has not finished. */
  readonly ok?: boolean;
  readonly lastSuccessAt?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

export interface ProbeTargetInputs {
  readonly target: string;
  readonly lastSuccessAt?: number;
  readonly lastLatencyMs?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
}

export interface ProbeInputs {
  /** A target counts while its last answer is at most this old. */
  readonly timeoutMs: number;
  readonly targets: readonly ProbeTargetInputs[];
}

export interface ReadinessInputs {
  readonly datastoreTimeoutMs: number;
  readonly sync: SyncInputs;
  readonly reconcile: ReconcileInputs;
  /** Absent: the daemon does not guard init's setup (a test on fakes), so the check is not part of readiness. */
  readonly setup?: SetupInputs;
  /** Absent: no ICMP target configured, so the check is not part of readiness. */
  readonly icmp?: ProbeInputs;
  readonly http?: ProbeInputs;
  /** When draining began; undefined while not draining. */
  readonly drainingSince?: number;
}

export interface CheckReport {
  readonly ok: boolean;
  /** One line an operator can act on. */
  readonly reason: string;
  readonly lastSuccessAt?: number;
  readonly lastError?: string;
  readonly lastErrorAt?: number;
  /** Per-target detail for probe checks. */
  readonly targets?: readonly ProbeTargetInputs[];
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Partial<Record<CheckName, CheckReport>>>;
  /** The names of failing checks, in a fixed order. */
  readonly failing: readonly CheckName[];
  /** The earliest time the answer may change without new input; undefined: not before new input. */
  readonly reviewAt?: number;
}

export function evaluateReadiness(inputs: ReadinessInputs, now: number): ReadinessReport {
  const checks: Partial<Record<CheckName, CheckReport>> = {};
  const deadlines: number[] = [];

  checks.policysync = evaluateSync(inputs.sync, inputs.datastoreTimeoutMs, now, deadlines);
  checks.reconcile = evaluateReconcile(inputs.reconcile);
  if (inputs.setup) checks.setup = evaluateSetup(inputs.setup);
  if (inputs.icmp) checks.icmp = evaluateProbe('ICMP', inputs.icmp, now, deadlines);
  if (inputs.http) checks.http = evaluateProbe('HTTP', inputs.http, now, deadlines);
  checks.drain =
    inputs.drainingSince === undefined
      ? { ok: true, reason: 'not draining' }
      : { ok: false, reason: 'draining: shutting down, clients should move to another gateway', lastErrorAt: inputs.drainingSince };

  const order: CheckName[] = ['policysync', 'reconcile', 'setup', 'icmp', 'http', 'drain'];
  const failing = order.filter((name) => checks[name] !== undefined && !checks[name].ok);
  const future = deadlines.filter((d) => d > now);
  return {
    ready: failing.length === 0,
    checks,
    failing,
    ...(future.length > 0 ? { reviewAt: Math.min(...future) } : {}),
  };
}

function evaluateSync(sync: SyncInputs, timeoutMs: number, now: number, deadlines: number[]): CheckReport {
  const detail = {
    ...(sync.lastInSyncAt !== undefined ? { lastSuccessAt: sync.lastInSyncAt } : {}),
    ...(sync.lastError !== undefined ? { lastError: sync.lastError } : {}),
    ...(sync.lastErrorAt !== undefined ? { lastErrorAt: sync.lastErrorAt } : {}),
  };
  if (sync.firstInSyncAt === undefined) {
    const why = sync.connected ? 'connected, waiting for the first in_sync from Felix' : 'not yet in sync with Felix';
    return { ok: false, reason: why, ...detail };
  }
  if (sync.outOfSyncSince === undefined) return { ok: true, reason: 'in sync with Felix', ...detail };
  // Out of sync: the kernel keeps the last state, which stays good for a while; past the
  // datastore timeout it may be stale enough to black-hole return traffic.
  const expires = sync.outOfSyncSince + timeoutMs;
  const since = `out of sync since ${Math.round(now - sync.outOfSyncSince)}ms`;
  if (now > expires) {
    return { ok: false, reason: `${since}, longer than HEALTH_TIMEOUT_DATASTORE (${timeoutMs}ms)`, ...detail };
  }
  // The answer flips just after `expires` ("longer than"), so look again one millisecond later.
  deadlines.push(expires + 1);
  const state = sync.connected ? 'reconnected, waiting for in_sync' : 'disconnected';
  return { ok: true, reason: `${state}; ${since}, within HEALTH_TIMEOUT_DATASTORE (${timeoutMs}ms)`, ...detail };
}

function evaluateReconcile(r: ReconcileInputs): CheckReport {
  const detail = {
    ...(r.lastSuccessAt !== undefined ? { lastSuccessAt: r.lastSuccessAt } : {}),
    ...(r.lastError !== undefined ? { lastError: r.lastError } : {}),
    ...(r.lastErrorAt !== undefined ? { lastErrorAt: r.lastErrorAt } : {}),
  };
  if (r.lastOk === undefined) return { ok: false, reason: 'no kernel reconcile has finished yet', ...detail };
  if (!r.lastOk) return { ok: false, reason: `the last kernel reconcile failed: ${r.lastError ?? 'unknown error'}`, ...detail };
  return { ok: true, reason: 'the last kernel reconcile succeeded', ...detail };
}

function evaluateSetup(s: SetupInputs): CheckReport {
  const detail = {
    ...(s.lastSuccessAt !== undefined ? { lastSuccessAt: s.lastSuccessAt } : {}),
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    ...(s.lastErrorAt !== undefined ? { lastErrorAt: s.lastErrorAt } : {}),
  };
  if (s.ok === undefined) return { ok: false, reason: "init's setup has not been checked yet", ...detail };
  if (!s.ok) return { ok: false, reason: `init's setup is broken and cannot be put back: ${s.lastError ?? 'unknown error'}`, ...detail };
  return { ok: true, reason: "init's ruleset, fail-safe and sysctls are as init set them", ...detail };
}

function evaluateProbe(label: string, p: ProbeInputs, now: number, deadlines: number[]): CheckReport {
  let lastSuccessAt: number | undefined;
  let lastErrorAt: number | undefined;
  let lastError: string | undefined;
  const fresh: string[] = [];
  for (const t of p.targets) {
    if (t.lastSuccessAt !== undefined) {
      if (lastSuccessAt === undefined || t.lastSuccessAt > lastSuccessAt) lastSuccessAt = t.lastSuccessAt;
      const expires = t.lastSuccessAt + p.timeoutMs;
      if (now <= expires) {
        fresh.push(t.target);
        deadlines.push(expires + 1);
      }
    }
    if (t.lastErrorAt !== undefined && (lastErrorAt === undefined || t.lastErrorAt > lastErrorAt)) {
      lastErrorAt = t.lastErrorAt;
      lastError = t.lastError !== undefined ? `${t.target}: ${t.lastError}` : t.target;
    }
  }
  const detail = {
    ...(lastSuccessAt !== undefined ? { lastSuccessAt } : {}),
    ...(lastError !== undefined ? { lastError } : {}),
    ...(lastErrorAt !== undefined ? { lastErrorAt } : {}),
    targets: p.targets,
  };
  if (fresh.length > 0) {
    return { ok: true, reason: `${fresh.length} of ${p.targets.length} ${label} targets answered within ${p.timeoutMs}ms`, ...detail };
  }
  const why =
    lastSuccessAt === undefined
      ? `no ${label} target has answered yet`
      : `no ${label} target answered within the last ${p.timeoutMs}ms`;
  return { ok: false, reason: why, ...detail };
}
