import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInitConfig } from '../../src/config/init-config';
import { initConfigFrom } from '../../src/init/config';
import { applyInit } from '../../src/init/apply';
import { describePlan, planInit } from '../../src/init/plan';
import { FakeLinks } from '../../src/fakes/links';
import { FakeNftables } from '../../src/fakes/netfilter';
import { FakeSysctl } from '../../src/fakes/sysctl';
import { silentLogger } from '../../src/observability/logger';

/** A pod namespace on a host where conntrack is loaded (it is wherever NAT runs). */
function kernel(): { links: FakeLinks; sysctl: FakeSysctl; netfilter: FakeNftables } {
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '0e:00:00:00:00:01' });
  const sysctl = new FakeSysctl((dev) => links.has(dev), {
    ...FakeSysctl.freshNamespace,
    'net/netfilter/nf_conntrack_acct': '0',
    'net/netfilter/nf_conntrack_timestamp': '0',
  });
  return { links, sysctl, netfilter: new FakeNftables() };
}

test('without AUDIT_LOG, init leaves conntrack accounting alone', async () => {
  const k = kernel();
  const plan = planInit(parseInitConfig({ EGRESS_POD_IP: '100.64.2.7' }), 'nftables');
  assert.deepEqual(plan.conntrackSysctls, []);
  await applyInit(plan, k, silentLogger());
  assert.match(k.sysctl.dump(), /^net\/netfilter\/nf_conntrack_acct = 0$/m);
  assert.match(k.sysctl.dump(), /^net\/netfilter\/nf_conntrack_timestamp = 0$/m);
});

test('with AUDIT_LOG, init turns on conntrack counters and timestamps after the ruleset, once', async () => {
  const k = kernel();
  const plan = planInit(initConfigFrom({ EGRESS_POD_IP: '100.64.2.7', AUDIT_LOG: 'stdout' }), 'nftables');
  const first = await applyInit(plan, k, silentLogger());
  assert.deepEqual(first.changedSysctls.slice(-2), ['net/netfilter/nf_conntrack_acct', 'net/netfilter/nf_conntrack_timestamp']);
  assert.match(k.sysctl.dump(), /^net\/netfilter\/nf_conntrack_acct = 1$/m);
  assert.match(k.sysctl.dump(), /^net\/netfilter\/nf_conntrack_timestamp = 1$/m);
  const second = await applyInit(plan, k, silentLogger());
  assert.deepEqual(second.changedSysctls, [], 'a second run changes nothing');
  assert.match(describePlan(plan, 1450, 'eth0 mtu 1500 - 50'), /^sysctl \(after the ruleset, for AUDIT_LOG\): net\/netfilter\/nf_conntrack_acct = 1$/m);
});

test('a failure to turn on accounting names the fourth step and what was already applied', async () => {
  const k = kernel();
  const noConntrack = new FakeSysctl((dev) => k.links.has(dev));
  const plan = planInit(initConfigFrom({ EGRESS_POD_IP: '100.64.2.7', AUDIT_LOG: '/var/log/egress/audit.jsonl' }), 'nftables');
  await assert.rejects(applyInit(plan, { ...k, sysctl: noConntrack }, silentLogger()), (err: Error) => {
    assert.match(err.message, /^init step 4 of 4 \(conntrack accounting\) failed: .*nf_conntrack_acct/);
    assert.match(err.message, /already applied: vxlan device, sysctls, netfilter ruleset/);
    return true;
  });
});
