import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VxlanGuard } from '../../src/dataplane/vxlan-guard';
import { FakeLinkWatch } from '../../src/fakes/link-watch';
import { FakeLinks } from '../../src/fakes/links';
import { FakeClock } from '../../src/model/clock';
import { parseIp } from '../../src/model/ip';
import { vxlanSpecFor } from '../../src/model/vxlan';
import { silentLogger } from '../../src/observability/logger';

const spec = vxlanSpecFor({ vni: 4097, vxlanPort: 4790, underlay: 'eth0', egressIp: parseIp('100.64.2.7') ?? assert.fail() });

function setup() {
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  const watch = new FakeLinkWatch();
  const clock = new FakeClock();
  const events: string[] = [];
  const guard = new VxlanGuard({
    links,
    spec,
    clock,
    logger: silentLogger(),
    watch,
    onProblem: (p) => events.push(p ? `problem: ${p.message}` : 'fixed'),
    onRepaired: () => events.push('repaired'),
  });
  return { links, watch, clock, events, guard };
}

test('with link notifications the guard does not poll: it looks when the kernel reports the device, and repairs it', async () => {
  const { links, watch, clock, events, guard } = setup();
  await guard.start();
  assert.match(links.dump(), /vxlan0 vxlan up mtu 1450 address a2:2a:64:40:02:07 vxlan id 4097 dstport 4790 dev eth0 local 100\.64\.2\.7/);
  assert.deepEqual(events, ['problem: checking vxlan0: vxlan0 does not exist', 'fixed', 'repaired'], 'made at start');
  assert.match(watch.dump(), /^state: watching/);

  // Someone deletes it. Without a notification nothing looks before the backstop (60 s).
  events.length = 0;
  links.removeLink('vxlan0');
  clock.advance(59_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(links.has('vxlan0'), false, 'no polling');
  watch.setCarrier('eth0', true);
  await new Promise((r) => setImmediate(r));
  assert.equal(links.has('vxlan0'), false, 'a notification about another link makes no check');

  // The kernel reports vxlan0's deletion: the guard looks at once and re-creates it.
  watch.setCarrier('vxlan0', false);
  await guard.check();
  assert.equal(links.has('vxlan0'), true);
  assert.deepEqual(events, ['problem: checking vxlan0: vxlan0 does not exist', 'fixed', 'repaired']);
  await guard.stop();
  assert.match(watch.dump(), /^state: closed/);
});

test('a lost notification (overrun) makes the guard look', async () => {
  const { links, watch, events, guard } = setup();
  await guard.start();
  events.length = 0;
  links.removeLink('vxlan0');
  watch.fail(new Error('ENOBUFS'));
  await guard.check();
  assert.equal(links.has('vxlan0'), true);
  assert.deepEqual(events, ['problem: checking vxlan0: vxlan0 does not exist', 'fixed', 'repaired']);
  await guard.stop();
});
