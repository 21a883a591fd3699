import { parseAuditDestination } from '../audit/config';
import type { Env } from '../config/env';
import { parseInitConfig as parseInitSettings, type InitConfig, type InitFlags } from '../config/init-config';

/**
 * `init`'s whole configuration: its own settings (src/config/) and whether the audit log is on,
 * which the audit folder parses. Only on/off matters to init, but a value the daemon would refuse
 * is refused here too, before any change.
 */
export function initConfigFrom(env: Env, flags: InitFlags = {}): InitConfig {
  const settings = parseInitSettings(env, flags);
  return Object.freeze({ ...settings, conntrackAccounting: parseAuditDestination(env) !== undefined });
}
