import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReconcileError, ReturnPathReconciler, type ReconcileResult, type ReconcilerOptions } from '../../src/dataplane/reconciler';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeReturnPathWatch } from '../../src/fakes/return-path-watch';
import { FakeClock } from '../../src/model/clock';
import { cidr, ev, gatewayOptions, ip, route } from './dataplane-fixtures';

const M1 = '66:f9:37:c3:7e:94';
const M3 = '66:a4:6f:e0:c4:da';

function setup(kernel = new FakeReturnPathKernel(), extra: Partial<ReconcilerOptions> = {}) {
  const clock = new FakeClock();
  const results: ReconcileResult[] = [];
  const r = new ReturnPathReconciler({
    kernel,
    returnPath: gatewayOptions,
    clock,
    wallClock: () => 1_700_000_000_000 + clock.now(),
    onReconciled: (x) => results.push(x),
    ...extra,
  });
  /** Moves time and lets any pass that started finish. */
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await r.whenIdle();
  };
  return { kernel, clock, results, r, advance };
}

const node1 = route('100.64.1.0/26', 'remote_workload', 'node1', '198.51.100.11');
const node3 = route('100.64.3.0/26', 'remote_workload', 'node3', '198.51.100.13');

const TWO_NODES = `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink proto egress
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
# bridge fdb
${M3} dev vxlan0 dst 198.51.100.13 self permanent
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`;

test('nothing touches the kernel before the first in_sync; in_sync programs the snapshot', async () => {
  const { kernel, r, advance, results } = setup();
  r.start();
  r.streamStarted();
  r.apply(ev.update(node1));
  r.apply(ev.update(node3));
  await advance(120_000); // past debounce and resync periods
  assert.equal(kernel.calls, 0, 'not even a read before in_sync');
  assert.equal(results.length, 0);
  assert.equal(r.status().inSync, false);
  r.apply(ev.inSync());
  await advance(0);
  assert.equal(kernel.dump(), TWO_NODES);
  assert.equal(results.length, 1);
  assert.deepEqual({ ok: results[0]?.ok, full: results[0]?.full, operations: results[0]?.operations }, { ok: true, full: true, operations: 6 });
});

test('a burst of updates is batched into one debounced pass', async () => {
  const { kernel, r, advance, results } = setup();
  r.start();
  r.apply(ev.inSync());
  await advance(0);
  assert.equal(results.length, 1);
  for (let i = 0; i < 40; i++) {
    r.apply(ev.update(route(`100.64.${10 + i}.0/26`, 'remote_workload', `node${10 + i}`, `198.51.100.${10 + i}`)));
  }
  await advance(1);
  assert.equal(results.length, 1, 'still inside the debounce window (2 ms)');
  await advance(1);
  assert.equal(results.length, 2, 'one pass for the whole burst');
  assert.equal(results[1]?.operations, 120);
  assert.equal(results[1].full, false, 'a pass after a clean one diffs against what it left');
  assert.equal(kernel.writes.length, 120);
  await advance(10_000);
  assert.equal(results.length, 2, 'nothing more to do until the periodic resync');
});

test('errors are collected per entry, the rest is programmed, and the next pass is a full resync with backoff', async () => {
  const { kernel, r, advance, results } = setup();
  kernel.inject({ cls: 'route', op: 'upsert', errno: 'ENETUNREACH', match: '100.64.1.0/26' });
  kernel.inject({ cls: 'fdb', op: 'upsert', errno: 'EBUSY', match: M3 });
  r.start();
  r.apply(ev.update(node1));
  r.apply(ev.update(node3));
  r.apply(ev.inSync());
  await advance(0);
  const first = results[0];
  assert.ok(first && !first.ok);
  assert.ok(first.error instanceof ReconcileError);
  assert.equal(first.error.code, 'KERNEL_OP_FAILED');
  assert.deepEqual(
    first.error.errors.map((e) => e.message),
    [
      `programming fdb entry ${M3} dst 198.51.100.13 dev vxlan0: EBUSY (upsert fdb ${M3} dev vxlan0 dst 198.51.100.13 self permanent)`,
      'programming route 100.64.1.0/26 via 198.51.100.11 dev vxlan0: ENETUNREACH (upsert route 100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink)',
    ],
  );
  assert.match(first.error.message, /2 of 6 kernel operations failed: programming fdb entry/);
  // Everything else went in despite the failures.
  assert.equal(
    kernel.dump(),
    `# ip route
100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink proto egress
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
# bridge fdb
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  );
  const status = r.status();
  assert.equal(status.lastReconcile?.ok, false);
  assert.match(status.lastReconcile.error ?? '', /ENETUNREACH|EBUSY/);
  assert.deepEqual(status.counts.programmed, { routes: 1, neighbours: 2, fdb: 1 });
  assert.deepEqual(status.counts.desired, { routes: 2, neighbours: 2, fdb: 2 });

  const callsBefore = kernel.calls;
  await advance(499);
  assert.equal(kernel.calls, callsBefore, 'no retry before the backoff delay');
  await advance(1);
  const second = results[1];
  assert.ok(second?.ok, 'the retry succeeds');
  assert.equal(second.full, true, 'after a failure the kernel is read again');
  assert.equal(second.operations, 2, 'only the two missing entries are written');
  assert.equal(kernel.dump(), TWO_NODES);
  assert.equal(r.status().lastReconcile?.ok, true);
});

test('a pass that keeps failing is retried with doubling backoff, capped', async () => {
  const { kernel, r, clock, advance, results } = setup(undefined, { retryInitialMs: 100, retryMaxMs: 400 });
  kernel.inject({ cls: 'route', op: 'list', errno: 'ENOBUFS', times: Infinity });
  r.start();
  r.apply(ev.update(node1));
  r.apply(ev.inSync());
  const at: number[] = [];
  for (let i = 0; i < 6; i++) {
    await advance(i === 0 ? 0 : 50);
    while (results.length <= i) await advance(50);
    at.push(clock.now());
  }
  assert.deepEqual(at, [0, 100, 300, 700, 1100, 1500]);
  assert.match(results[0]?.error?.message ?? '', /reading the return path from the kernel: ENOBUFS/);
  kernel.clearInjections();
  await advance(400);
  assert.equal(results.at(-1)?.ok, true);
  assert.equal(kernel.writes.length, 3);
});

test('a restarted reconciler on a kernel that already holds the right state changes nothing', async () => {
  const kernel = new FakeReturnPathKernel();
  const a = setup(kernel);
  a.r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) a.r.apply(e);
  await a.advance(0);
  await a.r.stop();
  const writes = kernel.writes.length;
  assert.equal(writes, 6);

  const b = setup(kernel);
  b.r.start();
  for (const e of [ev.update(node3), ev.update(node1), ev.inSync()]) b.r.apply(e);
  await b.advance(0);
  assert.equal(b.results[0]?.ok, true);
  assert.equal(b.results[0].operations, 0);
  assert.equal(kernel.writes.length, writes, 'no delete and re-add of unchanged entries');
  assert.equal(kernel.dump(), TWO_NODES);
});

test('a new stream replaces the route set only at its in_sync; while down the kernel is left alone', async () => {
  const { kernel, r, advance } = setup();
  r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) r.apply(e);
  await advance(0);
  r.streamEnded();
  const calls = kernel.calls;
  await advance(120_000);
  assert.equal(kernel.calls, calls, 'no resync while disconnected');
  assert.equal(r.status().inSync, false);
  r.streamStarted();
  const node4 = route('100.64.4.0/26', 'remote_workload', 'node4', '198.51.100.14');
  r.apply(ev.update(node1));
  r.apply(ev.update(node4));
  await advance(120_000);
  assert.equal(kernel.calls, calls, 'the new snapshot is not applied before its in_sync');
  assert.equal(kernel.dump(), TWO_NODES);
  r.apply(ev.inSync());
  await advance(0);
  assert.equal(
    kernel.dump(),
    `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.4.0/26 via 198.51.100.14 dev vxlan0 onlink proto egress
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.14 dev vxlan0 lladdr 66:9d:a3:05:39:af PERMANENT
# bridge fdb
66:9d:a3:05:39:af dev vxlan0 dst 198.51.100.14 self permanent
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  );
});

test('the periodic resync repairs drift and leaves foreign entries alone', async () => {
  const kernel = new FakeReturnPathKernel();
  kernel.addForeignRoute({ dst: cidr('100.64.9.0/24'), gateway: ip('198.51.100.1'), dev: 'eth0', onlink: false });
  kernel.addForeignNeighbour({ ip: ip('198.51.100.50'), mac: '66:00:00:00:00:50', dev: 'vxlan0' });
  const { r, advance, results } = setup(kernel, { resyncIntervalMs: 30_000 });
  r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) r.apply(e);
  await advance(0);
  // Someone deletes one of our routes and changes one of our neighbours behind our back.
  await kernel.routes.remove({ dst: cidr('100.64.3.0/26'), gateway: ip('198.51.100.13'), dev: 'vxlan0', onlink: true });
  await kernel.neighbours.upsert({ ip: ip('198.51.100.11'), mac: '66:00:00:00:00:99', dev: 'vxlan0' });
  await advance(29_999);
  assert.equal(results.length, 1);
  await advance(1);
  assert.equal(results.length, 2);
  assert.deepEqual({ full: results[1]?.full, operations: results[1]?.operations, reason: results[1]?.reason }, { full: true, operations: 2, reason: 'resync' });
  assert.equal(
    kernel.dump(),
    `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink proto egress
100.64.9.0/24 via 198.51.100.1 dev eth0 proto static
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
198.51.100.50 dev vxlan0 lladdr 66:00:00:00:00:50 STALE
# bridge fdb
${M3} dev vxlan0 dst 198.51.100.13 self permanent
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  );
  await advance(30_000);
  assert.equal(results.length, 3, 'resync keeps coming');
  assert.equal(results[2]?.operations, 0);
});

test('a destination held by a foreign route is reported (EEXIST), not overwritten', async () => {
  const kernel = new FakeReturnPathKernel();
  kernel.addForeignRoute({ dst: cidr('100.64.1.0/26'), gateway: ip('198.51.100.1'), dev: 'eth0', onlink: false });
  const { r, advance, results } = setup(kernel);
  r.start();
  for (const e of [ev.update(node1), ev.inSync()]) r.apply(e);
  await advance(0);
  assert.equal(results[0]?.ok, false);
  assert.match(results[0].error?.message ?? '', /programming route 100\.64\.1\.0\/26 via 198\.51\.100\.11 dev vxlan0: EEXIST/);
  assert.match(kernel.dump(), /100\.64\.1\.0\/26 via 198\.51\.100\.1 dev eth0 proto static/);
});

test('removals: gone entries are deleted after their route_remove; a failed delete is retried', async () => {
  const { kernel, r, advance, results } = setup();
  r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) r.apply(e);
  await advance(0);
  kernel.inject({ cls: 'neighbour', op: 'remove', errno: 'EBUSY' });
  r.apply(ev.remove('100.64.3.0/26'));
  await advance(50);
  assert.equal(results[1]?.ok, false);
  assert.match(results[1].error?.message ?? '', /removing neighbour 198\.51\.100\.13 lladdr 66:a4:6f:e0:c4:da dev vxlan0: EBUSY/);
  await advance(500);
  assert.equal(results[2]?.ok, true);
  assert.equal(
    kernel.dump(),
    `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
# bridge fdb
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  );
});

test('status reports the gateway itself, counts and the last pass', async () => {
  const { r, advance } = setup();
  assert.deepEqual(r.status(), {
    inSync: false,
    counts: { desired: { routes: 0, neighbours: 0, fdb: 0 }, programmed: { routes: 0, neighbours: 0, fdb: 0 } },
    skipped: 0,
    conflicts: [],
  });
  r.start();
  r.apply(ev.update(route('100.64.2.0/26', 'local_workload', 'node2', '198.51.100.12')));
  r.apply(ev.update(node1));
  r.apply(ev.update(route('2001:db8:1::/122', 'remote_workload', 'node1', '2001:db8::11')));
  r.apply(ev.inSync());
  await advance(0);
  const s = r.status();
  assert.equal(s.inSync, true);
  assert.deepEqual(s.self, { dst: '100.64.2.0/26', node: 'node2' });
  assert.equal(s.skipped, 1);
  assert.deepEqual(s.counts, { desired: { routes: 1, neighbours: 1, fdb: 1 }, programmed: { routes: 1, neighbours: 1, fdb: 1 } });
  assert.deepEqual({ ok: s.lastReconcile?.ok, full: s.lastReconcile?.full, operations: s.lastReconcile?.operations, at: s.lastReconcile?.at }, {
    ok: true,
    full: true,
    operations: 3,
    at: 1_700_000_000_000,
  });
});

test('stop() cancels timers: nothing runs after it', async () => {
  const { kernel, r, advance } = setup();
  r.start();
  for (const e of [ev.update(node1), ev.inSync()]) r.apply(e);
  await advance(0);
  await r.stop();
  const calls = kernel.calls;
  r.apply(ev.update(node3));
  await advance(120_000);
  assert.equal(kernel.calls, calls);
});

test('an idle resync takes the kernel\'s fingerprint and reads nothing more; updates, drift and a new stream still get theirs', async () => {
  const { kernel, r, advance, results } = setup(undefined, { resyncIntervalMs: 30_000 });
  r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) r.apply(e);
  await advance(0);
  const calls = kernel.calls;
  await advance(30_000);
  await advance(30_000);
  assert.equal(kernel.calls - calls, 0, 'each resync finds the kernel\'s fingerprint equal to what it holds and lists nothing');
  assert.equal(kernel.fingerprints, 2);
  assert.equal(kernel.digests, 1, 'the held maps did not change between the two resyncs: their digest is computed once');

  // A live update, then a resync: the update's pass writes its block; the resync checks and finds nothing.
  r.apply(ev.update(route('100.64.4.0/26', 'remote_workload', 'node3', '198.51.100.13')));
  await advance(2);
  await advance(30_000);
  assert.equal(kernel.digests, 2, 'the update changed what is held: the next resync digests it afresh');
  assert.equal(kernel.calls - calls, 1, 'and finds it equal to the kernel: only the update\'s write, no read');

  // Drift made by others: the resync finds the kernel unlike what it programmed and diffs all of it.
  await kernel.routes.remove({ dst: cidr('100.64.3.0/26'), gateway: ip('198.51.100.13'), dev: 'vxlan0', onlink: true });
  kernel.seed({ fdb: { mac: M1, dst: ip('198.51.100.99'), dev: 'vxlan0' } });
  await advance(30_000);
  assert.equal(
    kernel.dump(),
    `# ip route
100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress
100.64.3.0/26 via 198.51.100.13 dev vxlan0 onlink proto egress
100.64.4.0/26 via 198.51.100.13 dev vxlan0 onlink proto egress
# ip neigh
198.51.100.11 dev vxlan0 lladdr ${M1} PERMANENT
198.51.100.13 dev vxlan0 lladdr ${M3} PERMANENT
# bridge fdb
${M3} dev vxlan0 dst 198.51.100.13 self permanent
${M1} dev vxlan0 dst 198.51.100.11 self permanent
`,
  );

  // A new stream's snapshot replaces the routes whole: the parts are built afresh after its pass.
  r.streamStarted();
  for (const e of [ev.update(node1), ev.inSync()]) r.apply(e);
  await advance(0);
  await advance(30_000);
  assert.deepEqual(
    results.map((x) => `${x.reason} ${x.full ? 'full' : 'incremental'} ${x.operations}`),
    [
      'in_sync full 6',
      'resync full 0',
      'resync full 0',
      'update incremental 1',
      'resync full 0',
      'resync full 2',
      'in_sync full 4',
      'resync full 0',
    ],
  );
  assert.deepEqual(r.programmedCounts(), { routes: 1, neighbours: 1, fdb: 1 });
});

test('a change the kernel reports is repaired at once, not at the next resync; the watch is paused while the pass writes', async () => {
  const watch = new FakeReturnPathWatch();
  const { kernel, r, advance, results } = setup(undefined, { resyncIntervalMs: 30_000, watch });
  r.start();
  for (const e of [ev.update(node1), ev.update(node3), ev.inSync()]) r.apply(e);
  await advance(0);
  assert.equal(watch.dump(), 'watch vxlan0\npause\nresume\n', 'the in_sync pass wrote with the watch paused');
  // Someone else deletes one of our routes; the kernel says so.
  await kernel.routes.remove({ dst: cidr('100.64.3.0/26'), gateway: ip('198.51.100.13'), dev: 'vxlan0', onlink: true });
  watch.report('route 100.64.3.0/26 (deleted)');
  await advance(0);
  assert.deepEqual(
    results.map((x) => `${x.reason} ${x.full ? 'full' : 'incremental'} ${x.operations}`),
    ['in_sync full 6', 'kernel reported a change to route 100.64.3.0/26 (deleted) full 1'],
  );
  assert.equal(kernel.dump(), TWO_NODES);
  await r.stop();
  assert.match(watch.dump(), /close\n$/);
});
