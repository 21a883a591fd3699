import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredReturnPath, type DesiredState, type ReturnPathOptions } from '../../src/dataplane/desired';
import { formatFdb, formatNeighbour, formatRoute } from '../../src/model/entries';
import { RouteStore } from '../../src/dataplane/route-store';
import type { SyncEvent } from '../../src/model/felix';
import { clientVtepMac } from '../../src/model/mac';
import { ev, gatewayOptions, ip, prng, route, vtep } from './dataplane-fixtures';

function render(d: DesiredState): string {
  const lines = [
    ...d.routes.map((r) => `route ${formatRoute(r)}`),
    ...d.neighbours.map((n) => `neigh ${formatNeighbour(n)}`),
    ...d.fdb.map((f) => `fdb ${formatFdb(f)}`),
    ...(d.self ? [`self ${d.self.dst.text} on ${d.self.node}`] : []),
    ...d.skipped.map((s) => `skip ${s.dst}: ${s.reason}`),
  ];
  return lines.join('\n') + '\n';
}

function desiredAfter(events: SyncEvent[], opts: ReturnPathOptions = gatewayOptions): DesiredState {
  const store = new RouteStore();
  for (const e of events) store.apply(e);
  return desiredReturnPath(store.routes(), store.vteps(), opts);
}

const M1 = '66:f9:37:c3:7e:94'; // clientVtepMac('node1')
const M3 = '66:a4:6f:e0:c4:da'; // clientVtepMac('node3')

test('the client VTEP MACs used below are what mac.ts derives', () => {
  assert.equal(clientVtepMac('node1'), M1);
  assert.equal(clientVtepMac('node3'), M3);
});

const cases: { name: string; events: SyncEvent[]; opts?: ReturnPathOptions; want: string }[] = [
  {
    name: 'one remote workload block (OSS type)',
    events: [ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')), ev.inSync()],
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  },
  {
    name: 'Enterprise kinds bitmap with remote workload among others; two blocks share one node',
    events: [
      ev.update(route('100.64.1.0/26', ['remote_workload', 'remote_host'], 'node1', '198.51.100.11')),
      ev.update(route('100.64.1.64/26', ['remote_workload'], 'node1', '198.51.100.11')),
      ev.update(route('198.51.100.11/32', ['remote_host'], 'node1', '198.51.100.11')),
      ev.update(route('100.64.0.0/16', ['cidr_info'], '')),
      ev.inSync(),
    ],
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
route 100.64.1.64/26 via 198.51.100.11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  },
  {
    name: "the gateway's own LOCAL_WORKLOAD route is recognised, not programmed",
    events: [
      ev.update(route('100.64.2.0/26', 'local_workload', 'node2', '198.51.100.12')),
      ev.update(route('100.64.2.7/32', ['local_workload'], 'node2', '198.51.100.12')),
      ev.update(route('100.64.2.64/26', 'local_workload', 'node2', '198.51.100.12')),
      ev.inSync(),
    ],
    want: `self 100.64.2.7/32 on node2
`,
  },
  {
    name: 'overlay: VXLAN pool and a REMOTE_TUNNEL route send VXLAN to the tunnel address via eth0',
    events: [
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11', { pool: 'vxlan' })),
      ev.update(route('100.64.1.1/32', 'remote_tunnel', 'node1', '198.51.100.11', { pool: 'vxlan' })),
      ev.inSync(),
    ],
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
route 100.64.1.1/32 dev eth0 scope link
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 100.64.1.1 self permanent
`,
  },
  {
    name: 'overlay: the VTEP address wins over tunnel routes; the underlay gateway is used when set',
    events: [
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11', { tunnel: { vxlan: true } })),
      ev.update(route('100.64.1.2/32', 'remote_tunnel', 'node1', '198.51.100.11', { tunnel: { ipip: true } })),
      ev.vtep(vtep('node1', '100.64.1.3', '198.51.100.11')),
      ev.inSync(),
    ],
    opts: { ...gatewayOptions, underlayGateway: ip('203.0.113.1') },
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
route 100.64.1.3/32 via 203.0.113.1 dev eth0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 100.64.1.3 self permanent
`,
  },
  {
    name: 'tunnel routes of a node whose client blocks are not encapsulated do not change the VXLAN destination',
    events: [
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11', { pool: 'no_encap' })),
      ev.update(route('100.64.1.1/32', 'remote_tunnel', 'node1', '198.51.100.11')),
      ev.inSync(),
    ],
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  },
  {
    name: 'removal: a removed block and a removed node leave nothing behind',
    events: [
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')),
      ev.update(route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.13')),
      ev.update(route('100.64.3.64/26', 'remote_workload', 'node3', '198.51.100.13')),
      ev.inSync(),
      ev.remove('100.64.1.0/26'),
      ev.remove('100.64.3.64/26'),
      ev.remove('100.64.9.0/26'), // never sent: no-op
    ],
    want: `route 100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink
neigh 198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
fdb ${M3} dev vxlan0 dst 198.51.100.13 self permanent
`,
  },
  {
    name: 'IPv6 is tolerated: skipped while only IPv4 is enabled, mixed families always skipped',
    events: [
      ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')),
      ev.update(route('2001:db8:3::/122', 'remote_workload', 'node3', '198.51.100.13')),
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')),
      ev.inSync(),
    ],
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
skip 2001:db8:1::/122: IPv6 return routes are not enabled
skip 2001:db8:3::/122: mixed families: dst is IPv6, node address 198.51.100.13 is IPv4
`,
  },
  {
    name: 'dual-stack: the IPv6 block rides the IPv4 tunnel (IPv6 next hop and neighbour, one FDB entry to the IPv4 node address)',
    events: [
      ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')),
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')),
      ev.update(route('2001:db8:2::/122', 'local_workload', 'node2', '2001:db8::12')),
      ev.inSync(),
    ],
    opts: { ...gatewayOptions, gatewayIps: [ip('100.64.2.7'), ip('2001:db8:2::7')], families: new Set([4, 6] as const) },
    want: `route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink
route 2001:db8:1::/122 via 2001:db8::11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
neigh 2001:db8::11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
self 2001:db8:2::/122 on node2
`,
  },
  {
    name: 'dual-stack: without an IPv4 address for the node the IPv6 block waits; the VTEP parent device supplies one',
    events: [ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')), ev.inSync()],
    opts: { ...gatewayOptions, families: new Set([4, 6] as const) },
    want: `skip 2001:db8:1::/122: no IPv4 address known for node node1 (vxlan0 runs over IPv4; none of its routes or its VTEP names one)
`,
  },
  {
    name: 'dual-stack: the VTEP parent device is the IPv4 underlay address when no IPv4 route names the node',
    events: [
      ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')),
      ev.vtep({ node: 'node1', mac: '66:00:00:00:00:01', parentDeviceIp: ip('198.51.100.11'), parentDeviceIpv6: ip('2001:db8::11') }),
      ev.inSync(),
    ],
    opts: { ...gatewayOptions, families: new Set([4, 6] as const) },
    want: `route 2001:db8:1::/122 via 2001:db8::11 dev vxlan0 onlink
neigh 2001:db8::11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  },
  {
    name: 'IPv6-only gateway: vxlan0 runs over IPv6, the FDB points at the IPv6 node address; IPv4 routes are not enabled',
    events: [
      ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')),
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')),
      ev.update(route('2001:db8:2::/122', 'remote_workload', 'node2', '2001:db8::12')),
      ev.inSync(),
    ],
    opts: { ...gatewayOptions, gatewayIp: ip('2001:db8:2::7'), families: new Set([6] as const) },
    want: `route 2001:db8:1::/122 via 2001:db8::11 dev vxlan0 onlink
neigh 2001:db8::11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 2001:db8::11 self permanent
skip 100.64.1.0/26: IPv4 return routes are not enabled
skip 2001:db8:2::/122: dst holds the gateway's own address 2001:db8:2::7
`,
  },
  {
    name: 'unusable routes are reported, not programmed',
    events: [
      ev.update(route('100.64.1.0/26', 'remote_workload', 'node1')),
      ev.update(route('100.64.2.0/24', 'remote_workload', 'node9', '198.51.100.19')),
      ev.update(route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.11')),
      ev.update(route('100.64.4.0/26', 'remote_workload', 'node1', '198.51.100.11')),
      ev.inSync(),
    ],
    want: `route 100.64.4.0/26 via 198.51.100.11 dev vxlan0 onlink
neigh 198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
skip 100.64.1.0/26: remote workload route names no node address
skip 100.64.2.0/24: dst holds the gateway's own address 100.64.2.7
skip 100.64.3.0/26: node address 198.51.100.11 of node3 is already used by node node1 (first by name; neither holds it now)
`,
  },
  {
    name: 'updates before in_sync are not in use yet',
    events: [ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11'))],
    want: `\n`,
  },
];

for (const c of cases) {
  test(`desired state: ${c.name}`, () => {
    assert.equal(render(desiredAfter(c.events, c.opts)), c.want);
  });
}

test('desired state does not depend on the order routes arrived in', () => {
  const updates = [
    route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11', { pool: 'vxlan' }),
    route('100.64.1.1/32', 'remote_tunnel', 'node1', '198.51.100.11', { pool: 'vxlan' }),
    route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.11'),
    route('100.64.4.0/26', 'remote_workload', 'node4', '198.51.100.14'),
  ];
  const forward = render(desiredReturnPath(updates, [], gatewayOptions));
  const backward = render(desiredReturnPath([...updates].reverse(), [], gatewayOptions));
  assert.equal(backward, forward);
  assert.match(forward, /skip 100\.64\.3\.0\/26: node address 198\.51\.100\.11 of node3 is already used by node node1/);
});

test('desired routes are in key order, tunnel /32s merged in, whatever the arrival order', () => {
  const rnd = prng(7);
  const updates = [];
  for (let i = 0; i < 300; i++) {
    const node = `node${i % 7}`;
    const nodeIp = `198.51.100.${10 + (i % 7)}`;
    updates.push(route(`100.64.${Math.floor(i / 4)}.${(i % 4) * 64}/26`, 'remote_workload', node, nodeIp, { pool: i % 7 < 3 ? 'vxlan' : 'none' }));
  }
  // Tunnel addresses inside other blocks, one equal to a client /32 (which then loses), one shared by two nodes.
  updates.push(route('100.64.0.1/32', 'remote_tunnel', 'node0', '198.51.100.10', { pool: 'vxlan' }));
  updates.push(route('100.64.9.200/32', 'remote_tunnel', 'node1', '198.51.100.11', { pool: 'vxlan' }));
  updates.push(route('100.64.90.0/32', 'remote_tunnel', 'node2', '198.51.100.12', { pool: 'vxlan' }));
  updates.push(route('100.64.90.0/32', 'remote_workload', 'node5', '198.51.100.15'));
  updates.push(route('100.64.200.9/32', 'remote_tunnel', 'node3', '198.51.100.13', { pool: 'vxlan' }));
  for (let k = 0; k < 5; k++) {
    const shuffled = [...updates];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as (typeof updates)[number], shuffled[i] as (typeof updates)[number]];
    }
    const d = desiredReturnPath(shuffled, [], gatewayOptions);
    const keys = d.routes.map((r) => r.dst.text);
    assert.deepEqual(keys, [...keys].sort(), 'sorted by key');
    assert.equal(new Set(keys).size, keys.length, 'each key once');
    assert.equal(d.routes.filter((r) => r.dev === 'eth0').length, 3, 'the three encapsulated nodes\' tunnel routes');
    assert.equal(render(d), render(desiredReturnPath(updates, [], gatewayOptions)));
  }
});
