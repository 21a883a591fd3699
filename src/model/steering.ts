import type { Cidr, IpAddress } from './ip';

/**
 * The one value the OSS agent's two halves meet at: the control plane (Kubernetes watches,
 * selectors, gateway health) computes it, the dataplane (egress.calico, ip rules, route tables,
 * nexthop groups on the client node) programs it (docs/agent.md).
 *
 * Dual-stack: each gateway is one entry holding its addresses, at most one per family, because the
 * dataplane needs to know which IPv6 address goes with which VXLAN MAC and outer destination (a
 * dual-stack gateway's MAC and tunnel come from its IPv4 address; an IPv6-only gateway's from its
 * IPv6 address, docs/dual-stack.md). A pod's traffic of each family it has goes to those of its
 * gateways that have an address of that family; none: that family fails closed (docs/agent.md).
 */

/** What this node's steering must be: pure data, compared by value, printed for tests. */
export interface SteeringSpec {
  /** egress.calico: VNI, UDP port, local = this node's IP (its MAC is derived from the node name). */
  readonly device: { readonly nodeName: string; readonly vni: number; readonly port: number; readonly localIp: IpAddress };
  /** One per steered pod on this node. */
  readonly clients: ReadonlyArray<SteeredClient>;
  /**
   * Destinations inside the cluster that steered pods reach directly, never through a gateway:
   * the IP pools' CIDRs and the nodes' addresses (what Enterprise's Felix leaves unmarked: its
   * all-ipam-pools and all-hosts-net sets), and any other CIDR the operator names. Services need
   * no entry: kube-proxy has rewritten their address to a pod's or a node's before routing.
   * Absent or empty: every destination of a steered pod goes through its gateways.
   */
  readonly bypass?: readonly Cidr[];
  /**
   * Gateways that take no new flow but whose established flows keep going to them (issue #16): a
   * draining gateway until its pod is gone, and one lost for less than the grace. Every connection
   * is pinned to the gateway it started with (a conntrack mark); the pins of the clients' gateways
   * and of these hold, and any other gateway's pinned flows go to their pod's gateways now (where
   * the server resets them). Absent: none.
   */
  readonly keepFlows?: readonly SteeringGateway[];
}

/** One gateway pod: its addresses (status.podIPs), the first of each family; at least one. */
export interface SteeringGateway {
  readonly ipv4?: IpAddress;
  readonly ipv6?: IpAddress;
}

export interface SteeredClient {
  readonly pod: string; // "namespace/name", for logs and status
  readonly ips: readonly IpAddress[]; // the pod's addresses (status.podIPs)
  /** The gateways this pod's new flows may use now: ready ones only, at most maxNextHops, in a stable order.
   *  Empty = fail closed (`unreachable default`): never fall back to the node's own path. */
  readonly gateways: readonly SteeringGateway[];
}

/** A gateway's identity: its IPv4 address, or its IPv6 address when it has no IPv4 one. */
export function gatewayKey(g: SteeringGateway): string {
  return g.ipv4?.text ?? g.ipv6?.text ?? '';
}

/** "100.64.2.7", "100.64.2.7+2001:db8:64:2::7", "2001:db8:64:2::7": how specs and logs print a gateway. */
export function gatewayText(g: SteeringGateway): string {
  return [g.ipv4?.text, g.ipv6?.text].filter((t) => t !== undefined).join('+');
}

/** A gateway from its pod's addresses: the first of each family (undefined when it has none). */
export function steeringGateway(ips: readonly IpAddress[]): SteeringGateway | undefined {
  const ipv4 = ips.find((ip) => ip.family === 4);
  const ipv6 = ips.find((ip) => ip.family === 6);
  if (!ipv4 && !ipv6) return undefined;
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
}

/**
 * The spec as text, one line per client sorted by pod, so that two specs are equal exactly when
 * their texts are: tests print and compare it; the agent logs it.
 */
export function steeringSpecText(spec: SteeringSpec): string {
  const d = spec.device;
  const lines = [`device ${d.nodeName} vni ${d.vni} port ${d.port} local ${d.localIp.text}`];
  if (spec.bypass?.length) lines.push(`bypass ${spec.bypass.map((c) => c.text).sort().join(',')}`);
  if (spec.keepFlows?.length) lines.push(`keep flows of ${spec.keepFlows.map(gatewayText).sort().join(',')}`);
  const clients = spec.clients.map(
    (c) =>
      `client ${c.pod} ips ${c.ips.map((ip) => ip.text).join(',') || '-'} gateways ${
        c.gateways.map(gatewayText).join(',') || 'none'
      }`,
  );
  return [...lines, ...clients.sort()].join('\n');
}

/** True when the two specs program the same steering (order of clients does not matter). */
export function sameSteeringSpec(a: SteeringSpec, b: SteeringSpec): boolean {
  return steeringSpecText(a) === steeringSpecText(b);
}
