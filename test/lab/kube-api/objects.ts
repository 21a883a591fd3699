/**
 * Kubernetes objects as the API holds them, for tests and the demo: what kubelet, Calico's CNI plugin
 * and calico-node would have written. Addresses come from the lab's documentation ranges.
 */
import type { KubeObject } from './store';

export interface PodSpec {
  readonly namespace?: string;
  readonly name: string;
  readonly node: string;
  readonly ips: readonly string[];
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly ready?: boolean;
  readonly healthPort?: number;
  readonly hostNetwork?: boolean;
  readonly phase?: string;
}

export function podObject(p: PodSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace ?? 'default', labels: p.labels ?? {}, annotations: p.annotations ?? {} },
    spec: {
      nodeName: p.node,
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'main', image: 'stand-in', ...(p.healthPort !== undefined ? { ports: [{ name: 'health', containerPort: p.healthPort, protocol: 'TCP' }] } : {}) }],
    },
    status: {
      phase: p.phase ?? 'Running',
      ...(p.ips[0] !== undefined ? { podIP: p.ips[0] } : {}),
      podIPs: p.ips.map((ip) => ({ ip })),
      conditions: [{ type: 'Ready', status: p.ready === false ? 'False' : 'True' }],
    },
  };
}

export function namespaceObject(name: string, o: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...o.labels }, annotations: o.annotations ?? {} } };
}

export function nodeObject(name: string, ipv4: string, annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: { 'projectcalico.org/IPv4Address': `${ipv4}/24`, ...annotations } },
    status: { addresses: [{ type: 'InternalIP', address: ipv4 }, { type: 'Hostname', address: name }] },
  };
}

/** An IPAMBlock: `allocations` maps ordinals (address - network) to the node of the pod holding it. */
export function ipamBlockObject(cidr: string, node: string | undefined, allocations: Record<number, string> = {}): KubeObject {
  const prefix = Number(cidr.split('/')[1]);
  const size = Math.min(2 ** ((cidr.includes(':') ? 128 : 32) - prefix), 256);
  const allocs: (number | null)[] = Array.from({ length: size }, () => null);
  const attributes: { handle_id: string; secondary: Record<string, string> }[] = [];
  for (const [ordinal, allocNode] of Object.entries(allocations)) {
    allocs[Number(ordinal)] = attributes.length;
    attributes.push({ handle_id: `k8s-pod-network.${ordinal}`, secondary: { node: allocNode, namespace: 'default', pod: `pod-${ordinal}` } });
  }
  return {
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'IPAMBlock',
    metadata: { name: cidr.replace(/[./:]/g, '-') },
    spec: {
      cidr,
      ...(node ? { affinity: `host:${node}` } : {}),
      allocations: allocs,
      attributes,
      unallocated: [],
      strictAffinity: false,
      sequenceNumber: 0,
    },
  };
}

export function ipPoolObject(name: string, cidr: string, o: { vxlanMode?: string; ipipMode?: string; natOutgoing?: boolean } = {}): KubeObject {
  return { apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name }, spec: { cidr, vxlanMode: o.vxlanMode ?? 'Never', ipipMode: o.ipipMode ?? 'Never', natOutgoing: o.natOutgoing ?? true } };
}
