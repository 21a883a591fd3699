import type { IpAddress } from '../model/ip';
import type { Level } from 'pino';
import { parseDurationSetting } from './duration';
import { parseEgressAddresses, pick, type Env } from './env';
import { parseHealthConfig, type HealthConfig } from './health-config';
import { parseBackendSettings, parseInterface, parseLogLevel, parseVxlanSettings, type Dataplane, type IptablesVariant } from './init-config';
import { checkSocketPath } from './socket-path';
import { DEFAULT_SOCKET_PATH } from './variables';

/** Flags of `egress-gateway start`; each overrides the variable of the same meaning. */
export interface StartFlags {
  readonly socketPath?: string;
  readonly podIp?: string;
  readonly healthPort?: string;
  readonly healthHost?: string;
  readonly resyncInterval?: string;
  readonly logSeverity?: string;
  readonly statusSocket?: string;
  readonly vni?: string;
  readonly vxlanPort?: string;
  readonly interface?: string;
  readonly dataplane?: string;
  readonly iptablesBackend?: string;
}

/**
 * The gateway's own settings for `start`, validated and frozen before anything runs. The daemon
 * adds the feature folders' own settings (status socket, audit log) to these: ../daemon-config.ts.
 */
export interface GatewaySettings {
  readonly socketPath: string;
  readonly egressIpv4?: IpAddress;
  readonly egressIpv6?: IpAddress;
  /** The VXLAN device init created; return routes go out through it. */
  readonly vxlanDevice: string;
  /** The pod's underlay device (EGRESS_INTERFACE, as init was given it): vxlan0's parent; tunnel-address routes leave through it. */
  readonly underlayDevice: string;
  readonly resyncIntervalMs: number;
  /** vxlan0's id and port, as init was given them: the daemon re-creates vxlan0 with them when it goes. */
  readonly vxlanVni: number;
  readonly vxlanPort: number;
  readonly logLevel: Level;
  readonly health: HealthConfig;
  /** DATAPLANE and IPTABLES_BACKEND when set: which backend holds init's ruleset (else found in the kernel). */
  readonly dataplane?: Dataplane;
  readonly iptablesVariant?: IptablesVariant;
}

export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;

export function parseGatewaySettings(env: Env, flags: StartFlags = {}): GatewaySettings {
  const addrs = parseEgressAddresses(env, { name: '--pod-ip', value: flags.podIp });
  const socket = pick(env, 'DAEMON_SOCKET_PATH', { name: '--socket-path', value: flags.socketPath });
  const socketPath = checkSocketPath(socket, socket.value ?? DEFAULT_SOCKET_PATH);
  const resyncIntervalMs = parseDurationSetting(
    pick(env, 'RESYNC_INTERVAL', { name: '--resync-interval', value: flags.resyncInterval }),
    DEFAULT_RESYNC_INTERVAL_MS,
    { minMs: 1_000, maxMs: 24 * 3_600_000 },
  );
  const { vni: vxlanVni, vxlanPort } = parseVxlanSettings(env, flags);
  const underlayDevice = parseInterface(env, flags.interface);
  const logLevel = parseLogLevel(env, flags.logSeverity);
  const egress = addrs.ipv4 ?? addrs.ipv6;
  const health = parseHealthConfig(env, { healthPort: flags.healthPort, healthHost: flags.healthHost }, egress?.text);
  const backend = parseBackendSettings(env, flags);
  return {
    ...backend,
    socketPath,
    ...(addrs.ipv4 ? { egressIpv4: addrs.ipv4 } : {}),
    ...(addrs.ipv6 ? { egressIpv6: addrs.ipv6 } : {}),
    vxlanDevice: 'vxlan0',
    underlayDevice,
    resyncIntervalMs,
    vxlanVni,
    vxlanPort,
    logLevel,
    health,
  };
}
