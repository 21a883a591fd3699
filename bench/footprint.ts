/**
 * 5. Footprint: the daemon's resident memory and CPU once it holds 0, 10k or 50k routes, and with
 * 100 ICMP targets probed every second; CPU is sampled over a quiet window after convergence.
 * Baseline: an idle Node process with one timer, in the same kind of namespace, sampled the same way.
 */
import { cpuMsOf, gatewayNamespace, memoryOf, sh, spawnIn, stopChild } from './lib/ns';
import { startGateway } from './lib/gateway';
import type { Row } from './lib/report';
import { summarize } from './lib/stats';
import { snapshotOf, workload } from './routes';

interface Sample {
  readonly rssMiB: number;
  readonly cpuPercent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function sample(pid: number, windowMs: number): Promise<Sample> {
  const c0 = cpuMsOf(pid);
  const t0 = Date.now();
  await sleep(windowMs);
  const c1 = cpuMsOf(pid);
  return { rssMiB: memoryOf(pid).rssMiB, cpuPercent: ((c1 - c0) / (Date.now() - t0)) * 100 };
}

const TARGETS = Array.from({ length: 100 }, (_, i) => `198.51.100.${120 + i}`);

async function gatewaySample(routes: number, probes: boolean, windowMs: number): Promise<Sample> {
  const w = workload(routes, Math.min(100, Math.max(1, routes)));
  const env: Record<string, string> = probes ? { ICMP_PROBE_IPS: TARGETS.join(','), ICMP_PROBE_INTERVAL: '1s', ICMP_PROBE_TIMEOUT: '3s' } : {};
  const gw = await startGateway(routes > 0 ? snapshotOf(w) : snapshotOf(workload(0, 1)), env, async (ns) => {
    // The probe targets answer from the far end of eth0.
    if (probes) await sh(['ip', '-n', `${ns}p`, '-batch', '-'], TARGETS.map((t) => `addr add ${t}/24 dev eth0`).join('\n') + '\n');
  });
  try {
    if (routes > 0) await gw.log.waitFor('the first reconcile', (l) => l.event === 'reconciled', 300_000);
    else await gw.log.waitFor('in_sync', (l) => l.event === 'in_sync');
    const pid = gw.daemon.pid;
    if (pid === undefined) throw new Error('no daemon pid');
    await sleep(3000); // start-up garbage collected, probes in their rhythm
    return await sample(pid, windowMs);
  } finally {
    await gw.close();
  }
}

async function baselineSample(windowMs: number): Promise<Sample> {
  const { ns, close } = await gatewayNamespace();
  const child = spawnIn(ns, [process.execPath, '-e', 'setInterval(() => {}, 1000)']);
  try {
    await sleep(3000);
    if (child.pid === undefined) throw new Error('no pid');
    return await sample(child.pid, windowMs);
  } finally {
    await stopChild(child);
    await close();
  }
}

export async function benchFootprint(opts: { rounds: number; windowMs: number } = { rounds: 2, windowMs: 10_000 }): Promise<Row[]> {
  const cases = [
    { label: '0 routes', routes: 0, probes: false },
    { label: '10k routes', routes: 10_000, probes: false },
    { label: '50k routes', routes: 50_000, probes: false },
    { label: '10k routes + 100 ICMP targets @1s', routes: 10_000, probes: true },
  ];
  const rows: Row[] = [];
  for (const c of cases) {
    const g: Sample[] = [];
    const b: Sample[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      if (r % 2 === 0) {
        g.push(await gatewaySample(c.routes, c.probes, opts.windowMs));
        b.push(await baselineSample(opts.windowMs));
      } else {
        b.push(await baselineSample(opts.windowMs));
        g.push(await gatewaySample(c.routes, c.probes, opts.windowMs));
      }
    }
    const rss = summarize(g.map((s) => s.rssMiB));
    const cpu = summarize(g.map((s) => s.cpuPercent));
    const ratio = (f: (s: Sample) => number): ReturnType<typeof summarize> => summarize(g.map((s, i) => f(s) / f(b[i] as Sample)));
    rows.push({
      bench: 'footprint',
      case: c.label,
      metric: 'RSS',
      unit: 'MiB',
      value: rss,
      baseline: { name: 'idle node', value: summarize(b.map((s) => s.rssMiB)) },
      ratio: ratio((s) => s.rssMiB),
      ...(c.routes === 50_000 ? { target: '≤ 150 MiB', met: rss.median <= 150 } : {}),
    });
    rows.push({
      bench: 'footprint',
      case: c.label,
      metric: 'CPU (idle window)',
      unit: '% of a core',
      value: cpu,
      baseline: { name: 'idle node', value: summarize(b.map((s) => s.cpuPercent)) },
      ...(c.probes ? {} : { target: '≤ 2%', met: cpu.median <= 2 }),
    });
  }
  return rows;
}
