/**
 * 2. Update latency: on a gateway holding a snapshot of BASE client blocks, a steady stream of
 * RouteUpdate (a new block) and RouteRemove (a block of the snapshot), alternating, at RATE per
 * second; for each message, the time from its write on the stream to the route's appearance or
 * disappearance in `ip -ts monitor route`. Baseline: the same changes as lines written at the same
 * pace to one long-running `ip -batch -`, seen by the same monitor.
 */
import { gatewayNamespace, sh, spawnIn, stopChild } from './lib/ns';
import { encodeRouteRemove, encodeRouteUpdate, nowMs } from './lib/felix';
import { startGateway } from './lib/gateway';
import { RouteMonitor } from './lib/monitor';
import type { Row } from './lib/report';
import { quantile, summarize } from './lib/stats';
import { blockOf, snapshotOf, workload } from './routes';

const RATE = 1000;

interface Change {
  readonly dst: string;
  readonly deleted: boolean;
  sentAt: number;
}

/** The changes: even k adds block BASE + k/2, odd k removes snapshot block (k−1)/2. */
function changes(base: number, count: number): Change[] {
  return Array.from({ length: count }, (_, k) =>
    k % 2 === 0 ? { dst: blockOf(base + k / 2), deleted: false, sentAt: 0 } : { dst: blockOf((k - 1) / 2), deleted: true, sentAt: 0 },
  );
}

/** Sends change k at t0 + k/RATE seconds (as close as timers allow), via `send`. */
async function paced(list: Change[], send: (c: Change, k: number) => void): Promise<void> {
  const t0 = nowMs() + 20;
  let k = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowMs();
      while (k < list.length && t0 + (k * 1000) / RATE <= now) {
        const c = list[k] as Change;
        send(c, k);
        k++;
      }
      if (k >= list.length) resolve();
      else setTimeout(tick, 0);
    };
    setTimeout(tick, 20);
  });
}

/** Latencies (ms) of each change: the first matching monitor event after it was sent. */
function latencies(list: readonly Change[], monitor: RouteMonitor): number[] {
  const byKey = new Map<string, number[]>();
  for (const e of monitor.events) {
    const key = `${e.deleted ? '-' : '+'}${e.dst}`;
    const l = byKey.get(key);
    if (l) l.push(e.at);
    else byKey.set(key, [e.at]);
  }
  return list.map((c) => {
    const seen = byKey.get(`${c.deleted ? '-' : '+'}${c.dst}`) ?? [];
    const at = seen.find((t) => t >= c.sentAt - 1);
    return at === undefined ? NaN : Math.max(0, at - c.sentAt);
  });
}

async function settle(monitor: RouteMonitor, expected: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (monitor.events.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

async function gatewayRound(base: number, count: number): Promise<number[]> {
  const w = workload(base, 100);
  const gw = await startGateway(snapshotOf(w));
  try {
    await gw.log.waitFor('the first reconcile', (l) => l.event === 'reconciled');
    const monitor = await RouteMonitor.start(gw.ns);
    const list = changes(base, count);
    await paced(list, (c) => {
      const msg = c.deleted ? encodeRouteRemove(c.dst) : encodeRouteUpdate({ type: 1, ip_pool_type: 2, dst: c.dst, dst_node_name: 'node-1', dst_node_ip: '198.51.100.21' });
      c.sentAt = gw.felix.send(msg);
    });
    await settle(monitor, count);
    await monitor.stop();
    return latencies(list, monitor);
  } finally {
    await gw.close();
  }
}

async function baselineRound(base: number, count: number): Promise<number[]> {
  const w = workload(base, 100);
  const { ns, close } = await gatewayNamespace();
  try {
    const ip = spawnIn(ns, ['ip', '-batch', '-'], {}, { stdin: true });
    if (!ip.stdin) throw new Error('ip -batch - has no stdin');
    await sh(['ip', '-n', ns, '-batch', '-'], w.ipBatch);
    const monitor = await RouteMonitor.start(ns);
    const list = changes(base, count);
    await paced(list, (c) => {
      c.sentAt = nowMs();
      ip.stdin?.write(c.deleted ? `route del ${c.dst} proto 69\n` : `route add ${c.dst} via 198.51.100.21 dev vxlan0 onlink proto 69\n`);
    });
    await settle(monitor, count);
    ip.stdin.end();
    await stopChild(ip);
    await monitor.stop();
    return latencies(list, monitor);
  } finally {
    await close();
  }
}

export async function benchUpdates(opts: { base: number; count: number; rounds: number } = { base: 10_000, count: 3_000, rounds: 3 }): Promise<Row[]> {
  const p50: number[] = [];
  const p99: number[] = [];
  const b50: number[] = [];
  const b99: number[] = [];
  let lost = 0;
  for (let r = 0; r < opts.rounds; r++) {
    const pair = r % 2 === 0 ? ['gw', 'base'] : ['base', 'gw'];
    for (const which of pair) {
      const lat = which === 'gw' ? await gatewayRound(opts.base, opts.count) : await baselineRound(opts.base, opts.count);
      lost += which === 'gw' ? lat.filter((x) => Number.isNaN(x)).length : 0;
      const s = lat.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      (which === 'gw' ? p50 : b50).push(quantile(s, 0.5));
      (which === 'gw' ? p99 : b99).push(quantile(s, 0.99));
    }
  }
  const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] ?? NaN));
  const label = `${opts.base} blocks, ${RATE}/s`;
  return [
    { bench: 'updates', case: label, metric: 'message → kernel p50', unit: 'ms', value: summarize(p50), baseline: { name: 'ip -batch -', value: summarize(b50) }, ratio: summarize(ratio(p50, b50)) },
    {
      bench: 'updates',
      case: label,
      metric: 'message → kernel p99',
      unit: 'ms',
      value: summarize(p99),
      baseline: { name: 'ip -batch -', value: summarize(b99) },
      ratio: summarize(ratio(p99, b99)),
      target: '≤ 10 ms',
      met: summarize(p99).median <= 10,
      ...(lost > 0 ? { note: `${lost} changes never seen by the monitor` } : {}),
    },
  ];
}
