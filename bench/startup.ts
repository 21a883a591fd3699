/**
 * 6. Start to ready: from spawning `egress-gateway start` to the first 200 on /readiness, with a
 * 10k-route snapshot waiting at Felix and an ICMP probe configured. Baseline: spawning a Node
 * process that serves 200 on the same address: what any Node daemon pays before it can answer.
 */
import type { EncodedSet } from '../src/policysync/server';
import { GATEWAY_IP, gatewayNamespace, sh, spawnIn, stopChild } from './lib/ns';
import { nowMs } from './lib/felix';
import { startGateway } from './lib/gateway';
import { ReadinessWatch } from './lib/readiness-watch';
import type { Row } from './lib/report';
import { interleave } from './lib/stats';
import { snapshotOf, workload } from './routes';

const PORT = '8080';
const URL = `http://${GATEWAY_IP}:${PORT}/readiness`;

async function gatewayRun(snapshot: EncodedSet): Promise<number> {
  let watch: ReadinessWatch | undefined;
  const gw = await startGateway(
    snapshot,
    { HEALTH_PORT: PORT, ICMP_PROBE_IPS: '198.51.100.1', ICMP_PROBE_INTERVAL: '1s', ICMP_PROBE_TIMEOUT: '3s' },
    async (ns) => {
      await sh(['ip', '-n', `${ns}p`, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth0']);
      watch = ReadinessWatch.start(ns, URL, 2);
      await new Promise((r) => setTimeout(r, 300)); // the poller is up before the daemon starts
    },
  );
  try {
    if (!watch) throw new Error('no poller');
    const ready = await watch.waitFor(200, gw.spawnedAt);
    return ready.at - gw.spawnedAt;
  } finally {
    await watch?.stop();
    await gw.close();
  }
}

const SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(${PORT}, '${GATEWAY_IP}')`;

async function baselineRun(): Promise<number> {
  const { ns, close } = await gatewayNamespace();
  const watch = ReadinessWatch.start(ns, URL, 2);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const t0 = nowMs();
    const server = spawnIn(ns, [process.execPath, '-e', SERVER]);
    try {
      return (await watch.waitFor(200, t0)).at - t0;
    } finally {
      await stopChild(server);
    }
  } finally {
    await watch.stop();
    await close();
  }
}

export async function benchStartup(rounds = 5): Promise<Row[]> {
  const snapshot = snapshotOf(workload(10_000, 100));
  const p = await interleave(rounds, () => gatewayRun(snapshot), baselineRun);
  return [
    {
      bench: 'startup',
      case: '10k routes, ICMP probe on',
      metric: 'spawn → /readiness 200',
      unit: 'ms',
      value: p.subject,
      baseline: { name: 'node http hello', value: p.baseline },
      ratio: p.ratio,
      target: '≤ 1500 ms',
      met: p.subject.median <= 1500,
    },
  ];
}
