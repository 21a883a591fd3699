import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockFrom, nodeFrom, poolFrom, type BlockInfo, type NodeInfo, type PoolInfo } from '../../src/agent/cluster';
import { computeRouteFeed, routeFeedText } from '../../src/agent/route-feed';
import { gateway, ip, node } from './agent-fixtures';

/** An IPAMBlock as the API holds it: `allocs` maps an ordinal to the node its pod runs on. */
function block(cidr: string, affinity: string | undefined, allocs: Record<number, string | undefined> = {}): BlockInfo {
  const ordinals = Object.keys(allocs).map(Number);
  const size = 2 ** ((cidr.includes(':') ? 128 : 32) - Number(cidr.split('/')[1]));
  const allocations: (number | null)[] = Array.from({ length: Math.min(size, 64) }, () => null);
  const attributes: { handle_id: string; secondary?: Record<string, string> }[] = [];
  for (const o of ordinals) {
    allocations[o] = attributes.length;
    const n = allocs[o];
    attributes.push({ handle_id: `h${o}`, ...(n ? { secondary: { node: n, namespace: 'default', pod: `p${o}` } } : {}) });
  }
  const b = blockFrom({
    metadata: { name: cidr.replace(/[./:]/g, '-') },
    spec: { cidr, ...(affinity ? { affinity: `host:${affinity}` } : {}), allocations, attributes, unallocated: [], strictAffinity: false, sequenceNumber: 0 },
  });
  assert.ok(b);
  return b;
}

const pool = (cidr: string, o: Record<string, unknown> = {}): PoolInfo => {
  const p = poolFrom({ metadata: { name: `pool-${cidr}` }, spec: { cidr, natOutgoing: true, ...o } });
  assert.ok(p);
  return p;
};

function feed(o: { blocks: BlockInfo[]; nodes?: NodeInfo[]; pools?: PoolInfo[]; gateways?: ReturnType<typeof gateway>[] }): string {
  const nodes = o.nodes ?? [node('node1', '198.51.100.11'), node('node2', '198.51.100.12'), node('node3', '198.51.100.13')];
  const f = computeRouteFeed({
    nodeName: 'node2',
    localGateways: o.gateways ?? [gateway('default/gw', '100.64.2.7')],
    nodes: new Map(nodes.map((n) => [n.name, n])),
    blocks: o.blocks,
    pools: o.pools ?? [pool('100.64.0.0/16')],
  });
  return routeFeedText(f);
}

describe('route feed', () => {
  it('each block as REMOTE_WORKLOAD with its node; the gateway itself as LOCAL_WORKLOAD', () => {
    assert.equal(
      feed({ blocks: [block('100.64.1.0/26', 'node1', { 5: 'node1' }), block('100.64.3.0/26', 'node3'), block('100.64.2.0/26', 'node2', { 7: 'node2' })] }),
      [
        'route remote_workload 100.64.1.0/26 node node1 198.51.100.11 pool no_encap',
        'route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool no_encap',
        'route remote_workload 100.64.3.0/26 node node3 198.51.100.13 pool no_encap',
      ].join('\n'),
    );
  });

  it("the gateway's own block is sent address by address, so clients beside it on its node are covered", () => {
    assert.equal(
      feed({ blocks: [block('100.64.2.0/26', 'node2', { 5: 'node2', 7: 'node2', 9: 'node2' })] }),
      [
        'route remote_workload 100.64.2.5/32 node node2 198.51.100.12 pool no_encap',
        'route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool no_encap',
        'route remote_workload 100.64.2.9/32 node node2 198.51.100.12 pool no_encap',
      ].join('\n'),
    );
  });

  it("a block of the gateway's node without the gateway in it goes whole, via this node", () => {
    assert.equal(feed({ blocks: [block('100.64.2.64/26', 'node2', { 1: 'node2' })], gateways: [gateway('default/gw', '100.64.9.7')] }), [
      'route remote_workload 100.64.2.64/26 node node2 198.51.100.12 pool no_encap',
      'route local_workload 100.64.9.7/32 node node2 198.51.100.12 pool no_encap',
    ].join('\n'));
  });

  it('a borrowed address is a host route to the node it really lives on', () => {
    assert.equal(
      feed({ blocks: [block('100.64.1.0/26', 'node1', { 5: 'node1', 6: 'node3' })] }),
      [
        'route remote_workload 100.64.1.0/26 node node1 198.51.100.11 pool no_encap',
        'route remote_workload 100.64.1.6/32 node node3 198.51.100.13 pool no_encap borrowed',
        'route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool no_encap',
      ].join('\n'),
    );
  });

  it('a block with no affinity: every allocation on its own', () => {
    assert.equal(
      feed({ blocks: [block('100.64.4.0/26', undefined, { 1: 'node1', 2: 'node3', 3: undefined })] }),
      [
        'route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool no_encap',
        'route remote_workload 100.64.4.1/32 node node1 198.51.100.11 pool no_encap',
        'route remote_workload 100.64.4.2/32 node node3 198.51.100.13 pool no_encap',
      ].join('\n'),
    );
  });

  it('blocks of a node with no known address are left out (and said why)', () => {
    const f = computeRouteFeed({
      nodeName: 'node2',
      localGateways: [gateway('default/gw', '100.64.2.7')],
      nodes: new Map([['node2', node('node2', '198.51.100.12')]]),
      blocks: [block('100.64.1.0/26', 'node1')],
      pools: [],
    });
    assert.deepEqual(f.skipped, [{ dst: '100.64.1.0/26', reason: 'node node1 not known' }]);
    assert.equal(f.routes.length, 1);
  });

  it('a deleted block is no block', () => {
    assert.equal(blockFrom({ metadata: { name: 'b' }, spec: { cidr: '100.64.1.0/26', affinity: 'host:node1', deleted: true, allocations: [] } }), undefined);
  });

  it('overlay: pool type on blocks, tunnel routes and VTEPs from the nodes', () => {
    const n1 = nodeFrom({
      metadata: {
        name: 'node1',
        annotations: {
          'projectcalico.org/IPv4Address': '198.51.100.11/24',
          'projectcalico.org/IPv4VXLANTunnelAddr': '100.64.1.1',
          'projectcalico.org/VXLANTunnelMACAddr': '66:aa:bb:cc:dd:01',
        },
      },
    });
    const n3 = nodeFrom({ metadata: { name: 'node3', annotations: { 'projectcalico.org/IPv4IPIPTunnelAddr': '100.64.3.1' } }, status: { addresses: [{ type: 'InternalIP', address: '198.51.100.13' }] } });
    assert.ok(n1 && n3);
    assert.equal(
      feed({ blocks: [block('100.64.1.0/26', 'node1'), block('100.64.3.0/26', 'node3')], nodes: [n1, node('node2', '198.51.100.12'), n3], pools: [pool('100.64.0.0/16', { vxlanMode: 'Always' })] }),
      [
        'route remote_workload 100.64.1.0/26 node node1 198.51.100.11 pool vxlan',
        'route remote_tunnel 100.64.1.1/32 node node1 198.51.100.11 pool vxlan vxlan',
        'route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool vxlan',
        'route remote_workload 100.64.3.0/26 node node3 198.51.100.13 pool vxlan',
        'route remote_tunnel 100.64.3.1/32 node node3 198.51.100.13 pool ipip ipip',
        'vtep node1 100.64.1.1 mac 66:aa:bb:cc:dd:01 parent 198.51.100.11',
      ].join('\n'),
    );
  });

  it('IPv6 blocks go with the IPv6 node address', () => {
    assert.equal(
      feed({
        blocks: [block('2001:db8:1::/122', 'node1')],
        nodes: [node('node1', '198.51.100.11', { ipv6: ip('2001:db8::11') }), node('node2', '198.51.100.12')],
        pools: [],
      }),
      ['route local_workload 100.64.2.7/32 node node2 198.51.100.12 pool none', 'route remote_workload 2001:db8:1::/122 node node1 2001:db8::11 pool none'].join('\n'),
    );
  });

  it('no local gateway: only the blocks', () => {
    assert.equal(feed({ blocks: [block('100.64.1.0/26', 'node1')], gateways: [] }), 'route remote_workload 100.64.1.0/26 node node1 198.51.100.11 pool no_encap');
  });
});

describe('cluster values from API objects', () => {
  it('node: Calico annotation first, else InternalIP, else ExternalIP', () => {
    assert.equal(nodeFrom({ metadata: { name: 'a', annotations: { 'projectcalico.org/IPv4Address': '198.51.100.5/24' } }, status: { addresses: [{ type: 'InternalIP', address: '198.51.100.6' }] } })?.ipv4?.text, '198.51.100.5');
    assert.equal(nodeFrom({ metadata: { name: 'a' }, status: { addresses: [{ type: 'ExternalIP', address: '203.0.113.1' }, { type: 'InternalIP', address: '198.51.100.6' }] } })?.ipv4?.text, '198.51.100.6');
    assert.equal(nodeFrom({ metadata: { name: 'a' }, status: { addresses: [{ type: 'ExternalIP', address: '203.0.113.1' }] } })?.ipv4?.text, '203.0.113.1');
    assert.equal(nodeFrom({ metadata: { name: 'a' } })?.ipv4, undefined);
  });

  it('block allocations: ordinals become addresses, attributes name the node', () => {
    const b = block('100.64.1.0/26', 'node1', { 0: 'node1', 63: 'node3' });
    assert.deepEqual(
      b.allocations.map((a) => `${a.ip.text}@${a.node ?? '-'}`),
      ['100.64.1.0@node1', '100.64.1.63@node3'],
    );
    const v6 = block('2001:db8::/122', 'node1', { 10: 'node1' });
    assert.equal(v6.allocations[0]?.ip.text, '2001:db8::a');
  });
});
