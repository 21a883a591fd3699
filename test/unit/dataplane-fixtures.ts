import type { FelixRoute, FelixVtep, IpPoolType, RouteKind, SyncEvent } from '../../src/model/felix';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../src/model/ip';
import type { ReturnPathOptions } from '../../src/dataplane/desired';

/** Test values built from text, failing loudly on a typo. */
export function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new Error(`bad CIDR in test: ${text}`);
  return c;
}

export function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(`bad IP in test: ${text}`);
  return a;
}

export function route(
  dst: string,
  kinds: RouteKind | RouteKind[],
  node: string,
  nodeIp?: string,
  extra: { pool?: IpPoolType; sameSubnet?: boolean; tunnel?: Partial<FelixRoute['tunnel']> } = {},
): FelixRoute {
  return {
    dst: cidr(dst),
    kinds: new Set(Array.isArray(kinds) ? kinds : [kinds]),
    ipPoolType: extra.pool ?? 'none',
    dstNodeName: node,
    ...(nodeIp !== undefined ? { dstNodeIp: ip(nodeIp) } : {}),
    sameSubnet: extra.sameSubnet ?? false,
    natOutgoing: false,
    localWorkload: false,
    borrowed: false,
    tunnel: { ipip: false, vxlan: false, wireguard: false, ...extra.tunnel },
  };
}

export function vtep(node: string, ipv4Addr: string, parent: string): FelixVtep {
  return { node, mac: '66:00:00:00:00:01', ipv4Addr: ip(ipv4Addr), parentDeviceIp: ip(parent) };
}

let seq = 0;
export const ev = {
  update: (r: FelixRoute): SyncEvent => ({ kind: 'route_update', seq: String(++seq), route: r }),
  remove: (dst: string): SyncEvent => ({ kind: 'route_remove', seq: String(++seq), dst: cidr(dst) }),
  vtep: (v: FelixVtep): SyncEvent => ({ kind: 'vtep_update', seq: String(++seq), vtep: v }),
  vtepRemove: (node: string): SyncEvent => ({ kind: 'vtep_remove', seq: String(++seq), node }),
  inSync: (): SyncEvent => ({ kind: 'in_sync', seq: String(++seq) }),
};

/** The gateway of LAB.md: pod 100.64.2.7 on node2. */
export const gatewayOptions: ReturnPathOptions = {
  gatewayIp: ip('100.64.2.7'),
  vxlanDevice: 'vxlan0',
  underlayDevice: 'eth0',
};

/** A small deterministic PRNG (mulberry32), so a failing random order can be replayed by seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(xs: readonly T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}
