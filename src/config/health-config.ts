import { configError } from '../errors';
import type { IpAddress } from '../model/ip';
import { parseIp } from '../model/ip';
import { parseDurationSetting } from './duration';
import { parseIntegerInRange, parseIpList, pick, type Env, type RawSetting } from './env';
import { DEFAULT_HEALTH_PORT } from './variables';

/** What the probes, readiness and the health server need; all durations in milliseconds. */
export interface HealthConfig {
  readonly icmp: ProbeConfig<IpAddress>;
  readonly http: ProbeConfig<URL>;
  /** 0 disables the health server. */
  readonly port: number;
  /** The address to listen on: HEALTH_HOST, else the egress IP given by the caller. */
  readonly host: string;
  /** How long the PolicySync stream may be out of sync before the gateway stops saying "ready". */
  readonly datastoreTimeoutMs: number;
  /** How long `/readiness` says 503 before a draining gateway shuts down. */
  readonly drainDelayMs: number;
  /** Health-port connections open at once (HEALTH_MAX_CONNECTIONS). */
  readonly maxConnections: number;
}

export interface ProbeConfig<T> {
  /** Empty: this check is not part of readiness. */
  readonly targets: readonly T[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface HealthFlags {
  readonly healthPort?: string;
  readonly healthHost?: string;
}

/** Intervals below this would turn a probe into a flood; 100 ms still works. */
const minIntervalMs = 100;
/** Node timers cannot wait longer than about 24.8 days; one day is more than any sane value. */
const maxDurationMs = 24 * 3_600_000;

export const HEALTH_DEFAULTS = {
  icmpIntervalMs: 5_000,
  icmpTimeoutMs: 15_000,
  httpIntervalMs: 10_000,
  httpTimeoutMs: 10_000,
  port: DEFAULT_HEALTH_PORT,
  datastoreTimeoutMs: 90_000,
  drainDelayMs: 10_000,
  /**
   * Issue 16 will have every client node's agent hold a long-lived health stream to each gateway it
   * uses: ~1,000 per gateway on a large cluster. 4096 leaves room for those four times over, plus the
   * kubelet, Prometheus and Felix's polls. Measured in the lab: 15,000 idle connections attempted
   * held RSS at 148 MB and 3,561 descriptors with the bound, against 212 MB and 12,442 without it
   * (docs/reliability.md).
   */
  maxConnections: 4096,
} as const;

/**
 * Reads ICMP_PROBE_*, HTTP_PROBE_*, HEALTH_PORT, HEALTH_HOST, HEALTH_TIMEOUT_DATASTORE and
 * DRAIN_DELAY. `egressHost` (the pod's egress IP) is where the server listens unless HEALTH_HOST
 * says otherwise, as Calico's gateway does; without either, it listens on all addresses.
 */
export function parseHealthConfig(env: Env, flags: HealthFlags = {}, egressHost?: string): HealthConfig {
  const icmp = parseProbe(env, 'ICMP', HEALTH_DEFAULTS.icmpIntervalMs, HEALTH_DEFAULTS.icmpTimeoutMs, parseIcmpTargets);
  const http = parseProbe(env, 'HTTP', HEALTH_DEFAULTS.httpIntervalMs, HEALTH_DEFAULTS.httpTimeoutMs, parseHttpTargets);
  const port = parseIntegerInRange(
    pick(env, 'HEALTH_PORT', { name: '--health-port', value: flags.healthPort }),
    0,
    65535,
    HEALTH_DEFAULTS.port,
  );
  const hostSetting = pick(env, 'HEALTH_HOST', { name: '--health-host', value: flags.healthHost });
  let host = egressHost ?? '0.0.0.0';
  if (hostSetting.value !== undefined) {
    const ip = parseIp(hostSetting.value);
    if (!ip) throw configError(hostSetting.name, hostSetting.value, 'must be an IP address to listen on');
    host = ip.text;
  }
  const datastoreTimeoutMs = parseDurationSetting(
    pick(env, 'HEALTH_TIMEOUT_DATASTORE'),
    HEALTH_DEFAULTS.datastoreTimeoutMs,
    { minMs: 0, maxMs: maxDurationMs },
  );
  const drainDelayMs = parseDurationSetting(pick(env, 'DRAIN_DELAY'), HEALTH_DEFAULTS.drainDelayMs, {
    minMs: 0,
    maxMs: maxDurationMs,
  });
  const maxConnections = parseIntegerInRange(pick(env, 'HEALTH_MAX_CONNECTIONS'), 1, 1_000_000, HEALTH_DEFAULTS.maxConnections);
  return Object.freeze({ icmp, http, port, host, datastoreTimeoutMs, drainDelayMs, maxConnections });
}

function parseProbe<T>(
  env: Env,
  prefix: 'ICMP' | 'HTTP',
  defaultIntervalMs: number,
  defaultTimeoutMs: number,
  parseTargets: (s: RawSetting) => T[],
): ProbeConfig<T> {
  const listName = prefix === 'ICMP' ? 'ICMP_PROBE_IPS' : 'HTTP_PROBE_URLS';
  const targets = parseTargets(pick(env, listName));
  const intervalSetting = pick(env, `${prefix}_PROBE_INTERVAL`);
  const timeoutSetting = pick(env, `${prefix}_PROBE_TIMEOUT`);
  const intervalMs = parseDurationSetting(intervalSetting, defaultIntervalMs, { minMs: minIntervalMs, maxMs: maxDurationMs });
  const timeoutMs = parseDurationSetting(timeoutSetting, defaultTimeoutMs, { minMs: minIntervalMs, maxMs: maxDurationMs });
  // Checked even when no target is set, so a bad pair fails at once rather than when someone adds a target.
  if (timeoutMs < intervalMs) {
    throw configError(
      timeoutSetting.value !== undefined ? timeoutSetting.name : intervalSetting.name,
      timeoutSetting.value !== undefined ? timeoutSetting.value : intervalSetting.value,
      `${prefix}_PROBE_TIMEOUT must be at least ${prefix}_PROBE_INTERVAL, or one lost reply makes the check fail`,
    );
  }
  return Object.freeze({ targets: Object.freeze(targets), intervalMs, timeoutMs });
}

function parseIcmpTargets(s: RawSetting): IpAddress[] {
  const ips = parseIpList(s);
  const seen = new Set<string>();
  return ips.filter((ip) => (seen.has(ip.text) ? false : (seen.add(ip.text), true)));
}

function parseHttpTargets(s: RawSetting): URL[] {
  if (s.value === undefined) return [];
  const seen = new Set<string>();
  const urls: URL[] = [];
  for (const part of s.value.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw configError(s.name, s.value, `"${part}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw configError(s.name, s.value, `"${part}" must use http or https`);
    }
    if (url.hostname === '') throw configError(s.name, s.value, `"${part}" names no host`);
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    urls.push(url);
  }
  return urls;
}
