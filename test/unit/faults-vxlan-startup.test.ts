import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon } from '../../src/daemon';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeLinks } from '../../src/fakes/links';
import type { VxlanSpec } from '../../src/kernel/ports';
import { createLogger } from '../../src/observability/logger';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { TestFelix } from '../lab/test-felix';
import { until } from './wait';

/**
 * A vxlan0 that is wrong when the daemon starts (made by hand, without `local`, as the benchmark
 * namespace did) must be re-created before the first pass writes anything onto it. When the
 * guard first looked one check interval after start, the re-creation landed in the middle of the
 * first pass of a 100k-route snapshot: the kernel dropped the routes already written with the old
 * device, and the rest failed with ENODEV (they carried its index).
 */

const GW = '100.64.2.7';
const BLOCKS = [1, 2, 3].map((i) => ({ dst: `100.65.${i}.0/26`, node: `node${i}`, nodeIp: `198.51.100.${10 + i}` }));
const ROUTES: RouteUpdateWire[] = BLOCKS.map((b) => ({ type: 1, ip_pool_type: 2, dst: b.dst, dst_node_name: b.node, dst_node_ip: b.nodeIp }));

test('a vxlan0 broken at start-up is re-created before any return-path entry is written onto it', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-vxstart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: { routes: ROUTES } });
  t.after(() => felix.stop());

  const kernel = new FakeReturnPathKernel();
  const links = new FakeLinks();
  const eth0 = links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  // `ip link add vxlan0 type vxlan id 4097 dstport 4790 dev eth0`: no local, a random address.
  links.addLink({ name: 'vxlan0', kind: 'vxlan', up: true, mtu: 1450, mac: '02:00:00:00:00:42', vxlan: { vni: 4097, port: 4790, parentIndex: eth0.index } });

  // What the kernel does when the device is re-created: every entry on the old one goes with it.
  const writesBeforeRepair: number[] = [];
  const ensureVxlan = links.ensureVxlan.bind(links);
  links.ensureVxlan = async (spec: VxlanSpec) => {
    writesBeforeRepair.push(kernel.writes.length);
    for (const r of await kernel.routes.list()) await kernel.routes.remove(r);
    for (const n of await kernel.neighbours.list('vxlan0')) await kernel.neighbours.remove(n);
    for (const f of await kernel.fdb.list('vxlan0')) await kernel.fdb.remove(f);
    return ensureVxlan(spec);
  };

  const logs: string[] = [];
  const config = parseDaemonConfig({ EGRESS_POD_IP: GW, DAEMON_SOCKET_PATH: socketPath, HEALTH_PORT: '0', LOG_SEVERITY: 'debug', STATUS_SOCKET: join(dir, 'status.sock') });
  const daemon = new Daemon(config, {
    kernel,
    links,
    // Far beyond this test: only a check at start can repair the device in time.
    vxlanCheckIntervalMs: 600_000,
    logger: createLogger('debug', { write: (line: string) => void logs.push(line) }),
  });
  await daemon.start();
  t.after(() => daemon.stop());

  await until('ready', () => daemon.health.tracker.report().ready || undefined);
  assert.deepEqual(writesBeforeRepair, [0], 'one repair, before the first write');
  const vxlan = await links.get('vxlan0');
  assert.equal(vxlan?.vxlan?.local, GW);
  assert.equal(vxlan.mac, 'a2:2a:64:40:02:07');
  const held = kernel.dump();
  for (const b of BLOCKS) assert.ok(held.includes(`${b.dst} via ${b.nodeIp} dev vxlan0 onlink`), `${b.dst} programmed:\n${held}`);
  const firstPass = logs.find((l) => l.includes('"event":"reconciled"'));
  assert.ok(firstPass, 'a pass was logged');
  assert.match(firstPass, /"level":"info"/, 'the first pass succeeded');
  assert.ok(
    logs.findIndex((l) => l.includes('"event":"vxlan_device_repaired"')) < logs.findIndex((l) => l.includes('"event":"stream_started"')),
    'repaired before the PolicySync stream started',
  );
});
