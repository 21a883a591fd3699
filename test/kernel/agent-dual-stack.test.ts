import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it, type TestContext } from 'node:test';
import { eventually } from '../lab/gateway';
import { createLab, waitForOutput, type Lab } from '../lab/lab';
import { closeOssLab, createOssCluster, QUICK_START_ANNOTATIONS, SELECTOR, untilAgent, sourceSeenBy, withDiagnostics, type GatewayProc, type OssCluster } from '../lab/oss-cluster';

/**
 * Issue #15's dual-stack steering end to end: a dual-stack OSS cluster (lab.ts `felix` with `ipv6:
 * 'dual'`: node1 carries Felix-like rules for both families), `egress-gateway agent` on both nodes,
 * and the unchanged gateway with both addresses (EGRESS_POD_IPS). The client node's IPv6 steering
 * comes from the node1 agent, the gateway's IPv6 return routes from the node2 agent's route feed.
 * What counts is the source the external servers see, the echo coming back, and what tcpdump sees
 * when the gateways have no IPv6 address. IPv4 is tested at length in agent-e2e.test.ts; here it is
 * only checked alongside.
 */

const PORT = '7777';
const PORT6 = '7778';
const esc = (s: string): string => s.replaceAll('.', '\\.');

describe('OSS dual-stack: a steered pod\'s IPv6 through the agent and the unchanged gateway', () => {
  let lab: Lab;
  let cluster: OssCluster;
  let server4: ChildProcess;
  let server6: ChildProcess;
  const gateways: GatewayProc[] = [];

  before(async () => {
    lab = await createLab({ felix: 'nft', ipv6: 'dual', gateways: 2 });
    try {
      cluster = await createOssCluster(lab);
      server4 = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
      server6 = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT6, lab.addrs6.ext));
      await waitForOutput(server4, /listening/);
      await waitForOutput(server6, /listening/);
      cluster.startAgent('node1');
      cluster.startAgent('node2');
      gateways.push(cluster.startGateway('gw-1'));
    } catch (err) {
      await closeAll();
      throw err;
    }
  });

  after(closeAll);

  async function closeAll(): Promise<void> {
    await closeOssLab(cluster, lab);
  }

  const step = (t: TestContext, fn: () => Promise<void>): Promise<void> => withDiagnostics(t, cluster, gateways, fn);

  let lastFailure = '';

  /** The source the external server of that family sees for a new connection from `ns`; undefined when it fails. */
  async function sourceSeen(ns: string, family: 4 | 6): Promise<string | undefined> {
    const [server, host, port] = family === 4 ? [server4, lab.addrs.ext, PORT] : [server6, lab.addrs6.ext, PORT6];
    const r = await sourceSeenBy(lab, ns, server, host, port, `hello over IPv${family} from ${ns}`);
    lastFailure = r.failure ?? '';
    return r.seen;
  }

  /** New connections of that family from the client pod leave with `want`, once the agents have caught up. */
  async function untilSource(family: 4 | 6, want: string, what: string): Promise<void> {
    const outcomes: string[] = [];
    try {
      await eventually(
        what,
        async () => {
          const seen = await sourceSeen(lab.names.cpod, family);
          outcomes.push(seen ?? lastFailure);
          return seen === want ? true : undefined;
        },
        20_000,
        200,
      );
    } catch {
      assert.fail(`${what}: the server never saw ${want}; every attempt:\n${outcomes.join('\n')}`);
    }
  }

  /** Replaces gw-1's pod object (delete, create): with or without its IPv6 address, as the agent sees it. */
  async function recreateGateway(ipv6: boolean): Promise<void> {
    await cluster.kube('DELETE', '/api/v1/namespaces/egress/pods/gw-1');
    await cluster.addGatewayPod('gw-1', true, { ipv6 });
    const want = ipv6 ? `gateways ${lab.addrs.gwpod}+${lab.addrs6.gwpod}` : `gateways ${lab.addrs.gwpod}`;
    await untilAgent(cluster, 'node1', `node1 steers through gw-1 ${ipv6 ? 'with' : 'without'} its IPv6 address`, (s) =>
      (s.steering.spec ?? '').split('\n').some((l) => l.startsWith('client shop/client ') && l.endsWith(want)),
    );
  }

  it('annotated: the pod\'s IPv6 connection leaves with the gateway\'s IPv6 address and its reply returns over the route feed\'s IPv6 return path; the unsteered pod keeps its node\'s addresses', (t) =>
    step(t, async () => {
      const { addrs: a, addrs6: a6, names: n } = lab;
      assert.equal(await sourceSeen(n.cpod, 6), a6.node1, 'before the annotation: Felix masquerades IPv6 to the node\'s address');
      await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: QUICK_START_ANNOTATIONS } });
      await untilSource(6, a6.gwpod, 'the steered pod\'s IPv6: the gateway\'s IPv6 address');
      assert.equal(await sourceSeen(n.cpod, 4), a.gwpod, 'and its IPv4: the gateway\'s IPv4 address');
      assert.equal(await sourceSeen(n.cpod2 as string, 6), a6.node1, 'the unsteered pod\'s IPv6: the node\'s address');

      // The gateway's IPv6 return route came from the node2 agent's feed: the client block via node1's
      // IPv6 address, resolved to node1's VTEP MAC and sent to node1's IPv4 address (one tunnel).
      const routes = (await lab.exec(n.gwpod, ['ip', '-6', 'route', 'show', 'proto', '69'])).stdout;
      assert.match(routes, new RegExp(`^${lab.clientBlock6.replace('/', '\\/')} via ${a6.node1} dev vxlan0`, 'm'), routes);
      // node1: the pod's IPv6 rule into the same table as its IPv4 one; the IPv6 pool and the nodes stay direct.
      const rules = (await lab.exec(n.node1, ['ip', '-6', 'rule', 'show'])).stdout;
      assert.match(rules, new RegExp(`^100:\\s+from ${a6.cpod} lookup 1000 proto 69`, 'm'), rules);
      const table = (await lab.exec(n.node1, ['ip', '-6', 'route', 'show', 'table', '1000'])).stdout;
      for (const direct of ['2001:db8:64::/48', a6.node1, a6.node2]) assert.match(table, new RegExp(`^throw ${esc(direct)}`, 'm'), table);
    }));

  it('its gateway without an IPv6 address: the pod\'s IPv6 fails closed and no packet of it leaves the node (tcpdump), while its IPv4 keeps the gateway; the address back: steered again', (t) =>
    step(t, async () => {
      const { addrs: a, addrs6: a6, names: n } = lab;
      await recreateGateway(false);
      const report = (await cluster.agentStatus('node1')).clients.find((c) => c.pod === 'shop/client');
      assert.match(report?.problem ?? '', /its gateways have no IPv6 address: its IPv6 traffic fails closed/, JSON.stringify(report));
      assert.match((await lab.exec(n.node1, ['ip', '-6', 'route', 'show', 'table', '1000'])).stdout, /^unreachable default/m);
      const leavingNode = await lab.capture(n.node1, 'eth0', ['ip6', 'and', 'tcp', 'port', PORT6]);
      const atExt = await lab.capture(n.ext, 'eth0', ['ip6', 'and', 'tcp', 'port', PORT6]);
      for (let i = 0; i < 3; i++) {
        const r = await lab.exec(n.cpod, lab.tcpTool('connect', a6.ext, PORT6, 'must not leave', '1500'), { allowFail: true });
        assert.notEqual(r.code, 0, `the IPv6 connection should have failed: ${r.stdout}`);
        assert.match(r.stderr, /EHOSTUNREACH|ENETUNREACH|unreachable/i, r.stderr);
      }
      // Other IPv6 traffic crosses the same interfaces meanwhile: the unsteered pod's, proving the capture sees IPv6.
      assert.equal(await sourceSeen(n.cpod2 as string, 6), a6.node1);
      const node1Saw = await leavingNode.stop();
      const extSaw = await atExt.stop();
      for (const [where, text] of [['node1 eth0', node1Saw], ['ext', extSaw]] as const) {
        // Every IPv6 packet to or from the server port that is not the unsteered pod's (masqueraded to node1's address).
        const fromPod = text.split('\n').filter((l) => / IP6 /.test(l) && !l.includes(`${a6.node1}.`));
        assert.deepEqual(fromPod, [], `${where}: no IPv6 packet of the steered pod with any source:\n${text}`);
        assert.match(text, new RegExp(`IP6 ${a6.node1}\\.\\d+ > ${a6.ext}\\.${PORT6}`), `${where}: the capture saw the unsteered pod's connection:\n${text}`);
      }
      assert.equal(await sourceSeen(n.cpod, 4), a.gwpod, 'IPv4 still through the gateway');

      await recreateGateway(true);
      await untilSource(6, a6.gwpod, 'the gateway\'s IPv6 address back: steered again');
    }));

  it('annotation removed: both families take the node path again and the pod\'s IPv6 rule is gone', (t) =>
    step(t, async () => {
      const { addrs: a, addrs6: a6, names: n } = lab;
      await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: { [SELECTOR]: null, 'egress.projectcalico.org/namespaceSelector': null } } });
      await untilSource(6, a6.node1, 'the annotation removed: the node\'s IPv6 address');
      assert.equal(await sourceSeen(n.cpod, 4), a.node1);
      assert.doesNotMatch((await lab.exec(n.node1, ['ip', '-6', 'rule', 'show'])).stdout, new RegExp(esc(a6.cpod)));
    }));
});
