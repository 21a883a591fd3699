import type { NeighbourCache, NeighbourCacheEntry, NeighbourState, NextHop } from '../kernel/ports';

/**
 * A neighbour cache and route lookup in memory, for tests: `routeVia` says where a destination
 * goes, `setEntry` puts an entry in the cache, and `dump()` prints the cache as `ip neigh` would,
 * followed by what was deleted, in order.
 */
export class FakeNeighbourCache implements NeighbourCache {
  private readonly entries = new Map<string, NeighbourCacheEntry>();
  private readonly routes = new Map<string, NextHop>();
  readonly deleted: string[] = [];
  /** Set to make the next calls of that kind fail. */
  failing: { nextHop?: Error; list?: Error; remove?: Error } = {};

  /** Packets for `dst` leave through `dev` to `via` (default: `dst` itself, on-link). */
  routeVia(dst: string, dev: string, via?: string): void {
    this.routes.set(dst, { dev, ip: via ?? dst });
  }

  setEntry(dev: string, ip: string, state: NeighbourState): void {
    this.entries.set(`${dev} ${ip}`, { dev, ip, state });
  }

  async nextHop(ip: string): Promise<NextHop | undefined> {
    if (this.failing.nextHop) throw this.failing.nextHop;
    return this.routes.get(ip);
  }

  async list(dev: string): Promise<NeighbourCacheEntry[]> {
    if (this.failing.list) throw this.failing.list;
    return [...this.entries.values()].filter((e) => e.dev === dev);
  }

  async remove(entry: NeighbourCacheEntry): Promise<void> {
    if (this.failing.remove) throw this.failing.remove;
    const key = `${entry.dev} ${entry.ip}`;
    if (this.entries.delete(key)) this.deleted.push(`${entry.ip} dev ${entry.dev} (${entry.state})`);
  }

  dump(): string {
    const lines = [...this.entries.values()]
      .sort((a, b) => (a.dev === b.dev ? a.ip.localeCompare(b.ip) : a.dev.localeCompare(b.dev)))
      .map((e) => `${e.ip} dev ${e.dev} ${e.state.toUpperCase()}`);
    return `neighbours:\n${lines.join('\n')}\ndeleted:\n${this.deleted.join('\n')}\n`;
  }
}
