import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/model/clock';
import { SteeringReconciler, type SteeringResult } from '../../src/steering/reconciler';
import { fakeNode, FakeNatTable, gw, GW1, GW2, spec } from './steering-fixtures';

const ID = 0x45000000;

async function pass(r: SteeringReconciler): Promise<SteeringResult> {
  const res = await r.reconcileNow('test');
  assert.ok(res, 'a pass ran');
  return res;
}

function reconciler(node: ReturnType<typeof fakeNode>, clock = new FakeClock()): SteeringReconciler {
  return new SteeringReconciler({ kernel: node.kernel, clock, steering: { group: { buckets: 64, idleTimerS: 120, unbalancedTimerS: 0 } } });
}

describe('steering reconciler (fake kernel)', () => {
  it('programs a spec lowest layer first, rules last, and writes nothing the second time', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW2, GW1]], ['default/b', '100.64.1.6', []]]));
    const first = await pass(r);
    assert.ok(first.ok, first.error?.message);
    assert.deepEqual(first.writes, [
      'ensure device egress.calico (vxlan 4097 port 4790 dev eth0 local 198.51.100.11 mac 66:f9:37:c3:7e:94)',
      'set net.ipv4.conf.egress.calico.rp_filter = 2',
      'write nftables table inet egress_gateway_agent (no NAT-outgoing through egress.calico)',
      'add fdb entry a2:2a:64:40:02:07 dst 100.64.2.7 dev egress.calico',
      'add fdb entry a2:2a:64:40:02:08 dst 100.64.2.8 dev egress.calico',
      'add neighbour 100.64.2.7 lladdr a2:2a:64:40:02:07 dev egress.calico',
      'add neighbour 100.64.2.8 lladdr a2:2a:64:40:02:08 dev egress.calico',
      `add nexthop id ${ID} via 100.64.2.7 dev egress.calico onlink`,
      `add nexthop id ${ID + 1} via 100.64.2.8 dev egress.calico onlink`,
      `add nexthop group id ${ID + 2} group ${ID}/${ID + 1} type resilient buckets 64 idle_timer 120 unbalanced_timer 0`,
      // The fail-closed group ('' sorts first) gets the first table.
      'add route table 1000 unreachable default metric 4294967295',
      'add route table 1000 169.254.1.1/32 dev egress.calico metric 10',
      'add route table 1000 throw 100.64.0.0/16 metric 10',
      'add route table 1001 unreachable default metric 4294967295',
      'add route table 1001 169.254.1.1/32 dev egress.calico metric 10',
      'add route table 1001 throw 100.64.0.0/16 metric 10',
      `add route table 1001 default nhid ${ID + 2} metric 10`,
      'add rule from 100.64.1.6/32 lookup 1000 priority 100',
      'add rule from 100.64.1.5/32 lookup 1001 priority 100',
    ]);
    assert.equal(
      node.policy.dump(),
      [
        'rule from 100.64.1.6/32 lookup 1000 priority 100 proto 69',
        'rule from 100.64.1.5/32 lookup 1001 priority 100 proto 69',
        'route table 1000 unreachable default metric 4294967295 proto 69',
        'route table 1000 throw 100.64.0.0/16 metric 10 proto 69',
        'route table 1000 169.254.1.1/32 dev egress.calico metric 10 proto 69',
        `route table 1001 default nhid ${ID + 2} metric 10 proto 69`,
        'route table 1001 unreachable default metric 4294967295 proto 69',
        'route table 1001 throw 100.64.0.0/16 metric 10 proto 69',
        'route table 1001 169.254.1.1/32 dev egress.calico metric 10 proto 69',
        `nexthop id ${ID} via 100.64.2.7 dev egress.calico onlink proto 69`,
        `nexthop id ${ID + 1} via 100.64.2.8 dev egress.calico onlink proto 69`,
        `nexthop id ${ID + 2} group ${ID}/${ID + 1} type resilient buckets 64 idle_timer 120 unbalanced_timer 0 proto 69`,
        '',
      ].join('\n'),
    );
    const second = await pass(r);
    assert.deepEqual(second.writes, [], 'the same spec again: no write');
    assert.deepEqual(r.status().tables, [
      { table: 1000, gateways: [], pods: ['default/b'] },
      { table: 1001, gateways: [GW1, GW2], groupId: ID + 2, pods: ['default/a'] },
    ]);
  });

  it('a gateway set that changes keeps its table and group: members replaced in place, the dropped nexthop deleted after', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW1, GW2]]]));
    await pass(r);
    r.set(spec([['default/a', '100.64.1.5', [GW2]]]));
    const res = await pass(r);
    assert.deepEqual(res.writes, [
      `replace nexthop group id ${ID + 2} group ${ID + 1} type resilient buckets 64 idle_timer 120 unbalanced_timer 0`,
      `del nexthop id ${ID}`,
      'del neighbour 100.64.2.7 lladdr a2:2a:64:40:02:07 dev egress.calico',
      'del fdb entry a2:2a:64:40:02:07 dst 100.64.2.7 dev egress.calico',
    ]);
    // And back: the returning gateway gets a nexthop again, the group is replaced again, same table.
    r.set(spec([['default/a', '100.64.1.5', [GW1, GW2]]]));
    const back = await pass(r);
    assert.ok(back.writes.includes(`replace nexthop group id ${ID + 2} group ${ID}/${ID + 1} type resilient buckets 64 idle_timer 120 unbalanced_timer 0`), back.writes.join('\n'));
    assert.ok(!back.writes.some((w) => w.includes('rule')), 'the rule stays as it is');
  });

  it('the last gateway going leaves the backstop: the route goes before the group, the group before its nexthops', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    await pass(r);
    r.set(spec([['default/a', '100.64.1.5', []]]));
    const res = await pass(r);
    assert.deepEqual(res.writes, [
      `del route table 1000 default nhid ${ID + 1} metric 10`,
      `del nexthop group id ${ID + 1}`,
      `del nexthop id ${ID}`,
      'del neighbour 100.64.2.7 lladdr a2:2a:64:40:02:07 dev egress.calico',
      'del fdb entry a2:2a:64:40:02:07 dst 100.64.2.7 dev egress.calico',
    ]);
    assert.match(node.policy.dump(), /rule from 100\.64\.1\.5\/32 lookup 1000 priority 100 proto 69\n[\s\S]*route table 1000 unreachable default metric 4294967295/);
  });

  it('never adds a rule for a table whose backstop could not be written', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    node.policy.failNext('upsertRoute', 'ENOBUFS', 'unreachable default');
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    const res = await pass(r);
    assert.equal(res.ok, false);
    assert.match(res.error?.errors.map((e) => e.message).join('\n') ?? '', /table 1000 has no IPv4 backstop route: not steering into it/);
    assert.ok(!res.writes.some((w) => w.includes('rule')), res.writes.join('\n'));
    assert.doesNotMatch(node.policy.dump(), /^rule /m, 'no rule while the table could fall through');
    const retry = await pass(r);
    assert.ok(retry.ok, retry.error?.message);
    assert.ok(retry.writes.includes('add route table 1000 unreachable default metric 4294967295'));
    assert.equal(retry.writes.at(-1), 'add rule from 100.64.1.5/32 lookup 1000 priority 100');
  });

  it('dual-stack: each family\'s rule waits for its own backstop; the IPv6 half is programmed the same way and a restart writes nothing', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    const dual = spec([['default/a', '100.64.1.5,2001:db8:64:1::5', [`${GW1}+2001:db8:64:2::7`]]], ['100.64.0.0/16', '2001:db8:64::/48']);
    node.policy.failNext('upsertRoute', 'ENOBUFS', 'unreachable default (IPv6)');
    r.set(dual);
    const res = await pass(r);
    assert.equal(res.ok, false);
    assert.match(res.error?.errors.map((e) => e.message).join('\n') ?? '', /table 1000 has no IPv6 backstop route: not steering into it/);
    assert.ok(res.writes.includes('add rule from 100.64.1.5/32 lookup 1000 priority 100'), 'the IPv4 rule has its backstop');
    assert.ok(!res.writes.some((w) => w.includes('2001:db8:64:1::5')), res.writes.join('\n'));
    const retry = await pass(r);
    assert.ok(retry.ok, retry.error?.message);
    assert.deepEqual(retry.writes, ['add route table 1000 unreachable default (IPv6) metric 4294967295', 'add rule from 2001:db8:64:1::5/128 lookup 1000 priority 100']);
    assert.equal(
      node.policy.dump(),
      [
        'rule from 100.64.1.5/32 lookup 1000 priority 100 proto 69',
        'rule from 2001:db8:64:1::5/128 lookup 1000 priority 100 proto 69',
        `route table 1000 default nhid ${ID + 1} metric 10 proto 69`,
        'route table 1000 unreachable default metric 4294967295 proto 69',
        'route table 1000 throw 100.64.0.0/16 metric 10 proto 69',
        'route table 1000 169.254.1.1/32 dev egress.calico metric 10 proto 69',
        'route table 1000 throw 2001:db8:64::/48 metric 10 proto 69',
        `route table 1000 default (IPv6) nhid ${ID + 3} metric 10 proto 69`,
        'route table 1000 unreachable default (IPv6) metric 4294967295 proto 69',
        `nexthop id ${ID} via 100.64.2.7 dev egress.calico onlink proto 69`,
        `nexthop id ${ID + 2} via fe80::a02a:64ff:fe40:207 dev egress.calico onlink proto 69`,
        `nexthop id ${ID + 1} group ${ID} type resilient buckets 64 idle_timer 120 unbalanced_timer 0 proto 69`,
        `nexthop id ${ID + 3} group ${ID + 2} type resilient buckets 64 idle_timer 120 unbalanced_timer 0 proto 69`,
        '',
      ].join('\n'),
    );
    assert.equal(node.neigh.dump().match(/a2:2a:64:40:02:07/g)?.length, 3, `two neighbours and one FDB entry with the gateway's MAC:\n${node.neigh.dump()}`);
    assert.deepEqual((await pass(r)).writes, []);
    const restarted = reconciler(node);
    restarted.set(dual);
    assert.deepEqual((await pass(restarted)).writes, [], 'a restarted agent adopts both halves');

    // The gateway loses its IPv6 address: the IPv6 half falls back to its backstop, the rule stays.
    r.set(spec([['default/a', '100.64.1.5,2001:db8:64:1::5', [GW1]]], ['100.64.0.0/16', '2001:db8:64::/48']));
    const lost = await pass(r);
    assert.ok(lost.ok, lost.error?.message);
    assert.deepEqual(lost.writes.filter((w) => /^del /.test(w)), [
      `del route table 1000 default (IPv6) nhid ${ID + 3} metric 10`,
      `del nexthop group id ${ID + 3}`,
      `del nexthop id ${ID + 2}`,
      'del neighbour fe80::a02a:64ff:fe40:207 lladdr a2:2a:64:40:02:07 dev egress.calico',
    ]);
    assert.match(node.policy.dump(), /rule from 2001:db8:64:1::5\/128 lookup 1000[\s\S]*route table 1000 unreachable default \(IPv6\)/);
    await restarted.stop();
    await r.stop();
  });

  it('keeps a backstop while a rule still points at its table', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    await pass(r);
    node.policy.failNext('removeRule', 'EBUSY');
    r.set(spec([]));
    const res = await pass(r);
    assert.equal(res.ok, false);
    assert.match(res.error?.errors.map((e) => e.message).join('\n') ?? '', /a rule still points at table 1000: keeping its backstop/);
    assert.match(node.policy.dump(), /rule from 100\.64\.1\.5\/32 lookup 1000[\s\S]*route table 1000 unreachable default/);
    const retry = await pass(r);
    assert.ok(retry.ok, retry.error?.message);
    assert.equal(node.policy.dump(), '', 'everything of ours is gone once the rule could go');
    assert.equal(node.links.has('egress.calico'), true, 'the device stays');
  });

  it('losing the device fails closed in the kernel; the next pass repairs it without touching the rule', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW1, GW2]]]));
    await pass(r);
    await node.loseDevice();
    const dump = node.policy.dump();
    assert.doesNotMatch(dump, /nhid|nexthop/, `the kernel took the nexthops, the group and the route using it:\n${dump}`);
    assert.match(dump, /rule from 100\.64\.1\.5\/32 lookup 1000 priority 100 proto 69\n[\s\S]*route table 1000 unreachable default/);
    const res = await pass(r);
    assert.ok(res.ok, res.error?.message);
    assert.ok(res.writes[0]?.startsWith('ensure device egress.calico'), res.writes.join('\n'));
    assert.ok(res.writes.includes(`add route table 1000 default nhid ${ID + 2} metric 10`), res.writes.join('\n'));
    assert.ok(!res.writes.some((w) => w.includes('rule')));
  });

  it('a restarted agent adopts what the kernel holds: no write; nothing at all before its first spec', async () => {
    const node = fakeNode();
    const first = reconciler(node);
    first.set(spec([['default/a', '100.64.1.5', [GW1, GW2]], ['default/b', '100.64.1.6', [GW2]]]));
    await pass(first);
    const before = node.policy.dump();

    const clock = new FakeClock();
    const restarted = reconciler(node, clock);
    restarted.start();
    clock.advance(60_000);
    assert.equal(await restarted.reconcileNow(), undefined, 'no pass before the first spec');
    assert.equal(node.policy.dump(), before);
    restarted.set(spec([['default/b', '100.64.1.6', [GW2]], ['default/a', '100.64.1.5', [GW2, GW1]]]));
    const res = await pass(restarted);
    assert.deepEqual(res.writes, []);
    await restarted.stop();
  });

  it('leaves foreign rules, routes and nexthop ids alone, and allocates around them', async () => {
    const node = fakeNode();
    node.policy.seedRule({ family: 4, src: spec([]).bypass?.[0] as never, priority: 100, table: 1000 });
    node.policy.seedNexthop({ id: ID, gateway: spec([['x', '1.2.3.4', []]]).clients[0]?.ips[0] as never, dev: 'eth0' });
    const r = reconciler(node);
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    const res = await pass(r);
    assert.ok(res.ok, res.error?.message);
    assert.ok(res.writes.includes(`add nexthop id ${ID + 1} via 100.64.2.7 dev egress.calico onlink`), res.writes.join('\n'));
    assert.match(node.policy.dump(), /^rule from 100\.64\.0\.0\/16 lookup 1000 priority 100$/m, 'the foreign rule is still there');
    assert.match(node.policy.dump(), new RegExp(`^nexthop id ${ID} via 1\\.2\\.3\\.4 dev eth0 onlink$`, 'm'));
  });

  it('repairs drift when the kernel reports it, debounced, and retries a failed pass with backoff', async () => {
    const node = fakeNode();
    let notify: ((what: string) => void) | undefined;
    const clock = new FakeClock();
    const results: SteeringResult[] = [];
    const r = new SteeringReconciler({
      kernel: { ...node.kernel, watch: { watch: (_d, h) => (notify = h.onChange), close: () => undefined } },
      clock,
      onReconciled: (x) => results.push(x),
    });
    r.start();
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    clock.advance(0);
    await r.reconcileNow('settle');
    node.policy.externalRemoveRule(() => true);
    notify?.('rule deleted');
    notify?.('rule deleted');
    clock.advance(5);
    await r.reconcileNow('settle');
    const repair = results.find((x) => x.reason === 'kernel: rule deleted');
    assert.ok(repair, JSON.stringify(results.map((x) => x.reason)));
    assert.deepEqual(repair.writes, ['add rule from 100.64.1.5/32 lookup 1000 priority 100']);
    assert.equal(results.filter((x) => x.reason === 'kernel: rule deleted').length, 1, 'two notifications, one pass');

    node.policy.failNext('addRule', 'ENOBUFS');
    node.policy.externalRemoveRule(() => true);
    const failed = await pass(r);
    assert.equal(failed.ok, false);
    clock.advance(499);
    assert.ok(!results.some((x) => x.reason === 'retry'));
    clock.advance(1);
    await r.reconcileNow('settle');
    assert.ok(results.some((x) => x.reason === 'retry' && x.ok), JSON.stringify(results.map((x) => [x.reason, x.ok])));
    await r.stop();
  });

  it('keeps NAT-outgoing off egress.calico, and re-writes the table when it goes', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    r.set(spec([]));
    await pass(r);
    assert.equal(node.nat.writes, 1);
    assert.match(node.nat.text ?? '', /type nat hook postrouting priority srcnat - 1;/);
    await pass(r);
    assert.equal(node.nat.writes, 1, 'present: not written again');
    node.nat.text = undefined;
    const res = await pass(r);
    assert.ok(res.writes.includes('write nftables table inet egress_gateway_agent (no NAT-outgoing through egress.calico)'));
  });

  it('apply(): the agent\'s port resolves once the kernel holds the spec, and rejects with the coded failure', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    await r.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    assert.match(node.policy.dump(), /rule from 100\.64\.1\.5\/32 lookup 1000/);
    node.policy.failNext('upsertNexthop', 'ENOSPC');
    await assert.rejects(r.apply(spec([['default/a', '100.64.1.5', [GW1, GW2]]])), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'KERNEL_OP_FAILED');
      assert.match(err.message, /adding nexthop id \d+ via 100\.64\.2\.8 dev egress\.calico onlink: ENOSPC/);
      return true;
    });
    assert.equal(r.status().lastReconcile?.ok, false);
    await r.stop();
  });

  it('teardown (uninstall) removes all it owns, rules first, even in a process that never had a spec', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    await r.apply(spec([['default/a', '100.64.1.5', [GW1]], ['default/b', '100.64.1.6', []]]));
    await r.stop();
    const fresh = reconciler(node);
    const res = await fresh.teardown();
    assert.ok(res.ok, res.error?.message);
    assert.match(res.writes[0] ?? '', /^del rule from /);
    assert.deepEqual(res.writes.slice(-2), ['delete nftables table inet egress_gateway_agent', 'delete device egress.calico']);
    assert.equal(node.policy.dump(), '');
    assert.deepEqual(await node.neigh.neighbours.list('egress.calico'), []);
    assert.equal(node.nat.text, undefined);
    assert.equal(node.links.has('egress.calico'), false);
    // Twice: nothing left to do, nothing fails.
    const again = await reconciler(node).teardown();
    assert.ok(again.ok, again.error?.message);
    assert.deepEqual(again.writes, []);
  });

  it('multipathHash l4 sets the node-wide hashing once; a node that refuses it is steered all the same and told why', async () => {
    const node = fakeNode();
    const r = new SteeringReconciler({ kernel: node.kernel, clock: new FakeClock(), steering: { multipathHash: 'l4' } });
    await r.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    assert.match(node.sysctl.dump(), /^net\/ipv4\/fib_multipath_hash_fields = 55\nnet\/ipv4\/fib_multipath_hash_policy = 3\n/m);
    // IPv6 too, never its policy 0 (which hashes the flow label, drawn anew after a retransmission timeout).
    assert.match(node.sysctl.dump(), /^net\/ipv6\/fib_multipath_hash_fields = 55\nnet\/ipv6\/fib_multipath_hash_policy = 3\n/m);
    assert.deepEqual(r.status().problems, []);
    const again = await pass(r);
    assert.deepEqual(again.writes, [], 'already set: nothing written');

    // An unprivileged container: /proc/sys is read-only.
    const ro = fakeNode();
    const set = ro.sysctl.set.bind(ro.sysctl);
    ro.sysctl.set = async (key, value) => {
      if (key.includes('multipath')) throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
      return set(key, value);
    };
    const r2 = new SteeringReconciler({ kernel: ro.kernel, clock: new FakeClock(), steering: { multipathHash: 'l4' } });
    await r2.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    assert.match(ro.policy.dump(), /from 100\.64\.1\.5\/32 lookup 1000/, 'the pod is steered');
    const problems = r2.status().problems;
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0] ?? '', /^setting net\/ipv4\/fib_multipath_hash_fields to 55 \(l4 hashing\) failed: EROFS/);
    assert.equal(r2.status().lastReconcile?.ok, true);
    // egress.calico's rp_filter goes over rtnetlink, which the read-only /proc/sys does not stop.
    assert.equal(await ro.links.ipv4Conf('egress.calico', 'rp_filter'), 2);
    await r.stop();
    await r2.stop();

    // l3 on a node without IPv6 (no net/ipv6 in /proc/sys): IPv4's policy 0, and nothing asked of IPv6.
    const v4only = fakeNode({ ipv6: false });
    const r3 = new SteeringReconciler({ kernel: v4only.kernel, clock: new FakeClock(), steering: { multipathHash: 'l3' } });
    await r3.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    assert.deepEqual(r3.status().problems, []);
    assert.doesNotMatch(v4only.sysctl.dump(), /ipv6\/fib_multipath/);
    const l3 = fakeNode();
    const r4 = new SteeringReconciler({ kernel: l3.kernel, clock: new FakeClock(), steering: { multipathHash: 'l3' } });
    await r4.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    assert.match(l3.sysctl.dump(), /^net\/ipv4\/fib_multipath_hash_policy = 0\n[\s\S]*^net\/ipv6\/fib_multipath_hash_fields = 3\nnet\/ipv6\/fib_multipath_hash_policy = 3\n/m);
    await r3.stop();
    await r4.stop();
  });

  it('teardown keeps egress.calico while a rule of ours could not be removed, and says so', async () => {
    const node = fakeNode();
    const r = reconciler(node);
    await r.apply(spec([['default/a', '100.64.1.5', [GW1]]]));
    node.policy.failNext('removeRule', 'EPERM');
    const res = await r.teardown();
    assert.equal(res.ok, false);
    assert.match(res.error?.message ?? '', /deleting rule from 100\.64\.1\.5\/32 .*EPERM/);
    assert.equal(node.links.has('egress.calico'), true, 'the device stays while a rule may still steer into it');
  });

  it('a pass asked for now while one is scheduled runs once, never two at a time', async () => {
    const node = fakeNode();
    const clock = new FakeClock();
    const results: SteeringResult[] = [];
    const r = new SteeringReconciler({ kernel: node.kernel, clock, onReconciled: (x) => results.push(x) });
    // Hold the first pass in the middle (at its NAT check) until the scheduled one is due.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const read = node.nat.read.bind(node.nat);
    let held = false;
    node.nat.read = async () => {
      if (!held) {
        held = true;
        await gate;
      }
      return read();
    };
    r.start();
    r.set(spec([['default/a', '100.64.1.5', [GW1]]]));
    const now = r.reconcileNow('now');
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(10);
    release();
    const res = await now;
    await r.reconcileNow('after');
    assert.ok(res?.ok, res?.error?.message);
    // Two passes at once would both add the same entries, and the second fail with EEXIST.
    assert.ok(results.every((x) => x.ok), JSON.stringify(results.map((x) => [x.reason, x.ok, x.error?.message])));
    assert.equal(results.filter((x) => x.writes.length > 0).length, 1, 'one pass wrote the spec, the others found it there');
    await r.stop();
  });
});

describe('steering reconciler: flow pins (fake kernel)', () => {
  it('pins each gateway, writes the pins\' nftables table once, keeps a draining gateway\'s pin, and removes it all at teardown', async () => {
    const node = fakeNode();
    const pins = new FakeNatTable();
    const r = new SteeringReconciler({ kernel: { ...node.kernel, pins }, clock: new FakeClock(), steering: { group: { buckets: 64, idleTimerS: 120, unbalancedTimerS: 0 }, flowMark: { mask: 0x3f00 } } });
    r.set(spec([['default/a', '100.64.1.5', [GW1, GW2]]]));
    const first = await pass(r);
    assert.ok(first.ok, first.error?.message);
    assert.ok(first.writes.includes('add rule from all fwmark 0x100/0x3f00 lookup 1001 priority 99'), first.writes.join('\n'));
    assert.ok(first.writes.includes('add rule from all fwmark 0x200/0x3f00 lookup 1002 priority 99'), first.writes.join('\n'));
    assert.equal(first.writes.at(-1), 'write nftables table inet egress_gateway_agent_pins (2 pinned gateway(s))');
    assert.match(pins.text ?? '', /ct state established ct direction original ct mark & 0x00003f00 == 0x00000100 meta mark set meta mark & 0xffffc0ff \| 0x00000100/);
    assert.match(pins.text ?? '', /oifname "egress.calico" ct state new rt ip nexthop 100\.64\.2\.8 ct mark set ct mark & 0xffffc0ff \| 0x00000200/);
    assert.deepEqual((await pass(r)).writes, [], 'the second pass writes nothing');
    // A restarted agent reads the slots back from the kernel: nothing to write either.
    const again = new SteeringReconciler({ kernel: { ...node.kernel, pins }, clock: new FakeClock(), steering: { group: { buckets: 64, idleTimerS: 120, unbalancedTimerS: 0 }, flowMark: { mask: 0x3f00 } } });
    again.set(spec([['default/a', '100.64.1.5', [GW1, GW2]]]));
    assert.deepEqual((await pass(again)).writes, [], 'a new reconciler on the same kernel writes nothing');
    await again.stop();

    // GW1 drains: out of the group, its pin stays.
    r.set({ ...spec([['default/a', '100.64.1.5', [GW2]]]), keepFlows: [gw(GW1), gw(GW2)] });
    const drain = await pass(r);
    assert.ok(drain.ok, drain.error?.message);
    assert.ok(drain.writes.some((w) => w.startsWith(`replace nexthop group id ${ID + 2} group ${ID + 1} `)), drain.writes.join('\n'));
    assert.ok(!drain.writes.some((w) => /del (rule|nexthop id|neighbour|fdb)/.test(w)), drain.writes.join('\n'));
    assert.equal(pins.writes, 1, 'the pins did not change');

    // GW1 is gone: its pin, nexthop, neighbour and FDB entry go; the nftables table is written anew.
    r.set(spec([['default/a', '100.64.1.5', [GW2]]]));
    const gone = await pass(r);
    assert.ok(gone.writes.includes('del rule from all fwmark 0x100/0x3f00 lookup 1001 priority 99'), gone.writes.join('\n'));
    assert.ok(gone.writes.includes(`del nexthop id ${ID}`), gone.writes.join('\n'));
    assert.equal(gone.writes.at(-1), 'write nftables table inet egress_gateway_agent_pins (1 pinned gateway(s))');

    const down = await r.teardown();
    assert.ok(down.ok, down.error?.message);
    assert.deepEqual(down.writes.slice(-3), ['delete nftables table inet egress_gateway_agent_pins', 'delete nftables table inet egress_gateway_agent', 'delete device egress.calico']);
    assert.equal(node.policy.dump().includes('fwmark'), false);
  });
});
