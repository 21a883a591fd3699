import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredReturnPath } from '../../src/dataplane/desired';
import { diffReturnPath, formatPlan, planOperations } from '../../src/dataplane/diff';
import { fdbKind, neighbourKind, routeKind, type EntryKind, type FdbEntry, type NeighbourEntry, type RouteEntry } from '../../src/model/entries';
import { ReturnPathReconciler, type ReconcileResult } from '../../src/dataplane/reconciler';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeClock } from '../../src/model/clock';
import type { SyncEvent } from '../../src/model/felix';
import { cidr, ev, gatewayOptions, ip, prng, route, shuffle, vtep } from './dataplane-fixtures';

const M1 = '66:f9:37:c3:7e:94';
const M3 = '66:a4:6f:e0:c4:da';
const M4 = '66:9d:a3:05:39:af';

async function kernelEntries(k: FakeReturnPathKernel) {
  return { routes: await k.routes.list(), neighbours: await k.neighbours.list('vxlan0'), fdb: await k.fdb.list('vxlan0') };
}

test('diff against the fake kernel: a stale route and neighbour go, a changed FDB entry is replaced, equal entries stay', async () => {
  const k = new FakeReturnPathKernel();
  k.seed({ route: { dst: cidr('100.64.1.0/26'), gateway: ip('198.51.100.11'), dev: 'vxlan0', onlink: true } });
  k.seed({ route: { dst: cidr('100.64.9.0/26'), gateway: ip('198.51.100.19'), dev: 'vxlan0', onlink: true } });
  k.seed({ neighbour: { ip: ip('198.51.100.11'), mac: M1, dev: 'vxlan0' } });
  k.seed({ neighbour: { ip: ip('198.51.100.19'), mac: '66:00:00:00:00:19', dev: 'vxlan0' } });
  k.seed({ fdb: { mac: M1, dst: ip('198.51.100.99'), dev: 'vxlan0' } });
  const want = desiredReturnPath(
    [route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11'), route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.13')],
    [],
    gatewayOptions,
  );
  const plan = diffReturnPath(await kernelEntries(k), want);
  assert.equal(
    formatPlan(plan),
    `add fdb ${M3} dev vxlan0 dst 198.51.100.13 self permanent
replace fdb ${M1} dev vxlan0 dst 198.51.100.11 self permanent
add neigh 198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
add route 100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink
del route 100.64.9.0/26 via 198.51.100.19 dev vxlan0 onlink
del neigh 198.51.100.19 dev vxlan0 lladdr 66:00:00:00:00:19 PERMANENT
`,
  );
  assert.equal(planOperations(plan), 6);
  assert.equal(plan.routes.unchanged, 1);
  assert.equal(plan.neighbours.unchanged, 1);
});

test('diff: equal state is an empty plan; duplicates under one key keep the equal one and drop the rest', async () => {
  const k = new FakeReturnPathKernel();
  const want = desiredReturnPath([route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11')], [], gatewayOptions);
  for (const r of want.routes) k.seed({ route: r });
  for (const n of want.neighbours) k.seed({ neighbour: n });
  for (const f of want.fdb) k.seed({ fdb: f });
  assert.equal(formatPlan(diffReturnPath(await kernelEntries(k), want)), '');
  // Two remotes for one MAC (someone appended one): the equal one stays, the extra one goes.
  k.seed({ fdb: { mac: M1, dst: ip('198.51.100.77'), dev: 'vxlan0' } });
  assert.equal(formatPlan(diffReturnPath(await kernelEntries(k), want)), `del fdb ${M1} dev vxlan0 dst 198.51.100.77 self permanent\n`);
});

/** The end state every replay below must reach, whatever the order. */
const FINAL = `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.1.1/32 dev eth0 scope link proto egress
100.64.1.64/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.4.0/26 via 198.51.100.14 dev vxlan0 onlink proto egress
100.64.9.0/24 via 198.51.100.1 dev eth0 proto static
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.14 dev vxlan0 lladdr ${M4} PERMANENT
198.51.100.50 dev vxlan0 lladdr 66:00:00:00:00:50 STALE
# bridge fdb
${M4} dev vxlan0 dst 198.51.100.14 self permanent
${M1} dev vxlan0 dst 100.64.1.1 self permanent
`;

test('replaying the same updates in random orders (seeded) reaches the same kernel state', async () => {
  const snapshot: SyncEvent[] = [
    ev.update(route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11', { pool: 'vxlan' })),
    ev.update(route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.13')),
    ev.update(route('100.64.2.0/26', 'local_workload', 'node2', '198.51.100.12')),
    ev.update(route('100.64.5.0/26', 'remote_workload', 'node5', '198.51.100.15')),
  ];
  const live: SyncEvent[] = [
    ev.update(route('100.64.1.64/26', 'remote_workload', 'node1', '198.51.100.11', { pool: 'vxlan' })),
    ev.update(route('100.64.4.0/26', 'remote_workload', 'node4', '198.51.100.14')),
    ev.vtep(vtep('node1', '100.64.1.1', '198.51.100.11')),
    ev.update(route('100.64.1.1/32', 'remote_tunnel', 'node1', '198.51.100.11', { pool: 'vxlan' })),
  ];
  const removals: SyncEvent[] = [ev.remove('100.64.3.0/26'), ev.remove('100.64.5.0/26'), ev.vtepRemove('node9')];

  for (let seed = 1; seed <= 25; seed++) {
    const rand = prng(seed);
    const clock = new FakeClock();
    const k = new FakeReturnPathKernel();
    k.addForeignRoute({ dst: cidr('100.64.9.0/24'), gateway: ip('198.51.100.1'), dev: 'eth0', onlink: false });
    k.addForeignNeighbour({ ip: ip('198.51.100.50'), mac: '66:00:00:00:00:50', dev: 'vxlan0' });
    const results: ReconcileResult[] = [];
    const r = new ReturnPathReconciler({ kernel: k, returnPath: gatewayOptions, clock, onReconciled: (x) => results.push(x) });
    r.start();
    r.streamStarted();
    // Part of the live updates may already be in the snapshot (Felix collapses history).
    const order = shuffle(live, rand);
    const cut = Math.floor(rand() * (order.length + 1));
    for (const e of shuffle([...snapshot, ...order.slice(0, cut)], rand)) r.apply(e);
    r.apply(ev.inSync());
    for (const e of [...order.slice(cut), ...shuffle(removals, rand)]) {
      r.apply(e);
      // Passes happen at random points between updates.
      if (rand() < 0.5) {
        clock.advance(Math.floor(rand() * 100));
        await r.whenIdle();
      }
    }
    clock.advance(1000);
    await r.whenIdle();
    assert.equal(k.dump(), FINAL, `seed ${seed}`);
    assert.ok(results.length > 0 && results.every((x) => x.ok), `seed ${seed}: every pass succeeded`);
    await r.stop();
  }
});

test('entries compare field by field exactly when their renderings are equal', () => {
  const rand = prng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const ips = ['198.51.100.11', '198.51.100.12', '2001:db8::1', '2001:db8::2'];
  const dsts = ['100.64.1.0/26', '100.64.1.0/27', '100.64.1.1/32', '2001:db8:1::/122'];
  const devs = ['vxlan0', 'eth0'];
  const macs = [M1, M3];
  const routes = Array.from({ length: 40 }, (): RouteEntry => {
    const gw = pick([undefined, ...ips]);
    return { dst: cidr(pick(dsts)), ...(gw ? { gateway: ip(gw) } : {}), dev: pick(devs), onlink: rand() < 0.5 };
  });
  const neighbours = Array.from({ length: 40 }, (): NeighbourEntry => ({ ip: ip(pick(ips)), mac: pick(macs), dev: pick(devs) }));
  const fdb = Array.from({ length: 40 }, (): FdbEntry => ({ mac: pick(macs), dst: ip(pick(ips)), dev: pick(devs) }));
  let equal = 0;
  const check = <T>(kind: EntryKind<T>, xs: readonly T[]): void => {
    for (const a of xs) {
      for (const b of xs) {
        const same = kind.format(a) === kind.format(b);
        if (same) equal++;
        assert.equal(kind.same(a, b), same, `${kind.format(a)} / ${kind.format(b)}`);
      }
    }
  };
  check(routeKind, routes);
  check(neighbourKind, neighbours);
  check(fdbKind, fdb);
  assert.ok(equal > 3 * 40 + 100, `equal pairs beyond each entry with itself: ${equal - 3 * 40}`);
});
