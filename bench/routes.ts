/**
 * 1. Route programming: a Felix snapshot of N client blocks on M nodes, then in_sync; the time from
 * the stream's start at Felix to the daemon's report that the last entry is in the kernel (the pass
 * logs `reconciled` only once every netlink request has been acknowledged), against the baseline of
 * what the libraries and the kernel need for the same work: a bare receiver (lib/bare-receiver.ts:
 * grpc-js and the generated decoder, nothing else) reading the same snapshot from the same Felix,
 * plus `bridge -batch` + `ip -batch` writing the same entries into a fresh namespace.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientVtepMac } from '../src/model/mac';
import type { RouteUpdateWire } from '../src/policysync/proto';
import { encodeToDataplane } from '../src/policysync/proto';
import type { EncodedSet } from '../src/policysync/server';
import { encodeSet } from '../src/policysync/server';
import { FelixGo } from '../test/lab/felix-go';
import { BenchFelix, nowMs } from './lib/felix';
import { spawnDaemon } from './lib/gateway';
import { benchInitEnv, DAEMON_NODE_FLAGS, gatewayNamespace, memoryOf, sh, stopChild } from './lib/ns';
import type { Row } from './lib/report';
import { interleave, summarize } from './lib/stats';

const PROTO = '69';
const REMOTE_WORKLOAD = 1;
const POOL_VXLAN = 2;

export interface Workload {
  readonly routes: RouteUpdateWire[];
  /** The same entries as iproute2 batch lines. */
  readonly ipBatch: string;
  readonly bridgeBatch: string;
  readonly entries: number;
}

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Block i: a /28 from 100.65.0.0 on (room for 258k blocks in 100.64.0.0/10, clear of the gateway's 100.64.2.7). */
export function blockOf(i: number): string {
  return `${ipv4(((100 << 24) | (65 << 16)) + i * 16)}/28`;
}

export function nodeOf(j: number): { name: string; ip: string } {
  return { name: `node-${j}`, ip: `198.51.100.${20 + j}` };
}

export function workload(n: number, m: number): Workload {
  if (m > 200) throw new Error('at most 200 nodes fit in 198.51.100.20–219');
  const routes: RouteUpdateWire[] = [];
  const ip: string[] = [];
  const bridge: string[] = [];
  for (let j = 0; j < m; j++) {
    const node = nodeOf(j);
    const mac = clientVtepMac(node.name);
    bridge.push(`fdb add ${mac} dev vxlan0 dst ${node.ip} self permanent`);
    ip.push(`neigh add ${node.ip} lladdr ${mac} dev vxlan0 nud permanent`);
  }
  for (let i = 0; i < n; i++) {
    const node = nodeOf(i % m);
    routes.push({ type: REMOTE_WORKLOAD, ip_pool_type: POOL_VXLAN, dst: blockOf(i), dst_node_name: node.name, dst_node_ip: node.ip });
    ip.push(`route add ${blockOf(i)} via ${node.ip} dev vxlan0 onlink proto ${PROTO}`);
  }
  return { routes, ipBatch: ip.join('\n') + '\n', bridgeBatch: bridge.join('\n') + '\n', entries: n + 2 * m };
}

export function snapshotOf(w: Workload): EncodedSet {
  return encodeSet(w.routes, []);
}

/** The snapshot as the messages a subscriber receives, in_sync last (for the micro-benchmarks). */
export function snapshotMessages(w: Workload): Buffer[] {
  return [...snapshotOf(w).routes.values(), encodeToDataplane({ in_sync: {} })];
}

export async function countOwnedRoutes(ns: string): Promise<number> {
  const r = await sh(['ip', '-n', ns, 'route', 'show', 'proto', PROTO]);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

export interface GatewayRun {
  readonly ms: number;
  readonly peakMiB: number;
  readonly cpuProfile?: string;
}

/**
 * Which Felix stand-in sends the snapshot (BENCH_FELIX). `go` (the default) is the Go Felix
 * (test/felix-go: grpc-go, as Felix): a Go server in its own process spends little per message.
 * `grpc-js` is the project's PolicySync server in the bench process (lib/felix.ts): it spends CPU per
 * message on the same two cores, so the daemon's in_sync can wait for its writes; kept to compare.
 */
export function felixStandIn(): 'go' | 'grpc-js' {
  const v = process.env.BENCH_FELIX ?? 'go';
  if (v !== 'go' && v !== 'grpc-js') throw new Error(`BENCH_FELIX must be go or grpc-js, not ${JSON.stringify(v)}`);
  return v;
}

/** A Felix stand-in serving `w` on `socketPath`; `streamStart()` is when it accepted the (first) stream. */
interface StandIn {
  streamStart(): number | undefined;
  stop(): Promise<void>;
}

async function startStandIn(w: Workload, snapshot: EncodedSet, dir: string): Promise<StandIn & { socketPath: string }> {
  const socketPath = join(dir, 'felix.sock');
  if (felixStandIn() === 'grpc-js') {
    const felix = await BenchFelix.start(socketPath, snapshot);
    return { socketPath, streamStart: () => felix.streamStarts[0], stop: () => felix.stop() };
  }
  const felix = await FelixGo.start(socketPath, join(dir, 'script.json'), { routes: w.routes });
  return { socketPath, streamStart: () => felix.events.find((e) => e.event === 'stream')?.['at'] as number | undefined, stop: () => felix.stop() };
}

/** One run of the gateway: fresh namespace, the daemon, the snapshot; milliseconds to converge. */
export async function gatewayRun(w: Workload, snapshot: EncodedSet): Promise<GatewayRun> {
  // As in a pod: init has run, so the daemon's setup guard finds its state in place and writes nothing.
  const { ns, close } = await gatewayNamespace({ init: benchInitEnv() });
  const dir = mkdtempSync(join(tmpdir(), 'egwb-'));
  const felix = await startStandIn(w, snapshot, dir);
  const { child, log } = spawnDaemon(ns, felix.socketPath);
  try {
    const done = await log.waitFor('the first reconcile', (l) => l.event === 'reconciled', 600_000);
    const started = felix.streamStart();
    if (started === undefined) throw new Error('the daemon reconciled without a stream');
    if (done.full !== true || done.operations !== w.entries) {
      throw new Error(`expected one full pass of ${w.entries} operations, got ${JSON.stringify(done)}`);
    }
    const peakMiB = child.pid ? memoryOf(child.pid).peakMiB : NaN;
    const held = await countOwnedRoutes(ns);
    if (held !== w.routes.length) throw new Error(`the kernel holds ${held} routes of ours, expected ${w.routes.length}`);
    if (process.env.BENCH_VERBOSE) {
      const at = (e: string): string => String((log.lines.find((l) => l.event === e)?.at ?? NaN) - started);
      process.stderr.write(`gateway run: ${done.at - started} ms; stream_started ${at('stream_started')}, in_sync ${at('in_sync')}, pass ${String(done.durationMs)} ms\n`);
    }
    return { ms: done.at - started, peakMiB };
  } finally {
    await stopChild(child, 'SIGTERM'); // not SIGKILL: a --cpu-prof profile is written at exit
    await felix.stop();
    rmSync(dir, { recursive: true, force: true });
    await close();
  }
}

/**
 * The bare receiver's part of the baseline: from the stream's start at the same Felix stand-in to the
 * receiver's in_sync, the receiver a fresh process as the daemon is.
 */
export async function bareReceiveRun(w: Workload, snapshot: EncodedSet): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'egwb-bare-'));
  const felix = await startStandIn(w, snapshot, dir);
  try {
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, join(__dirname, 'lib', 'bare-receiver.js'), felix.socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const line = JSON.parse(out.trim() || '{}') as { messages?: number; inSyncAt?: number };
    const started = felix.streamStart();
    if (code !== 0 || line.messages !== w.routes.length + 1 || line.inSyncAt === undefined || started === undefined) {
      throw new Error(`the bare receiver did not read the snapshot (exit ${code}, ${out.trim()})`);
    }
    return line.inSyncAt - started;
  } finally {
    await felix.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One run of the kernel's part of the baseline: the same entries through `bridge -batch` and `ip -batch`. */
export async function baselineRun(w: Workload, files: { ip: string; bridge: string }): Promise<number> {
  const { ns, close } = await gatewayNamespace();
  try {
    const t0 = nowMs();
    await sh(['ip', 'netns', 'exec', ns, 'bridge', '-batch', files.bridge]);
    await sh(['ip', '-n', ns, '-batch', files.ip]);
    const ms = nowMs() - t0;
    const held = await countOwnedRoutes(ns);
    if (held !== w.routes.length) throw new Error(`ip -batch left ${held} routes, expected ${w.routes.length}`);
    return ms;
  } finally {
    await close();
  }
}

export interface RoutesOptions {
  readonly sizes: readonly { n: number; m: number; rounds: number }[];
}

export const DEFAULT_SIZES = [
  { n: 1_000, m: 100, rounds: 5 },
  { n: 10_000, m: 100, rounds: 7 },
  { n: 100_000, m: 100, rounds: 3 },
];

export async function benchRoutes(opts: RoutesOptions = { sizes: DEFAULT_SIZES }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const { n, m, rounds } of opts.sizes) {
    const w = workload(n, m);
    const snapshot = snapshotOf(w);
    const dir = mkdtempSync(join(tmpdir(), 'egwb-batch-'));
    const files = { ip: join(dir, 'routes.batch'), bridge: join(dir, 'fdb.batch') };
    writeFileSync(files.ip, w.ipBatch);
    writeFileSync(files.bridge, w.bridgeBatch);
    const peaks: number[] = [];
    const receives: number[] = [];
    const kernels: number[] = [];
    const label = `N=${n} M=${m}${felixStandIn() === 'grpc-js' ? ' grpc-js Felix' : ''}`;
    try {
      const paired = await interleave(
        rounds,
        async () => {
          const r = await gatewayRun(w, snapshot);
          peaks.push(r.peakMiB);
          return r.ms;
        },
        async () => {
          const receive = await bareReceiveRun(w, snapshot);
          const kernel = await baselineRun(w, files);
          receives.push(receive);
          kernels.push(kernel);
          return receive + kernel;
        },
        n >= 100_000 ? 0 : 1,
      );
      const targetRatio = n === 10_000 ? 1.0 : undefined;
      rows.push({
        bench: 'routes',
        case: label,
        metric: 'snapshot → last entry in kernel',
        unit: 'ms',
        value: paired.subject,
        baseline: { name: 'bare receiver + ip -batch', value: paired.baseline },
        ratio: paired.ratio,
        ...(targetRatio ? { target: `≤ ${targetRatio}× (bare receiver + ip -batch)`, met: paired.ratio.median <= targetRatio } : {}),
      });
      rows.push({ bench: 'routes', case: label, metric: 'baseline part: bare receiver, stream start → in_sync', unit: 'ms', value: summarize(receives) });
      rows.push({ bench: 'routes', case: label, metric: 'baseline part: bridge -batch + ip -batch', unit: 'ms', value: summarize(kernels) });
      rows.push({
        bench: 'routes',
        case: label,
        metric: 'daemon peak RSS',
        unit: 'MiB',
        value: summarize(peaks),
        ...(n === 100_000 ? { target: 'converges, bounded memory', met: true } : {}),
      });
    } catch (err) {
      // One size failing (a daemon that did not converge) must not hide the others' figures.
      rows.push({
        bench: 'routes',
        case: label,
        metric: 'snapshot → last entry in kernel',
        unit: 'ms',
        value: summarize([]),
        target: n === 100_000 ? 'converges, bounded memory' : 'converges',
        met: false,
        note: String(err instanceof Error ? err.message : err).slice(0, 400),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
