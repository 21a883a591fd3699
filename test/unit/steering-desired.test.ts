import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatNexthop, formatNexthopGroup, formatRule, formatTableRoute, type RuleEntry } from '../../src/model/policy-routing';
import { DEFAULT_STEERING_OPTIONS, desiredSteering, type SteeringKernelView, type SteeringOptions } from '../../src/steering/desired';
import { cidr, gw, GW1, GW2, GW3, ip, spec } from './steering-fixtures';

const EMPTY: SteeringKernelView = { rules: [], routes: [], nexthops: [], groups: [], foreignNexthopIds: [] };
/** The first nexthop id of the range. */
const ID = 0x45000000;
const OPTS: SteeringOptions = { ...DEFAULT_STEERING_OPTIONS, tables: { first: 1000, last: 1003 } };

function rule(src: string, table: number, priority = 100): RuleEntry {
  return { family: 4, src: cidr(`${src}/32`), priority, table };
}

/** The desired state as text: rules, then routes, then groups. */
function text(d: ReturnType<typeof desiredSteering>): string {
  return [...d.rules.map(formatRule), ...d.routes.map(formatTableRoute), ...d.groups.map(formatNexthopGroup)].join('\n');
}

describe('desired steering (pure)', () => {
  it('groups pods by gateway set, whatever the order the spec lists gateways in', () => {
    const d = desiredSteering(
      spec([
        ['ns/a', '100.64.1.5', [GW2, GW1]],
        ['ns/b', '100.64.1.6', [GW1, GW2, GW1]],
        ['ns/c', '100.64.1.7', [GW3]],
      ]),
      OPTS,
      EMPTY,
    );
    assert.deepEqual(
      d.tables.map((t) => [t.table, t.gateways.join(','), t.pods.join(',')]),
      [
        [1000, `${GW1},${GW2}`, 'ns/a,ns/b'],
        [1001, GW3, 'ns/c'],
      ],
    );
    assert.equal(d.nexthops.length, 3);
    assert.deepEqual(
      d.neighbours.map((n) => `${n.ip.text} ${n.mac}`),
      ['100.64.2.7 a2:2a:64:40:02:07', '100.64.2.8 a2:2a:64:40:02:08', '100.64.2.9 a2:2a:64:40:02:09'],
    );
    assert.deepEqual(d.problems, []);
  });

  it('a group keeps the table most of its pods point at, even when its gateways changed', () => {
    const kernel: SteeringKernelView = { ...EMPTY, rules: [rule('100.64.1.5', 1002), rule('100.64.1.6', 1002), rule('100.64.1.7', 1001)] };
    const d = desiredSteering(
      spec([
        ['ns/a', '100.64.1.5', [GW3]],
        ['ns/b', '100.64.1.6', [GW3]],
        ['ns/c', '100.64.1.7', [GW1]],
      ]),
      OPTS,
      kernel,
    );
    assert.deepEqual(
      d.tables.map((t) => [t.table, t.gateways.join(',')]),
      [
        [1001, GW1],
        [1002, GW3],
      ],
    );
  });

  it('a new group takes a table nothing of ours uses before one a stale rule still points at', () => {
    const kernel: SteeringKernelView = { ...EMPTY, rules: [rule('100.64.1.99', 1000)] };
    const d = desiredSteering(spec([['ns/a', '100.64.1.5', [GW1]]]), OPTS, kernel);
    assert.deepEqual(d.tables.map((t) => t.table), [1001]);
  });

  it('out of tables: the pods left over fail closed, never unsteered', () => {
    const small: SteeringOptions = { ...OPTS, tables: { first: 1000, last: 1001 } };
    const d = desiredSteering(
      spec([
        ['ns/a', '100.64.1.5', [GW1]],
        ['ns/b', '100.64.1.6', [GW2]],
        ['ns/b2', '100.64.1.8', [GW2]],
        ['ns/c', '100.64.1.7', [GW3]],
      ]),
      small,
      EMPTY,
    );
    assert.deepEqual(
      d.tables.map((t) => [t.table, t.gateways.join(','), t.pods.join(',')]),
      [
        [1000, GW2, 'ns/b,ns/b2'],
        [1001, '', 'ns/a,ns/c'],
      ],
    );
    assert.equal(d.rules.length, 4, 'every pod has its rule');
    assert.ok(d.problems.some((p) => /no free route table in 1000-1001 for gateways 100\.64\.2\.7: pods ns\/a fail closed/.test(p)), d.problems.join('\n'));
  });

  it('keeps the group id of a table (replaced in place) unless its bucket count changed', () => {
    const gw1 = { id: 0x45000000, gateway: ip(GW1), dev: 'egress.calico' };
    const group = { id: 0x45000001, members: [gw1.id], buckets: 512, idleTimerS: 120, unbalancedTimerS: 0 };
    const kernel: SteeringKernelView = {
      ...EMPTY,
      rules: [rule('100.64.1.5', 1000)],
      routes: [{ table: 1000, dst: cidr('0.0.0.0/0'), type: 'nexthop', nexthopId: group.id, metric: 10 }],
      nexthops: [gw1],
      groups: [group],
    };
    const same = desiredSteering(spec([['ns/a', '100.64.1.5', [GW1, GW2]]]), OPTS, kernel);
    assert.deepEqual(same.groups.map((g) => [g.id, g.members]), [[group.id, [gw1.id, 0x45000002]]]);
    const rebucketed = desiredSteering(spec([['ns/a', '100.64.1.5', [GW1]]]), { ...OPTS, group: { ...OPTS.group, buckets: 128 } }, kernel);
    assert.deepEqual(rebucketed.groups.map((g) => g.id), [0x45000002], 'a new group; the old one goes after the route moved');
  });

  it('a dual-stack pod: an IPv6 twin of its table (rule, backstop, throws, group) over link-local next hops with the IPv4 MACs; one FDB entry per gateway', () => {
    const d = desiredSteering(
      spec([['ns/a', '100.64.1.5,2001:db8:64:1::5', [`${GW2}+2001:db8:64:2::8`, `${GW1}+2001:db8:64:2::7`]]], ['100.64.0.0/16', '2001:db8:64::/48', '2001:db8:100::12/128']),
      OPTS,
      EMPTY,
    );
    assert.equal(
      text(d),
      [
        'from 100.64.1.5/32 lookup 1000 priority 100',
        'from 2001:db8:64:1::5/128 lookup 1000 priority 100',
        'table 1000 unreachable default metric 4294967295',
        'table 1000 169.254.1.1/32 dev egress.calico metric 10',
        'table 1000 throw 100.64.0.0/16 metric 10',
        `table 1000 default nhid ${ID + 2} metric 10`,
        'table 1000 unreachable default (IPv6) metric 4294967295',
        'table 1000 throw 2001:db8:100::12/128 metric 10',
        'table 1000 throw 2001:db8:64::/48 metric 10',
        `table 1000 default (IPv6) nhid ${ID + 5} metric 10`,
        `id ${ID + 2} group ${ID}/${ID + 1} type resilient buckets 512 idle_timer 120 unbalanced_timer 0`,
        `id ${ID + 5} group ${ID + 3}/${ID + 4} type resilient buckets 512 idle_timer 120 unbalanced_timer 0`,
      ].join('\n'),
    );
    assert.deepEqual(d.nexthops.map(formatNexthop), [
      `id ${ID} via 100.64.2.7 dev egress.calico onlink`,
      `id ${ID + 1} via 100.64.2.8 dev egress.calico onlink`,
      `id ${ID + 3} via fe80::a02a:64ff:fe40:207 dev egress.calico onlink`,
      `id ${ID + 4} via fe80::a02a:64ff:fe40:208 dev egress.calico onlink`,
    ]);
    assert.deepEqual(
      d.neighbours.map((n) => `${n.ip.text} ${n.mac}`).sort(),
      ['100.64.2.7 a2:2a:64:40:02:07', '100.64.2.8 a2:2a:64:40:02:08', 'fe80::a02a:64ff:fe40:207 a2:2a:64:40:02:07', 'fe80::a02a:64ff:fe40:208 a2:2a:64:40:02:08'],
    );
    // The IPv6 frames ride the same IPv4 tunnel: one FDB entry per gateway, to its IPv4 address.
    assert.deepEqual(d.fdb.map((f) => `${f.mac} dst ${f.dst.text}`), ['a2:2a:64:40:02:07 dst 100.64.2.7', 'a2:2a:64:40:02:08 dst 100.64.2.8']);
    assert.deepEqual(d.tables, [{ table: 1000, gateways: [`${GW1}+2001:db8:64:2::7`, `${GW2}+2001:db8:64:2::8`], groupId: ID + 2, groupId6: ID + 5, pods: ['ns/a'] }]);
    assert.deepEqual(d.problems, []);
  });

  it('gateways without an IPv6 address: the pod\'s IPv6 table has its backstop alone (fail closed), its IPv4 goes through them', () => {
    const d = desiredSteering(spec([['ns/a', '100.64.1.5,2001:db8:64:1::5', [GW1, `${GW2}+2001:db8:64:2::8`]]], ['2001:db8:64::/48']), OPTS, EMPTY);
    const routes = d.routes.filter((r) => r.dst.family === 6).map(formatTableRoute);
    assert.deepEqual(routes, ['table 1000 unreachable default (IPv6) metric 4294967295', 'table 1000 throw 2001:db8:64::/48 metric 10', `table 1000 default (IPv6) nhid ${ID + 4} metric 10`]);
    assert.deepEqual(d.groups.map(formatNexthopGroup)[1], `id ${ID + 4} group ${ID + 3} type resilient buckets 512 idle_timer 120 unbalanced_timer 0`, 'the IPv6 group holds the one gateway that has IPv6');

    const none = desiredSteering(spec([['ns/a', '100.64.1.5,2001:db8:64:1::5', [GW1]]], ['2001:db8:64::/48']), OPTS, EMPTY);
    assert.deepEqual(
      none.routes.filter((r) => r.dst.family === 6).map(formatTableRoute),
      ['table 1000 unreachable default (IPv6) metric 4294967295', 'table 1000 throw 2001:db8:64::/48 metric 10'],
      'no IPv6 gateway route: the IPv6 lookup ends in unreachable',
    );
    assert.deepEqual(none.rules.map(formatRule), ['from 100.64.1.5/32 lookup 1000 priority 100', 'from 2001:db8:64:1::5/128 lookup 1000 priority 100']);
    assert.ok(none.nexthops.every((n) => n.gateway.family === 4));
    assert.deepEqual(none.tables[0]?.groupId6, undefined);
  });

  it('an IPv6-only pod gets the IPv6 half only; an IPv6-only gateway cannot be reached through the IPv4 tunnel and is reported', () => {
    const d = desiredSteering(spec([['ns/a', '2001:db8:64:1::5', ['2001:db8:64:2::9', `${GW1}+2001:db8:64:2::7`]]]), OPTS, EMPTY);
    assert.deepEqual(d.routes.map((r) => r.dst.family), [6, 6], 'no IPv4 half: the backstop and the group route');
    assert.deepEqual(d.tables[0]?.gateways, [`${GW1}+2001:db8:64:2::7`]);
    assert.deepEqual(d.nexthops.map(formatNexthop), [`id ${ID} via fe80::a02a:64ff:fe40:207 dev egress.calico onlink`]);
    assert.deepEqual(d.fdb.map((f) => `${f.mac} dst ${f.dst.text}`), ['a2:2a:64:40:02:07 dst 100.64.2.7']);
    assert.deepEqual(d.problems, ['gateway 2001:db8:64:2::9 has no IPv4 address: egress.calico (IPv4) cannot reach it; not used']);
  });

  it('refuses a bypass of everything, in either family', () => {
    const d = desiredSteering(spec([['ns/a', '100.64.1.5,2001:db8:64:1::5', [GW1]]], ['0.0.0.0/0', '::/0', '198.51.100.0/24']), OPTS, EMPTY);
    assert.ok(!d.routes.some((r) => r.type === 'throw' && r.dst.prefixLength === 0));
    assert.deepEqual(d.problems, ['bypass 0.0.0.0/0 ignored: it would take every destination off the gateways', 'bypass ::/0 ignored: it would take every destination off the gateways']);
  });

  it('an address claimed by two pods is steered once, as the first pod by name', () => {
    const d = desiredSteering(
      spec([
        ['ns/b', '100.64.1.5', [GW2]],
        ['ns/a', '100.64.1.5', [GW1]],
      ]),
      OPTS,
      EMPTY,
    );
    assert.deepEqual(d.tables.map((t) => [t.gateways.join(','), t.pods.join(',')]), [[GW1, 'ns/a']]);
    assert.deepEqual(d.problems, ["pod ns/b: address 100.64.1.5 is also ns/a's; steered as ns/a's"]);
  });

  it('gives the same answer for the same inputs in any order', () => {
    const clients: Array<[string, string, string[]]> = [
      ['ns/a', '100.64.1.5', [GW1, GW2]],
      ['ns/b', '100.64.1.6', []],
      ['ns/c', '100.64.1.7', [GW3]],
      ['ns/d', '100.64.1.8', [GW2, GW1]],
    ];
    const reference = text(desiredSteering(spec(clients), OPTS, EMPTY));
    for (let k = 0; k < clients.length; k++) {
      const rotated = [...clients.slice(k), ...clients.slice(0, k)];
      assert.equal(text(desiredSteering(spec(rotated), OPTS, EMPTY)), reference);
      assert.equal(text(desiredSteering(spec(rotated.reverse()), OPTS, EMPTY)), reference);
    }
  });
});

describe('desired steering: flow pins (pure)', () => {
  const PINNED: SteeringOptions = { ...OPTS, tables: { first: 1000, last: 1009 }, flowMark: { mask: 0x3f00 } };
  const withKeep = (clients: Array<[string, string, string[]]>, keep: string[]): ReturnType<typeof spec> => ({ ...spec(clients), keepFlows: keep.map(gw) });

  it('one pin per gateway (the clients\' and the ones kept for their flows): a mark rule one priority earlier, a table with its route and the throws', () => {
    const d = desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW2]]], [GW1, GW2]), PINNED, EMPTY);
    assert.deepEqual(d.pins, [
      { gateway: GW1, slot: 1, mark: 0x100, table: 1001, ipv4Nexthop: GW1 },
      { gateway: GW2, slot: 2, mark: 0x200, table: 1002, ipv4Nexthop: GW2 },
    ]);
    assert.equal(
      text(d),
      [
        'from 100.64.1.5/32 lookup 1000 priority 100',
        'from all fwmark 0x100/0x3f00 lookup 1001 priority 99',
        'from all fwmark 0x200/0x3f00 lookup 1002 priority 99',
        'table 1000 unreachable default metric 4294967295',
        'table 1000 169.254.1.1/32 dev egress.calico metric 10',
        'table 1000 throw 100.64.0.0/16 metric 10',
        'table 1000 default nhid 1157627905 metric 10',
        // The draining GW1 has no group, only its pin: its nexthop, neighbour and FDB entry stay.
        'table 1001 default nhid 1157627906 metric 10',
        'table 1001 throw 100.64.2.7/32 metric 10',
        'table 1001 throw 100.64.0.0/16 metric 10',
        'table 1002 default nhid 1157627904 metric 10',
        'table 1002 throw 100.64.2.8/32 metric 10',
        'table 1002 throw 100.64.0.0/16 metric 10',
        'id 1157627905 group 1157627904 type resilient buckets 512 idle_timer 120 unbalanced_timer 0',
      ].join('\n'),
    );
    assert.deepEqual(d.neighbours.map((n) => n.ip.text).sort(), [GW1, GW2]);
  });

  it('a dual-stack gateway\'s pin: one slot and table, a mark rule and a default route per family, its IPv6 next hop named for the nftables rule', () => {
    const d = desiredSteering(withKeep([['ns/a', '100.64.1.5,2001:db8:64:1::5', [`${GW1}+2001:db8:64:2::7`]]], []), { ...PINNED, tables: { first: 1000, last: 1009 } }, EMPTY);
    assert.deepEqual(d.pins, [{ gateway: GW1, slot: 1, mark: 0x100, table: 1001, ipv4Nexthop: GW1, ipv6Nexthop: 'fe80::a02a:64ff:fe40:207' }]);
    const pin = (f: number): string[] => [...d.rules.filter((r) => r.table === 1001 && r.family === f).map(formatRule), ...d.routes.filter((r) => r.table === 1001 && r.dst.family === f).map(formatTableRoute)];
    assert.deepEqual(pin(4), ['from all fwmark 0x100/0x3f00 lookup 1001 priority 99', `table 1001 default nhid ${ID} metric 10`, 'table 1001 throw 100.64.2.7/32 metric 10', 'table 1001 throw 100.64.0.0/16 metric 10']);
    // The VXLAN packet is IPv4: the IPv6 table throws the bypass only.
    assert.deepEqual(pin(6), ['from all fwmark 0x100/0x3f00 lookup 1001 priority 99 (IPv6)', `table 1001 default (IPv6) nhid ${ID + 2} metric 10`]);
    // Read back, the slot holds (also when only the IPv6 rule is left).
    const kernel: SteeringKernelView = { ...EMPTY, rules: d.rules.filter((r) => !(r.fwmark && r.family === 4)), routes: d.routes, nexthops: d.nexthops, groups: d.groups };
    const again = desiredSteering(withKeep([['ns/a', '100.64.1.5,2001:db8:64:1::5', [`${GW1}+2001:db8:64:2::7`]]], []), { ...PINNED, tables: { first: 1000, last: 1009 } }, kernel);
    assert.deepEqual(again.pins, d.pins);
  });

  it('a pin keeps its slot and table (a flow\'s mark must keep meaning its gateway); a new one takes a slot no rule names', () => {
    const first = desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW1, GW2]]], [GW1, GW2]), PINNED, EMPTY);
    // The kernel as the first pass left it, then GW1 goes, GW3 joins.
    const kernel: SteeringKernelView = { ...EMPTY, rules: first.rules, routes: first.routes, nexthops: first.nexthops, groups: first.groups };
    const next = desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW2, GW3]]], [GW2, GW3]), PINNED, kernel);
    assert.deepEqual(next.pins.map((p) => [p.gateway, p.slot, p.table]), [
      [GW2, 2, 1002],
      [GW3, 3, 1003],
    ]);
    assert.deepEqual(next.tables.map((t) => t.table), [1000], 'the pods keep their table');
  });

  it('no pins without the flowMark option; out of slots: reported, the rest pinned', () => {
    assert.deepEqual(desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW1]]], [GW1]), OPTS, EMPTY).pins, []);
    const tiny: SteeringOptions = { ...PINNED, flowMark: { mask: 0x300 } };
    const d = desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW1, GW2, GW3, '100.64.2.10']]], []), tiny, EMPTY);
    assert.equal(d.pins.length, 3);
    assert.ok(d.problems.some((p) => /no flow mark left in 300 \(3 gateways\) to pin gateway 100\.64\.2\.10/.test(p)), d.problems.join('\n'));
  });
});
