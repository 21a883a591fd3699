import { kernelError } from '../errors';
import { sysctlKeyPath } from '../kernel/sysctl';
import type { Sysctl, SysctlWatch } from '../kernel/ports';

/**
 * Sysctls as a map. Per-interface keys (net/ipv{4,6}/conf/<dev>/...) exist only while the device
 * does, and until written they read as the "default" entry, as a new device inherits it. As the
 * kernel's netconf group does, `watcher()` hears each forwarding or rp_filter write that changes a
 * value (ip_forward as "all"'s forwarding), and nothing else.
 */
export class FakeSysctl implements Sysctl {
  readonly log: string[] = [];
  private readonly values = new Map<string, string>();
  private readonly listeners = new Set<(what: string) => void>();

  constructor(
    private readonly deviceExists: (name: string) => boolean = () => false,
    initial: Record<string, string> = FakeSysctl.freshNamespace,
  ) {
    for (const [k, v] of Object.entries(initial)) this.values.set(sysctlKeyPath(k), v);
  }

  /** What a new network namespace holds for the keys init cares about. */
  static readonly freshNamespace: Readonly<Record<string, string>> = {
    'net/ipv4/ip_forward': '0',
    'net/ipv4/conf/all/rp_filter': '0',
    'net/ipv4/conf/default/rp_filter': '0',
    'net/ipv6/conf/all/forwarding': '0',
    'net/ipv6/conf/default/forwarding': '0',
    'net/ipv4/conf/all/forwarding': '0',
    'net/ipv4/conf/default/forwarding': '0',
  };

  async get(key: string): Promise<string> {
    const path = sysctlKeyPath(key);
    this.check(path, `reading sysctl ${path}`);
    const own = this.values.get(path);
    if (own !== undefined) return own;
    const inherited = this.values.get(path.replace(/^net\/(ipv[46])\/conf\/[^/]+\//, 'net/$1/conf/default/'));
    if (inherited === undefined) throw kernelError(`reading sysctl ${path}`, enoent());
    return inherited;
  }

  async set(key: string, value: string): Promise<void> {
    const path = sysctlKeyPath(key);
    this.check(path, `setting sysctl ${path} to ${value}`);
    const before = this.values.get(path);
    this.values.set(path, value);
    this.log.push(`${path} = ${value}`);
    // As the kernel does: ip_forward sets the forwarding flag of "all", "default" and every device.
    if (path === 'net/ipv4/ip_forward') {
      for (const k of [...this.values.keys()]) if (/^net\/ipv4\/conf\/[^/]+\/forwarding$/.test(k)) this.values.set(k, value);
    }
    if (before !== value && /^net\/ipv4\/ip_forward$|^net\/ipv[46]\/conf\/[^/]+\/(forwarding|rp_filter)$/.test(path)) {
      for (const l of this.listeners) l(`${path} = ${value}`);
    }
  }

  /** Netconf-like notices of this namespace's forwarding and rp_filter changes. */
  watcher(): SysctlWatch & { watching(): boolean } {
    let listener: ((what: string) => void) | undefined;
    return {
      watch: (h) => {
        listener = (what) => h.onChange(what);
        this.listeners.add(listener);
      },
      close: () => {
        if (listener) this.listeners.delete(listener);
        listener = undefined;
      },
      watching: () => listener !== undefined,
    };
  }

  dump(): string {
    return [...this.values.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('');
  }

  private check(path: string, doing: string): void {
    const dev = /^net\/ipv[46]\/conf\/([^/]+)\//.exec(path)?.[1];
    if (dev !== undefined && dev !== 'all' && dev !== 'default' && !this.deviceExists(dev)) throw kernelError(doing, enoent());
  }
}

function enoent(): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error('no such file or directory');
  e.code = 'ENOENT';
  return e;
}
