/**
 * The daemon in the lab: a test Felix on a Unix socket in a temp folder (Unix sockets are files, so the
 * daemon in the gateway pod's namespace reaches it), `egress-gateway init` then `start` run in the
 * gateway pod as a container would, and helpers to read what the daemon and the kernel say.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { CLIENT_NODE_NAME, type Lab } from './lab';

export { CLIENT_NODE_NAME };
import { TestFelix, type Snapshot } from './test-felix';

const REMOTE_WORKLOAD = 1;
const LOCAL_WORKLOAD = 3;
const POOL_VXLAN = 2;

export interface GatewayRun {
  readonly felix: TestFelix;
  readonly socketPath: string;
  /** The daemon's status socket (STATUS_SOCKET), in this run's temp folder so concurrent runs never share one. */
  readonly statusSocket: string;
  /** The running daemon; undefined after kill(). */
  daemon: ChildProcess | undefined;
  /** Everything the daemons of this run printed (JSON log lines). */
  readonly logs: string[];
  /** `prefix` runs before the gateway command, e.g. setpriv with only the capabilities the container gets. */
  startDaemon(extraEnv?: Record<string, string>, prefix?: readonly string[]): ChildProcess;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** HTTP GET on the daemon's health port, from inside the gateway pod. */
  health(path: string): Promise<{ status: number; body: string } | undefined>;
  /** The owned return path as iproute2 prints it: routes (proto 69), permanent neighbours and FDB on vxlan0. */
  returnPath(): Promise<string>;
  close(): Promise<void>;
}

/** The RouteUpdate that tells the gateway where the lab's client block lives. */
export function clientBlockRoute(lab: Lab, overrides: Partial<RouteUpdateWire> = {}): RouteUpdateWire {
  return {
    type: REMOTE_WORKLOAD,
    ip_pool_type: POOL_VXLAN,
    dst: lab.clientBlock,
    dst_node_name: CLIENT_NODE_NAME,
    dst_node_ip: lab.addrs.node1,
    ...overrides,
  };
}

/** The gateway's own block, as Felix sends it to the gateway (recognised, not programmed). */
export function gatewayBlockRoute(lab: Lab): RouteUpdateWire {
  return { type: LOCAL_WORKLOAD, ip_pool_type: POOL_VXLAN, dst: '100.64.2.0/26', dst_node_name: 'node2', dst_node_ip: lab.addrs.node2, local_workload: true };
}

/** The client block's IPv6 RouteUpdate: dst_node_ip is the client node's IPv6 address, as Felix sends it. */
export function clientBlockRoute6(lab: Lab, overrides: Partial<RouteUpdateWire> = {}): RouteUpdateWire {
  return clientBlockRoute(lab, { dst: lab.clientBlock6, dst_node_ip: lab.addrs6.node1, ...overrides });
}

/** The gateway's own IPv6 block (recognised, not programmed). */
export function gatewayBlockRoute6(lab: Lab): RouteUpdateWire {
  return { ...gatewayBlockRoute(lab), dst: lab.gatewayBlock6, dst_node_ip: lab.addrs6.node2 };
}

export interface PrepareOptions {
  readonly autoInSync?: boolean;
  /**
   * EGRESS_POD_IPS for init and the daemon instead of EGRESS_POD_IP, e.g. "100.64.2.7,2001:db8:64:2::7".
   * The health server listens on the first IPv4 address in it, else the IPv6 one.
   */
  readonly podIps?: string;
  /** More variables for init (DATAPLANE, IPTABLES_BACKEND, ...). */
  readonly initEnv?: Record<string, string>;
}

/** Runs init in the gateway pod and starts a test Felix with `snapshot`. */
export async function prepareGateway(lab: Lab, snapshot: Snapshot, felixOptions: PrepareOptions = {}): Promise<GatewayRun> {
  const { podIps, initEnv = {}, ...felixOnly } = felixOptions;
  const podEnv: Record<string, string> = podIps !== undefined ? { EGRESS_POD_IPS: podIps } : { EGRESS_POD_IP: lab.addrs.gwpod };
  const ips = (podIps ?? lab.addrs.gwpod).split(',').map((x) => x.trim());
  const healthIp = ips.find((x) => !x.includes(':')) ?? ips[0] ?? lab.addrs.gwpod;
  const healthHost = healthIp.includes(':') ? `[${healthIp}]` : healthIp;
  const init = await lab.gateway(['init'], { ...podEnv, ...initEnv });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}${init.stdout}`);
  const dir = mkdtempSync(join(tmpdir(), 'egw-felix-'));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot, ...felixOnly });
  const logs: string[] = [];

  const run: GatewayRun = {
    felix,
    socketPath,
    statusSocket: join(dir, 'status.sock'),
    daemon: undefined,
    logs,
    startDaemon(extraEnv = {}, prefix = []) {
      const env = {
        ...podEnv,
        DAEMON_SOCKET_PATH: socketPath,
        STATUS_SOCKET: join(dir, 'status.sock'),
        HEALTH_PORT: '8080',
        LOG_SEVERITY: 'debug',
        ...extraEnv,
      };
      const child = prefix.length > 0 ? lab.spawn(lab.names.gwpod, [...prefix, ...lab.gatewayCommand, 'start'], { env }) : lab.spawnGateway(['start'], env);
      let partial = '';
      child.stdout?.on('data', (c: Buffer) => {
        const lines = (partial + c.toString()).split('\n');
        partial = lines.pop() ?? '';
        logs.push(...lines);
      });
      run.daemon = child;
      return child;
    },
    async kill() {
      const child = run.daemon;
      run.daemon = undefined;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      await gone;
    },
    async health(path) {
      const res = await lab.exec(lab.names.gwpod, httpTool('get', `http://${healthHost}:8080${path}`, '2000'), { allowFail: true });
      if (res.code !== 0) return undefined;
      const nl = res.stdout.indexOf('\n');
      return { status: Number(res.stdout.slice(0, nl)), body: res.stdout.slice(nl + 1) };
    },
    async returnPath() {
      const gw = lab.names.gwpod;
      const routes = await lab.exec(gw, ['ip', 'route', 'show', 'proto', '69']);
      const neigh = await lab.exec(gw, ['ip', 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent']);
      const fdb = await lab.exec(gw, ['bridge', 'fdb', 'show', 'dev', 'vxlan0']);
      const fdbOwned = fdb.stdout
        .split('\n')
        .filter((l) => / dst /.test(l) && /permanent/.test(l))
        .join('\n');
      const tidy = (text: string): string => text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').join('\n');
      return `routes:\n${tidy(routes.stdout)}\nneighbours:\n${tidy(neigh.stdout)}\nfdb:\n${tidy(fdbOwned)}\n`;
    },
    async close() {
      await run.kill();
      await felix.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return run;
}

export function httpTool(...args: string[]): string[] {
  return [process.execPath, join(__dirname, 'http-tool.js'), ...args];
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the daemon's /readiness answers 200: the wait most daemon tests start (and resume) with. */
export function untilReady(gw: GatewayRun, what = 'ready', timeoutMs = 10_000): Promise<true> {
  return eventually(what, async () => ((await gw.health('/readiness'))?.status === 200 ? true : undefined), timeoutMs);
}

/** A counter or gauge from Prometheus text, summed over the series that match `labels`. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
    found = true;
  }
  return found ? sum : NaN;
}
