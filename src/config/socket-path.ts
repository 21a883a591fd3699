import { configError } from '../errors';
import type { RawSetting } from './env';

/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * A Unix socket path taken from a setting (DAEMON_SOCKET_PATH, STATUS_SOCKET or their flags): absolute,
 * and short enough for sun_path. Checked while parsing, so a path the kernel would refuse fails the
 * command with exit status 2 naming the setting, instead of surfacing later as a connect or listen error.
 * `path` is the setting's value, or the default when it is unset.
 */
export function checkSocketPath(setting: RawSetting, path: string): string {
  if (!path.startsWith('/')) throw configError(setting.name, setting.value, 'must be an absolute path');
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw configError(setting.name, setting.value, `is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket path may have`);
  }
  return path;
}
