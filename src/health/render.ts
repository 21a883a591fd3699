import type { CheckReport, ProbeTargetInputs } from './readiness';

/**
 * The per-check and per-target fields that both /readiness (health/server.ts) and `status`
 * (status/model.ts) show: one place, so the two views name and round them alike. Pure, no I/O.
 */

/** Turns a time on the daemon's clock into an ISO wall-clock string, given both clocks' "now". */
export type ToIso = (t: number | undefined) => string | undefined;

export function isoFrom(now: number, wallNow: number): ToIso {
  return (t) => (t === undefined ? undefined : new Date(wallNow - (now - t)).toISOString());
}

/** `{ key: value }`, or nothing when value is undefined (so JSON leaves the field out). */
export function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export interface CheckFields {
  readonly ok: boolean;
  readonly reason: string;
  readonly lastSuccess?: string;
  readonly lastError?: string;
  readonly lastErrorTime?: string;
}

export function checkFields(check: CheckReport, toIso: ToIso): CheckFields {
  return {
    ok: check.ok,
    reason: check.reason,
    ...defined('lastSuccess', toIso(check.lastSuccessAt)),
    ...defined('lastError', check.lastError),
    ...defined('lastErrorTime', toIso(check.lastErrorAt)),
  };
}

export interface TargetTimes {
  readonly lastSuccess?: string;
  readonly latencyMs?: number;
  readonly lastError?: string;
  readonly lastErrorTime?: string;
}

/** A probe target's last answer, latency and last error (the caller puts its own fields first). */
export function targetTimes(t: ProbeTargetInputs, toIso: ToIso): TargetTimes {
  return {
    ...defined('lastSuccess', toIso(t.lastSuccessAt)),
    ...defined('latencyMs', t.lastLatencyMs === undefined ? undefined : roundMs(t.lastLatencyMs)),
    ...defined('lastError', t.lastError),
    ...defined('lastErrorTime', toIso(t.lastErrorAt)),
  };
}

/** host:port as an operator types it: an IPv6 address in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
