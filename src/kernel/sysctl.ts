import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kernelError } from '../errors';
import type { Sysctl } from './ports';

/**
 * Sysctls through /proc/sys of the network namespace the process runs in (the pod's, for the
 * init container). `root` is only changed by tests.
 */
export class ProcSysctl implements Sysctl {
  constructor(private readonly root = '/proc/sys') {}

  async get(key: string): Promise<string> {
    const path = this.pathOf(key);
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch (err) {
      throw kernelError(`reading sysctl ${sysctlKeyPath(key)}`, err);
    }
  }

  async set(key: string, value: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await writeFile(path, `${value}\n`);
    } catch (err) {
      throw kernelError(`setting sysctl ${sysctlKeyPath(key)} to ${value}`, err);
    }
  }

  private pathOf(key: string): string {
    return join(this.root, sysctlKeyPath(key));
  }
}

/**
 * "net.ipv4.ip_forward" or "net/ipv4/ip_forward" → "net/ipv4/ip_forward". A key with a slash is
 * taken as slashed already, so interface names with dots ("conf/eth0.10/rp_filter") survive.
 * Rejects anything that could leave /proc/sys.
 */
export function sysctlKeyPath(key: string): string {
  const path = key.includes('/') ? key : key.split('.').join('/');
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new RangeError(`not a sysctl key: ${JSON.stringify(key)}`);
  return path;
}
