import { configError } from '../errors';
import { parseIntegerInRange, pick, type Env } from '../config/env';

/** The SNAT audit log's settings; absent from the daemon config when AUDIT_LOG is unset (the default). */
export interface AuditConfig {
  /** 'stdout', or an absolute file path opened for appending. */
  readonly destination: 'stdout' | { readonly path: string };
  /** Lines per second, sustained. */
  readonly ratePerSecond: number;
  /** Lines that may go out at once after a quiet spell. */
  readonly burst: number;
}

export const DEFAULT_AUDIT_RATE = 1_000;
export const DEFAULT_AUDIT_BURST = 10_000;
/** Destinations exported in the source-port gauge: the busiest ones only, so cardinality stays bounded. */
export const PORT_USE_TOP_N = 20;

/** AUDIT_LOG=stdout|/absolute/path turns the audit on; unset, empty or "off" leaves it off. */
export function parseAuditConfig(env: Env): AuditConfig | undefined {
  const destination = parseAuditDestination(env);
  if (destination === undefined) return undefined;
  const ratePerSecond = parseIntegerInRange(pick(env, 'AUDIT_LOG_RATE'), 1, 1_000_000, DEFAULT_AUDIT_RATE);
  const burst = parseIntegerInRange(pick(env, 'AUDIT_LOG_BURST'), 1, 10_000_000, DEFAULT_AUDIT_BURST);
  return Object.freeze({ destination, ratePerSecond, burst });
}

/** AUDIT_LOG alone: undefined when the log is off. Init reads it too (to turn on conntrack accounting). */
export function parseAuditDestination(env: Env): AuditConfig['destination'] | undefined {
  const log = pick(env, 'AUDIT_LOG');
  if (log.value === undefined || log.value.toLowerCase() === 'off') return undefined;
  if (log.value.toLowerCase() === 'stdout') return 'stdout';
  if (log.value.startsWith('/')) return { path: log.value };
  throw configError(log.name, log.value, 'must be "stdout" or an absolute file path');
}
