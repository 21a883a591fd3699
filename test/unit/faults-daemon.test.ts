import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { parseInitConfig } from '../../src/config/init-config';
import { vxlanSysctls } from '../../src/model/vxlan';
import { planInit } from '../../src/init/plan';
import { Daemon } from '../../src/daemon';
import { FakeReturnPathKernel, type FakeErrno } from '../../src/fakes/return-path';
import { FakeLinks } from '../../src/fakes/links';
import { createLogger } from '../../src/observability/logger';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { TestFelix } from '../lab/test-felix';
import { until } from './wait';

/**
 * The daemon's answer to kernel faults, with the real PolicySync client and a test Felix on a Unix
 * socket, and the kernel and link table as stateful fakes: netlink errors injected through the
 * adapter, and vxlan0 deleted or unrepairable. Readiness is read from the daemon's own tracker.
 */

const TIMEOUT = { timeout: 30_000 };
const GW = '100.64.2.7';
const NODE1 = '198.51.100.11';
const BLOCK = '100.64.1.0/26';
const ROUTE: RouteUpdateWire = { type: 1, ip_pool_type: 2, dst: BLOCK, dst_node_name: 'node1', dst_node_ip: NODE1 };
const PROGRAMMED = `${BLOCK} via ${NODE1} dev vxlan0 onlink proto egress`;

interface Harness {
  readonly daemon: Daemon;
  readonly kernel: FakeReturnPathKernel;
  readonly links: FakeLinks;
  readonly felix: TestFelix;
  readonly logs: string[];
  readonly ready: () => { ready: boolean; failing: readonly string[]; reconcile: string };
}

async function harness(t: TestContext, opts: { links?: boolean; setup?: (k: FakeReturnPathKernel, l: FakeLinks) => void } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-faults-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: { routes: [ROUTE] } });
  t.after(() => felix.stop());
  const kernel = new FakeReturnPathKernel();
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  const logs: string[] = [];
  const config = parseDaemonConfig({ EGRESS_POD_IP: GW, DAEMON_SOCKET_PATH: socketPath, HEALTH_PORT: '0', LOG_SEVERITY: 'debug', STATUS_SOCKET: join(dir, 'status.sock') });
  const daemon = new Daemon(config, {
    kernel,
    ...(opts.links ? { links, vxlanCheckIntervalMs: 50 } : {}),
    logger: createLogger('debug', { write: (line: string) => void logs.push(line) }),
  });
  if (opts.links) assert.ok(daemon.vxlanGuard, 'the guard is on when links are given');
  opts.setup?.(kernel, links);
  await daemon.start();
  t.after(() => daemon.stop());
  const ready = (): { ready: boolean; failing: readonly string[]; reconcile: string } => {
    const r = daemon.health.tracker.report();
    return { ready: r.ready, failing: r.failing, reconcile: `${r.checks.reconcile?.reason ?? ''} ${r.checks.reconcile?.lastError ?? ''}` };
  };
  return { daemon, kernel, links, felix, logs, ready };
}

const ERRNOS: readonly FakeErrno[] = ['EEXIST', 'ENOENT', 'ENETUNREACH', 'EBUSY', 'ENOBUFS'];

for (const errno of ERRNOS) {
  test(`netlink ${errno} on a route write: retried, readiness names it, ready again once it goes through`, TIMEOUT, async (t) => {
    const h = await harness(t, { setup: (k) => k.inject({ cls: 'route', op: 'upsert', errno, times: 2 }) });
    const failing = await until('readiness to name the failure', () => {
      const r = h.ready();
      return !r.ready && r.failing.includes('reconcile') && r.reconcile.includes(errno) ? r : undefined;
    });
    assert.match(failing.reconcile, new RegExp(`programming route ${BLOCK.replace(/\./g, '\\.')}.*${errno}`));
    assert.doesNotMatch(h.kernel.dump(), /100\.64\.1\.0/, 'the failed route is not in the kernel yet');
    await until('ready again', () => h.ready().ready || undefined);
    assert.match(h.kernel.dump(), new RegExp(PROGRAMMED.replace(/\./g, '\\.')));
    // Neighbour and FDB went in on the first pass; the retries were full resyncs that only added the route.
    assert.deepEqual(
      h.kernel.writes.filter((w) => w.includes('route')),
      [`add route ${BLOCK} via ${NODE1} dev vxlan0 onlink`],
    );
    const warned = h.logs.filter((l) => l.includes('"event":"reconciled"') && l.includes('"level":"warn"'));
    assert.equal(warned.length, 2, 'each failed pass logged once');
    assert.equal(h.daemon.reconciler.status().lastReconcile?.ok, true);
  });
}

test('netlink errors on reads and removals: the pass fails whole, is retried, and recovers', TIMEOUT, async (t) => {
  const h = await harness(t, {
    setup: (k) => {
      k.inject({ cls: 'fdb', op: 'list', errno: 'ENOBUFS', times: 1 });
      k.inject({ cls: 'route', op: 'remove', errno: 'EBUSY', times: 1 });
    },
  });
  await until('failing on the dump', () => h.ready().reconcile.includes('ENOBUFS') || undefined);
  await until('ready', () => h.ready().ready || undefined);
  h.felix.sendRouteRemove(BLOCK);
  await until('failing on the delete', () => h.ready().reconcile.includes('EBUSY') || undefined);
  await until('route removed after the retry', () => (!h.kernel.dump().includes(BLOCK) && h.ready().ready) || undefined);
});

test('vxlan0 deleted: readiness 503 naming it, re-created with init’s spec, return path reprogrammed, ready again', TIMEOUT, async (t) => {
  const h = await harness(t, {
    links: true,
    setup: (_k, l) => {
      void l.ensureVxlan({ name: 'vxlan0', vni: 4097, port: 4790, parent: 'eth0', mac: 'a2:2a:64:40:02:07', local: GW });
    },
  });
  await until('ready', () => h.ready().ready || undefined);
  const before = h.links.dump();
  assert.match(before, /vxlan0 vxlan up mtu 1450 address a2:2a:64:40:02:07 vxlan id 4097 dstport 4790 dev eth0 local 100\.64\.2\.7/);

  // What the kernel does on `ip link del vxlan0`: the device and everything on it goes.
  h.links.removeLink('vxlan0');
  h.kernel.devices.delete('vxlan0');
  for (const r of await h.kernel.routes.list()) await h.kernel.routes.remove(r);
  for (const n of await h.kernel.neighbours.list('vxlan0')) await h.kernel.neighbours.remove(n);
  for (const f of await h.kernel.fdb.list('vxlan0')) await h.kernel.fdb.remove(f);
  h.links.failNext('create', 'EPERM'); // the first repair fails; the guard must retry, not crash
  h.kernel.devices.add('vxlan0');

  const broken = await until('not ready', () => {
    const r = h.ready();
    return !r.ready ? r : undefined;
  });
  assert.deepEqual(broken.failing, ['reconcile']);
  assert.match(broken.reconcile, /vxlan0 does not exist/);
  await until('ready again', () => h.ready().ready || undefined);
  assert.equal(h.links.dump().replace(/^\d+: /gm, ''), before.replace(/^\d+: /gm, ''), 'the same device as init made');
  assert.match(h.kernel.dump(), new RegExp(PROGRAMMED.replace(/\./g, '\\.')));
  assert.equal(h.logs.filter((l) => l.includes('"event":"vxlan_device_broken"')).length, 1, 'one warning for the problem');
  assert.equal(h.logs.filter((l) => l.includes('"event":"vxlan_repair_failed"')).length, 1, 'one warning for the failed repair');
  assert.equal(h.logs.filter((l) => l.includes('"event":"vxlan_device_repaired"')).length, 1);
});

test('vxlan0 set down or given the wrong address by someone else: repaired in place', TIMEOUT, async (t) => {
  const h = await harness(t, {
    links: true,
    setup: (_k, l) => {
      void l.ensureVxlan({ name: 'vxlan0', vni: 4097, port: 4790, parent: 'eth0', mac: 'a2:2a:64:40:02:07', local: GW });
    },
  });
  await until('ready', () => h.ready().ready || undefined);
  const link = await h.links.get('vxlan0');
  assert.ok(link);
  h.links.addLink({ ...link, up: false, mac: '02:00:00:00:00:99' });
  await until('repair logged', () => h.logs.some((l) => l.includes('"event":"vxlan_device_repaired"')) || undefined);
  const after = await h.links.get('vxlan0');
  assert.equal(after?.up, true);
  assert.equal(after.mac, 'a2:2a:64:40:02:07');
  assert.equal(after.index, link.index, 'repaired in place, not re-created');
  await until('ready again', () => h.ready().ready || undefined);
});

test('with a fake kernel and no links given, the vxlan0 guard is off (a test never touches real links)', TIMEOUT, async (t) => {
  const h = await harness(t);
  assert.equal(h.daemon.vxlanGuard, undefined);
});

test('the guard keeps vxlan0 exactly as init makes it, from the same variables, and re-applies init’s device settings', () => {
  for (const env of [{ EGRESS_POD_IP: GW }, { EGRESS_POD_IP: GW, EGRESS_VXLAN_VNI: '5001', EGRESS_VXLAN_PORT: '8472' }]) {
    const plan = planInit(parseInitConfig(env), 'nftables');
    const daemon = new Daemon(parseDaemonConfig({ ...env, HEALTH_PORT: '0' }), {
      kernel: new FakeReturnPathKernel(),
      links: new FakeLinks(),
      logger: createLogger('fatal', { write: () => undefined }),
    });
    assert.deepEqual(daemon.vxlanGuard?.spec, plan.vxlan);
    for (const setting of vxlanSysctls(4)) assert.ok(plan.sysctls.some((s) => s.key === setting.key && s.value === setting.value), setting.key);
  }
});
