import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../lab/gateway';
import { createLab, waitForOutput, type Lab } from '../lab/lab';
import { closeOssLab, createOssCluster, QUICK_START_ANNOTATIONS, SELECTOR, untilAgent, sourceSeenBy, withDiagnostics, type GatewayProc, type OssCluster } from '../lab/oss-cluster';
import { startFlows, startFlowServer } from '../lab/steering';

/**
 * Issue #15 end to end, as a user runs it on a Calico OSS cluster: `egress-gateway agent` on both
 * nodes (the real CLI, watching the stand-in Kubernetes API over HTTP), the unchanged gateway
 * (`init`, then `start`) whose PolicySync socket is the node2 agent's route feed, and a client node
 * whose netfilter is OSS Felix's (iptables-nft, lab.ts). Nothing is set by hand: the client node's
 * steering comes from the node1 agent, the gateway's return path from the node2 agent's feed. What
 * counts is what the external server and tcpdump see. Waits wait for outcomes (a connection's source,
 * the agent's status), never for a fixed time; traffic runs for a fixed time where a flow test needs it.
 *
 * The steering's finer kernel behaviour (the three Felix dataplanes, repairs, the resilient group
 * under gateway churn against plain ECMP) is tested on the reconciler alone in steering.test.ts.
 */

const PORT = '7777';
const FLOW_PORT = '7788';
/** A Service address kube-proxy would DNAT to the API server on node2 (a documentation address). */
const SERVICE_IP = '203.0.113.10';
const API_SERVER_PORT = '6443';
const esc = (s: string): string => s.replaceAll('.', '\\.');

describe('OSS: the agent and the gateway end to end, against the stand-in API', () => {
  let lab: Lab;
  let cluster: OssCluster;
  let server: ChildProcess;
  let apiServerOnNode2: ChildProcess;
  const gateways: GatewayProc[] = [];

  before(async () => {
    lab = await createLab({ felix: 'nft', gateways: 2 });
    try {
      cluster = await createOssCluster(lab);
      server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
      await waitForOutput(server, /listening/);
      // Something on node2's host network, as an API server on a control-plane node, and the Service in front of it.
      apiServerOnNode2 = lab.spawn(lab.names.node2, lab.tcpTool('serve', API_SERVER_PORT));
      await waitForOutput(apiServerOnNode2, /listening/);
      await lab.exec(lab.names.node1, ['iptables-nft', '-w', '-t', 'nat', '-A', 'PREROUTING', '-d', `${SERVICE_IP}/32`, '-p', 'tcp', '--dport', '443', '-j', 'DNAT', '--to-destination', `${lab.addrs.node2}:${API_SERVER_PORT}`]);
      cluster.startAgent('node1');
      cluster.startAgent('node2');
      gateways.push(cluster.startGateway('gw-1'));
    } catch (err) {
      await closeAll();
      throw err;
    }
  });

  after(closeAll);

  /** Everything the tests started; what could not be made (a failed `before`) is skipped. */
  async function closeAll(): Promise<void> {
    await closeOssLab(cluster, lab);
  }

  const step = (t: TestContext, fn: () => Promise<void>): Promise<void> => withDiagnostics(t, cluster, gateways, fn);

  let lastFailure = '';

  /** The source the server at `host:port` sees for a new connection from `ns`; undefined when the connection fails. */
  async function sourceSeen(ns: string, at: ChildProcess = server, host = lab.addrs.ext, port = PORT): Promise<string | undefined> {
    const r = await sourceSeenBy(lab, ns, at, host, port, `hello from ${ns}`);
    lastFailure = r.failure ?? '';
    return r.seen;
  }

  /** New connections from the client pod leave with `want` (undefined: they fail), once the agents have caught up. */
  async function untilSource(want: string | undefined, what: string, ns = lab.names.cpod): Promise<void> {
    const outcomes: string[] = [];
    const t0 = Date.now();
    try {
      await eventually(
        what,
        async () => {
          const seen = await sourceSeen(ns);
          outcomes.push(`+${Date.now() - t0}ms ${seen ?? lastFailure}`);
          return seen === want ? true : undefined;
        },
        20_000,
        200,
      );
    } catch {
      assert.fail(`${what}: the server never saw ${want ?? 'no connection'}; every attempt:\n${outcomes.join('\n')}`);
    }
  }

  async function connectFails(ns: string): Promise<string> {
    const r = await lab.exec(ns, lab.tcpTool('connect', lab.addrs.ext, PORT, 'must not leave', '1500'), { allowFail: true });
    assert.notEqual(r.code, 0, `the connection from ${ns} should have failed: ${r.stdout}`);
    return r.stderr;
  }

  it('a steered pod leaves with the egress IP and its reply returns through the gateway the route feed set up; the unsteered pod, other nodes and the API server behind its Service stay direct', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      // Felix's masquerade is in force: the pod leaves with its node's address until it is annotated.
      assert.equal(await sourceSeen(n.cpod), a.node1, 'before the annotation: the node IP');
      // The gateway's return path comes from the node2 agent's route feed, nothing else.
      const gwStatus = await eventually('the gateway ready on the agent\'s feed', async () => ((await cluster.gatewayReadiness('gw-1')) === 200 ? true : undefined), 20_000);
      assert.equal(gwStatus, true);
      const routes = (await lab.exec(n.gwpod, ['ip', 'route', 'show', 'proto', '69'])).stdout;
      assert.match(routes, new RegExp(`^100\\.64\\.1\\.0/26 via ${esc(a.node1)} dev vxlan0 onlink`, 'm'), routes);
      const feed = await untilAgent(cluster, 'node2', 'the node2 agent feeds its gateway', (s) => s.routeFeed.inSync && s.routeFeed.localGateways.includes('egress/gw-1'));
      assert.ok(feed.routeFeed.routes >= 2, JSON.stringify(feed.routeFeed));

      await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: QUICK_START_ANNOTATIONS } });
      await untilSource(a.gwpod, 'the annotated namespace steers its pod: the egress IP');
      const status = await untilAgent(cluster, 'node1', 'node1 ready with the steered pod', (s) => s.ready && s.clients.some((c) => c.pod === 'shop/client'));
      assert.deepEqual(status.clients.map((c) => [c.pod, c.steered, c.gateways]), [['shop/client', true, ['egress/gw-1']]]);
      const rules = (await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout;
      assert.match(rules, /^100:\s+from 100\.64\.1\.5 lookup 1000 proto 69/m, rules);
      assert.equal(await sourceSeen(n.cpod2 as string), a.node1, 'the unsteered pod of another namespace: the node IP');

      // Cluster destinations stay direct: another node's address, and the API server behind its Service.
      assert.equal(await sourceSeen(n.cpod, apiServerOnNode2, a.node2, API_SERVER_PORT), a.node1, 'to another node: direct (Felix masquerades it to the node IP), not through a gateway');
      assert.equal(await sourceSeen(n.cpod, apiServerOnNode2, SERVICE_IP, '443'), a.node1, 'to the API server behind its Service: direct');
      const table = (await lab.exec(n.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout;
      for (const direct of ['100.64.0.0/16', a.node1, a.node2]) assert.match(table, new RegExp(`^throw ${esc(direct)} `, 'm'), table);

      // Felix re-asserts its rules at the top: the steering holds.
      await lab.reinsertFelixJumps();
      const post = (await lab.exec(n.node1, ['iptables-nft', '-t', 'nat', '-S', 'POSTROUTING'])).stdout;
      assert.match(post, /^-A POSTROUTING -j cali-POSTROUTING$/m, post);
      assert.equal(await sourceSeen(n.cpod), a.gwpod, 'still the egress IP after Felix re-inserted its jumps');
      assert.equal(await sourceSeen(n.cpod2 as string), a.node1, 'and Felix still masquerades the unsteered pod');
    }));

  it('annotation removed: the node IP; a selector that does not parse leaves the pod unsteered (not its namespace\'s), reported; fixed: steered again', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: { [SELECTOR]: null, 'egress.projectcalico.org/namespaceSelector': null } } });
      await untilSource(a.node1, 'the annotation removed: the node IP again');
      assert.doesNotMatch((await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout, /100\.64\.1\.5/);

      // The namespace steers again, but the pod's own selector is broken: it wins, and leaves the pod unsteered.
      await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: QUICK_START_ANNOTATIONS } });
      await untilSource(a.gwpod, 'annotated again');
      await cluster.kube('PATCH', '/api/v1/namespaces/shop/pods/client', { metadata: { annotations: { [SELECTOR]: "egress-code = 'red'" } } });
      await untilSource(a.node1, "the pod's bad selector: not steered, the node IP");
      const status = await untilAgent(cluster, 'node1', 'the pod reported unsteered', (s) => s.clients.some((c) => c.pod === 'shop/client' && !c.steered));
      const report = status.clients.find((c) => c.pod === 'shop/client');
      assert.match(report?.problem ?? '', /expected "==" at column 13: does not parse, not steered/);
      assert.equal(status.ready, true, 'a bad annotation is the pod\'s problem, not the agent\'s');
      const logged = (cluster.agents.get('node1')?.logs ?? []).filter((l) => l.includes('"event":"annotation_invalid"'));
      assert.equal(logged.length, 1, `logged once: ${logged.join('\n')}`);
      const text = await lab.exec(n.node1, [...lab.gatewayCommand, 'status'], { env: { STATUS_SOCKET: join(cluster.dir, 'node1-status.sock') }, allowFail: true });
      assert.match(text.stdout, /shop\/client\s+100\.64\.1\.5\s+pod\s+NOT STEERED \(node path\)/, text.stdout);

      await cluster.kube('PATCH', '/api/v1/namespaces/shop/pods/client', { metadata: { annotations: { [SELECTOR]: null } } });
      await untilSource(a.gwpod, "the pod's annotation removed: its namespace's steers it again");
    }));

  it('the only gateway unready (its own /readiness), then deleted: the pod\'s connections fail and no packet of it leaves with any other source', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      const leavingNode = await lab.capture(n.node1, 'eth0', ['tcp', 'port', PORT]);
      const atExt = await lab.capture(n.ext, 'eth0', ['tcp', 'port', PORT]);

      // The gateway's upstream check fails: its /readiness says 503, the node1 agent's polls drop it.
      await cluster.stopProbeTarget();
      await eventually('the gateway unready', async () => ((await cluster.gatewayReadiness('gw-1')) === 503 ? true : undefined), 15_000);
      await untilAgent(cluster, 'node1', 'the gateway dropped: failed closed', (s) => s.clients.some((c) => c.pod === 'shop/client' && c.steered && c.gateways.length === 0));
      assert.match(await connectFails(n.cpod), /EHOSTUNREACH|No route to host/);
      assert.match((await lab.exec(n.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout, /^unreachable default/m);
      await cluster.startProbeTarget();
      await untilSource(a.gwpod, 'ready again: the egress IP');

      await cluster.kube('DELETE', '/api/v1/namespaces/egress/pods/gw-1');
      await untilAgent(cluster, 'node1', 'the gateway deleted: failed closed', (s) => s.clients.some((c) => c.pod === 'shop/client' && c.gateways.length === 0));
      await connectFails(n.cpod);
      await connectFails(n.cpod);

      const out = await leavingNode.stop();
      const ext = await atExt.stop();
      assert.equal(out.trim(), '', `packets on the test port left node1 in the clear:\n${out}`);
      const others = ext.split('\n').filter((l) => / IP /.test(l) && !new RegExp(` IP (${esc(a.gwpod)}|${esc(a.ext)})\\.`).test(l));
      assert.deepEqual(others, [], `ext saw the pod's traffic with a source other than the egress IP:\n${ext}`);

      await cluster.addGatewayPod('gw-1');
      await untilSource(a.gwpod, 'the gateway back: the egress IP');
    }));

  it('the agents restart (a rolling update) under traffic: steering and route feed hold, no flow breaks', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      await startFlowServer(lab, FLOW_PORT);
      const flows = await startFlows(lab, n.cpod, FLOW_PORT, 16, 100);
      const kernel = async (): Promise<string> =>
        (await Promise.all([['ip', 'rule', 'show'], ['ip', 'route', 'show', 'table', '1000'], ['ip', 'nexthop', 'show'], ['ip', 'neigh', 'show', 'dev', 'egress.calico']].map((argv) => lab.exec(n.node1, argv)))).map((r) => r.stdout).join('');
      const before = await kernel();
      const returnPath = (await lab.exec(n.gwpod, ['ip', 'route', 'show', 'proto', '69'])).stdout;

      for (const node of ['node1', 'node2'] as const) {
        const old = cluster.agents.get(node);
        assert.equal(await old?.stop(), 0, `the ${node} agent exits 0 on SIGTERM`);
      }
      assert.equal(await kernel(), before, "the client node's steering stays while its agent is gone");
      // The flows keep running with no agent at all for a moment.
      await sleep(1000);
      cluster.startAgent('node1');
      cluster.startAgent('node2');
      await untilAgent(cluster, 'node1', 'node1 ready again', (s) => s.ready && s.clients.some((c) => c.pod === 'shop/client' && c.gateways.length === 1));
      await untilAgent(cluster, 'node2', 'node2 feeding again', (s) => s.ready && s.routeFeed.inSync);
      await eventually('the gateway re-synced from the new feed', async () => ((await cluster.gatewayReadiness('gw-1')) === 200 ? true : undefined), 15_000);
      await sleep(500);
      const report = await flows.finish();
      t.diagnostic(`flows across the restart: ${JSON.stringify({ ...report, errors: report.errors.slice(0, 3) })}`);
      assert.equal(report.opened, 16);
      assert.equal(report.failed, 0, `no flow broke: ${report.errors.join('; ')}`);
      assert.deepEqual(report.byGateway, { [a.gwpod]: 16 });
      assert.equal(await kernel(), before, 'the new agent found the kernel as it wants it and changed nothing');
      assert.equal((await lab.exec(n.gwpod, ['ip', 'route', 'show', 'proto', '69'])).stdout, returnPath, "the gateway's return path is the same after the feed's restart");
      const logs = cluster.agents.get('node1')?.logs.join('\n') ?? '';
      assert.doesNotMatch(logs, /"event":"steering_changed"/, 'the restarted agent wrote nothing to the kernel');
    }));

  it('two gateways: both carry flows, each flow stays on one', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      gateways.push(cluster.startGateway('gw-2'));
      // As the kubelet would: the pod turns Ready once its /readiness answers 200 (here: its feed is in sync).
      await eventually('gw-2 ready on the feed', async () => ((await cluster.gatewayReadiness('gw-2')) === 200 ? true : undefined), 15_000);
      await cluster.addGatewayPod('gw-2');
      await untilAgent(cluster, 'node1', 'the kernel steers the pod over both gateways', (s) => s.steering.ok === true && (s.steering.spec ?? '').includes(`gateways ${a.gwpod},${a.gwpod2}`), 30_000);
      const flows = await startFlows(lab, n.cpod, FLOW_PORT, 32, 100);
      // Traffic for a while: every flow echoes a line every 100 ms through its gateway.
      await sleep(2000);
      const report = await flows.finish();
      t.diagnostic(`two gateways: ${JSON.stringify({ ...report, errors: report.errors.slice(0, 3) })}`);
      assert.equal(report.opened, 32);
      assert.equal(report.failed, 0, report.errors.join('; '));
      assert.equal(report.moved, 0, 'no flow changed gateway');
      assert.ok((report.byGateway[a.gwpod] ?? 0) > 0 && (report.byGateway[a.gwpod2] ?? 0) > 0, `both gateways carried flows: ${JSON.stringify(report.byGateway)}`);
      assert.equal((report.byGateway[a.gwpod] ?? 0) + (report.byGateway[a.gwpod2] ?? 0), 32, `only the egress IPs: ${JSON.stringify(report.byGateway)}`);
    }));

  it('uninstall: `egress-gateway agent --teardown` where the agent has stopped removes everything it owned; the pod has its node path again', (t) =>
    step(t, async () => {
      const { addrs: a, names: n } = lab;
      assert.equal(await cluster.agents.get('node1')?.stop(), 0);
      const env = cluster.agentEnv('node1');
      const down = await lab.exec(n.node1, [...lab.gatewayCommand, 'agent', '--teardown'], { env: { AGENT_POLICYSYNC_SOCKET: env.AGENT_POLICYSYNC_SOCKET as string }, allowFail: true });
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.match(down.stdout, /"event":"teardown_done"/);
      assert.doesNotMatch((await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout, /proto 69/);
      assert.equal((await lab.exec(n.node1, ['ip', 'route', 'show', 'table', 'all', 'proto', '69'])).stdout, '');
      assert.equal((await lab.exec(n.node1, ['ip', 'nexthop', 'show'])).stdout, '');
      assert.equal((await lab.exec(n.node1, ['ip', 'link', 'show', 'egress.calico'], { allowFail: true })).code, 1, 'egress.calico is gone');
      assert.doesNotMatch((await lab.exec(n.node1, ['nft', 'list', 'tables'])).stdout, /egress_gateway_agent/);
      assert.equal(existsSync(env.AGENT_POLICYSYNC_SOCKET as string), false, 'its socket is gone');
      assert.equal(await sourceSeen(n.cpod), a.node1, 'after the uninstall: the node IP (Felix masquerade), nothing left to steer');
      const again = await lab.exec(n.node1, [...lab.gatewayCommand, 'agent', '--teardown'], { allowFail: true });
      assert.equal(again.code, 0, 'twice: nothing left, not an error');
      assert.match(again.stdout, /the agent owned nothing on this node/);
    }));
});
