/**
 * 3. Readiness reaction: an ICMP probe of the upstream (the far end of the gateway's eth0) every
 * INTERVAL, timeout 3 × INTERVAL; the upstream link is cut (`ip link set eth0 down` on the far
 * side), then restored. Measured: cut → first 503 on /readiness, restore → first 200, polled every
 * 2 ms from inside the namespace. The bound it is held to is the issue's: timeout + one interval +
 * 100 ms; the ratio column is the figure over timeout + interval (what a perfect detector needs
 * at worst).
 */
import { nowMs } from './lib/felix';
import { startGateway } from './lib/gateway';
import { GATEWAY_IP, sh, spawnIn, stopChild } from './lib/ns';
import { ReadinessWatch } from './lib/readiness-watch';
import type { Row } from './lib/report';
import { summarize } from './lib/stats';
import { snapshotOf, workload } from './routes';

const PORT = '8080';
const UPSTREAM = '198.51.100.1';

export async function benchReadiness(opts: { intervals: readonly number[]; rounds: number } = { intervals: [100, 1000, 5000], rounds: 3 }): Promise<Row[]> {
  const rows: Row[] = [];
  const snapshot = snapshotOf(workload(10, 2));
  for (const interval of opts.intervals) {
    const timeout = 3 * interval;
    const bound = timeout + interval + 100;
    const down: number[] = [];
    const up: number[] = [];
    let watch: ReadinessWatch | undefined;
    const gw = await startGateway(
      snapshot,
      { HEALTH_PORT: PORT, ICMP_PROBE_IPS: UPSTREAM, ICMP_PROBE_INTERVAL: `${interval}ms`, ICMP_PROBE_TIMEOUT: `${timeout}ms` },
      async (ns) => {
        await sh(['ip', '-n', `${ns}p`, 'addr', 'add', `${UPSTREAM}/24`, 'dev', 'eth0']);
        watch = ReadinessWatch.start(ns, `http://${GATEWAY_IP}:${PORT}/readiness`, 2);
      },
    );
    const peer = `${gw.ns}p`;
    // BENCH_VERBOSE: the gateway side's neighbour and link events and the daemon's probe log lines,
    // against the cut/restore times, to tell where a slow restore spends its time.
    const neighLog: string[] = [];
    const monitor = process.env.BENCH_VERBOSE ? spawnIn(gw.ns, ['ip', '-ts', 'monitor', 'neigh', 'link']) : undefined;
    monitor?.stdout?.on('data', (c: Buffer) => neighLog.push(`${nowMs().toFixed(0)} ${c.toString().trim()}`));
    try {
      if (!watch) throw new Error('no poller');
      await watch.waitFor(200, 0);
      for (let r = 0; r < opts.rounds; r++) {
        // A random phase against the probe schedule, so rounds do not all cut at the same point of it.
        await new Promise((res) => setTimeout(res, interval * (1 + Math.random())));
        const cutAt = nowMs();
        await sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'down']);
        down.push((await watch.waitFor(503, cutAt, bound * 3 + 5000)).at - cutAt);
        await new Promise((res) => setTimeout(res, interval * (1 + Math.random())));
        const restoreAt = nowMs();
        await sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
        up.push((await watch.waitFor(200, restoreAt, bound * 3 + 5000)).at - restoreAt);
        if (process.env.BENCH_VERBOSE) {
          const rel = (t: number): string => `${(t - restoreAt).toFixed(0).padStart(6)} ms`;
          process.stderr.write(`readiness: I=${interval} round ${r}: cut→503 ${down.at(-1)?.toFixed(0)} ms, restore→200 ${up.at(-1)?.toFixed(0)} ms\n`);
          // carrier_*: the daemon's own view of eth0, and which unresolved next-hop entries it deleted at link-up.
          for (const l of gw.log.lines.filter((l) => l.at >= cutAt && /probe_target|probe_round|readiness|carrier/.test(String(l.event)))) {
            process.stderr.write(`  daemon ${rel(l.at)} ${String(l.event)} ${JSON.stringify(l.error ?? l.carrier ?? '')} ${l.deleted ? JSON.stringify(l.deleted) : ''}\n`);
          }
          for (const l of neighLog.splice(0)) process.stderr.write(`  kernel ${rel(Number(l.split(' ')[0]))} ${l.slice(l.indexOf(' ') + 1).replace(/\n/g, ' | ')}\n`);
        }
      }
    } finally {
      if (monitor) await stopChild(monitor, 'SIGKILL');
      await watch?.stop();
      await gw.close();
    }
    const label = `interval ${interval} ms, timeout ${timeout} ms`;
    const perfect = summarize([timeout + interval]);
    for (const [metric, samples] of [['cut → 503', down], ['restore → 200', up]] as const) {
      const value = summarize(samples);
      rows.push({
        bench: 'readiness',
        case: label,
        metric,
        unit: 'ms',
        value,
        baseline: { name: 'timeout+interval', value: perfect },
        ratio: summarize(samples.map((x) => x / (timeout + interval))),
        target: `≤ ${bound} ms`,
        met: value.max <= bound,
      });
    }
  }
  return rows;
}
