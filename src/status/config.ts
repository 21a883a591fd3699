import { configError } from '../errors';
import { pick, type Env } from '../config/env';
import { DEFAULT_STATUS_SOCKET } from '../config/variables';

/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * STATUS_SOCKET (or the flag that overrides it): where the daemon serves its status and where
 * `egress-gateway status` asks. Both sides parse it here, so they cannot disagree on the default.
 */
export function parseStatusSocket(env: Env, flag: { name: string; value: string | undefined }): string {
  const setting = pick(env, 'STATUS_SOCKET', flag);
  const path = setting.value ?? DEFAULT_STATUS_SOCKET;
  if (!path.startsWith('/')) throw configError(setting.name, setting.value, 'must be an absolute path');
  if (path.endsWith('/')) throw configError(setting.name, setting.value, 'must name a socket file, not a folder');
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw configError(setting.name, setting.value, `is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket path may have`);
  }
  return path;
}
