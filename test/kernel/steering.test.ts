import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForOutput, withLab, type FelixVariant, type Lab } from '../lab/lab';
import { labSpec, prepareGateways, startFlows, startFlowServer, startSteering, type SpecJson, type SteeringRun } from '../lab/steering';

/**
 * The agent's steering on an OSS Calico client node (Felix-like netfilter: masquerade of pool →
 * non-pool traffic jumped to first in nat POSTROUTING, raw RPF drop, FORWARD policy drop, strict
 * rp_filter), driven through SteeringSpecs by the steering harness: the real reconciler and
 * adapters in the client node's namespace. What leaves the cluster is read where a firewall would
 * read it: the source address the external server sees, and tcpdump on the outside.
 */

const PORT = '7777';
const esc = (s: string): string => s.replaceAll('.', '\\.');

/** Connects from `ns` to ext and returns the source address the server saw; throws when the connection fails. */
async function sourceSeen(lab: Lab, server: ReturnType<Lab['spawn']>, ns: string, text: string): Promise<string> {
  const peer = waitForOutput(server, /peer \S+ \d+\n/, 8000);
  const echo = await lab.exec(ns, lab.tcpTool('connect', lab.addrs.ext, PORT, text, '3000'), { allowFail: true });
  if (echo.code !== 0) {
    void peer.catch(() => undefined);
    throw new Error(`connect from ${ns} failed: ${echo.stderr.trim()}`);
  }
  assert.equal(echo.stdout, `${text}\n`, 'the echo came back to the pod');
  const out = await peer;
  const m = /peer (\S+) \d+\n/.exec(out);
  return m?.[1] ?? '?';
}

/** The connection fails (the pod is told "no route to host" by its node, nothing leaves). */
async function connectFails(lab: Lab, ns: string): Promise<string> {
  const r = await lab.exec(ns, lab.tcpTool('connect', lab.addrs.ext, PORT, 'must not leave', '1500'), { allowFail: true });
  assert.notEqual(r.code, 0, `the connection from ${ns} should have failed: ${r.stdout}`);
  return r.stderr;
}

function client(lab: Lab, gateways: string[]): SpecJson['clients'][number] {
  return { pod: 'default/cpod', ips: [lab.addrs.cpod], gateways };
}

async function withSteering<T>(lab: Lab, fn: (s: SteeringRun) => Promise<T>, steering: Record<string, unknown> = {}): Promise<T> {
  const s = startSteering(lab, steering);
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

async function steeredAndUnsteered(lab: Lab, variant: FelixVariant): Promise<void> {
  await prepareGateways(lab);
  const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
  await waitForOutput(server, /listening 7777/);
  const atExt = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'port', PORT]);

  // The lab's Felix is in force: without steering, the pod leaves masqueraded to its node.
  assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'before'), lab.addrs.node1, 'unsteered: the node IP (Felix NAT-outgoing)');

  await withSteering(lab, async (s) => {
    const set = await s.set(labSpec(lab, [client(lab, [lab.addrs.gwpod])]));
    assert.ok(set.ok, `set failed: ${set.error}`);

    // Read back what the kernel holds.
    const rules = (await lab.exec(lab.names.node1, ['ip', 'rule', 'show'])).stdout;
    assert.match(rules, /^100:\s+from 100\.64\.1\.5 lookup 1000 proto 69\s*$/m, rules);
    const table = (await lab.exec(lab.names.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout;
    assert.match(table, /^default nhid \d+ via 100\.64\.2\.7 dev egress\.calico proto 69 metric 10 onlink\s*$/m, table);
    assert.match(table, /^unreachable default proto 69 metric 4294967295\s*$/m, table);
    assert.match(table, /^throw 100\.64\.0\.0\/16 proto 69 metric 10\s*$/m, table);
    const nh = (await lab.exec(lab.names.node1, ['ip', 'nexthop', 'show'])).stdout;
    assert.match(nh, /via 100\.64\.2\.7 dev egress\.calico scope link proto 69 onlink/, nh);
    assert.match(nh, /group \d+ type resilient buckets 512 idle_timer 120 unbalanced_timer 0 .*proto 69/, nh);
    const neigh = (await lab.exec(lab.names.node1, ['ip', 'neigh', 'show', 'dev', 'egress.calico'])).stdout;
    assert.match(neigh, /^100\.64\.2\.7 lladdr a2:2a:64:40:02:07 PERMANENT/m, neigh);
    const fdb = (await lab.exec(lab.names.node1, ['bridge', 'fdb', 'show', 'dev', 'egress.calico'])).stdout;
    assert.match(fdb, /^a2:2a:64:40:02:07 dst 100\.64\.2\.7 self permanent/m, fdb);
    const link = (await lab.exec(lab.names.node1, ['ip', '-d', 'link', 'show', 'egress.calico'])).stdout;
    assert.match(link, new RegExp(`link/ether ${lab.vxlan.clientVtepMac} `), link);
    assert.match(link, /vxlan id 4097 local 198\.51\.100\.11 dev eth0 .*dstport 4790 nolearning/, link);
    // Loose reverse-path filtering, set over rtnetlink (IFLA_INET_CONF), as /proc/sys reads it.
    const rpFilter = (): Promise<string> => lab.exec(lab.names.node1, ['sysctl', '-n', 'net.ipv4.conf.egress/calico.rp_filter']).then((r) => r.stdout.trim());
    assert.equal(await rpFilter(), '2');

    assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'steered'), lab.addrs.gwpod, 'steered: the egress IP');
    assert.equal(await sourceSeen(lab, server, lab.names.cpod2!, 'unsteered'), lab.addrs.node1, 'the unsteered pod: the node IP');

    // Felix re-asserts its jumps at the top (nftables mode: rewrites its table); the steering still holds.
    await lab.reinsertFelixJumps();
    if (variant !== 'nftables') {
      const post = (await lab.exec(lab.names.node1, [`iptables-${variant}`, '-t', 'nat', '-S', 'POSTROUTING'])).stdout;
      assert.match(post, /^-P POSTROUTING ACCEPT\n-A POSTROUTING -j cali-POSTROUTING$/m, `Felix's jump is first:\n${post}`);
    }
    assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'after felix'), lab.addrs.gwpod, 'still the egress IP after Felix re-asserted its rules');
    assert.equal(await sourceSeen(lab, server, lab.names.cpod2!, 'unsteered again'), lab.addrs.node1, 'and Felix still masquerades the unsteered pod');

    // The control: without the agent's NAT exemption, Felix's masquerade takes the steered
    // connection (egress.calico has no address to masquerade to: the packet is dropped). The agent's
    // next pass (its resync, 10 s later; here asked for at once) puts the exemption back.
    // Its rp_filter made strict behind its back: read back over rtnetlink, set loose again.
    await lab.exec(lab.names.node1, ['nft', 'delete', 'table', 'inet', 'egress_gateway_agent']);
    await lab.exec(lab.names.node1, ['sysctl', '-qw', 'net.ipv4.conf.egress/calico.rp_filter=1']);
    await connectFails(lab, lab.names.cpod);
    const again = await s.set(labSpec(lab, [client(lab, [lab.addrs.gwpod])]));
    assert.deepEqual(again.writes, ['set net.ipv4.conf.egress.calico.rp_filter = 2', 'write nftables table inet egress_gateway_agent (no NAT-outgoing through egress.calico)']);
    assert.equal(await rpFilter(), '2');
    assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'exempt again'), lab.addrs.gwpod, 'the egress IP once the exemption is back');

    // Steering removed: the node's IP again.
    const removed = await s.set(labSpec(lab, []));
    assert.ok(removed.ok, `set failed: ${removed.error}`);
    assert.ok(removed.writes?.some((w) => /^del rule from 100\.64\.1\.5\/32 lookup 1000/.test(w)), JSON.stringify(removed.writes));
    assert.equal((await lab.exec(lab.names.node1, ['ip', 'rule', 'show'])).stdout.includes('100.64.1.5'), false, 'the rule is gone');
    assert.equal((await lab.exec(lab.names.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout, '', 'the table is empty');
    assert.equal((await lab.exec(lab.names.node1, ['ip', 'nexthop', 'show'])).stdout, '', 'no nexthop left');
    assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'removed'), lab.addrs.node1, 'steering removed: the node IP');
  });
  const ext = await atExt.stop();
  assert.doesNotMatch(ext, new RegExp(`IP ${esc(lab.addrs.cpod)}\\.`), `the pod's own address never reached the outside:\n${ext}`);
}

describe('steering on an OSS Calico client node', () => {
  for (const variant of ['legacy', 'nft', 'nftables'] as const) {
    it(`steered pod → egress IP, unsteered pod → node IP, Felix jumps re-inserted, steering removed (Felix on ${variant === 'nftables' ? 'nftables' : `iptables-${variant}`})`, (t) =>
      withLab(t, (lab) => steeredAndUnsteered(lab, variant), { felix: variant }));
  }

  it('fails closed: no gateway, the device or the group gone — nothing leaves with any source', (t) =>
    withLab(
      t,
      async (lab) => {
        await prepareGateways(lab);
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
        await waitForOutput(server, /listening 7777/);
        // Everything node1 sends to the outside, and everything ext receives, on the test port.
        const leavingNode = await lab.capture(lab.names.node1, 'eth0', ['tcp', 'port', PORT]);
        const atExt = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'port', PORT]);
        const closed = labSpec(lab, [client(lab, [])]);
        const open = labSpec(lab, [client(lab, [lab.addrs.gwpod])]);
        await withSteering(lab, async (s) => {
          assert.ok((await s.set(closed)).ok);
          const why = await connectFails(lab, lab.names.cpod);
          assert.match(why, /EHOSTUNREACH|No route to host/, why);
          assert.ok((await s.set(open)).ok);
          assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'open'), lab.addrs.gwpod);
        });

        // The agent is gone (crashed, or being upgraded) and the kernel loses the gateway route:
        // deleting the device deletes its nexthops, the group with them, and the route using it.
        // The backstop keeps the pod closed.
        await lab.exec(lab.names.node1, ['ip', 'link', 'del', 'egress.calico']);
        const table = (await lab.exec(lab.names.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout;
        assert.doesNotMatch(table, /nhid/, `the kernel removed the gateway route with the device:\n${table}`);
        assert.match(table, /^unreachable default proto 69 metric 4294967295/m, table);
        assert.match((await lab.exec(lab.names.node1, ['ip', 'rule', 'show'])).stdout, /from 100\.64\.1\.5 lookup 1000 proto 69/, 'the rule stays');
        await connectFails(lab, lab.names.cpod);

        await withSteering(lab, async (s) => {
          // A new agent reads its state back and repairs it; the rule it finds is kept, not rewritten.
          const repaired = await s.set(open);
          assert.ok(repaired.ok, repaired.error);
          const writes = repaired.writes ?? [];
          assert.ok(writes.some((w) => w.startsWith('ensure device egress.calico')), JSON.stringify(writes));
          assert.ok(writes.some((w) => w.startsWith('add route table 1000 default nhid')), JSON.stringify(writes));
          assert.ok(!writes.some((w) => w.includes('rule')), `the rule was kept: ${JSON.stringify(writes)}`);
          assert.equal(await sourceSeen(lab, server, lab.names.cpod, 'repaired'), lab.addrs.gwpod, 'repaired after the restart');

          // Drift while the agent runs is repaired from the kernel's notifications, into the same table.
          await lab.exec(lab.names.node1, ['ip', 'rule', 'del', 'priority', '100', 'from', lab.addrs.cpod]);
          await s.nextPass((a) => a.ok && (a.writes ?? []).includes('add rule from 100.64.1.5/32 lookup 1000 priority 100'), 5000);
          await lab.exec(lab.names.node1, ['ip', 'route', 'del', 'unreachable', 'default', 'table', '1000', 'metric', '4294967295']);
          await s.nextPass((a) => a.ok && (a.writes ?? []).includes('add route table 1000 unreachable default metric 4294967295'), 5000);

          // The only gateway goes (deleted, or unready): closed again.
          assert.ok((await s.set(closed)).ok);
          await connectFails(lab, lab.names.cpod);
        });

        const out = await leavingNode.stop();
        const ext = await atExt.stop();
        // Only the connections made while a gateway was there show, encapsulated: nothing on the test
        // port left node1 in the clear, with any source.
        assert.equal(out.trim(), '', `packets left node1 in the clear:\n${out}`);
        const fromOthers = ext.split('\n').filter((l) => / IP /.test(l) && !new RegExp(` IP (${esc(lab.addrs.gwpod)}|${esc(lab.addrs.ext)})\\.`).test(l));
        assert.deepEqual(fromOthers, [], `ext saw packets from a source other than the gateway:\n${ext}`);

        // Uninstall (`egress-gateway agent --teardown`) is tested end to end in agent-e2e.test.ts.
      },
      { felix: 'nft' },
    ));

  it('two gateways: both carry flows, each stays on one; gateways removed and added under load break no flow of a gateway that stays', (t) =>
    withLab(
      t,
      async (lab) => {
        await prepareGateways(lab);
        const FLOW_PORT = '7788';
        await startFlowServer(lab, FLOW_PORT);
        const gw1 = lab.addrs.gwpod;
        const gw2 = lab.addrs.gwpod2;
        await withSteering(
          lab,
          async (s) => {
            assert.ok((await s.set(labSpec(lab, [client(lab, [gw1, gw2])]))).ok);
            const first = await startFlows(lab, lab.names.cpod, FLOW_PORT, 64, 100);
            await sleep(1000);
            // gw2 goes: its flows break (its NAT state goes with it), gw1's must not.
            assert.ok((await s.set(labSpec(lab, [client(lab, [gw1])]))).ok);
            await sleep(1500);
            // gw2 is back: new flows may use it, gw1's established flows stay on gw1.
            assert.ok((await s.set(labSpec(lab, [client(lab, [gw1, gw2])]))).ok);
            await sleep(1500);
            const second = await startFlows(lab, lab.names.cpod, FLOW_PORT, 64, 100);
            await sleep(1000);
            const a = await first.finish();
            // gw1 goes: the second batch's gw2 flows survive.
            assert.ok((await s.set(labSpec(lab, [client(lab, [gw2])]))).ok);
            await sleep(1500);
            const b = await second.finish();
            t.diagnostic(`first batch: ${JSON.stringify({ ...a, errors: a.errors.slice(0, 3) })}`);
            t.diagnostic(`second batch: ${JSON.stringify({ ...b, errors: b.errors.slice(0, 3) })}`);
            assert.equal(a.opened, 64);
            assert.ok((a.byGateway[gw1] ?? 0) > 0 && (a.byGateway[gw2] ?? 0) > 0, `both gateways carried flows: ${JSON.stringify(a.byGateway)}`);
            assert.equal(a.moved, 0, 'no flow changed gateway');
            assert.equal(a.failedByGateway[gw1] ?? 0, 0, `flows on gw1 survived gw2 leaving and coming back: ${a.errors.join('; ')}`);
            assert.equal(a.failedByGateway[gw2] ?? 0, a.byGateway[gw2], 'flows on gw2 broke when it left (its NAT state went with it)');
            assert.ok((b.byGateway[gw2] ?? 0) > 0, `new flows use the gateway that came back: ${JSON.stringify(b.byGateway)}`);
            assert.equal(b.moved, 0, 'no flow changed gateway');
            assert.equal(b.failedByGateway[gw2] ?? 0, 0, `flows on gw2 survived gw1 leaving: ${b.errors.join('; ')}`);
          },
          { multipathHash: 'l4' },
        );

        // The same with plain ECMP (a hash-threshold multipath route, as Enterprise's Felix writes):
        // adding a gateway rehashes established flows onto it, and they break.
        const n1 = lab.names.node1;
        for (const [gw, mac] of [[gw1, 'a2:2a:64:40:02:07'], [gw2, 'a2:2a:64:40:02:08']] as const) {
          await lab.exec(n1, ['ip', 'neigh', 'replace', gw, 'lladdr', mac, 'dev', 'egress.calico', 'nud', 'permanent']);
          await lab.exec(n1, ['bridge', 'fdb', 'replace', mac, 'dev', 'egress.calico', 'dst', gw, 'self', 'permanent']);
        }
        // Metric 0 goes before the agent's routes left in the pod's table (1000).
        await lab.exec(n1, ['ip', 'route', 'replace', 'default', 'table', '1000', 'metric', '0', 'via', gw1, 'dev', 'egress.calico', 'onlink']);
        const ecmp = await startFlows(lab, lab.names.cpod, FLOW_PORT, 64, 100);
        await sleep(500);
        await lab.exec(n1, ['ip', 'route', 'replace', 'default', 'table', '1000', 'metric', '0', 'nexthop', 'via', gw1, 'dev', 'egress.calico', 'onlink', 'nexthop', 'via', gw2, 'dev', 'egress.calico', 'onlink']);
        await sleep(2500);
        const c = await ecmp.finish();
        t.diagnostic(`plain ECMP, a gateway added under load: ${JSON.stringify({ ...c, errors: c.errors.slice(0, 3) })}`);
        assert.ok(c.failed > 0, `plain ECMP broke established flows when a gateway was added (the baseline the resilient group is measured against): ${JSON.stringify(c)}`);
      },
      { felix: 'nft', gateways: 2 },
    ));
});
