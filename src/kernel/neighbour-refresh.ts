import { describeCause } from '../errors';
import type { NeighbourCache, NeighbourCacheEntry } from './ports';

/**
 * The kernel work of a carrier recovery (../health/carrier.ts says when and why): find the probe
 * targets' next hops on the underlay device and delete their unresolved neighbour entries, so the
 * next packet to each starts a fresh ARP/NDP resolution at once instead of waiting out the
 * retransmit time. Never a resolved, PERMANENT or NOARP entry, never another device's.
 */

/** The entries to delete: unresolved, on `device`, for one of `nextHops`. Pure, for tests. */
export function neighboursToRefresh(entries: readonly NeighbourCacheEntry[], device: string, nextHops: ReadonlySet<string>): NeighbourCacheEntry[] {
  return entries.filter((e) => e.dev === device && (e.state === 'incomplete' || e.state === 'failed') && nextHops.has(e.ip));
}

/** What one refresh did: the next hops on the device, the entries deleted ("ip (state)"), and what failed. */
export interface NeighbourRefresh {
  readonly nextHops: readonly string[];
  readonly deleted: readonly string[];
  readonly errors: readonly string[];
}

/** Looks the next hops up now (a route may have changed while the link was down) and deletes what is in the way. */
export async function refreshUnresolvedNextHops(cache: NeighbourCache, device: string, targets: readonly string[]): Promise<NeighbourRefresh> {
  const errors: string[] = [];
  const nextHops = new Set<string>();
  await Promise.all(
    targets.map(async (target) => {
      try {
        const hop = await cache.nextHop(target);
        if (hop && hop.dev === device) nextHops.add(hop.ip);
      } catch (err) {
        errors.push(describeCause(err));
      }
    }),
  );
  const deleted: string[] = [];
  if (nextHops.size > 0) {
    try {
      for (const entry of neighboursToRefresh(await cache.list(device), device, nextHops)) {
        try {
          await cache.remove(entry);
          deleted.push(`${entry.ip} (${entry.state})`);
        } catch (err) {
          errors.push(describeCause(err));
        }
      }
    } catch (err) {
      errors.push(describeCause(err));
    }
  }
  return { nextHops: [...nextHops].sort(), deleted, errors };
}
