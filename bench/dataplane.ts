/**
 * 4. Dataplane: iperf3 from the client pod to the external host in the lab of LAB.md, three ways:
 *   gateway  — the gateway pod set up by `egress-gateway init` and `start` (return path from Felix);
 *   by hand  — the same topology configured with iproute2/iptables only (the kernel baseline);
 *   direct   — no gateway: the policy rule removed, the pod masqueraded by its own node.
 * A fresh lab for every run; the three are interleaved, round by round, in rotating order.
 */
import { clientBlockRoute, eventually, prepareGateway } from '../test/lab/gateway';
import { createLab, waitForOutput, type Lab } from '../test/lab/lab';
import type { Row } from './lib/report';
import { summarize } from './lib/stats';

export type Way = 'gateway' | 'hand' | 'direct';

interface Throughput {
  readonly tcp: number;
  readonly udp: number;
}

async function iperf(lab: Lab, seconds: number): Promise<Throughput> {
  const server = lab.spawn(lab.names.ext, ['iperf3', '-s', '--forceflush', '-B', lab.addrs.ext]);
  try {
    await waitForOutput(server, /Server listening/);
    const run = async (extra: string[]): Promise<number> => {
      const r = await lab.exec(lab.names.cpod, ['iperf3', '-c', lab.addrs.ext, '-t', String(seconds), '-J', ...extra], { timeoutMs: (seconds + 20) * 1000 });
      const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number }; sum?: { bits_per_second?: number; lost_percent?: number } } };
      if (extra.includes('-u')) {
        const sum = j.end?.sum;
        // Received rate: what was sent less what was lost.
        return ((sum?.bits_per_second ?? NaN) * (100 - (sum?.lost_percent ?? 0))) / 100 / 1e6;
      }
      return (j.end?.sum_received?.bits_per_second ?? NaN) / 1e6;
    };
    const tcp = await run([]);
    // 1200-byte datagrams fit every path's MTU (VXLAN takes 50 bytes), so no path fragments.
    const udp = await run(['-u', '-b', '0', '-l', '1200']);
    return { tcp, udp };
  } finally {
    server.kill('SIGKILL');
  }
}

async function byHand(lab: Lab): Promise<void> {
  const gw = lab.names.gwpod;
  const sh = (argv: string[]): Promise<unknown> => lab.exec(gw, argv);
  await sh(['ip', 'link', 'add', 'vxlan0', 'address', lab.vxlan.gatewayMac, 'type', 'vxlan', 'id', String(lab.vxlan.vni), 'dstport', String(lab.vxlan.port), 'dev', 'eth0']);
  await sh(['ip', 'link', 'set', 'vxlan0', 'up']);
  await sh(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.vxlan0.rp_filter=0']);
  await sh(['iptables', '-t', 'nat', '-A', 'POSTROUTING', '!', '-s', `${lab.addrs.gwpod}/32`, '-o', 'eth0', '-j', 'SNAT', '--to-source', lab.addrs.gwpod, '--random-fully']);
  // vxlan0 MTU 1450 → MSS 1410, as init clamps it.
  await sh(['iptables', '-t', 'mangle', '-A', 'FORWARD', '-o', 'eth0', '-p', 'tcp', '-m', 'tcp', '--tcp-flags', 'SYN,RST', 'SYN', '-m', 'tcpmss', '--mss', '1411:65535', '-j', 'TCPMSS', '--set-mss', '1410']);
  await lab.setReturnPathByHand();
}

async function direct(lab: Lab): Promise<void> {
  const n1 = lab.names.node1;
  await lab.exec(n1, ['ip', 'rule', 'del', 'from', lab.addrs.cpod, 'iif', 'cali-c', 'lookup', '250']);
  await lab.exec(n1, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', `${lab.addrs.cpod}/32`, '-o', 'eth0', '-j', 'MASQUERADE']);
}

/** Runs `body` in a fresh lab with the path `way` set up; the lab (and daemon) always go afterwards. */
export async function inPath<T>(way: Way, body: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await createLab();
  try {
    if (way === 'gateway') {
      const run = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        run.startDaemon({ LOG_SEVERITY: 'info' });
        await eventually('the return path programmed', async () => ((await run.returnPath()).includes(lab.clientBlock) ? true : undefined));
        return await body(lab);
      } finally {
        await run.close();
      }
    }
    await (way === 'hand' ? byHand(lab) : direct(lab));
    return await body(lab);
  } finally {
    await lab.teardown();
  }
}

function measure(way: Way, seconds: number): Promise<Throughput> {
  return inPath(way, (lab) => iperf(lab, seconds));
}

export async function benchDataplane(opts: { rounds: number; seconds: number } = { rounds: 3, seconds: 3 }): Promise<Row[]> {
  const got: Record<Way, Throughput[]> = { gateway: [], hand: [], direct: [] };
  const orders: Way[][] = [['gateway', 'hand', 'direct'], ['hand', 'direct', 'gateway'], ['direct', 'gateway', 'hand']];
  for (let r = 0; r < opts.rounds; r++) {
    for (const way of orders[r % orders.length] ?? []) got[way].push(await measure(way, opts.seconds));
  }
  const rows: Row[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const g = got.gateway.map((t) => t[proto]);
    const h = got.hand.map((t) => t[proto]);
    const d = got.direct.map((t) => t[proto]);
    const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] ?? NaN));
    const vsHand = summarize(ratio(g, h));
    rows.push({
      bench: 'dataplane',
      case: `iperf3 ${proto.toUpperCase()} ${opts.seconds}s`,
      metric: 'throughput vs by hand',
      unit: 'Mbit/s',
      value: summarize(g),
      baseline: { name: 'by hand', value: summarize(h) },
      ratio: vsHand,
      target: '≥ 0.95× by hand',
      met: vsHand.median >= 0.95,
    });
    rows.push({
      bench: 'dataplane',
      case: `iperf3 ${proto.toUpperCase()} ${opts.seconds}s`,
      metric: 'throughput vs no gateway',
      unit: 'Mbit/s',
      value: summarize(g),
      baseline: { name: 'pod via own node', value: summarize(d) },
      ratio: summarize(ratio(g, d)),
    });
  }
  return rows;
}
