import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon } from '../../src/daemon';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeLinks } from '../../src/fakes/links';
import { silentLogger } from '../../src/observability/logger';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { TestFelix } from '../lab/test-felix';
import { until } from './wait';

/**
 * EGRESS_INTERFACE reaches everything in the daemon that names the pod's underlay device: the
 * vxlan0 guard (vxlan0's parent when it re-creates it) and the return path (a client node's tunnel
 * address is routed out of it). A pod whose underlay is net1 has no eth0 at all here, so anything
 * still naming eth0 fails (the fakes answer ENODEV / "parent does not exist").
 */

const GW = '100.64.2.7';
// Node 1's client block lies in a VXLAN pool and its VTEP names a tunnel address: the overlay rule
// routes that address out of the underlay device (src/dataplane/desired.ts).
const ROUTE: RouteUpdateWire = { type: 1, ip_pool_type: 2, dst: '100.64.1.0/26', dst_node_name: 'node1', dst_node_ip: '198.51.100.11' };
const VTEP = { node: 'node1', mac: '66:00:00:00:00:01', ipv4_addr: '100.64.1.1', parent_device_ip: '198.51.100.11' };

test('EGRESS_INTERFACE=net1: the guard re-creates vxlan0 on net1 and tunnel addresses are routed out of net1', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-iface-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: { routes: [ROUTE], vteps: [VTEP] } });
  t.after(() => felix.stop());

  const kernel = new FakeReturnPathKernel();
  kernel.devices.delete('eth0');
  kernel.devices.add('net1');
  const links = new FakeLinks();
  links.addLink({ name: 'net1', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  // No vxlan0 yet: the guard's first check must build it, on net1.

  const config = parseDaemonConfig({
    EGRESS_POD_IP: GW,
    EGRESS_INTERFACE: 'net1',
    DAEMON_SOCKET_PATH: socketPath,
    HEALTH_PORT: '0',
    STATUS_SOCKET: join(dir, 'status.sock'),
  });
  assert.equal(config.underlayDevice, 'net1');
  const daemon = new Daemon(config, { kernel, links, vxlanCheckIntervalMs: 600_000, logger: silentLogger() });
  await daemon.start();
  t.after(() => daemon.stop());

  await until('ready', () => daemon.health.tracker.report().ready || undefined);
  assert.equal(daemon.vxlanGuard?.spec.parent, 'net1');
  assert.match(links.dump(), /vxlan0 .*vxlan id 4097 dstport 4790 dev net1 local 100\.64\.2\.7/);
  // The FDB sends node1's packets to its tunnel address, and that address leaves through net1.
  assert.equal(
    kernel.dump(),
    [
      '# ip route',
      '100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink proto egress',
      '100.64.1.1/32 dev net1 scope link proto egress',
      '# ip neigh',
      '198.51.100.11 dev vxlan0 lladdr 66:f9:37:c3:7e:94 PERMANENT',
      '# bridge fdb',
      '66:f9:37:c3:7e:94 dev vxlan0 dst 100.64.1.1 self permanent',
      '',
    ].join('\n'),
  );
  assert.equal(daemon.status().config.underlayDevice, 'net1');
});

test('start reads EGRESS_INTERFACE and --interface through the same parser as init', () => {
  const base = { EGRESS_POD_IP: GW };
  assert.equal(parseDaemonConfig(base).underlayDevice, 'eth0');
  assert.equal(parseDaemonConfig({ ...base, EGRESS_INTERFACE: 'net1' }).underlayDevice, 'net1');
  assert.equal(parseDaemonConfig({ ...base, EGRESS_INTERFACE: 'net1' }, { interface: 'ens5' }).underlayDevice, 'ens5');
  assert.throws(() => parseDaemonConfig({ ...base, EGRESS_INTERFACE: 'eth0 -j ACCEPT' }), { message: /^EGRESS_INTERFACE="eth0 -j ACCEPT": must be an interface name/ });
  assert.throws(() => parseDaemonConfig(base, { interface: 'a234567890123456' }), { message: /^--interface="a234567890123456": must be an interface name/ });
});
