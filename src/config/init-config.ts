import type pino from 'pino';
import { configError } from '../errors';
import type { IpAddress } from '../model/ip';
import { logLevelFor, LOG_SEVERITIES } from '../observability/logger';
import { parseChoice, parseEgressAddresses, parseIntegerInRange, pick, type Env } from './env';

/** Flags of `egress-gateway init`; each overrides the environment variable of the same meaning. */
export interface InitFlags {
  podIp?: string;
  vni?: string;
  vxlanPort?: string;
  iptablesBackend?: string;
  dataplane?: string;
  interface?: string;
  logSeverity?: string;
  dryRun?: boolean;
}

export type Dataplane = 'iptables' | 'nftables';
/** Which iptables binaries to drive; `undefined` in the config means "detect". */
export type IptablesVariant = 'legacy' | 'nft';

export interface InitConfig {
  /**
   * The address vxlan0 is bound to and named after (its local address and MAC): the IPv4 egress
   * address, or the IPv6 one on an IPv6-only pod. Also the SNAT source of its own family.
   */
  readonly egressIp: IpAddress;
  /** The IPv6 egress address: SNAT source for IPv6 (equal to egressIp on an IPv6-only pod). */
  readonly egressIpv6?: IpAddress;
  readonly vni: number;
  readonly vxlanPort: number;
  readonly dataplane: Dataplane;
  /** Only meaningful for the iptables dataplane; undefined = detect from what the kernel holds. */
  readonly iptablesVariant?: IptablesVariant;
  /** The pod's underlay interface (EGRESS_INTERFACE, eth0 by default), parent of vxlan0 and where SNAT applies. */
  readonly underlay: string;
  readonly logLevel: pino.Level;
  readonly dryRun: boolean;
  /**
   * AUDIT_LOG is set for the daemon: init turns on conntrack accounting and timestamps, which the
   * unprivileged daemon container cannot write (/proc/sys is read-only there). Read by the audit
   * folder's parser (../init/config.ts adds it); false here.
   */
  readonly conntrackAccounting: boolean;
}

export const INIT_DEFAULTS = {
  vni: 4097,
  vxlanPort: 4790,
  dataplane: 'iptables',
  underlay: 'eth0',
  logLevel: 'info',
} as const;

/** VXLAN network identifiers are 24 bits; 0 is reserved by convention. */
const maxVni = 16_777_215;

/**
 * Reads EGRESS_POD_IP(S), EGRESS_VXLAN_VNI, EGRESS_VXLAN_PORT, IPTABLES_BACKEND, DATAPLANE,
 * EGRESS_INTERFACE and LOG_SEVERITY, with flags taking precedence. Pure: every error is thrown
 * before anything touches the kernel, and names the variable (or flag) and the value it had.
 */
export function parseInitConfig(env: Env, flags: InitFlags = {}): InitConfig {
  const addrs = parseEgressAddresses(env, { name: '--pod-ip', value: flags.podIp });
  // parseEgressAddresses guarantees one of them. IPv4 wins for vxlan0 when both exist: client
  // nodes' Felix tunnels to the gateway's IPv4 address and derives its MAC from it, and IPv6
  // traffic rides inside the same IPv4 tunnel (docs/dual-stack.md).
  const vxlanIp = addrs.ipv4 ?? addrs.ipv6;
  if (!vxlanIp) throw configError('EGRESS_POD_IP', undefined, 'names no IP address');
  const { vni, vxlanPort } = parseVxlanSettings(env, flags);
  const backend = parseBackendSettings(env, flags);
  const dataplane = backend.dataplane ?? INIT_DEFAULTS.dataplane;
  const iptablesVariant = backend.iptablesVariant;
  const underlay = parseInterface(env, flags.interface);
  const logLevel = parseLogLevel(env, flags.logSeverity);
  return Object.freeze({
    egressIp: vxlanIp,
    ...(addrs.ipv6 ? { egressIpv6: addrs.ipv6 } : {}),
    vni,
    vxlanPort,
    dataplane,
    ...(iptablesVariant ? { iptablesVariant } : {}),
    underlay,
    logLevel,
    dryRun: flags.dryRun === true,
    conntrackAccounting: false,
  });
}

/**
 * DATAPLANE and IPTABLES_BACKEND (or --dataplane, --iptables-backend) as given: undefined when unset.
 * Init falls back to its defaults; the daemon looks where init wrote the rules (src/init/backend.ts).
 */
export function parseBackendSettings(env: Env, flags: { dataplane?: string; iptablesBackend?: string }): { dataplane?: Dataplane; iptablesVariant?: IptablesVariant } {
  const dataplaneSetting = pick(env, 'DATAPLANE', { name: '--dataplane', value: flags.dataplane });
  const dataplane = dataplaneSetting.value === undefined ? undefined : parseChoice<Dataplane>(dataplaneSetting, ['iptables', 'nftables'], INIT_DEFAULTS.dataplane);
  const backendSetting = pick(env, 'IPTABLES_BACKEND', { name: '--iptables-backend', value: flags.iptablesBackend });
  // Checked even under DATAPLANE=nftables: a typo should not hide until someone switches back.
  const iptablesVariant =
    backendSetting.value === undefined ? undefined : parseChoice<IptablesVariant>(backendSetting, ['legacy', 'nft'], 'nft');
  return { ...(dataplane ? { dataplane } : {}), ...(iptablesVariant ? { iptablesVariant } : {}) };
}

/** EGRESS_VXLAN_VNI and EGRESS_VXLAN_PORT (or --vni, --vxlan-port): read by init, and by the daemon to re-create vxlan0. */
export function parseVxlanSettings(env: Env, flags: { vni?: string; vxlanPort?: string }): { vni: number; vxlanPort: number } {
  const vni = parseIntegerInRange(pick(env, 'EGRESS_VXLAN_VNI', { name: '--vni', value: flags.vni }), 1, maxVni, INIT_DEFAULTS.vni);
  const vxlanPort = parseIntegerInRange(
    pick(env, 'EGRESS_VXLAN_PORT', { name: '--vxlan-port', value: flags.vxlanPort }),
    1,
    65535,
    INIT_DEFAULTS.vxlanPort,
  );
  return { vni, vxlanPort };
}

/** LOG_SEVERITY (or --log-severity) as a pino level; unset = info. Shared by init and the daemon. */
export function parseLogLevel(env: Env, flag: string | undefined): pino.Level {
  const severity = pick(env, 'LOG_SEVERITY', { name: '--log-severity', value: flag });
  if (severity.value === undefined) return INIT_DEFAULTS.logLevel;
  const level = logLevelFor(severity.value);
  if (!level) throw configError(severity.name, severity.value, `must be one of ${LOG_SEVERITIES.join(', ')}`);
  return level;
}

/**
 * EGRESS_INTERFACE (or --interface): the pod's underlay device. Init makes it vxlan0's parent and
 * the SNAT rules' output interface; the daemon re-creates vxlan0 on it and routes tunnel addresses
 * through it. One parser for both, so the two cannot disagree on the default or on what is valid.
 *
 * Interface names end up inside ruleset text, so only what Linux allows and nothing that could
 * change the meaning of a rule: at most 15 characters of letters, digits, '_', '-', '.'.
 */
export function parseInterface(env: Env, flag: string | undefined): string {
  const setting = pick(env, 'EGRESS_INTERFACE', { name: '--interface', value: flag });
  if (setting.value === undefined) return INIT_DEFAULTS.underlay;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(setting.value) || setting.value === '.' || setting.value === '..') {
    throw configError(setting.name, setting.value, 'must be an interface name: 1 to 15 letters, digits, "_", "-" or "."');
  }
  return setting.value;
}
