import { configError } from '../errors';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../model/ip';

/** Where configuration comes from: the environment, overridden by flags of the same meaning. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * One setting's raw value: the flag when given, else the variable, else undefined.
 * `name` is what error messages call it (the variable, or `--flag` when that is where it came from).
 */
export interface RawSetting {
  readonly name: string;
  readonly value: string | undefined;
}

export function pick(env: Env, variable: string, flag?: { name: string; value: string | undefined }): RawSetting {
  if (flag && flag.value !== undefined) return { name: flag.name, value: flag.value };
  const v = env[variable];
  return { name: variable, value: v === undefined || v.trim() === '' ? undefined : v.trim() };
}

export function parseIntegerInRange(s: RawSetting, min: number, max: number, fallback: number): number {
  if (s.value === undefined) return fallback;
  if (!/^\d+$/.test(s.value)) throw configError(s.name, s.value, `must be a whole number from ${min} to ${max}`);
  const n = Number(s.value);
  if (n < min || n > max) throw configError(s.name, s.value, `must be from ${min} to ${max}`);
  return n;
}

export function parseChoice<T extends string>(s: RawSetting, choices: readonly T[], fallback: T): T {
  if (s.value === undefined) return fallback;
  const v = s.value.toLowerCase();
  const found = choices.find((c) => c === v);
  if (!found) throw configError(s.name, s.value, `must be one of ${choices.join(', ')}`);
  return found;
}

/** A comma-separated list whose every entry must parse; `what` names an entry in the error. */
function parseList<T>(s: RawSetting, what: string, parse: (part: string) => T | undefined): T[] {
  if (s.value === undefined) return [];
  return s.value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const v = parse(part);
      if (v === undefined) throw configError(s.name, s.value, `"${part}" is not ${what}`);
      return v;
    });
}

/** A comma-separated list of IP addresses; every entry must parse. */
export function parseIpList(s: RawSetting): IpAddress[] {
  return parseList(s, 'an IP address', parseIp);
}

/** A comma-separated list of CIDRs ("addr/len"; a bare address is a host prefix); every entry must parse. */
export function parseCidrList(s: RawSetting): Cidr[] {
  return parseList(s, 'a CIDR', parseCidr);
}

export interface EgressAddresses {
  /** The IPv4 egress address (SNAT source, vxlan0 MAC, VTEP); undefined on an IPv6-only pod. */
  readonly ipv4?: IpAddress;
  readonly ipv6?: IpAddress;
}

/** Where the egress addresses come from: --pod-ip, else EGRESS_POD_IPS, else EGRESS_POD_IP (for messages that name it). */
export function egressSetting(env: Env, flag?: { name: string; value: string | undefined }): RawSetting {
  const many = pick(env, 'EGRESS_POD_IPS', flag);
  return many.value !== undefined ? many : pick(env, 'EGRESS_POD_IP');
}

/**
 * The pod's egress addresses from EGRESS_POD_IPS (comma list, as the downward API's
 * status.podIPs renders) or EGRESS_POD_IP. The first address of each family wins.
 */
export function parseEgressAddresses(env: Env, flag?: { name: string; value: string | undefined }): EgressAddresses {
  const source = egressSetting(env, flag);
  if (source.value === undefined) {
    throw configError('EGRESS_POD_IP', undefined, 'is required (the pod IP from the downward API, status.podIP)');
  }
  const ips = parseIpList(source);
  const ipv4 = ips.find((ip) => ip.family === 4);
  const ipv6 = ips.find((ip) => ip.family === 6);
  if (!ipv4 && !ipv6) throw configError(source.name, source.value, 'names no IP address');
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
}
