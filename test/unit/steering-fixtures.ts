import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeLinks } from '../../src/fakes/links';
import { FakeSysctl } from '../../src/fakes/sysctl';
import { FakePolicyRouting } from '../../src/fakes/policy-routing';
import { parseCidr, parseIp, type Cidr, type IpAddress } from '../../src/model/ip';
import { steeringGateway, type SteeringGateway, type SteeringSpec } from '../../src/model/steering';
import type { SteeringKernel } from '../../src/steering/reconciler';
import type { VxlanSpec } from '../../src/kernel/ports';

export const ip = (t: string): IpAddress => parseIp(t) ?? fail(t);
export const cidr = (t: string): Cidr => parseCidr(t) ?? fail(t);

function fail(t: string): never {
  throw new Error(`bad address ${t}`);
}

export const NODE_IP = '198.51.100.11';
export const GW1 = '100.64.2.7';
export const GW2 = '100.64.2.8';
export const GW3 = '100.64.2.9';

/** A gateway as specs print it: "100.64.2.7" or "100.64.2.7+2001:db8:64:2::7". */
export function gw(text: string): SteeringGateway {
  const g = steeringGateway(text.split('+').map(ip));
  if (!g) throw new Error(`bad gateway ${text}`);
  return g;
}

/** A spec for node1 with `clients` as [pod, its addresses (comma separated), gateways]. */
export function spec(clients: Array<[string, string, string[]]>, bypass: string[] = ['100.64.0.0/16']): SteeringSpec {
  return {
    device: { nodeName: 'node1', vni: 4097, port: 4790, localIp: ip(NODE_IP) },
    clients: clients.map(([pod, podIp, gws]) => ({ pod, ips: podIp.split(',').map(ip), gateways: gws.map(gw) })),
    bypass: bypass.map(cidr),
  };
}

/** The nftables table as `nft list table` would print what was written. */
export class FakeNatTable {
  text: string | undefined;
  writes = 0;
  async read(): Promise<string | undefined> {
    return this.text;
  }
  async write(payload: string): Promise<void> {
    this.writes++;
    const lines = payload.split('\n');
    if (!payload.includes('{')) {
      this.text = undefined; // `table X` + `delete table X`: gone
      return;
    }
    // What follows the table's own `table X` / `delete table X` (and the legacy pins table's) preamble.
    this.text = lines
      .slice(lines.findIndex((l) => l.includes('{')))
      .map((l) => l.replace(/ meta nfproto ipv[46]/, ''))
      .join('\n');
  }
}

/**
 * A client node's kernel, all fakes: eth0 holds the node IP; egress.calico appears in every fake
 * (policy routing, neighbours/FDB, sysctls) once the links fake creates it, as in the kernel.
 * `ipv6: false`: a kernel without IPv6 (no net/ipv6 sysctls).
 */
export function fakeNode(o: { ipv6?: boolean } = {}): { kernel: SteeringKernel; policy: FakePolicyRouting; links: FakeLinks; neigh: FakeReturnPathKernel; sysctl: FakeSysctl; nat: FakeNatTable; loseDevice(): Promise<void> } {
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  const policy = new FakePolicyRouting();
  policy.devices.set('eth0', [NODE_IP]);
  const neigh = new FakeReturnPathKernel();
  neigh.devices.clear();
  neigh.devices.add('eth0');
  // A host's namespace: also the multipath hashing, at the kernel's defaults (addresses only).
  const ipv6: Record<string, string> = o.ipv6 === false ? {} : { 'net/ipv6/fib_multipath_hash_policy': '0', 'net/ipv6/fib_multipath_hash_fields': '7' };
  const sysctl = new FakeSysctl((name) => links.has(name), { ...FakeSysctl.freshNamespace, 'net/ipv4/fib_multipath_hash_policy': '0', 'net/ipv4/fib_multipath_hash_fields': '7', ...ipv6 });
  const nat = new FakeNatTable();
  const ensureVxlan = links.ensureVxlan.bind(links);
  links.ensureVxlan = async (s: VxlanSpec) => {
    const state = await ensureVxlan(s);
    if (!policy.devices.has(s.name)) policy.devices.set(s.name, []);
    neigh.devices.add(s.name);
    return state;
  };
  return {
    kernel: { policy, neighbours: neigh.neighbours, fdb: neigh.fdb, links, sysctl, nat },
    policy,
    links,
    neigh,
    sysctl,
    nat,
    loseDevice: async () => {
      // What the kernel deletes with a device: its neighbours and FDB entries, its nexthops (and what used them).
      for (const n of await neigh.neighbours.list('egress.calico')) await neigh.neighbours.remove(n);
      for (const f of await neigh.fdb.list('egress.calico')) await neigh.fdb.remove(f);
      links.removeLink('egress.calico');
      policy.deleteDevice('egress.calico');
      neigh.devices.delete('egress.calico');
    },
  };
}
