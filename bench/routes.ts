/**
 * 1. Route programming: a Felix snapshot of N client blocks on M nodes, then in_sync; the time from
 * the first message on the stream to the daemon's report that the last entry is in the kernel
 * (the pass logs `reconciled` only once every netlink request has been acknowledged), against
 * `bridge -batch` + `ip -batch` writing the same entries into a fresh namespace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientVtepMac } from '../src/model/mac';
import type { RouteUpdateWire } from '../src/policysync/proto';
import { BenchFelix, encodeInSync, encodeRouteUpdate, nowMs } from './lib/felix';
import { FrameFelix } from './lib/frame-felix';
import { spawnDaemon } from './lib/gateway';
import { gatewayNamespace, memoryOf, sh, stopChild } from './lib/ns';
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

export function snapshotOf(w: Workload): Buffer[] {
  const out = w.routes.map((r, i) => encodeRouteUpdate(r, i + 1));
  out.push(encodeInSync(out.length + 1));
  return out;
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
 * Which Felix stand-in sends the snapshot (BENCH_FELIX). `frames` (the default) writes HTTP/2 as
 * grpc-go does (lib/frame-felix.ts): a Go Felix spends next to nothing per message. `grpc-js` is a
 * Node gRPC server in the bench process: it spends ~8 µs of CPU per message on the same two cores,
 * and the daemon's in_sync waits for its last write; kept to compare, and published beside.
 */
export function felixStandIn(): 'frames' | 'grpc-js' {
  const v = process.env.BENCH_FELIX ?? 'frames';
  if (v !== 'frames' && v !== 'grpc-js') throw new Error(`BENCH_FELIX must be frames or grpc-js, not ${JSON.stringify(v)}`);
  return v;
}

/** One run of the gateway: fresh namespace, the daemon, the snapshot; milliseconds to converge. */
export async function gatewayRun(w: Workload, snapshot: readonly Buffer[]): Promise<GatewayRun> {
  const { ns, close } = await gatewayNamespace();
  const dir = mkdtempSync(join(tmpdir(), 'egwb-'));
  const socketPath = join(dir, 'felix.sock');
  const felix = felixStandIn() === 'frames' ? await FrameFelix.start(socketPath, snapshot) : await BenchFelix.start(socketPath, snapshot);
  const { child, log } = spawnDaemon(ns, socketPath);
  try {
    const done = await log.waitFor('the first reconcile', (l) => l.event === 'reconciled', 600_000);
    const started = felix.streamStarts[0];
    if (started === undefined) throw new Error('the daemon reconciled without a stream');
    if (done.full !== true || done.operations !== w.entries) {
      throw new Error(`expected one full pass of ${w.entries} operations, got ${JSON.stringify(done)}`);
    }
    const peakMiB = child.pid ? memoryOf(child.pid).peakMiB : NaN;
    const held = await countOwnedRoutes(ns);
    if (held !== w.routes.length) throw new Error(`the kernel holds ${held} routes of ours, expected ${w.routes.length}`);
    if (process.env.BENCH_VERBOSE) {
      const at = (e: string): string => String((log.lines.find((l) => l.event === e)?.at ?? NaN) - started);
      const written = (felix.snapshotWritten[0] ?? NaN) - started;
      process.stderr.write(
        `gateway run: ${done.at - started} ms; stream_started ${at('stream_started')}, felix wrote its snapshot ${written.toFixed(1)}, in_sync ${at('in_sync')}, pass ${String(done.durationMs)} ms\n`,
      );
    }
    return { ms: done.at - started, peakMiB };
  } finally {
    await stopChild(child, 'SIGTERM'); // not SIGKILL: a --cpu-prof profile is written at exit
    await felix.stop();
    rmSync(dir, { recursive: true, force: true });
    await close();
  }
}

/** One run of the baseline: the same entries through `bridge -batch` and `ip -batch`. */
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
    const label = `N=${n} M=${m}${felixStandIn() === 'grpc-js' ? ' grpc-js Felix' : ''}`;
    try {
      const paired = await interleave(
        rounds,
        async () => {
          const r = await gatewayRun(w, snapshot);
          peaks.push(r.peakMiB);
          return r.ms;
        },
        () => baselineRun(w, files),
        n >= 100_000 ? 0 : 1,
      );
      const targetRatio = n === 10_000 ? 1.5 : undefined;
      rows.push({
        bench: 'routes',
        case: label,
        metric: 'snapshot → last entry in kernel',
        unit: 'ms',
        value: paired.subject,
        baseline: { name: 'ip -batch', value: paired.baseline },
        ratio: paired.ratio,
        ...(targetRatio ? { target: `≤ ${targetRatio}× ip -batch`, met: paired.ratio.median <= targetRatio } : {}),
      });
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
