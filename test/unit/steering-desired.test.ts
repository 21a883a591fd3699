import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatNexthopGroup, formatRule, formatTableRoute, type RuleEntry } from '../../src/model/policy-routing';
import { DEFAULT_STEERING_OPTIONS, desiredSteering, type SteeringKernelView, type SteeringOptions } from '../../src/steering/desired';
import { cidr, GW1, GW2, GW3, ip, spec } from './steering-fixtures';

const EMPTY: SteeringKernelView = { rules: [], routes: [], nexthops: [], groups: [], foreignNexthopIds: [] };
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

  it('steers IPv4 only, says so for IPv6, and refuses a bypass of everything', () => {
    const s = spec([['ns/a', '100.64.1.5', [GW1, '2001:db8:64:2::7']]], ['0.0.0.0/0', '198.51.100.0/24', '2001:db8::/32']);
    const withV6 = { ...s, clients: [{ ...s.clients[0]!, ips: [ip('100.64.1.5'), ip('2001:db8:64:1::5')] }] };
    const d = desiredSteering(withV6, OPTS, EMPTY);
    assert.equal(
      text(d),
      [
        'from 100.64.1.5/32 lookup 1000 priority 100',
        'table 1000 unreachable default metric 4294967295',
        'table 1000 169.254.1.1/32 dev egress.calico metric 10',
        'table 1000 throw 198.51.100.0/24 metric 10',
        'table 1000 default nhid 1157627905 metric 10',
        'id 1157627905 group 1157627904 type resilient buckets 512 idle_timer 120 unbalanced_timer 0',
      ].join('\n'),
    );
    assert.deepEqual(d.problems, [
      'pod ns/a: IPv6 addresses are not steered (IPv4 only): its IPv6 traffic takes the node\'s path',
      'IPv6 gateway addresses 2001:db8:64:2::7 are not used (IPv4 only)',
      'bypass 0.0.0.0/0 ignored: it would take every destination off the gateways',
    ]);
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
  const withKeep = (clients: Array<[string, string, string[]]>, keep: string[]): ReturnType<typeof spec> => ({ ...spec(clients), keepFlows: keep.map(ip) });

  it('one pin per gateway (the clients\' and the ones kept for their flows): a mark rule one priority earlier, a table with its route and the throws', () => {
    const d = desiredSteering(withKeep([['ns/a', '100.64.1.5', [GW2]]], [GW1, GW2]), PINNED, EMPTY);
    assert.deepEqual(d.pins, [
      { gateway: GW1, slot: 1, mark: 0x100, table: 1001 },
      { gateway: GW2, slot: 2, mark: 0x200, table: 1002 },
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
