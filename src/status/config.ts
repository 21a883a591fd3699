import { configError } from '../errors';
import { pick, type Env } from '../config/env';
import { checkSocketPath } from '../config/socket-path';
import { DEFAULT_STATUS_SOCKET } from '../config/variables';

/**
 * STATUS_SOCKET (or the flag that overrides it): where the daemon serves its status and where
 * `egress-gateway status` asks. Both sides parse it here, so they cannot disagree on the default.
 */
export function parseStatusSocket(env: Env, flag: { name: string; value: string | undefined }): string {
  const setting = pick(env, 'STATUS_SOCKET', flag);
  const path = setting.value ?? DEFAULT_STATUS_SOCKET;
  checkSocketPath(setting, path);
  if (path.endsWith('/')) throw configError(setting.name, setting.value, 'must name a socket file, not a folder');
  return path;
}
