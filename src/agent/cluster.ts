import { ipFromBytes, parseCidr, parseIp, type Cidr, type Family, type IpAddress } from '../model/ip';

/**
 * What the agent reads from the Kubernetes API, as plain values: the parts of pods, namespaces,
 * nodes and Calico's IPAM blocks and IP pools that steering and the route feed use. The `from*`
 * functions take the objects as the API sends them (JSON, or the client library's typed objects,
 * whose field names are the same) and return undefined for an object that cannot be used.
 */

export const ANNOTATION_SELECTOR = 'egress.projectcalico.org/selector';
export const ANNOTATION_NAMESPACE_SELECTOR = 'egress.projectcalico.org/namespaceSelector';
export const ANNOTATION_MAX_NEXT_HOPS = 'egress.projectcalico.org/maxNextHops';
const EGRESS_ANNOTATIONS = [ANNOTATION_SELECTOR, ANNOTATION_NAMESPACE_SELECTOR, ANNOTATION_MAX_NEXT_HOPS];

/** Calico's automatic labels: selectors may use them as if they were set on the object. */
export const LABEL_NAMESPACE_NAME = 'projectcalico.org/name';
export const LABEL_POD_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';

export interface EgressAnnotations {
  readonly selector?: string;
  readonly namespaceSelector?: string;
  readonly maxNextHops?: string;
}

export interface PodInfo {
  /** "namespace/name" */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly egress: EgressAnnotations;
  /** status.podIPs (or podIP), in the API's order. */
  readonly ips: readonly IpAddress[];
  readonly phase: string;
  /** The Ready condition is True. */
  readonly ready: boolean;
  /** deletionTimestamp is set: the pod is going (a gateway drains). */
  readonly deleting: boolean;
  readonly hostNetwork: boolean;
  /** The container port named "health" (what Felix polls /readiness on). */
  readonly healthPort?: number;
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly egress: EgressAnnotations;
}

export interface NodeInfo {
  readonly name: string;
  /** The node's address per family: Calico's projectcalico.org/IPv4Address (IPv6Address) first, else InternalIP, else ExternalIP. */
  readonly ipv4?: IpAddress;
  readonly ipv6?: IpAddress;
  readonly vxlanTunnelIpv4?: IpAddress;
  readonly vxlanTunnelMac?: string;
  readonly vxlanTunnelIpv6?: IpAddress;
  readonly vxlanTunnelMacV6?: string;
  readonly ipipTunnelIpv4?: IpAddress;
}

export interface BlockAllocation {
  readonly ip: IpAddress;
  /** The node the address's owner runs on (the allocation's `node` attribute), when the block says. */
  readonly node?: string;
}

export interface BlockInfo {
  readonly name: string;
  readonly cidr: Cidr;
  /** From spec.affinity "host:<node>"; undefined for a block with no affinity. */
  readonly node?: string;
  readonly allocations: readonly BlockAllocation[];
}

export type EncapMode = 'Always' | 'CrossSubnet' | 'Never';

export interface PoolInfo {
  readonly name: string;
  readonly cidr: Cidr;
  readonly vxlanMode: EncapMode;
  readonly ipipMode: EncapMode;
  readonly natOutgoing: boolean;
  readonly disabled: boolean;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

function egressOf(annotations: Record<string, string>): EgressAnnotations {
  const out: { selector?: string; namespaceSelector?: string; maxNextHops?: string } = {};
  const [sel, ns, max] = EGRESS_ANNOTATIONS.map((a) => annotations[a]);
  if (sel !== undefined) out.selector = sel;
  if (ns !== undefined) out.namespaceSelector = ns;
  if (max !== undefined) out.maxNextHops = max;
  return out;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function podFrom(raw: unknown): PodInfo | undefined {
  const o = obj(raw);
  const meta = obj(o.metadata);
  const spec = obj(o.spec);
  const status = obj(o.status);
  const name = str(meta.name);
  const namespace = str(meta.namespace);
  if (!name || !namespace) return undefined;
  const ipTexts = arr(status.podIPs)
    .map((p) => str(obj(p).ip))
    .filter((t): t is string => t !== undefined);
  const single = str(status.podIP);
  if (ipTexts.length === 0 && single) ipTexts.push(single);
  const ips: IpAddress[] = [];
  for (const t of ipTexts) {
    const ip = parseIp(t);
    if (ip && !ips.some((i) => i.text === ip.text)) ips.push(ip);
  }
  const ready = arr(status.conditions).some((c) => str(obj(c).type) === 'Ready' && String(obj(c).status) === 'True');
  let healthPort: number | undefined;
  for (const c of arr(spec.containers)) {
    for (const p of arr(obj(c).ports)) {
      const port = obj(p);
      if (str(port.name) === 'health' && typeof port.containerPort === 'number') healthPort ??= port.containerPort;
    }
  }
  return {
    key: podKey(namespace, name),
    namespace,
    name,
    uid: str(meta.uid) ?? '',
    nodeName: str(spec.nodeName) ?? '',
    labels: stringMap(meta.labels),
    egress: egressOf(stringMap(meta.annotations)),
    ips,
    phase: str(status.phase) ?? '',
    ready,
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    hostNetwork: spec.hostNetwork === true,
    ...(healthPort !== undefined ? { healthPort } : {}),
  };
}

export function namespaceFrom(raw: unknown): NamespaceInfo | undefined {
  const meta = obj(obj(raw).metadata);
  const name = str(meta.name);
  if (!name) return undefined;
  return { name, labels: stringMap(meta.labels), egress: egressOf(stringMap(meta.annotations)) };
}

/** Calico writes node addresses in CIDR form ("198.51.100.11/24"); a bare address is accepted too. */
function annotationAddress(annotations: Record<string, string>, name: string, family: Family): IpAddress | undefined {
  const v = annotations[name];
  if (v === undefined) return undefined;
  const c = parseCidr(v);
  const ip = c ? parseIp(v.split('/')[0] ?? '') : undefined;
  return ip && ip.family === family ? ip : undefined;
}

export function nodeFrom(raw: unknown): NodeInfo | undefined {
  const o = obj(raw);
  const meta = obj(o.metadata);
  const name = str(meta.name);
  if (!name) return undefined;
  const ann = stringMap(meta.annotations);
  const addresses = arr(obj(o.status).addresses).map((a) => ({ type: str(obj(a).type), ip: parseIp(str(obj(a).address) ?? '') }));
  const fromStatus = (family: Family): IpAddress | undefined =>
    addresses.find((a) => a.type === 'InternalIP' && a.ip?.family === family)?.ip ?? addresses.find((a) => a.type === 'ExternalIP' && a.ip?.family === family)?.ip;
  const ipv4 = annotationAddress(ann, 'projectcalico.org/IPv4Address', 4) ?? fromStatus(4);
  const ipv6 = annotationAddress(ann, 'projectcalico.org/IPv6Address', 6) ?? fromStatus(6);
  const tunnel = (key: string, family: Family): IpAddress | undefined => {
    const ip = parseIp(ann[key] ?? '');
    return ip && ip.family === family ? ip : undefined;
  };
  const vxlanTunnelIpv4 = tunnel('projectcalico.org/IPv4VXLANTunnelAddr', 4);
  const vxlanTunnelIpv6 = tunnel('projectcalico.org/IPv6VXLANTunnelAddr', 6);
  const ipipTunnelIpv4 = tunnel('projectcalico.org/IPv4IPIPTunnelAddr', 4);
  const vxlanTunnelMac = ann['projectcalico.org/VXLANTunnelMACAddr'];
  const vxlanTunnelMacV6 = ann['projectcalico.org/VXLANTunnelMACAddrV6'];
  return {
    name,
    ...(ipv4 ? { ipv4 } : {}),
    ...(ipv6 ? { ipv6 } : {}),
    ...(vxlanTunnelIpv4 ? { vxlanTunnelIpv4 } : {}),
    ...(vxlanTunnelMac ? { vxlanTunnelMac } : {}),
    ...(vxlanTunnelIpv6 ? { vxlanTunnelIpv6 } : {}),
    ...(vxlanTunnelMacV6 ? { vxlanTunnelMacV6 } : {}),
    ...(ipipTunnelIpv4 ? { ipipTunnelIpv4 } : {}),
  };
}

/** The address `ordinal` places after a block's network address; undefined outside the block. */
export function addressAt(cidr: Cidr, ordinal: number): IpAddress | undefined {
  const bits = (cidr.family === 4 ? 32 : 128) - cidr.prefixLength;
  if (!Number.isInteger(ordinal) || ordinal < 0 || BigInt(ordinal) >= 1n << BigInt(bits)) return undefined;
  const bytes = cidr.address.bytes;
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  v += BigInt(ordinal);
  const out = new Uint8Array(bytes.length);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return ipFromBytes(out);
}

/**
 * spec.allocations[i] is the index into spec.attributes of address i of the block (null = free);
 * an attribute's `secondary.node` names the node of the pod the address went to (Calico's CNI
 * plugin sets it). A block marked `deleted` is being removed and is ignored.
 */
export function blockFrom(raw: unknown): BlockInfo | undefined {
  const o = obj(raw);
  const name = str(obj(o.metadata).name);
  const spec = obj(o.spec);
  const cidr = parseCidr(str(spec.cidr) ?? '');
  if (!name || !cidr || spec.deleted === true) return undefined;
  const affinity = str(spec.affinity);
  const node = affinity?.startsWith('host:') ? affinity.slice('host:'.length) : undefined;
  const attributes = arr(spec.attributes).map((a) => stringMap(obj(a).secondary));
  const allocations: BlockAllocation[] = [];
  arr(spec.allocations).forEach((attrIndex, ordinal) => {
    if (typeof attrIndex !== 'number') return;
    const ip = addressAt(cidr, ordinal);
    if (!ip) return;
    const allocNode = attributes[attrIndex]?.node;
    allocations.push({ ip, ...(allocNode ? { node: allocNode } : {}) });
  });
  return { name, cidr, ...(node ? { node } : {}), allocations };
}

function encapMode(v: unknown): EncapMode {
  return v === 'Always' || v === 'CrossSubnet' ? v : 'Never';
}

export function poolFrom(raw: unknown): PoolInfo | undefined {
  const o = obj(raw);
  const name = str(obj(o.metadata).name);
  const spec = obj(o.spec);
  const cidr = parseCidr(str(spec.cidr) ?? '');
  if (!name || !cidr) return undefined;
  return { name, cidr, vxlanMode: encapMode(spec.vxlanMode), ipipMode: encapMode(spec.ipipMode), natOutgoing: spec.natOutgoing === true, disabled: spec.disabled === true };
}
