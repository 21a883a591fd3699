/**
 * Failover in the lab (issue #16): the OSS client node (node1, Felix-like rules) runs the agent
 * (`egress-gateway agent` with the real kernel steering, test/lab/agent-launcher.ts) against the
 * stand-in Kubernetes API in node1's namespace; node2 runs real gateways (`egress-gateway init` and
 * `start`, each with a test Felix that feeds it the client block); ext runs an echo server that
 * tells each connection the source address it sees, i.e. which gateway carried it. The kernel
 * tests (test/kernel/failover.test.ts) and the bench (bench/failover.ts) drive it: kill, cut,
 * unready or drain a gateway, roll the Deployment, and watch where new connections go.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipPoolObject, namespaceObject, nodeObject, podObject } from './kube-api/objects';
import { clientBlockRoute, eventually, httpTool } from './gateway';
import { CLIENT_NODE_NAME, stopChild, waitForOutput, type Lab } from './lab';
import type { ChurnReport } from './flow-load';
import { TestFelix } from './test-felix';

export const ECHO_PORT = '7778';
const SELECTOR = 'egress.projectcalico.org/selector';
const GATEWAY_LABEL = 'egress-gateway.io/gateway';
/** The upstream each gateway probes (ICMP_PROBE_IPS): ext, which `unready` makes unreachable from it. */
const UPSTREAM = '198.51.100.13';

export interface LabGateway {
  /** The pod's name in the API (namespace "default"). */
  readonly name: string;
  readonly ns: string;
  readonly addr: string;
  readonly felix: TestFelix;
  daemon: ChildProcess | undefined;
  readonly logs: string[];
  /** In the API (created once the daemon is ready). */
  inApi: boolean;
}

export interface FailoverLabOptions {
  /** More agent settings (the failover ones: AGENT_GATEWAY_STREAM, AGENT_GATEWAY_ECHO_INTERVAL, ...). */
  readonly agentEnv?: Record<string, string>;
  /** More gateway settings (DRAIN_DELAY, ...). */
  readonly gatewayEnv?: Record<string, string>;
  /** Start with these gateways: [name, namespace, address]; default gw-a (gwpod) and gw-b (gwpod2). */
  readonly gateways?: ReadonlyArray<readonly [string, string, string]>;
}

export interface FailoverLab {
  readonly lab: Lab;
  readonly gateways: Map<string, LabGateway>;
  readonly agentLog: string[];
  /** A request to the API stand-in (as kubectl would), from node1's namespace. */
  kube(method: string, path: string, body?: unknown): Promise<void>;
  /** The gateway addresses the client's nexthop group(s) hold now in node1's kernel, sorted. */
  groupGateways(): Promise<string[]>;
  /** Waits until the group holds exactly `want` (sorted addresses; [] = no group: failed closed). */
  untilGroup(want: readonly string[], what: string, timeoutMs?: number): Promise<void>;
  /** One new connection from the client pod: the gateway it left through, or undefined when it failed. */
  connect(timeoutMs?: number): Promise<string | undefined>;
  /** A churn of connections from the client pod (flow-load churn); `mark()` stamps a moment, `stop()` reports. */
  churn(everyMs: number, lifeMs: number): Promise<{ mark(name: string): Promise<void>; stop(): Promise<ChurnReport> }>;
  /** A gateway: init, test Felix, `start`; waits for its /readiness to say 200; puts its pod in the API (ready). */
  addGateway(name: string, ns: string, addr: string): Promise<LabGateway>;
  /** Starts a gateway's daemon again in its pod (as the kubelet restarts a container). */
  restart(name: string): Promise<void>;
  /** SIGKILL the daemon (the pod's network namespace stays, as a container's sandbox does). */
  kill(name: string): Promise<void>;
  /** SIGTERM: the drain. Resolves at once; `exited(name)` waits for the end. */
  term(name: string): void;
  exited(name: string): Promise<void>;
  /** Drops every packet to or from the gateway's address on node2: a gateway cut off, silently. */
  cut(name: string): Promise<void>;
  uncut(name: string): Promise<void>;
  /** The gateway loses its upstream (its ICMP probe of ext is dropped): /readiness turns 503. */
  unready(name: string): Promise<void>;
  ready(name: string): Promise<void>;
  /**
   * The pod's network goes (its veth on node2 is deleted), as when the kubelet tears a pod's sandbox
   * down after its containers have stopped: its address answers nothing any more.
   */
  destroyNetwork(name: string): Promise<void>;
  /** The pod as the kubelet and the API have it: deleting (deletionTimestamp), then gone. */
  markDeleting(name: string): Promise<void>;
  removeFromApi(name: string): Promise<void>;
  /** `egress-gateway status --json` of the agent. */
  agentStatus(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startFailoverLab(lab: Lab, options: FailoverLabOptions = {}): Promise<FailoverLab> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-failover-'));
  const n1 = lab.names.node1;
  const children: ChildProcess[] = [];
  const gateways = new Map<string, LabGateway>();
  const agentLog: string[] = [];
  let url = '';
  const kubeCall = join(__dirname, 'kube-call.js');
  const flowLoad = join(__dirname, 'flow-load.js');

  const kube = async (method: string, path: string, body?: unknown): Promise<void> => {
    const argv = [process.execPath, kubeCall, url, method, path, ...(body !== undefined ? [JSON.stringify(body)] : [])];
    const r = await lab.exec(n1, argv, { allowFail: true });
    if (r.code !== 0) throw new Error(`${method} ${path}: ${r.stdout}${r.stderr}`);
  };

  const gatewayEnv = (g: LabGateway): Record<string, string> => ({
    EGRESS_POD_IP: g.addr,
    DAEMON_SOCKET_PATH: join(dir, `${g.name}.felix`),
    STATUS_SOCKET: join(dir, `${g.name}.status`),
    HEALTH_PORT: '8080',
    ICMP_PROBE_IPS: UPSTREAM,
    ICMP_PROBE_INTERVAL: '100ms',
    ICMP_PROBE_TIMEOUT: '300ms',
    DRAIN_DELAY: '2s',
    LOG_SEVERITY: 'info',
    ...options.gatewayEnv,
  });

  const startDaemon = (g: LabGateway): void => {
    const child = lab.spawn(g.ns, [...lab.gatewayCommand, 'start'], { env: gatewayEnv(g) });
    let partial = '';
    child.stdout?.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      g.logs.push(...lines);
    });
    child.stderr?.on('data', (c: Buffer) => g.logs.push(c.toString()));
    g.daemon = child;
  };

  const untilReady = (g: LabGateway): Promise<true> =>
    eventually(
      `${g.name} ready`,
      async () => {
        const r = await lab.exec(g.ns, httpTool('get', `http://${g.addr}:8080/readiness`, '1000'), { allowFail: true });
        return r.code === 0 && r.stdout.startsWith('200') ? true : undefined;
      },
      20_000,
    );

  const gatewayOf = (name: string): LabGateway => {
    const g = gateways.get(name);
    if (!g) throw new Error(`no gateway ${name}`);
    return g;
  };

  const nft = (ns: string, script: string): Promise<unknown> => lab.exec(ns, ['nft', '-f', '-'], { input: script });

  const self: FailoverLab = {
    lab,
    gateways,
    agentLog,
    kube,
    async groupGateways() {
      const out = (await lab.exec(n1, ['ip', '-j', 'nexthop', 'show'])).stdout.trim();
      const all = (out ? JSON.parse(out) : []) as Array<{ id: number; gateway?: string; group?: Array<{ id: number }> }>;
      const byId = new Map(all.map((n) => [n.id, n]));
      const gws = new Set<string>();
      for (const n of all) for (const m of n.group ?? []) if (byId.get(m.id)?.gateway) gws.add(byId.get(m.id)?.gateway as string);
      return [...gws].sort();
    },
    async untilGroup(want, what, timeoutMs = 15_000) {
      const key = [...want].sort().join(',');
      await eventually(what, async () => ((await self.groupGateways()).join(',') === key ? true : undefined), timeoutMs, 20);
    },
    async connect(timeoutMs = 2000) {
      const r = await lab.exec(lab.names.cpod, [process.execPath, flowLoad, 'probe', lab.addrs.ext, ECHO_PORT, String(timeoutMs)], { allowFail: true });
      return r.code === 0 ? r.stdout.trim() : undefined;
    },
    async churn(everyMs, lifeMs) {
      const child = lab.spawn(lab.names.cpod, [process.execPath, flowLoad, 'churn', lab.addrs.ext, ECHO_PORT, String(everyMs), String(lifeMs)], { stdin: true });
      children.push(child);
      await waitForOutput(child, /started/);
      let out = '';
      child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      return {
        mark: async (name) => {
          child.stdin?.write(`mark ${name}\n`);
          await eventually(`mark ${name}`, async () => (out.includes(`marked ${name}`) ? true : undefined), 5000, 5);
        },
        stop: async () => {
          const report = waitForOutput(child, /^\{.*\}$/m, 30_000);
          child.kill('SIGTERM');
          const text = (await report).split('\n').find((l) => l.startsWith('{')) as string;
          return JSON.parse(text) as ChurnReport;
        },
      };
    },
    async addGateway(name, ns, addr) {
      const init = await lab.gateway(['init'], { EGRESS_POD_IP: addr }, ns);
      if (init.code !== 0) throw new Error(`init of ${name} failed: ${init.stderr}${init.stdout}`);
      const felix = await TestFelix.start(join(dir, `${name}.felix`), { snapshot: { routes: [clientBlockRoute(lab)] } });
      const g: LabGateway = { name, ns, addr, felix, daemon: undefined, logs: [], inApi: false };
      gateways.set(name, g);
      startDaemon(g);
      await untilReady(g);
      await kube('POST', '/api/v1/namespaces/default/pods', podObject({ name, node: 'node2', ips: [addr], labels: { [GATEWAY_LABEL]: 'true' }, healthPort: 8080 }));
      g.inApi = true;
      return g;
    },
    async restart(name) {
      const g = gatewayOf(name);
      startDaemon(g);
      await untilReady(g);
    },
    async kill(name) {
      const g = gatewayOf(name);
      const child = g.daemon;
      g.daemon = undefined;
      if (child) await stopChild(child, 'SIGKILL');
    },
    term(name) {
      gatewayOf(name).daemon?.kill('SIGTERM');
    },
    async exited(name) {
      const child = gatewayOf(name).daemon;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => child.once('close', resolve));
    },
    async cut(name) {
      const g = gatewayOf(name);
      await nft(lab.names.node2, `table ip failover_cut_${name.replace(/\W/g, '_')} {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n\t\tip daddr ${g.addr} drop\n\t\tip saddr ${g.addr} drop\n\t}\n}\n`);
    },
    async uncut(name) {
      await nft(lab.names.node2, `delete table ip failover_cut_${name.replace(/\W/g, '_')}\n`);
    },
    async unready(name) {
      const g = gatewayOf(name);
      await nft(g.ns, `table ip failover_upstream {\n\tchain output {\n\t\ttype filter hook output priority -10; policy accept;\n\t\tip daddr ${UPSTREAM} icmp type echo-request drop\n\t}\n}\n`);
    },
    async ready(name) {
      await nft(gatewayOf(name).ns, 'delete table ip failover_upstream\n');
    },
    async destroyNetwork(name) {
      const g = gatewayOf(name);
      const route = JSON.parse((await lab.exec(lab.names.node2, ['ip', '-j', 'route', 'show', `${g.addr}/32`])).stdout || '[]') as Array<{ dev?: string }>;
      const dev = route[0]?.dev;
      if (dev) await lab.exec(lab.names.node2, ['ip', 'link', 'del', dev]);
    },
    async markDeleting(name) {
      await kube('DELETE', `/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=30`);
    },
    async removeFromApi(name) {
      const g = gatewayOf(name);
      await kube('DELETE', `/api/v1/namespaces/default/pods/${name}`);
      g.inApi = false;
    },
    async agentStatus() {
      const r = await lab.exec(n1, [...lab.gatewayCommand, 'status', '--json'], { env: { STATUS_SOCKET: join(dir, 'agent.sock') }, allowFail: true });
      return JSON.parse(r.stdout) as Record<string, unknown>;
    },
    async close() {
      for (const g of gateways.values()) {
        await self.kill(g.name).catch(() => undefined);
        await g.felix.stop().catch(() => undefined);
      }
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    const api = lab.spawn(n1, [process.execPath, join(__dirname, 'kube-api', 'main.js'), '--kubeconfig', join(dir, 'kubeconfig'), '--bookmark-ms', '1000']);
    children.push(api);
    const listening = await waitForOutput(api, /"event":"listening"/);
    url = (JSON.parse(listening.trim().split('\n').pop() as string) as { url: string }).url;
    await kube('POST', '/api/v1/namespaces', namespaceObject('default', { annotations: { [SELECTOR]: `${GATEWAY_LABEL} == 'true'` } }));
    await kube('POST', '/api/v1/nodes', nodeObject(CLIENT_NODE_NAME, lab.addrs.node1));
    await kube('POST', '/api/v1/nodes', nodeObject('node2', lab.addrs.node2));
    await kube('POST', '/apis/crd.projectcalico.org/v1/ippools', ipPoolObject('default-pool', '100.64.0.0/16', { natOutgoing: true }));
    await kube('POST', '/api/v1/namespaces/default/pods', podObject({ name: 'client', node: CLIENT_NODE_NAME, ips: [lab.addrs.cpod] }));

    const server = lab.spawn(lab.names.ext, [process.execPath, flowLoad, 'serve', ECHO_PORT]);
    children.push(server);
    await waitForOutput(server, new RegExp(`listening ${ECHO_PORT}`));

    const initial = options.gateways ?? [
      ['gw-a', lab.names.gwpod, lab.addrs.gwpod],
      ...(lab.names.gwpod2 ? ([['gw-b', lab.names.gwpod2, lab.addrs.gwpod2]] as const) : []),
    ];
    await Promise.all(initial.map(([name, ns, addr]) => self.addGateway(name, ns, addr)));

    const agent = lab.spawn(n1, [process.execPath, join(__dirname, 'agent-launcher.js')], {
      env: {
        NODE_NAME: CLIENT_NODE_NAME,
        KUBECONFIG: join(dir, 'kubeconfig'),
        AGENT_HEALTH_PORT: '19570',
        STATUS_SOCKET: join(dir, 'agent.sock'),
        AGENT_POLICYSYNC_SOCKET: join(dir, 'feed.sock'),
        // Connections of one pod to one server spread over the gateways only with L4 hashing.
        STEERING_OPTIONS: JSON.stringify({ multipathHash: 'l4' }),
        LOG_SEVERITY: 'info',
        ...options.agentEnv,
      },
    });
    children.push(agent);
    agent.stdout?.on('data', (c: Buffer) => agentLog.push(...c.toString().split('\n').filter(Boolean)));
    agent.stderr?.on('data', (c: Buffer) => agentLog.push(c.toString()));
    await self.untilGroup(initial.map(([, , addr]) => addr), 'the client steered over every gateway', 20_000);
  } catch (err) {
    await self.close();
    throw err;
  }
  return self;
}

/** What a churn says about the connections started between two marks (or from one on). */
export function connectionsBetween(report: ChurnReport, from: string | number, to?: string): ChurnReport['connections'] {
  const start = typeof from === 'number' ? from : (report.marks[from] ?? Infinity);
  const end = to === undefined ? Infinity : (report.marks[to] ?? Infinity);
  return report.connections.filter((c) => c.at >= start && c.at < end);
}

/** Connections by outcome: "ok via <gateway>" or "failed: <error>", counted. */
export function tally(connections: ChurnReport['connections']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of connections) {
    const k = c.ok ? `ok via ${c.gateway ?? '?'}` : `failed: ${c.error ?? '?'}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
