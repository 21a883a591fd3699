import type { NamespaceInfo, NodeInfo, PodInfo } from '../../src/agent/cluster';
import { parseIp, type IpAddress } from '../../src/model/ip';

export const ip = (t: string): IpAddress => {
  const a = parseIp(t);
  if (!a) throw new Error(`bad ip ${t}`);
  return a;
};

/** A pod as cluster.ts would give it; Running, Ready, with an address unless told otherwise. */
export function pod(key: string, o: Partial<Omit<PodInfo, 'ips'>> & { ips?: string[] } = {}): PodInfo {
  const [namespace = 'default', name = key] = key.split('/');
  const { ips, ...rest } = o;
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: `uid-${namespace}-${name}`,
    nodeName: 'node1',
    labels: {},
    egress: {},
    ips: (ips ?? ['100.64.1.5']).map(ip),
    phase: 'Running',
    ready: true,
    deleting: false,
    hostNetwork: false,
    ...rest,
  };
}

export function gateway(key: string, address: string, o: Partial<Omit<PodInfo, 'ips'>> & { ips?: string[] } = {}): PodInfo {
  return pod(key, { nodeName: 'node2', labels: { 'egress-gateway.io/gateway': 'true', color: 'red' }, ips: [address], healthPort: 8080, ...o });
}

export function ns(name: string, o: Partial<NamespaceInfo> = {}): NamespaceInfo {
  return { name, labels: { 'kubernetes.io/metadata.name': name }, egress: {}, ...o };
}

export function node(name: string, v4: string, o: Partial<NodeInfo> = {}): NodeInfo {
  return { name, ipv4: ip(v4), ...o };
}
