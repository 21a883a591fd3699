import { IPS_DST_NAT, IPS_SRC_NAT, type ConntrackEvent } from '../kernel/netlink/conntrack';
import type { IpAddress } from '../model/ip';

/**
 * Which conntrack entries are client connections that were tracked without SNAT: forwarded from the
 * tunnel out of the underlay, neither address translated. Conntrack decides a connection's NAT once,
 * on its first packet; a connection whose first packet left while the SNAT was missing (and the
 * fail-safe too: a first packet the fail-safe drops leaves no entry) keeps a "no translation" binding,
 * and the fail-safe drops every later packet of it, after the repair as before. Deleting the entry
 * lets its next packet start a new entry, which the repaired SNAT translates (or the fail-safe drops
 * cleanly if the SNAT is still missing).
 *
 * What a client sees once its entry is deleted: a TCP connect whose SYN went out in the window
 * completes with its next retransmitted SYN (a second or so late) instead of timing out; a UDP flow
 * or a ping goes on, now from the egress address (a new source port: the server sees a new peer); a
 * TCP connection that was established in the window is picked up mid-stream as a new connection from
 * the egress address, which the server does not know, so it answers with a reset and the client
 * sees the connection reset instead of hanging.
 *
 * "Forwarded from the tunnel out of the underlay" is told by the routes, as the fail-safe tells it by
 * the interfaces: the original source routes over the tunnel (a client block's return route) and the
 * original destination over the underlay. So the gateway's own connections (to or from its
 * addresses: health checks, the route feed), replies and anything routed elsewhere are never touched.
 */

export interface StaleFlowScope {
  /** vxlan0: where client traffic comes in. */
  readonly tunnel: string;
  /** eth0: where it leaves. */
  readonly underlay: string;
  /** The pod's own addresses (its egress IPs): an entry with one of them is the gateway's own. */
  readonly ownAddresses: readonly IpAddress[];
}

/** The device the route to `ip` leaves through; undefined without a route. */
export type DeviceLookup = (ip: IpAddress) => Promise<string | undefined>;

/** The entries to delete, in the order given. Route lookups are made once per address, and only for entries that are untranslated and not the gateway's own. */
export async function staleFlows(entries: readonly ConntrackEvent[], scope: StaleFlowScope, deviceOf: DeviceLookup): Promise<ConntrackEvent[]> {
  const own = new Set(scope.ownAddresses.map((a) => a.text));
  const candidates = entries.filter(
    // An entry without its status is not judged (a dump always carries it).
    (e) => e.status !== undefined && (e.status & (IPS_SRC_NAT | IPS_DST_NAT)) === 0 && !own.has(e.orig.src.text) && !own.has(e.orig.dst.text),
  );
  const devices = new Map<string, Promise<string | undefined>>();
  const device = (ip: IpAddress): Promise<string | undefined> => {
    let d = devices.get(ip.text);
    if (!d) {
      d = deviceOf(ip);
      devices.set(ip.text, d);
    }
    return d;
  };
  const out: ConntrackEvent[] = [];
  for (const e of candidates) {
    if ((await device(e.orig.src)) === scope.tunnel && (await device(e.orig.dst)) === scope.underlay) out.push(e);
  }
  return out;
}
