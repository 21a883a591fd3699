import type { FelixRoute, FelixVtep, IpPoolType, RouteKind } from '../model/felix';
import { cidrHolds, cidrOf, type Cidr, type IpAddress } from '../model/ip';
import type { BlockInfo, NodeInfo, PodInfo, PoolInfo } from './cluster';

/**
 * What the gateways on this node must be told, in PolicySync's terms (what Enterprise Felix sends an
 * l3-routes subscriber), as a pure function of the cluster's IPAM blocks, IP pools and nodes:
 *
 * - every IPAM block, as REMOTE_WORKLOAD with the node it is affine to (name and address of the
 *   block's family): the gateway returns replies for the whole block to that node over VXLAN. Blocks
 *   of this node are sent the same way: a client on the gateway's own node is still reached through
 *   its node's egress.calico (a reply straight out of the gateway's veth would fail Felix's RPF check
 *   on the client's side and skip the node's VXLAN path);
 * - every address borrowed from a block (its allocation names another node) as a /32 (/128)
 *   REMOTE_WORKLOAD with `borrowed` and the node it really lives on: longest prefix wins over the block;
 * - a block that holds a local gateway's own address cannot be sent whole (the gateway refuses a
 *   client route holding its own address): each of its other allocations goes as a host route instead;
 * - each local gateway's own address as a LOCAL_WORKLOAD host route (the gateway recognises itself);
 * - where the cluster has an overlay: each node's tunnel address as REMOTE_TUNNEL, and a VTEP per
 *   node with a VXLAN tunnel (address, MAC, parent = node address), so the gateway can apply its
 *   overlay rule.
 * A route needs its node's address; blocks of nodes whose address is not known are left out until
 * it is (`skipped` says which).
 */
export interface RouteFeedInputs {
  readonly nodeName: string;
  /** Gateway pods running on this node. */
  readonly localGateways: Iterable<PodInfo>;
  readonly nodes: ReadonlyMap<string, NodeInfo>;
  readonly blocks: Iterable<BlockInfo>;
  readonly pools: Iterable<PoolInfo>;
}

export interface RouteFeed {
  readonly routes: readonly FelixRoute[];
  readonly vteps: readonly FelixVtep[];
  readonly skipped: readonly { readonly dst: string; readonly reason: string }[];
}

const NO_TUNNEL = { ipip: false, vxlan: false, wireguard: false } as const;

function route(dst: Cidr, kind: RouteKind, node: NodeInfo, nodeIp: IpAddress, pool: PoolInfo | undefined, extra: Partial<FelixRoute> = {}): FelixRoute {
  return {
    dst,
    kinds: new Set<RouteKind>([kind]),
    ipPoolType: poolType(pool),
    dstNodeName: node.name,
    dstNodeIp: nodeIp,
    sameSubnet: false,
    natOutgoing: pool?.natOutgoing ?? false,
    localWorkload: kind === 'local_workload',
    borrowed: false,
    tunnel: NO_TUNNEL,
    ...extra,
  };
}

function poolType(pool: PoolInfo | undefined): IpPoolType {
  if (!pool) return 'none';
  if (pool.vxlanMode !== 'Never') return 'vxlan';
  if (pool.ipipMode !== 'Never') return 'ipip';
  return 'no_encap';
}

const hostCidr = (ip: IpAddress): Cidr => cidrOf(ip, ip.family === 4 ? 32 : 128);

export function computeRouteFeed(inputs: RouteFeedInputs): RouteFeed {
  const pools = [...inputs.pools].sort((a, b) => b.cidr.prefixLength - a.cidr.prefixLength);
  const poolOf = (ip: IpAddress): PoolInfo | undefined => pools.find((p) => cidrHolds(p.cidr, ip));
  const gatewayIps = [...inputs.localGateways].flatMap((g) => g.ips);
  const routes = new Map<string, FelixRoute>();
  const skipped: { dst: string; reason: string }[] = [];
  const addressOf = (name: string | undefined, family: 4 | 6): { node: NodeInfo; ip: IpAddress } | string => {
    if (!name) return 'no node';
    const node = inputs.nodes.get(name);
    if (!node) return `node ${name} not known`;
    const ip = family === 4 ? node.ipv4 : node.ipv6;
    if (!ip) return `node ${name} has no IPv${family} address`;
    return { node, ip };
  };
  const put = (r: FelixRoute): void => {
    routes.set(r.dst.text, r);
  };

  const blocks = [...inputs.blocks].sort((a, b) => (a.cidr.text < b.cidr.text ? -1 : 1));
  for (const block of blocks) {
    const pool = poolOf(block.cidr.address);
    const holdsGateway = gatewayIps.some((ip) => cidrHolds(block.cidr, ip));
    const owner = addressOf(block.node, block.cidr.family);
    if (!holdsGateway && block.node !== undefined) {
      if (typeof owner === 'string') skipped.push({ dst: block.cidr.text, reason: owner });
      else put(route(block.cidr, 'remote_workload', owner.node, owner.ip, pool));
    }
    for (const a of block.allocations) {
      if (gatewayIps.some((g) => g.text === a.ip.text)) continue;
      const node = a.node ?? block.node;
      const borrowed = block.node !== undefined && node !== block.node;
      // Addresses a whole-block route already covers correctly need no host route.
      if (!holdsGateway && !borrowed && block.node !== undefined) continue;
      const at = addressOf(node, a.ip.family);
      if (typeof at === 'string') {
        skipped.push({ dst: hostCidr(a.ip).text, reason: at });
        continue;
      }
      put(route(hostCidr(a.ip), 'remote_workload', at.node, at.ip, pool, { borrowed }));
    }
  }

  const self = inputs.nodes.get(inputs.nodeName);
  for (const g of inputs.localGateways) {
    for (const ip of g.ips) {
      const nodeIp = ip.family === 4 ? self?.ipv4 : self?.ipv6;
      if (!self || !nodeIp) {
        skipped.push({ dst: hostCidr(ip).text, reason: `this node (${inputs.nodeName}) has no IPv${ip.family} address yet` });
        continue;
      }
      put(route(hostCidr(ip), 'local_workload', self, nodeIp, poolOf(ip)));
    }
  }

  const vteps: FelixVtep[] = [];
  for (const node of [...inputs.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const tunnels: [IpAddress | undefined, IpAddress | undefined, 'vxlan' | 'ipip'][] = [
      [node.vxlanTunnelIpv4, node.ipv4, 'vxlan'],
      [node.vxlanTunnelIpv6, node.ipv6, 'vxlan'],
      [node.ipipTunnelIpv4, node.ipv4, 'ipip'],
    ];
    for (const [tunnelIp, nodeIp, kind] of tunnels) {
      if (!tunnelIp || !nodeIp) continue;
      const dst = hostCidr(tunnelIp);
      // A VXLAN and an IPIP address are never the same; should they be, VXLAN (listed first) stays.
      if (routes.has(dst.text) && routes.get(dst.text)?.kinds.has('remote_tunnel')) continue;
      put(route(dst, 'remote_tunnel', node, nodeIp, poolOf(tunnelIp), { ipPoolType: kind, tunnel: { ...NO_TUNNEL, [kind]: true } }));
    }
    if (node.vxlanTunnelIpv4 || node.vxlanTunnelIpv6) {
      vteps.push({
        node: node.name,
        ...(node.vxlanTunnelMac ? { mac: node.vxlanTunnelMac } : {}),
        ...(node.vxlanTunnelIpv4 ? { ipv4Addr: node.vxlanTunnelIpv4 } : {}),
        ...(node.ipv4 ? { parentDeviceIp: node.ipv4 } : {}),
        ...(node.vxlanTunnelMacV6 ? { macV6: node.vxlanTunnelMacV6 } : {}),
        ...(node.vxlanTunnelIpv6 ? { ipv6Addr: node.vxlanTunnelIpv6 } : {}),
        ...(node.ipv6 ? { parentDeviceIpv6: node.ipv6 } : {}),
      });
    }
  }
  const sorted = [...routes.values()].sort((a, b) => (a.dst.text < b.dst.text ? -1 : a.dst.text > b.dst.text ? 1 : 0));
  return { routes: sorted, vteps, skipped };
}

/** The feed as text, one line per route and VTEP: tests compare it, `status` counts it. */
export function routeFeedText(feed: Pick<RouteFeed, 'routes' | 'vteps'>): string {
  const lines = feed.routes.map((r) => {
    const flags = [r.borrowed ? 'borrowed' : '', r.tunnel.vxlan ? 'vxlan' : '', r.tunnel.ipip ? 'ipip' : ''].filter((f) => f !== '').join(',');
    return `route ${[...r.kinds].join('+')} ${r.dst.text} node ${r.dstNodeName} ${r.dstNodeIp?.text ?? '-'} pool ${r.ipPoolType}${flags ? ` ${flags}` : ''}`;
  });
  const vteps = feed.vteps.map((v) => `vtep ${v.node} ${v.ipv4Addr?.text ?? '-'} mac ${v.mac ?? '-'} parent ${v.parentDeviceIp?.text ?? '-'}`);
  return [...lines, ...vteps].join('\n');
}
