import type { FelixRoute, FelixVtep } from '../model/felix';
import { cidrHolds, cidrOf, type Cidr, type Family, type IpAddress } from '../model/ip';
import { clientVtepMac } from '../model/mac';
import { fdbKind, neighbourKind, routeKind, type FdbEntry, type NeighbourEntry, type RouteEntry } from '../model/entries';

/**
 * The return path as a pure function of what Felix told us: no I/O, no clock, and no dependence on
 * the order in which routes arrived (inputs are sorted before anything is decided), so any replay
 * of the same set of updates yields the same kernel state.
 *
 * For each client block on another node (REMOTE_WORKLOAD) with node N at address A:
 *   route     <block> via A dev vxlan0 onlink
 *   neighbour A lladdr mac(N) dev vxlan0            (permanent; mac(N) = clientVtepMac(N))
 *   fdb       mac(N) dev vxlan0 dst D               (permanent)
 * where D, the outer destination of the VXLAN packet, is chosen by the overlay rule:
 *
 * Overlay rule. Pods on an overlay cluster cannot send packets with their own source address
 * across the fabric (cloud networks drop them); only the node's tunnel device can. So when node N
 *   (1) has a known tunnel address T, from its VTEP (vtep_update ipv4_addr / ipv6_addr) or, failing
 *       that, from a REMOTE_TUNNEL host route naming N (VXLAN before IPIP before other tunnels, then
 *       the lowest address), and
 *   (2) at least one of N's client blocks lies in an encapsulated pool (ip_pool_type VXLAN or IPIP,
 *       or tunnel_type vxlan/ipip set),
 * then D = T, and the gateway adds `T/32 dev eth0` (via the pod's default gateway, onlink, when one
 * is configured) so that the VXLAN packet to T goes out of the pod to the host, which tunnels it to N.
 * Without that route T, which lies inside one of N's blocks, would match the block route and the
 * VXLAN packet would loop into vxlan0. Otherwise D = A: the fabric carries pod-sourced packets.
 *
 * The gateway's own LOCAL_WORKLOAD route (its dst holds the gateway's IP) is reported as `self`;
 * it is not a return route. IPv6 routes (dst and node address both IPv6) are programmed only when
 * family 6 is enabled; otherwise they are reported as skipped, never an error.
 *
 * Dual-stack (docs/dual-stack.md). vxlan0 has one underlay family U, that of `gatewayIp` (IPv4
 * when the pod has an IPv4 address): the kernel refuses an FDB destination of the other family
 * (EAFNOSUPPORT). Client blocks of the other family ride inside the same tunnel, so for them
 *   route     <v6 block> via A6 dev vxlan0 onlink        (A6: the node address Felix names)
 *   neighbour A6 lladdr mac(N) dev vxlan0                (an IPv6 neighbour, same MAC)
 *   fdb       mac(N) dev vxlan0 dst D                   (one entry per MAC, D of family U)
 * where D is N's address of family U: its tunnel address by the overlay rule, else the node
 * address of N's own family-U client routes, else the VTEP's parent device address. With none of
 * those known, N's other-family blocks are skipped with a reason until one arrives.
 */
export interface ReturnPathOptions {
  /**
   * The gateway pod's own address that vxlan0 is bound to: the IPv4 egress address, or the IPv6
   * one on an IPv6-only pod. Its family is the underlay family of every FDB entry.
   */
  readonly gatewayIp: IpAddress;
  /** All of the gateway's addresses (default: gatewayIp alone); no client block may hold one. */
  readonly gatewayIps?: readonly IpAddress[];
  /** The gateway's VXLAN device. */
  readonly vxlanDevice: string;
  /** The pod's underlay device, towards the host. */
  readonly underlayDevice: string;
  /** Next hop on the underlay (Calico: 169.254.1.1); absent → a scope-link route relying on proxy ARP. */
  readonly underlayGateway?: IpAddress;
  /** Address families to program; default IPv4 only. */
  readonly families?: ReadonlySet<Family>;
}

export interface DesiredState {
  /** Sorted by key; tunnel (underlay) routes included. */
  readonly routes: readonly RouteEntry[];
  readonly neighbours: readonly NeighbourEntry[];
  readonly fdb: readonly FdbEntry[];
  /** The gateway's own LOCAL_WORKLOAD route, when Felix sent one. */
  readonly self?: { readonly dst: Cidr; readonly node: string };
  /** Routes Felix sent that are not programmed, and why (for logs and status). */
  readonly skipped: readonly { readonly dst: string; readonly reason: string }[];
  /** Node addresses that more than one node claims, and who keeps each (see desiredReturnPath). */
  readonly conflicts: readonly AddressConflict[];
}

/** A node address more than one node claims: one keeps it, the others' blocks are skipped. */
export interface AddressConflict {
  readonly address: string;
  /** The node that keeps the address (its neighbour entry and blocks stay programmed). */
  readonly keptBy: string;
  /** Why that one: it holds the address in the kernel now, or (no claimant does) it is first by name. */
  readonly because: 'incumbent' | 'first by name';
  /** The other claimants, by name, and how many client blocks of each are skipped. */
  readonly refused: readonly { readonly node: string; readonly blocks: number }[];
}

/**
 * Who holds a node address in the kernel now: the MAC of the permanent neighbour entry for it on
 * vxlan0 (what the last pass programmed, or what a kernel read found), undefined when none.
 */
export type IncumbentLookup = (address: IpAddress) => string | undefined;

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The gateway's own addresses, with every prefix that holds one as text: a block holds an own
 * address exactly when its (canonical) text is one of these, so the per-route test is one set
 * lookup instead of reading addresses out of text (the desired state asks it of every block).
 */
export interface OwnAddresses {
  readonly ips: readonly IpAddress[];
  readonly prefixes: ReadonlySet<string>;
}

export function ownAddresses(ips: readonly IpAddress[]): OwnAddresses {
  const prefixes = new Set<string>();
  for (const ip of ips) for (let len = 0; len <= (ip.family === 4 ? 32 : 128); len++) prefixes.add(cidrOf(ip, len).text);
  return { ips, prefixes };
}

function isEncapsulated(r: FelixRoute): boolean {
  return r.ipPoolType === 'vxlan' || r.ipPoolType === 'ipip' || r.tunnel.vxlan || r.tunnel.ipip;
}

function tunnelRank(r: FelixRoute): number {
  if (r.tunnel.vxlan || r.ipPoolType === 'vxlan') return 0;
  if (r.tunnel.ipip || r.ipPoolType === 'ipip') return 1;
  return 2;
}

/** The node's address of `family` from its VTEP: the device its VXLAN tunnel runs on. */
function vtepParentAddress(vtep: FelixVtep | undefined, family: Family): IpAddress | undefined {
  return family === 4 ? vtep?.parentDeviceIp : vtep?.parentDeviceIpv6;
}

/**
 * What every client block of one node shares: the outer destination of the node's FDB entry, and
 * the route to its tunnel address that the overlay rule adds. The node-level rules above, as a
 * function of one node's routes and VTEP alone, in any order: desiredReturnPath takes each node's
 * context from here, and node-parts.ts uses it to tell whether a changed block leaves the rest of
 * its node's entries as they were.
 */
export interface NodeContext {
  /** Undefined when no address of the underlay family is known for the node: its blocks are skipped. */
  readonly outer?: IpAddress;
  /** `T/32 dev eth0` by the overlay rule (outer is then T). */
  readonly tunnelRoute?: RouteEntry;
}

/**
 * `clients`: the node's client blocks (REMOTE_WORKLOAD routes clientSkipReason lets through);
 * `routes`: any of the node's routes, of which the REMOTE_TUNNEL host routes of the underlay family
 * name tunnel addresses.
 */
export function nodeContext(clients: readonly FelixRoute[], routes: Iterable<FelixRoute>, vtep: FelixVtep | undefined, opts: ReturnPathOptions): NodeContext {
  const underlay = opts.gatewayIp.family;
  const hostLength = underlay === 4 ? 32 : 128;
  let tunnel: FelixRoute | undefined;
  for (const r of routes) {
    if (!r.kinds.has('remote_tunnel') || r.dstNodeName === '' || r.dst.family !== underlay || r.dst.prefixLength !== hostLength) continue;
    if (!tunnel || tunnelRank(r) < tunnelRank(tunnel) || (tunnelRank(r) === tunnelRank(tunnel) && r.dst.text < tunnel.dst.text)) tunnel = r;
  }
  // The VTEP names the VXLAN tunnel address directly: it wins over what routes suggest.
  const tunnelIp = (underlay === 4 ? vtep?.ipv4Addr : vtep?.ipv6Addr) ?? tunnel?.dst.address;
  if (tunnelIp && clients.some(isEncapsulated)) {
    const onGateway = opts.underlayGateway && opts.underlayGateway.family === tunnelIp.family ? opts.underlayGateway : undefined;
    const tunnelRoute: RouteEntry = {
      dst: cidrOf(tunnelIp, tunnelIp.family === 4 ? 32 : 128),
      ...(onGateway ? { gateway: onGateway } : {}),
      dev: opts.underlayDevice,
      onlink: onGateway !== undefined,
    };
    return { outer: tunnelIp, tunnelRoute };
  }
  // The node's own address of the underlay family: that of its lowest client block of that
  // family (the same whatever the arrival order), else its VTEP's.
  let first: FelixRoute | undefined;
  for (const c of clients) if (c.dst.family === underlay && (!first || c.dst.text < first.dst.text)) first = c;
  const direct = first?.dstNodeIp ?? vtepParentAddress(vtep, underlay);
  return direct ? { outer: direct } : {};
}

/**
 * Why a REMOTE_WORKLOAD route gets no return path whatever the rest of its node says, or
 * undefined when it is a client block (then dstNodeIp is set). Shared with the per-route update
 * of node-parts.ts, which must agree with this function exactly.
 */
export function clientSkipReason(r: FelixRoute, families: ReadonlySet<Family>, own: OwnAddresses): string | undefined {
  const nodeIp = r.dstNodeIp;
  if (!nodeIp) return 'remote workload route names no node address';
  if (r.dstNodeName === '') return 'remote workload route names no node';
  if (nodeIp.family !== r.dst.family) return `mixed families: dst is IPv${r.dst.family}, node address ${nodeIp.text} is IPv${nodeIp.family}`;
  if (!families.has(r.dst.family)) return `IPv${r.dst.family} return routes are not enabled`;
  if (!own.prefixes.has(r.dst.text)) return undefined;
  const held = own.ips.find((g) => cidrHolds(r.dst, g));
  return `dst holds the gateway's own address ${held?.text ?? '?'}`;
}

/**
 * Two nodes claiming one node address (a replaced node whose old entry lingers, a reused IP, a
 * stale or malformed entry): the node that holds the address in the kernel now keeps it, so a
 * working return path is never taken away by a newcomer; the newcomer's blocks are skipped (and
 * reported as a conflict) until the address is free. Without an incumbent (a first snapshot), the
 * first node by name keeps it, the same whatever the arrival order.
 */
export function desiredReturnPath(
  routesIn: Iterable<FelixRoute>,
  vtepsIn: Iterable<FelixVtep>,
  opts: ReturnPathOptions,
  incumbent?: IncumbentLookup,
  /** ownAddresses(opts' gateway addresses), when the caller keeps it (one call per node). */
  own: OwnAddresses = ownAddresses(opts.gatewayIps ?? [opts.gatewayIp]),
): DesiredState {
  const families = opts.families ?? new Set<Family>([4]);
  const underlay = opts.gatewayIp.family;
  const routes = [...routesIn].sort((a, b) => byText(a.dst.text, b.dst.text));
  const vteps = [...vtepsIn].sort((a, b) => byText(a.node, b.node));
  const skipped: { dst: string; reason: string }[] = [];

  let self: DesiredState['self'];
  for (const r of routes) {
    if (!r.kinds.has('local_workload') || !own.prefixes.has(r.dst.text)) continue;
    // The most specific route naming the gateway describes it best (a /32 over its block).
    // Dual-stack: the block of vxlan0's address wins over the other family's.
    const better =
      !self ||
      (r.dst.family === underlay && self.dst.family !== underlay) ||
      (r.dst.family === self.dst.family && r.dst.prefixLength > self.dst.prefixLength);
    if (better) self = { dst: r.dst, node: r.dstNodeName };
  }

  // Client blocks by node (in dst order within a node), and the tunnel host routes naming a node.
  const clientsByNode = new Map<string, FelixRoute[]>();
  const tunnelRoutesByNode = new Map<string, FelixRoute[]>();
  for (const r of routes) {
    if (r.kinds.has('remote_tunnel') && r.dstNodeName !== '') {
      const list = tunnelRoutesByNode.get(r.dstNodeName);
      if (list) list.push(r);
      else tunnelRoutesByNode.set(r.dstNodeName, [r]);
    }
    if (!r.kinds.has('remote_workload')) continue;
    const reason = clientSkipReason(r, families, own);
    if (reason !== undefined) {
      skipped.push({ dst: r.dst.text, reason });
      continue;
    }
    const list = clientsByNode.get(r.dstNodeName);
    if (list) list.push(r);
    else clientsByNode.set(r.dstNodeName, [r]);
  }

  const routeMap = new Map<string, RouteEntry>();
  const neighMap = new Map<string, NeighbourEntry>();
  const fdbMap = new Map<string, FdbEntry>();

  // Underlay routes first, so that a client /32 that happens to equal a tunnel address loses.
  // Nodes by name, so a clash (two nodes claiming one address) is settled the same way whatever
  // the arrival order; each node's blocks are in dst order already (routes were sorted).
  const vtepOf = new Map(vteps.map((v) => [v.node, v]));
  const nodes = [...clientsByNode.keys()].sort(byText);
  const vxlanDst = new Map<string, IpAddress>();
  for (const node of nodes) {
    const ctx = nodeContext(clientsByNode.get(node) as FelixRoute[], tunnelRoutesByNode.get(node) ?? [], vtepOf.get(node), opts);
    if (ctx.outer) vxlanDst.set(node, ctx.outer);
    if (ctx.tunnelRoute) routeMap.set(routeKind.key(ctx.tunnelRoute), ctx.tunnelRoute);
  }

  // One SHA-1 per node, not per block: a node holds many blocks.
  const macs = new Map<string, string>();
  const macOf = (node: string): string => {
    let mac = macs.get(node);
    if (mac === undefined) macs.set(node, (mac = clientVtepMac(node)));
    return mac;
  };
  // Which nodes claim each node address with a block that would be programmed (almost always one:
  // a string, not a list), then the keeper of each contested one: the claimant whose VTEP MAC the
  // kernel's neighbour entry holds now, else the first by name.
  const claims = new Map<string, { readonly ip: IpAddress; nodes: string | string[] }>();
  for (const node of nodes) {
    if (!vxlanDst.has(node)) continue;
    for (const r of clientsByNode.get(node) as FelixRoute[]) {
      if (routeMap.has(r.dst.text)) continue; // hidden by a tunnel route
      const ip = r.dstNodeIp as IpAddress;
      const claim = claims.get(ip.text);
      if (claim === undefined) claims.set(ip.text, { ip, nodes: node });
      else if (typeof claim.nodes === 'string') {
        if (claim.nodes !== node) claim.nodes = [claim.nodes, node];
      } else if (!claim.nodes.includes(node)) claim.nodes.push(node);
    }
  }
  const keepers = new Map<string, { node: string; because: AddressConflict['because'] }>();
  for (const [address, { ip, nodes }] of claims) {
    if (typeof nodes === 'string') continue;
    const mac = incumbent?.(ip);
    const holder = mac === undefined ? undefined : nodes.find((n) => macOf(n) === mac);
    keepers.set(address, holder !== undefined ? { node: holder, because: 'incumbent' } : { node: [...nodes].sort(byText)[0] as string, because: 'first by name' });
  }
  const refusedBlocks = new Map<string, Map<string, number>>();
  // The neighbour and FDB entry of the node's last programmed block: most blocks of a node share
  // its address, so they are made (and their keys built) once per address rather than per block.
  let last: { node: string; ipText: string } | undefined;
  for (const node of nodes) for (const r of clientsByNode.get(node) as FelixRoute[]) {
    const nodeIp = r.dstNodeIp as IpAddress;
    const outer = vxlanDst.get(r.dstNodeName);
    if (!outer) {
      skipped.push({
        dst: r.dst.text,
        reason: `no IPv${underlay} address known for node ${r.dstNodeName} (vxlan0 runs over IPv${underlay}; none of its routes or its VTEP names one)`,
      });
      continue;
    }
    const route: RouteEntry = { dst: r.dst, gateway: nodeIp, dev: opts.vxlanDevice, onlink: true };
    const rk = routeKind.key(route);
    if (routeMap.has(rk)) {
      skipped.push({ dst: r.dst.text, reason: `dst is the tunnel address of a client node, routed via ${opts.underlayDevice}` });
      continue;
    }
    if (last && last.node === r.dstNodeName && last.ipText === nodeIp.text) {
      // Owned by this node already (set below), with its FDB entry in place.
      routeMap.set(rk, route);
      continue;
    }
    const keeper = keepers.get(nodeIp.text);
    if (keeper !== undefined && keeper.node !== r.dstNodeName) {
      const why = keeper.because === 'incumbent' ? 'which holds it now' : 'first by name; neither holds it now';
      skipped.push({ dst: r.dst.text, reason: `node address ${nodeIp.text} of ${r.dstNodeName} is already used by node ${keeper.node} (${why})` });
      const perNode = refusedBlocks.get(nodeIp.text) ?? new Map<string, number>();
      perNode.set(r.dstNodeName, (perNode.get(r.dstNodeName) ?? 0) + 1);
      refusedBlocks.set(nodeIp.text, perNode);
      continue;
    }
    const mac = macOf(r.dstNodeName);
    const neighbour: NeighbourEntry = { ip: nodeIp, mac, dev: opts.vxlanDevice };
    const nk = neighbourKind.key(neighbour);
    routeMap.set(rk, route);
    neighMap.set(nk, neighbour);
    // One forwarding entry per MAC, whichever family's blocks asked for it.
    const fdb: FdbEntry = { mac, dst: outer, dev: opts.vxlanDevice };
    fdbMap.set(fdbKind.key(fdb), fdb);
    last = { node: r.dstNodeName, ipText: nodeIp.text };
  }

  // Keys are unique, so sorting the keys alone (the built-in string order, no comparator call per
  // step) gives the same order as sorting the entries.
  const sorted = <T>(m: Map<string, T>): T[] => [...m.keys()].sort().map((k) => m.get(k) as T);
  return {
    routes: sorted(routeMap),
    neighbours: sorted(neighMap),
    fdb: sorted(fdbMap),
    ...(self ? { self } : {}),
    skipped,
    conflicts: [...keepers]
      .sort(([a], [b]) => byText(a, b))
      .map(([address, k]) => ({
        address,
        keptBy: k.node,
        because: k.because,
        refused: [...(refusedBlocks.get(address) ?? new Map<string, number>())].sort(([a], [b]) => byText(a, b)).map(([node, blocks]) => ({ node, blocks })),
      })),
  };
}
