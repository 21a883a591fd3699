import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/daemon';
import { parseDaemonConfig } from '../../src/daemon-config';
import { desiredReturnPath } from '../../src/dataplane/desired';
import { ReturnPathReconciler } from '../../src/dataplane/reconciler';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeClock } from '../../src/model/clock';
import { clientVtepMac } from '../../src/model/mac';
import { createLogger, silentLogger } from '../../src/observability/logger';
import { decodeRouteUpdate, decodeToDataplane, decodeVtepUpdate } from '../../src/policysync/decode';
import { TestFelix } from '../lab/test-felix';
import { ev, gatewayOptions, route } from './dataplane-fixtures';
import { until } from './wait';

/**
 * Issue 12, finding 2: a RouteUpdate naming another node with the same node address (a replaced
 * node with a reused IP, a stale or malformed entry) took the working node's return path away when
 * its name sorted first, silently. Now the node that holds the address keeps it; the conflict is
 * logged once with both names, counted and shown; and node names longer than Kubernetes allows
 * (253 characters) are malformed messages.
 */

const ADDRESS = '198.51.100.11';

test('desired: the node holding the address keeps it, whatever the names; without a holder, the first by name', () => {
  const zeta = route('100.64.1.0/26', 'remote_workload', 'zeta', ADDRESS);
  const alpha = route('100.64.9.0/26', 'remote_workload', 'alpha', ADDRESS);
  const held = (address: { text: string }): string | undefined => (address.text === ADDRESS ? clientVtepMac('zeta') : undefined);

  const d = desiredReturnPath([zeta, alpha], [], gatewayOptions, held);
  assert.deepEqual(d.routes.map((r) => `${r.dst.text} via ${r.gateway?.text}`), ['100.64.1.0/26 via 198.51.100.11']);
  assert.deepEqual(d.neighbours.map((n) => n.mac), [clientVtepMac('zeta')]);
  assert.deepEqual(d.conflicts, [{ address: ADDRESS, keptBy: 'zeta', because: 'incumbent', refused: [{ node: 'alpha', blocks: 1 }] }]);
  assert.match(d.skipped[0]?.reason ?? '', /node address 198\.51\.100\.11 of alpha is already used by node zeta \(which holds it now\)/);

  const fresh = desiredReturnPath([zeta, alpha], [], gatewayOptions);
  assert.equal(fresh.conflicts[0]?.keptBy, 'alpha');
  assert.equal(fresh.conflicts[0].because, 'first by name');
  assert.deepEqual(desiredReturnPath([zeta], [], gatewayOptions, held).conflicts, [], 'one claimant: no conflict');
});

function logsTo(lines: Record<string, unknown>[]) {
  return createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
}

test('reconciler: a newcomer sorting first does not take a working node address; logged once, counted, in status', async () => {
  const kernel = new FakeReturnPathKernel();
  const clock = new FakeClock();
  const logs: Record<string, unknown>[] = [];
  const conflicts: string[] = [];
  const r = new ReturnPathReconciler({
    kernel,
    returnPath: gatewayOptions,
    clock,
    logger: logsTo(logs),
    onConflict: (c, refused) => void conflicts.push(`${c.address} ${c.keptBy} ${refused}`),
  });
  r.start();
  r.apply(ev.update(route('100.64.1.0/26', 'remote_workload', 'zeta', ADDRESS)));
  r.apply(ev.inSync());
  clock.advance(0);
  await r.whenIdle();
  const working = kernel.dump();
  assert.match(working, /100\.64\.1\.0\/26 via 198\.51\.100\.11/);

  // The node replaced with the address reused: a new name that sorts first.
  r.apply(ev.update(route('100.64.9.0/26', 'remote_workload', 'alpha', ADDRESS)));
  clock.advance(2);
  await r.whenIdle();
  assert.equal(kernel.dump(), working, "zeta's route, neighbour and FDB entry are untouched");
  // More passes, a periodic resync: still one log line and one count.
  r.requestResync('test');
  clock.advance(0);
  await r.whenIdle();
  clock.advance(30_000);
  await r.whenIdle();
  assert.equal(kernel.dump(), working);
  const logged = logs.filter((l) => l['event'] === 'route_conflict');
  assert.equal(logged.length, 1);
  assert.equal(logged[0]?.['keptBy'], 'zeta');
  assert.equal(logged[0]['refused'], 'alpha');
  assert.match(String(logged[0]['msg']), /node alpha claims node address 198\.51\.100\.11, which node zeta holds: zeta keeps it/);
  assert.deepEqual(conflicts, [`${ADDRESS} zeta alpha`]);
  assert.deepEqual(r.status().conflicts, [{ address: ADDRESS, keptBy: 'zeta', because: 'incumbent', refused: [{ node: 'alpha', blocks: 1 }] }]);

  // Zeta goes away (its block removed): the address is free, alpha gets it.
  r.apply(ev.remove('100.64.1.0/26'));
  clock.advance(2);
  await r.whenIdle();
  assert.match(kernel.dump(), new RegExp(`100\\.64\\.9\\.0/26 via ${ADDRESS.replace(/\./g, '\\.')}`));
  assert.match(kernel.dump(), new RegExp(clientVtepMac('alpha')));
  assert.deepEqual(r.status().conflicts, []);
  await r.stop();
});

test('a Daemon on fakes: a conflict from Felix is counted once in egress_gateway_route_conflicts_total and shown in status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-conflicts-'));
  const block = (dst: string, node: string, ip: string) => ({ type: 1, ip_pool_type: 2, dst, dst_node_name: node, dst_node_ip: ip });
  const felix = await TestFelix.start(join(dir, 'felix.sock'), { snapshot: { routes: [block('100.64.1.0/26', 'zeta', ADDRESS), block('100.64.9.0/26', 'alpha', ADDRESS)] } });
  const daemon = new Daemon(parseDaemonConfig({ EGRESS_POD_IP: '100.64.2.7', DAEMON_SOCKET_PATH: join(dir, 'felix.sock'), HEALTH_PORT: '0', STATUS_SOCKET: join(dir, 'status.sock') }), {
    kernel: new FakeReturnPathKernel(),
    logger: silentLogger(),
  });
  const counted = async (): Promise<string> => (await daemon.metrics.registry.metrics()).split('\n').find((l) => l.startsWith('egress_gateway_route_conflicts_total ')) ?? '';
  try {
    assert.equal(await counted(), 'egress_gateway_route_conflicts_total 0', 'registered, at 0 before any conflict');
    await daemon.start();
    await until('the conflict in status', () => daemon.status().dataplane.conflicts.length > 0);
    // Nothing holds the address on a fresh kernel: the first by name keeps it.
    assert.deepEqual(daemon.status().dataplane.conflicts, [{ address: ADDRESS, keptBy: 'alpha', because: 'first by name', refused: [{ node: 'zeta', blocks: 1 }] }]);
    assert.equal(await counted(), 'egress_gateway_route_conflicts_total 1');
    // More passes while it lasts (another node's block arrives): still one.
    felix.sendRouteUpdate(block('100.64.3.0/26', 'node3', '198.51.100.13'));
    await until('the next block programmed', () => daemon.status().dataplane.programmed.routes === 2);
    assert.equal(await counted(), 'egress_gateway_route_conflicts_total 1', 'counted once while it lasts');
  } finally {
    await daemon.stop();
    await felix.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reconciler restarted (a new daemon) with the kernel holding the address: the holder keeps it from the first pass', async () => {
  const kernel = new FakeReturnPathKernel();
  const c1 = new FakeClock();
  const seeded = new ReturnPathReconciler({ kernel, returnPath: gatewayOptions, clock: c1 });
  seeded.start();
  seeded.apply(ev.update(route('100.64.1.0/26', 'remote_workload', 'zeta', ADDRESS)));
  seeded.apply(ev.inSync());
  c1.advance(0);
  await seeded.whenIdle();
  await seeded.stop();
  const working = kernel.dump();

  // A new process: its first snapshot names both nodes.
  const c2 = new FakeClock();
  const restarted = new ReturnPathReconciler({ kernel, returnPath: gatewayOptions, clock: c2 });
  restarted.start();
  restarted.apply(ev.update(route('100.64.9.0/26', 'remote_workload', 'alpha', ADDRESS)));
  restarted.apply(ev.update(route('100.64.1.0/26', 'remote_workload', 'zeta', ADDRESS)));
  restarted.apply(ev.inSync());
  c2.advance(0);
  await restarted.whenIdle();
  assert.equal(kernel.dump(), working, 'the kernel read settles it before anything is written');
  assert.equal(restarted.status().conflicts[0]?.because, 'incumbent');
  await restarted.stop();
});

test('decode: node names are bounded as Kubernetes bounds them (253 characters); longer ones are malformed', () => {
  const base = { type: 1, ip_pool_type: 2, dst: '100.64.1.0/26', dst_node_ip: ADDRESS };
  assert.equal(decodeRouteUpdate({ ...base, dst_node_name: 'n'.repeat(253) }).dstNodeName.length, 253);
  const long = decodeToDataplane({ payload: 'route_update', route_update: { ...base, dst_node_name: 'n'.repeat(200_000) } });
  assert.equal(long.kind, 'malformed');
  assert.match(long.reason, /^dst_node_name "n{64}"… \(200000 characters\) is longer than the 253 characters a Kubernetes node name may have$/);
  const vtep = decodeToDataplane({ payload: 'vtep_update', vtep_update: { node: 'n'.repeat(254), mac: '66:00:00:00:00:01' } });
  assert.equal(vtep.kind, 'malformed');
  assert.equal(decodeVtepUpdate({ node: 'node1' }).node, 'node1');
  const remove = decodeToDataplane({ payload: 'vtep_remove', vtep_remove: { node: 'x'.repeat(300) } });
  assert.equal(remove.kind, 'malformed');
});
