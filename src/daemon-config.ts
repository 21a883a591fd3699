import { parseAuditConfig, type AuditConfig } from './audit/config';
import { parseGatewaySettings, type GatewaySettings, type StartFlags } from './config/daemon-config';
import type { Env } from './config/env';
import { parseStatusSocket } from './status/config';

export type { StartFlags } from './config/daemon-config';

/**
 * Everything `start` needs, validated and frozen before anything runs: the gateway's own settings
 * (src/config/) and those of the features the daemon wires in, each parsed by its own folder, so
 * that src/config/ depends on no feature.
 */
export interface DaemonConfig extends GatewaySettings {
  /** The local Unix socket `egress-gateway status` reads (STATUS_SOCKET). */
  readonly statusSocket: string;
  /** The SNAT audit log (AUDIT_LOG); absent = off, the default. */
  readonly audit?: AuditConfig;
}

export function parseDaemonConfig(env: Env, flags: StartFlags = {}): DaemonConfig {
  const settings = parseGatewaySettings(env, flags);
  const statusSocket = parseStatusSocket(env, { name: '--status-socket', value: flags.statusSocket });
  const audit = parseAuditConfig(env);
  return Object.freeze({ ...settings, statusSocket, ...(audit ? { audit } : {}) });
}
