import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { kernelError } from '../../errors';
import { ipFromBytes, parseIp } from '../../model/ip';
import type { NeighbourCache, NeighbourCacheEntry, NeighbourState, NextHop } from '../ports';

/**
 * The kernel's neighbour cache and route lookup over rtnetlink, through the `netlink` package's
 * request API (RTM_GETROUTE for one destination, RTM_GETNEIGH dumps, RTM_DELNEIGH). Used only
 * when the underlay's carrier comes back, a handful of requests each time, so the package's
 * one-request-at-a-time socket is plenty; the return path's batched session is not involved.
 */

const AF_INET = 2;
const AF_INET6 = 10;
const REQUEST_TIMEOUT_MS = 5000;

/** NUD_* bits, most telling first (an entry has one; a stray combination takes the first). */
const NUD_NAMES: readonly [NeighbourState, number][] = [
  ['permanent', 0x80],
  ['noarp', 0x40],
  ['incomplete', 0x01],
  ['failed', 0x20],
  ['reachable', 0x02],
  ['stale', 0x04],
  ['delay', 0x08],
  ['probe', 0x10],
];

/** The package names the state bits; this gives back the one name the port uses. */
export function neighbourStateName(state: { readonly [k: string]: unknown } | undefined): NeighbourState {
  for (const [name] of NUD_NAMES) if (state?.[name] === true) return name;
  return 'none';
}

/** The package reports a negative ACK as "Request rejected: ENOENT": the errno name is in the text. */
function rejectedWith(err: unknown, ...codes: string[]): boolean {
  const text = err instanceof Error ? err.message : String(err);
  return codes.some((c) => new RegExp(`\\b${c}\\b`).test(text));
}

export class NetlinkNeighbourCache implements NeighbourCache {
  private socket: RtNetlinkSocket | undefined;

  private rt(): RtNetlinkSocket {
    // Opened on first use: a daemon whose carrier never drops never opens it.
    if (!this.socket) {
      const socket = createRtNetlink();
      // An unhandled 'error' would end the process; a request it concerns fails by its own timeout.
      socket.socket.on('error', () => undefined);
      this.socket = socket;
    }
    return this.socket;
  }

  private async indexOf(dev: string): Promise<number> {
    const links = await this.rt().getLink({}, { ifname: dev }, { timeout: REQUEST_TIMEOUT_MS });
    const index = links[0]?.data.index;
    if (index === undefined) throw new Error(`no device named ${dev}`);
    return index;
  }

  private async nameOf(index: number): Promise<string | undefined> {
    const links = await this.rt().getLink({ index }, {}, { timeout: REQUEST_TIMEOUT_MS });
    return links[0]?.attrs.ifname;
  }

  async nextHop(ip: string): Promise<NextHop | undefined> {
    const addr = parseIp(ip);
    if (!addr) throw kernelError(`looking up the route to ${ip}`, new Error('not an IP address'));
    let routes;
    try {
      routes = await this.rt().getRoute(
        { family: addr.family === 4 ? AF_INET : AF_INET6, dstLen: addr.family === 4 ? 32 : 128 },
        { dst: Buffer.from(addr.bytes) },
        { timeout: REQUEST_TIMEOUT_MS },
      );
    } catch (err) {
      if (rejectedWith(err, 'ENETUNREACH', 'EHOSTUNREACH')) return undefined;
      throw kernelError(`looking up the route to ${ip}`, err);
    }
    const route = routes[0];
    if (!route?.attrs.oif) return undefined;
    const dev = await this.nameOf(route.attrs.oif);
    if (dev === undefined) return undefined;
    const gateway = route.attrs.gateway && (route.attrs.gateway.length === 4 || route.attrs.gateway.length === 16) ? ipFromBytes(Uint8Array.from(route.attrs.gateway)).text : undefined;
    return { dev, ip: gateway ?? addr.text };
  }

  async list(dev: string): Promise<NeighbourCacheEntry[]> {
    const doing = `listing the neighbour entries of ${dev}`;
    try {
      const index = await this.indexOf(dev);
      const out: NeighbourCacheEntry[] = [];
      // One family at a time: an AF_UNSPEC dump would bring every bridge FDB entry along too.
      for (const family of [AF_INET, AF_INET6]) {
        for (const n of await this.rt().getNeighbors({ family }, {}, { timeout: REQUEST_TIMEOUT_MS })) {
          if (n.data.ifindex !== index || !n.attrs.dst) continue;
          if (n.attrs.dst.length !== 4 && n.attrs.dst.length !== 16) continue;
          out.push({ dev, ip: ipFromBytes(Uint8Array.from(n.attrs.dst)).text, state: neighbourStateName(n.data.state as Record<string, unknown> | undefined) });
        }
      }
      return out;
    } catch (err) {
      throw kernelError(doing, err);
    }
  }

  async remove(entry: NeighbourCacheEntry): Promise<void> {
    const doing = `deleting the ${entry.state} neighbour entry ${entry.ip} on ${entry.dev}`;
    const addr = parseIp(entry.ip);
    if (!addr) throw kernelError(doing, new Error('not an IP address'));
    try {
      const ifindex = await this.indexOf(entry.dev);
      await this.rt().delNeighbor({ family: addr.family === 4 ? AF_INET : AF_INET6, ifindex }, { dst: Buffer.from(addr.bytes) }, { timeout: REQUEST_TIMEOUT_MS });
    } catch (err) {
      // Resolved or expired meanwhile: what the caller wanted, the entry is not in the way.
      if (rejectedWith(err, 'ENOENT', 'ESRCH')) return;
      throw kernelError(doing, err);
    }
  }

  close(): void {
    this.socket?.socket.close();
    this.socket = undefined;
  }
}
