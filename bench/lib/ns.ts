/**
 * Namespaces and processes for benchmarks. Every namespace is named `egwb-<pid>-<n>`, deleted after
 * use, and, should the benchmark die first, deleted when the process exits; every child is killed by
 * its own pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/kernel/exec';
import { DAEMON_NODE_FLAGS as OWN_DAEMON_NODE_FLAGS, launcherNodeFlags } from '../../test/lab/cli-script';

const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let counter = 0;

process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => process.exit(130));
}

export async function sh(argv: readonly string[], input?: string): Promise<CommandResult> {
  const [file = '', ...args] = argv;
  const r = await runCommand(file, args, { ...(input !== undefined ? { input } : {}), timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

export function uniqueName(role: string): string {
  return `egwb-${process.pid}-${++counter}-${role}`;
}

export async function addNamespace(name: string): Promise<void> {
  await sh(['ip', 'netns', 'add', name]);
  liveNamespaces.add(name);
  await sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function delNamespace(name: string): Promise<void> {
  if (!liveNamespaces.has(name)) return;
  const pids = await runCommand('ip', ['netns', 'pids', name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL'); // started by this benchmark in its own namespace
    } catch {
      /* gone */
    }
  }
  await runCommand('ip', ['netns', 'del', name]);
  liveNamespaces.delete(name);
}

export const GATEWAY_IP = '100.64.2.7';

/**
 * How a daemon's namespace is readied. A pod's init container has run before its daemon starts:
 * `egress-gateway init` of the tree under test (vxlan0, the sysctls, the ruleset and fail-safe), with
 * these extra settings (IPTABLES_BACKEND, DATAPLANE). Without it (the baselines' namespaces), vxlan0
 * alone, made by hand as init makes it.
 */
export interface NamespaceSetup {
  readonly init?: Record<string, string>;
}

/** The backend init writes with in the daemons' namespaces: BENCH_BACKEND = nft (default), legacy, nftables. */
export function benchInitEnv(backend = process.env.BENCH_BACKEND ?? 'nft'): Record<string, string> {
  switch (backend) {
    case 'nft':
    case 'legacy':
      return { IPTABLES_BACKEND: backend };
    case 'nftables':
      return { DATAPLANE: 'nftables' };
    default:
      throw new Error(`BENCH_BACKEND must be nft, legacy or nftables, not ${JSON.stringify(backend)}`);
  }
}

/**
 * A namespace shaped like the gateway pod for the return path: `eth0` (a veth whose peer lives in
 * a second namespace) with 198.51.100.12/24 and the pod address, and `vxlan0` up (made by init when
 * `setup.init` is given). IPv6 is off so its automatic entries stay out of the monitors.
 */
export async function gatewayNamespace(setup: NamespaceSetup = {}): Promise<{ ns: string; close(): Promise<void> }> {
  const ns = uniqueName('gw');
  const peer = `${ns}p`;
  await addNamespace(ns);
  await addNamespace(peer);
  const close = async (): Promise<void> => {
    await delNamespace(ns);
    await delNamespace(peer);
  };
  try {
    await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
    await sh(['ip', '-n', ns, 'addr', 'add', '198.51.100.12/24', 'dev', 'eth0']);
    await sh(['ip', '-n', ns, 'addr', 'add', `${GATEWAY_IP}/32`, 'dev', 'eth0']);
    await sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
    // init SNATs what leaves eth0 to the pod address, as in a pod, whose network routes it back; here the peer must.
    await sh(['ip', '-n', peer, 'route', 'add', `${GATEWAY_IP}/32`, 'dev', 'eth0']);
    if (setup.init) {
      await sh(['ip', 'netns', 'exec', ns, 'env', `EGRESS_POD_IP=${GATEWAY_IP}`, ...Object.entries(setup.init).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, 'init']);
    } else {
      // Exactly as init makes it, so the daemon's vxlan0 guard finds nothing to repair at start-up.
      await sh(['ip', '-n', ns, 'link', 'add', 'vxlan0', 'address', 'a2:2a:64:40:02:07', 'type', 'vxlan', 'id', '4097', 'dstport', '4790', 'dev', 'eth0', 'local', '100.64.2.7', 'nolearning']);
      await sh(['ip', '-n', ns, 'link', 'set', 'vxlan0', 'up']);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { ns, close };
}

/** A child in `ns` (`ip netns exec` execs it, so its pid is the program's), killed at exit at the latest. */
export function spawnIn(ns: string, argv: readonly string[], env: Record<string, string> = {}, opts: { stdin?: boolean } = {}): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  child.once('close', () => liveChildren.delete(child));
  return child;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/**
 * The CLI entry compiled next to this file (dist/ or a helper's build folder), or, for an A/B run of
 * two trees under one harness, BENCH_DAEMON_DIST: another build's dist/ folder whose daemon is measured.
 */
export const CLI = join(process.env.BENCH_DAEMON_DIST ?? join(__dirname, '..', '..'), 'test', 'lab', 'run-cli.js');

/**
 * The Node flags bin/egress-gateway starts the daemon with: the benchmarks measure the daemon as it
 * runs. For BENCH_DAEMON_DIST, that tree's launcher (next to its dist/), so each tree runs with its own flags.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = process.env.BENCH_DAEMON_DIST
  ? launcherNodeFlags(readFileSync(join(process.env.BENCH_DAEMON_DIST, '..', 'bin', 'egress-gateway'), 'utf8'))
  : OWN_DAEMON_NODE_FLAGS;

/** One JSON log line of the daemon, as pino writes it. */
export interface LogLine {
  /** pino's isoTime: milliseconds, as text. */
  readonly time: string;
  /** `time` as epoch milliseconds. */
  at: number;
  readonly event?: string;
  readonly msg?: string;
  readonly [k: string]: unknown;
}

/** The daemon's JSON log lines, parsed as they arrive, with a way to wait for one. */
export class LogWatch {
  readonly lines: LogLine[] = [];
  private partial = '';
  private waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  stderr = '';

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (c: Buffer) => {
      const parts = (this.partial + c.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) {
        if (!p.startsWith('{')) continue;
        let line: LogLine;
        try {
          line = JSON.parse(p) as LogLine;
          line.at = Date.parse(line.time);
        } catch {
          continue;
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
      }
    });
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()));
  }

  /** The first line (already seen or to come) that passes `test`; rejects on exit or timeout. */
  waitFor(what: string, test: (l: LogLine) => boolean, timeoutMs = 120_000): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`no ${what} within ${timeoutMs} ms`), timeoutMs);
      const onClose = (code: number | null): void => fail(`daemon exited ${code} before ${what}: ${this.stderr.slice(-2000)}`);
      const fail = (why: string): void => {
        this.waiters = this.waiters.filter((w) => w.resolve !== ok);
        this.child.off('close', onClose);
        reject(new Error(why));
      };
      const ok = (l: LogLine): void => {
        clearTimeout(timer);
        this.child.off('close', onClose);
        resolve(l);
      };
      this.child.once('close', onClose);
      this.waiters.push({ test, resolve: ok });
    });
  }
}

/** Resident set size and its peak (KiB → MiB) of a process, from /proc. */
export function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

/**
 * CPU time (user + system) of a process in milliseconds, from /proc/PID/stat; with `children`, that
 * of the children it has waited for too (the iptables-save and nft runs of the daemon's setup guard).
 */
export function cpuMsOf(pid: number, opts: { children?: boolean } = {}): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let ticks = Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
  if (opts.children) ticks += Number(rest[13]) + Number(rest[14]); // cutime, cstime (16 and 17)
  const hz = 100; // USER_HZ is 100 on every Linux that Node supports
  return (ticks * 1000) / hz;
}
