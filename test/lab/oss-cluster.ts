/**
 * A Calico Open Source cluster in the lab, run the way a user runs the project there: the stand-in
 * Kubernetes API server on the fabric (at ext's address: the agents reach it from the nodes' host
 * network, as they would a control plane), `egress-gateway agent` on node1 and node2 (the real CLI,
 * each in its node's namespace with a DaemonSet's environment), and the unchanged gateway in the
 * gateway pods (`init`, then `start`) whose PolicySync socket is the node2 agent's route feed: no test
 * Felix anywhere. node1's netfilter behaves like OSS Felix's (lab.ts, `felix`).
 *
 *   namespaces   shop (the clients' namespace), default, egress (the gateways')
 *   node1        cpod = shop/client 100.64.1.5, cpod2 = default/other 100.64.1.6 (never annotated)
 *   node2        gwpod = egress/gw-1 100.64.2.7, gwpod2 = egress/gw-2 100.64.2.8 (its pod object only
 *                when a test adds it: gatewayPod('gw-2'))
 *   ext          the API server (:6443), the external servers the tests connect to
 *
 * IPAM: block 100.64.1.0/26 on node1, 100.64.2.0/26 on node2, pool 100.64.0.0/16 (natOutgoing).
 *
 * On a dual-stack lab (`createLab({ felix, ipv6: 'dual' })`) every node and pod has its IPv6 address
 * too (the nodes' projectcalico.org/IPv6Address, the pods' status.podIPs), with blocks
 * 2001:db8:64:1::/122 (node1) and 2001:db8:64:2::/122 (node2) of pool 2001:db8:64::/48, and the
 * gateways run with EGRESS_POD_IPS (both addresses).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { eventually, httpTool } from './gateway';
import { ipamBlockObject, ipPoolObject, namespaceObject, nodeObject, podObject } from './kube-api/objects';
import { collectLines, LAB_POOLS6, waitForOutput, type CommandResult, type Lab } from './lab';

export const SELECTOR = 'egress.projectcalico.org/selector';
export const NAMESPACE_SELECTOR = 'egress.projectcalico.org/namespaceSelector';
/** The label the chart puts on gateway pods (AGENT_GATEWAY_SELECTOR's default), and one users select by. */
export const GATEWAY_LABELS = { 'egress-gateway.io/gateway': 'true', 'egress-code': 'red' } as const;
/** What the README's quick start annotates the clients' namespace with. */
export const QUICK_START_ANNOTATIONS = { [SELECTOR]: "egress-code == 'red'", [NAMESPACE_SELECTOR]: "projectcalico.org/name == 'egress'" } as const;
export const API_PORT = 6443;
const GATEWAY_HEALTH_PORT = 8080;
/** The gateways' HTTP probe target on ext: stopping it makes a gateway unready for real. */
export const PROBE_PORT = '8081';

export type NodeName = 'node1' | 'node2';
export type GatewayPod = 'gw-1' | 'gw-2';

export interface AgentRun {
  readonly node: NodeName;
  readonly child: ChildProcess;
  /** Everything the agent printed (JSON log lines). */
  readonly logs: string[];
  /** SIGTERM and its exit status. */
  stop(): Promise<number | null>;
}

export interface GatewayProc {
  readonly pod: GatewayPod;
  readonly child: ChildProcess;
  readonly logs: string[];
}

export interface OssCluster {
  readonly lab: Lab;
  readonly dir: string;
  readonly apiUrl: string;
  readonly kubeconfig: string;
  /** One API request from ext (kube-call.js): PATCH is a JSON merge patch. Throws on a non-2xx answer. */
  kube(method: string, path: string, body?: unknown): Promise<string>;
  /** `egress-gateway agent` in the node's namespace (the DaemonSet's environment plus `env`). */
  startAgent(node: NodeName, env?: Record<string, string>): AgentRun;
  readonly agents: Map<NodeName, AgentRun>;
  /** The environment the node's agent runs with (for `--teardown` with the same settings). */
  agentEnv(node: NodeName): Record<string, string>;
  /** `egress-gateway status --json` of the node's agent, run in its namespace as an operator would. */
  agentStatus(node: NodeName): Promise<AgentStatus>;
  /** `egress-gateway start` in the gateway pod, fed by the node2 agent's socket. */
  startGateway(pod: GatewayPod): GatewayProc;
  /** The gateway's /readiness status code (undefined: no answer). */
  gatewayReadiness(pod: GatewayPod): Promise<number | undefined>;
  /**
   * Creates the gateway's pod object (Ready, on node2, with its health port), listing its IPv6
   * address too on a dual-stack lab unless `ipv6: false` (a gateway without IPv6, as the agent sees it).
   */
  addGatewayPod(pod: GatewayPod, ready?: boolean, o?: { readonly ipv6?: boolean }): Promise<void>;
  /** Stops / starts the gateways' HTTP probe target on ext: the gateways turn unready / ready for real. */
  stopProbeTarget(): Promise<void>;
  startProbeTarget(): Promise<void>;
  /** Every process this cluster started (the lab's teardown ends them too), and its folder. */
  close(): Promise<void>;
}

/** What the tests read of `egress-gateway status --json` (src/agent/status.ts). */
export interface AgentStatus {
  readonly ready: boolean;
  readonly failing: readonly string[];
  readonly clients: ReadonlyArray<{ readonly pod: string; readonly steered: boolean; readonly gateways: readonly string[]; readonly problem?: string }>;
  readonly routeFeed: { readonly inSync: boolean; readonly localGateways: readonly string[]; readonly routes: number };
  readonly steering: { readonly applied: boolean; readonly ok?: boolean; readonly spec?: string };
}

const GATEWAYS: Record<GatewayPod, { readonly ns: (lab: Lab) => string; readonly ip: (lab: Lab) => string; readonly ip6: (lab: Lab) => string }> = {
  'gw-1': { ns: (lab) => lab.names.gwpod, ip: (lab) => lab.addrs.gwpod, ip6: (lab) => lab.addrs6.gwpod },
  'gw-2': { ns: (lab) => lab.names.gwpod2 ?? '', ip: (lab) => lab.addrs.gwpod2, ip6: (lab) => lab.addrs6.gwpod2 },
};

/** The gateway's address variables: both addresses on a dual-stack lab. */
function podIpEnv(lab: Lab, pod: GatewayPod): Record<string, string> {
  const g = GATEWAYS[pod];
  return lab.ipv6 === 'dual' ? { EGRESS_POD_IPS: `${g.ip(lab)},${g.ip6(lab)}` } : { EGRESS_POD_IP: g.ip(lab) };
}

/**
 * Builds the cluster on a lab made with `{ felix: ..., gateways: 2 }`: the API server and its
 * objects, `init` in both gateway pods (with `dataplane`, iptables by default), the gateways' probe
 * target on ext. The
 * agents and gateway daemons are started by the caller, in the order it wants to show.
 */
export async function createOssCluster(lab: Lab, options: { readonly dataplane?: 'iptables' | 'nftables' } = {}): Promise<OssCluster> {
  if (!lab.names.cpod2 || !lab.names.gwpod2) throw new Error('oss cluster: the lab needs felix (cpod2) and gateways: 2');
  const dir = mkdtempSync(join(tmpdir(), 'egw-oss-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const children: ChildProcess[] = [];
  const agents = new Map<NodeName, AgentRun>();
  const dual = lab.ipv6 === 'dual';
  const a6 = lab.addrs6;
  try {
    const api = lab.spawn(lab.names.ext, [process.execPath, join(__dirname, 'kube-api', 'main.js'), '--host', lab.addrs.ext, '--port', String(API_PORT), '--kubeconfig', kubeconfig, '--bookmark-ms', '2000']);
    children.push(api);
    const listening = await waitForOutput(api, /"event":"listening"/);
    const apiUrl = (JSON.parse(listening.trim().split('\n').pop() as string) as { url: string }).url;

    const kube = async (method: string, path: string, body?: unknown): Promise<string> => {
      const argv = [process.execPath, join(__dirname, 'kube-call.js'), apiUrl, method, path, ...(body !== undefined ? [JSON.stringify(body)] : [])];
      const r: CommandResult = await lab.exec(lab.names.ext, argv, { allowFail: true });
      if (r.code !== 0) throw new Error(`kube ${method} ${path}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const agentEnv = (node: NodeName): Record<string, string> => {
      mkdirSync(join(dir, node), { recursive: true });
      return {
        NODE_NAME: node,
        KUBECONFIG: kubeconfig,
        AGENT_POLICYSYNC_SOCKET: join(dir, node, 'socket'),
        STATUS_SOCKET: join(dir, `${node}-status.sock`),
        AGENT_MULTIPATH_HASH: 'l4',
        // Felix's cadence is 10 s x 3; the lab's is quicker so that a test waits seconds, not half a minute.
        AGENT_GATEWAY_POLL_INTERVAL: '500ms',
        AGENT_GATEWAY_POLL_TIMEOUT: '400ms',
        LOG_SEVERITY: 'info',
      };
    };
    let probeTarget: ChildProcess | undefined;
    const nsOf = (node: NodeName): string => (node === 'node1' ? lab.names.node1 : lab.names.node2);

    const cluster: OssCluster = {
      lab,
      dir,
      apiUrl,
      kubeconfig,
      kube,
      agents,
      agentEnv,
      startAgent(node, env = {}) {
        const child = lab.spawn(nsOf(node), [...lab.gatewayCommand, 'agent'], { env: { ...agentEnv(node), ...env } });
        children.push(child);
        const logs: string[] = [];
        collectLines(child, logs);
        const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
        const run: AgentRun = {
          node,
          child,
          logs,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        };
        agents.set(node, run);
        return run;
      },
      async agentStatus(node) {
        const r = await lab.exec(nsOf(node), [...lab.gatewayCommand, 'status', '--json'], { env: { STATUS_SOCKET: join(dir, `${node}-status.sock`) }, allowFail: true });
        if (r.code === 3 || r.stdout.trim() === '') throw new Error(`the ${node} agent's status: exit ${r.code} ${r.stderr}`);
        return JSON.parse(r.stdout) as AgentStatus;
      },
      startGateway(pod) {
        const g = GATEWAYS[pod];
        const env = {
          ...podIpEnv(lab, pod),
          // The chart mounts the agent's host folder at /var/run/nodeagent: the same socket file.
          DAEMON_SOCKET_PATH: join(dir, 'node2', 'socket'),
          HEALTH_PORT: String(GATEWAY_HEALTH_PORT),
          HTTP_PROBE_URLS: `http://${lab.addrs.ext}:${PROBE_PORT}/`,
          HTTP_PROBE_INTERVAL: '500ms',
          HTTP_PROBE_TIMEOUT: '1500ms',
          DRAIN_DELAY: '1s',
          STATUS_SOCKET: join(dir, `${pod}-status.sock`),
          LOG_SEVERITY: 'info',
        };
        const child = lab.spawn(g.ns(lab), [...lab.gatewayCommand, 'start'], { env });
        children.push(child);
        const logs: string[] = [];
        collectLines(child, logs);
        return { pod, child, logs };
      },
      async gatewayReadiness(pod) {
        const g = GATEWAYS[pod];
        const r = await lab.exec(g.ns(lab), httpTool('get', `http://${g.ip(lab)}:${GATEWAY_HEALTH_PORT}/readiness`, '1000'), { allowFail: true });
        return r.code === 0 ? Number(r.stdout.slice(0, r.stdout.indexOf('\n'))) : undefined;
      },
      async addGatewayPod(pod, ready = true, o = {}) {
        const ips = [GATEWAYS[pod].ip(lab), ...(dual && o.ipv6 !== false ? [GATEWAYS[pod].ip6(lab)] : [])];
        await kube('POST', '/api/v1/namespaces/egress/pods', podObject({ namespace: 'egress', name: pod, node: 'node2', ips, labels: { ...GATEWAY_LABELS }, healthPort: GATEWAY_HEALTH_PORT, ready }));
      },
      async stopProbeTarget() {
        const c = probeTarget;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const gone = new Promise((resolve) => c.once('close', resolve));
        c.kill('SIGTERM');
        await gone;
      },
      async startProbeTarget() {
        probeTarget = lab.spawn(lab.names.ext, httpTool('serve', PROBE_PORT, '200'));
        children.push(probeTarget);
        await waitForOutput(probeTarget, /listening/);
      },
      async close() {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      },
    };

    // The cluster as kubelet, Calico's CNI plugin and calico-node would have written it.
    for (const ns of ['shop', 'default', 'egress']) await kube('POST', '/api/v1/namespaces', namespaceObject(ns));
    const ipv6Address = (ip: string): Record<string, string> => (dual ? { 'projectcalico.org/IPv6Address': `${ip}/64` } : {});
    await kube('POST', '/api/v1/nodes', nodeObject('node1', lab.addrs.node1, ipv6Address(a6.node1)));
    await kube('POST', '/api/v1/nodes', nodeObject('node2', lab.addrs.node2, ipv6Address(a6.node2)));
    await kube('POST', '/apis/crd.projectcalico.org/v1/ippools', ipPoolObject('default-ipv4-ippool', '100.64.0.0/16', { natOutgoing: true }));
    await kube('POST', '/apis/crd.projectcalico.org/v1/ipamblocks', ipamBlockObject('100.64.1.0/26', 'node1', { 5: 'node1', 6: 'node1' }));
    await kube('POST', '/apis/crd.projectcalico.org/v1/ipamblocks', ipamBlockObject('100.64.2.0/26', 'node2', { 7: 'node2', 8: 'node2' }));
    if (dual) {
      for (const pool of LAB_POOLS6) await kube('POST', '/apis/crd.projectcalico.org/v1/ippools', ipPoolObject('default-ipv6-ippool', pool, { natOutgoing: true }));
      await kube('POST', '/apis/crd.projectcalico.org/v1/ipamblocks', ipamBlockObject(lab.clientBlock6, 'node1', { 5: 'node1', 6: 'node1' }));
      await kube('POST', '/apis/crd.projectcalico.org/v1/ipamblocks', ipamBlockObject(lab.gatewayBlock6, 'node2', { 7: 'node2', 8: 'node2' }));
    }
    const v6 = (ip: string): string[] => (dual ? [ip] : []);
    await kube('POST', '/api/v1/namespaces/shop/pods', podObject({ namespace: 'shop', name: 'client', node: 'node1', ips: [lab.addrs.cpod, ...v6(a6.cpod)] }));
    await kube('POST', '/api/v1/namespaces/default/pods', podObject({ namespace: 'default', name: 'other', node: 'node1', ips: [lab.addrs.cpod2, ...v6(a6.cpod2)] }));
    await cluster.addGatewayPod('gw-1');

    // The gateway pods' init containers (the daemon's return path comes from the route feed, not by hand).
    for (const pod of ['gw-1', 'gw-2'] as const) {
      const init = await lab.gateway(['init'], { ...podIpEnv(lab, pod), ...(options.dataplane ? { DATAPLANE: options.dataplane } : {}) }, GATEWAYS[pod].ns(lab));
      if (init.code !== 0) throw new Error(`init in ${pod} failed: ${init.stderr}${init.stdout}`);
    }
    await cluster.startProbeTarget();
    return cluster;
  } catch (err) {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * One connection from `ns` to the echo server `server` listens as at `host:port`: the source address
 * the server saw (the echo must have come back to the pod: the reply's path works), or why there is none.
 */
export async function sourceSeenBy(lab: Lab, ns: string, server: ChildProcess, host: string, port: string, text: string): Promise<{ readonly seen?: string; readonly failure?: string }> {
  const peer = waitForOutput(server, /peer \S+ \d+\n/, 3000).catch(() => undefined);
  const echo = await lab.exec(ns, lab.tcpTool('connect', host, port, text, '1500'), { allowFail: true, timeoutMs: 10_000 });
  if (echo.code !== 0) return { failure: `connect: exit ${echo.code} ${echo.stderr.trim()}` };
  assert.equal(echo.stdout, `${text}\n`);
  const seen = /peer (\S+) \d+\n/.exec((await peer) ?? '')?.[1];
  return seen ? { seen } : { failure: 'the echo came back but the server printed no peer' };
}

/** Ends what a test file made: the cluster's processes, then the lab (either may be missing after a failed `before`). */
export async function closeOssLab(cluster: OssCluster | undefined, lab: Lab | undefined): Promise<void> {
  await cluster?.close();
  await lab?.teardown();
}

/**
 * Runs a test's body; on failure, adds to the test's output what the agents and `gateways` said and
 * the client node's and gateway pod's kernels and conntrack, then fails as the body did.
 */
export async function withDiagnostics(t: TestContext, cluster: OssCluster, gateways: readonly GatewayProc[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const lab = cluster.lab;
    for (const [node, a] of cluster.agents) t.diagnostic(`${node} agent:\n${a.logs.slice(-40).join('\n')}`);
    for (const g of gateways) t.diagnostic(`${g.pod} gateway:\n${g.logs.slice(-25).join('\n')}`);
    for (const ns of [lab.names.node1, lab.names.gwpod]) {
      t.diagnostic(`${ns}:\n${await lab.kernelState(ns).catch((e: unknown) => String(e))}`);
      t.diagnostic(`${ns} conntrack:\n${(await lab.exec(ns, ['conntrack', '-L'], { allowFail: true })).stdout}`);
    }
    throw err;
  }
}

/** Waits until the agent's status satisfies `ok` (returns it), or says what it last saw. */
export async function untilAgent(cluster: OssCluster, node: NodeName, what: string, ok: (s: AgentStatus) => boolean, timeoutMs = 20_000): Promise<AgentStatus> {
  let last: AgentStatus | undefined;
  try {
    return await eventually(
      what,
      async () => {
        last = await cluster.agentStatus(node);
        return ok(last) ? last : undefined;
      },
      timeoutMs,
      200,
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nthe ${node} agent's status was: ${JSON.stringify(last)}\nits log:\n${cluster.agents.get(node)?.logs.slice(-30).join('\n') ?? ''}`, { cause: err });
  }
}
