import { kernelError } from '../../errors';
import { parseIp } from '../../model/ip';
import type { NeighbourCache, NeighbourCacheEntry, NeighbourState, NextHop } from '../ports';
import { decodeLink, decodeRoute, familyCode, linkPayload, neighbourPayload, routeLookupPayload } from './codec';
import {
  AF_INET,
  AF_INET6,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  RTM_DELNEIGH,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
} from './constants';
import { dumpNeighbours } from './return-path';
import { NetlinkError, NetlinkSession } from './session';

/**
 * The kernel's neighbour cache and route lookup over rtnetlink (RTM_GETROUTE for one destination,
 * RTM_GETNEIGH dumps, RTM_DELNEIGH), on the project's session. Used only when the underlay's
 * carrier comes back, a handful of requests each time, on a socket of its own opened on first use.
 */

const REQUEST_TIMEOUT_MS = 5000;

/** NUD_* bits, most telling first (an entry has one; a stray combination takes the first). */
const NUD_NAMES: readonly [NeighbourState, number][] = [
  ['permanent', NUD_PERMANENT],
  ['noarp', NUD_NOARP],
  ['incomplete', NUD_INCOMPLETE],
  ['failed', NUD_FAILED],
  ['reachable', NUD_REACHABLE],
  ['stale', NUD_STALE],
  ['delay', NUD_DELAY],
  ['probe', NUD_PROBE],
];

/** The one name the port uses for a NUD_* state. */
export function neighbourStateName(state: number): NeighbourState {
  for (const [name, bit] of NUD_NAMES) if (state & bit) return name;
  return 'none';
}

function rejectedWith(err: unknown, ...codes: string[]): boolean {
  return err instanceof NetlinkError && codes.includes(err.code);
}

export class NetlinkNeighbourCache implements NeighbourCache {
  private session: NetlinkSession | undefined;

  private rt(): NetlinkSession {
    // Opened on first use: a daemon whose carrier never drops never opens it.
    this.session ??= new NetlinkSession({ timeoutMs: REQUEST_TIMEOUT_MS, recvBufferSize: 256 * 1024 });
    return this.session;
  }

  private async indexOf(dev: string): Promise<number> {
    for (const r of await this.rt().query(RTM_GETLINK, 0, linkPayload({ name: dev }), `RTM_GETLINK ${dev}`)) {
      const link = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
      if (link) return link.index;
    }
    throw new Error(`no device named ${dev}`);
  }

  private async nameOf(index: number): Promise<string | undefined> {
    for (const r of await this.rt().query(RTM_GETLINK, 0, linkPayload({ index }), `RTM_GETLINK #${index}`)) {
      const link = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
      if (link) return link.name;
    }
    return undefined;
  }

  async nextHop(ip: string): Promise<NextHop | undefined> {
    const addr = parseIp(ip);
    if (!addr) throw kernelError(`looking up the route to ${ip}`, new Error('not an IP address'));
    let route;
    try {
      const replies = await this.rt().query(RTM_GETROUTE, 0, routeLookupPayload(addr), `RTM_GETROUTE ${ip}`);
      const reply = replies.find((r) => r.type === RTM_NEWROUTE);
      route = reply ? decodeRoute(reply.data) : undefined;
    } catch (err) {
      if (rejectedWith(err, 'ENETUNREACH', 'EHOSTUNREACH')) return undefined;
      throw kernelError(`looking up the route to ${ip}`, err);
    }
    if (route?.oif === undefined) return undefined;
    const dev = await this.nameOf(route.oif);
    if (dev === undefined) return undefined;
    return { dev, ip: route.gateway?.text ?? addr.text };
  }

  async list(dev: string): Promise<NeighbourCacheEntry[]> {
    try {
      const index = await this.indexOf(dev);
      const out: NeighbourCacheEntry[] = [];
      // One family at a time: an AF_UNSPEC dump would bring every bridge FDB entry along too.
      for (const family of [AF_INET, AF_INET6]) {
        for (const n of await dumpNeighbours(this.rt(), family)) {
          if (n.ifindex !== index || !n.dst) continue;
          out.push({ dev, ip: n.dst.text, state: neighbourStateName(n.state) });
        }
      }
      return out;
    } catch (err) {
      throw kernelError(`listing the neighbour entries of ${dev}`, err);
    }
  }

  async remove(entry: NeighbourCacheEntry): Promise<void> {
    const doing = `deleting the ${entry.state} neighbour entry ${entry.ip} on ${entry.dev}`;
    const addr = parseIp(entry.ip);
    if (!addr) throw kernelError(doing, new Error('not an IP address'));
    try {
      const ifindex = await this.indexOf(entry.dev);
      await this.rt().request(RTM_DELNEIGH, 0, neighbourPayload({ family: familyCode(addr.family), ifindex, dst: addr }), doing);
    } catch (err) {
      // Resolved or expired meanwhile: what the caller wanted, the entry is not in the way.
      if (rejectedWith(err, 'ENOENT', 'ESRCH')) return;
      throw kernelError(doing, err);
    }
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
