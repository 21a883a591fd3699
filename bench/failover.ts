/**
 * 8. Failover (issue #16), three parts, each against a baseline run in the same session:
 *
 *  - Detection and switch: in the failover lab (test/lab/failover.ts: the agent on an OSS client
 *    node, two real gateways), one gateway is killed (SIGKILL), cut off (every packet to and from
 *    it dropped on its node), drained (SIGTERM) or made unready (its upstream probe fails: 503),
 *    again and again, at a random moment each time. Measured: from the action to the moment node1's
 *    kernel takes it out of the client's nexthop group (`ip -ts monitor nexthop`, stamped by
 *    iproute2), so no new connection goes to it; for the 503, from the moment the gateway logged it
 *    turned not ready (its own upstream probe takes its timeout, 300 ms here, to get there). Ours (the defaults: readiness stream, ICMP echo
 *    every 100 ms, 3 misses) against Felix's defaults (the same agent polling /readiness every 10 s,
 *    3 failures, 5 s per poll: AGENT_GATEWAY_STREAM=false, no echo). p50 and p99 (with few rounds,
 *    p99 is the slowest round).
 *  - Recovery: both gateways made unready, so the client fails closed (its table's default route is
 *    `unreachable`); then one is made ready again. Measured: from the moment that gateway logged it
 *    turned ready to the moment node1's kernel holds the table's default route through a nexthop
 *    group again (`ip -ts monitor route`), with our signals only (Felix's poll would add up to 10 s).
 *  - Rolling update: a churn of connections (a new one every 20 ms, each living 1 s) through a
 *    rolling update of the two-replica gateway "Deployment" (a new pod, then the old one deleted:
 *    deletionTimestamp, SIGTERM, DRAIN_DELAY 3 s, its network torn down, gone from the API; twice).
 *    Measured: connections broken per update, with the flow pins (the default) against without
 *    them (AGENT_FLOW_MARK_MASK=0: the resilient groups alone, which move a draining gateway's
 *    flows at once).
 *  - Cost at 1,000 client nodes: a gateway daemon with 1,000 readiness streams open from another
 *    namespace, measured over a window: its CPU (user + system, /proc/PID/stat), its RSS, and the
 *    machine's softirq time (/proc/stat: the kernel's share, which answering echoes is). Cases: no
 *    streams (the baseline); 1,000 streams with the issue's 100 ms heartbeat (10,000 writes a
 *    second); with our 1 s heartbeat; and with our 1 s heartbeat plus 10,000 ICMP echoes a second
 *    (1,000 nodes × 10), answered by the gateway's kernel.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startFailoverLab, type FailoverLab } from '../test/lab/failover';
import { waitForOutput, withLab, type Lab } from '../test/lab/lab';
import { startGateway } from './lib/gateway';
import { GroupMonitor, RouteMonitor } from './lib/monitor';
import { cpuMsOf, GATEWAY_IP, memoryOf, sh, spawnIn, stopChild } from './lib/ns';
import type { Row } from './lib/report';
import { quantile, summarize } from './lib/stats';
import { snapshotOf, workload } from './routes';

const A = '100.64.2.7';
const B = '100.64.2.8';
const KINDS = ['kill', 'cut', 'drain', '503'] as const;
type Kind = (typeof KINDS)[number];

/** The agent as Enterprise's Felix behaves: poll only, 10 s, 3 failures; nothing pinned. */
const FELIX_ENV = { AGENT_GATEWAY_STREAM: 'false', AGENT_GATEWAY_ECHO_INTERVAL: '0', AGENT_FLOW_MARK_MASK: '0' } as const;

export interface FailoverBenchOptions {
  /** Rounds of each kind with our signals. */
  readonly rounds: number;
  /** Rounds of each kind with Felix's poll (20-35 s each). */
  readonly felixRounds: number;
  /** Rolling updates per mode. */
  readonly rolls: number;
  /** Simulated client nodes (streams) for the cost. */
  readonly streams: number;
  readonly costRounds: number;
  readonly windowMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowMs = (): number => performance.timeOrigin + performance.now();

async function nexthopOf(lab: Lab, gateway: string): Promise<number> {
  const all = JSON.parse((await lab.exec(lab.names.node1, ['ip', '-j', 'nexthop', 'show'])).stdout) as Array<{ id: number; gateway?: string }>;
  const n = all.find((x) => x.gateway === gateway);
  if (!n) throw new Error(`failover bench: no nexthop for ${gateway}`);
  return n.id;
}

/** When gw-a's daemon logged that it turned not ready (or ready), after `since` (epoch ms). */
function readinessChangedAt(fl: FailoverLab, since: number, ready = false): number {
  for (const line of fl.gateways.get('gw-a')?.logs ?? []) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { event?: string; ready?: boolean; time?: string | number };
    const at = typeof l.time === 'number' ? l.time : Date.parse(String(l.time));
    if (l.event === 'readiness_changed' && l.ready === ready && at >= since - 1) return at;
  }
  throw new Error(`failover bench: gw-a never said it was ${ready ? '' : 'not '}ready`);
}

async function act(fl: FailoverLab, kind: Kind): Promise<void> {
  if (kind === 'kill') await fl.kill('gw-a');
  else if (kind === 'cut') await fl.cut('gw-a');
  else if (kind === 'drain') fl.term('gw-a');
  else await fl.unready('gw-a');
}

async function restore(fl: FailoverLab, kind: Kind): Promise<void> {
  if (kind === 'kill') await fl.restart('gw-a');
  else if (kind === 'cut') await fl.uncut('gw-a');
  else if (kind === 'drain') {
    // The drain has done its part (the switch); end it now rather than wait DRAIN_DELAY.
    await fl.kill('gw-a');
    await fl.restart('gw-a');
  } else await fl.ready('gw-a');
}

async function detection(mode: string, rounds: number, agentEnv: Record<string, string>, kinds: readonly Kind[] = KINDS): Promise<Record<Kind, number[]>> {
  const samples: Record<Kind, number[]> = { kill: [], cut: [], drain: [], '503': [] };
  if (rounds === 0) return samples;
  await withLab(
    undefined,
    async (lab) => {
      const fl = await startFailoverLab(lab, { agentEnv, gatewayEnv: { DRAIN_DELAY: '10s' } });
      const monitor = new GroupMonitor(lab.spawn(lab.names.node1, ['ip', '-ts', 'monitor', 'nexthop'], { env: { TZ: 'UTC' } }));
      await sleep(300);
      try {
        for (let r = 0; r < rounds; r++) {
          for (const kind of kinds) {
            // A random phase against the echo, heartbeat and poll schedules.
            await sleep(300 + Math.random() * (agentEnv.AGENT_GATEWAY_STREAM === 'false' ? 10_000 : 1000));
            const id = await nexthopOf(lab, A);
            const t0 = nowMs();
            await act(fl, kind);
            const at = await monitor.without(id, t0, 120_000);
            // A 503 counts from when the gateway said so (its own probe's timeout comes before that).
            const from = kind === '503' ? readinessChangedAt(fl, t0) : t0;
            samples[kind].push(at - from);
            process.stderr.write(`failover: ${mode} ${kind} round ${r + 1}: ${(at - from).toFixed(1)} ms${from !== t0 ? ` (${(at - t0).toFixed(1)} ms from the action)` : ''}\n`);
            await restore(fl, kind);
            await fl.untilGroup([A, B], 'gw-a back', 120_000);
          }
        }
      } finally {
        await monitor.stop();
        await fl.close();
      }
    },
    { felix: 'nft', gateways: 2 },
  );
  return samples;
}

/** No gateway ready, then gw-a ready again: its readiness change → the client's route through a group. */
async function recovery(rounds: number): Promise<{ fromReady: number[]; fromAction: number[] }> {
  const fromReady: number[] = [];
  const fromAction: number[] = [];
  if (rounds === 0) return { fromReady, fromAction };
  await withLab(
    undefined,
    async (lab) => {
      const fl = await startFailoverLab(lab, { agentEnv: {}, gatewayEnv: { DRAIN_DELAY: '10s' } });
      const routes = await RouteMonitor.start(lab.names.node1);
      try {
        for (let r = 0; r < rounds; r++) {
          await fl.unready('gw-a');
          await fl.unready('gw-b');
          await fl.untilGroup([], 'no gateway in any group', 120_000);
          await sleep(300 + Math.random() * 1000);
          const t0 = nowMs();
          await fl.ready('gw-a');
          const deadline = Date.now() + 120_000;
          let back: number | undefined;
          // `default nhid …` replacing `unreachable default` in the client's table.
          while ((back = routes.events.find((e) => e.at >= t0 && !e.deleted && e.dst === 'default')?.at) === undefined) {
            if (Date.now() > deadline) throw new Error('failover bench: the route never came back');
            await sleep(5);
          }
          const readyAt = readinessChangedAt(fl, t0, true);
          fromReady.push(back - readyAt);
          fromAction.push(back - t0);
          process.stderr.write(`failover: recovery round ${r + 1}: ${(back - readyAt).toFixed(1)} ms after gw-a said ready (${(back - t0).toFixed(1)} ms from the action)\n`);
          await fl.ready('gw-b');
          await fl.untilGroup([A, B], 'both back', 120_000);
        }
      } finally {
        await routes.stop();
        await fl.close();
      }
    },
    { felix: 'nft', gateways: 2 },
  );
  return { fromReady, fromAction };
}

/** Connections broken per rolling update: failed connections of a churn over each update. */
async function rolling(mode: 'pins' | 'nopins', rolls: number): Promise<{ broken: number[]; connections: number[] }> {
  const broken: number[] = [];
  const connections: number[] = [];
  if (rolls === 0) return { broken, connections };
  await withLab(
    undefined,
    async (lab) => {
      const fl = await startFailoverLab(lab, { agentEnv: mode === 'nopins' ? { AGENT_FLOW_MARK_MASK: '0' } : {}, gatewayEnv: { DRAIN_DELAY: '3s' } });
      try {
        let live = [...fl.gateways.values()].map((g) => [g.name, g.addr] as [string, string]);
        let next = 9;
        for (let r = 0; r < rolls; r++) {
          const churn = await fl.churn(20, 1000);
          await sleep(1000);
          const fresh: Array<[string, string]> = [];
          for (const [old, oldAddr] of live) {
            const addr = `100.64.2.${next}`;
            const name = `gw-${next++}`;
            await fl.addGateway(name, await lab.addPod(lab.names.node2, addr), addr);
            fresh.push([name, addr]);
            const want = new Set([...live.map(([, a]) => a), ...fresh.map(([, a]) => a)]);
            await fl.untilGroup([...want], `${name} in the group`);
            await fl.markDeleting(old);
            fl.term(old);
            want.delete(oldAddr);
            live = live.filter(([n]) => n !== old);
            await fl.untilGroup([...want], `${old} out of the group`);
            await fl.exited(old);
            await fl.destroyNetwork(old);
            await fl.removeFromApi(old);
          }
          live = fresh;
          await sleep(1500);
          const report = await churn.stop();
          broken.push(report.connections.filter((c) => !c.ok).length);
          connections.push(report.connections.length);
          process.stderr.write(`failover: roll ${mode} ${r + 1}: ${broken.at(-1)} of ${connections.at(-1)} connections broken\n`);
        }
      } finally {
        await fl.close();
      }
    },
    { felix: 'nft', gateways: 2 },
  );
  return { broken, connections };
}

/** The machine's CPU time so far (ms, all CPUs): busy (not idle, not iowait) and softirq. */
function machineCpu(): { busy: number; softirq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  const tick = 10; // USER_HZ 100
  return { busy: (user + nice + system + irq + softirq + steal) * tick, softirq: softirq * tick };
}

interface CostSample {
  readonly gatewayCpuPct: number;
  readonly softirqPct: number;
  readonly rssMiB: number;
  readonly maxGapMs?: number;
  readonly p99GapMs?: number;
  readonly echoAnswered?: number;
}

/** The cost cases: [name, streams, heartbeat ms, echoes a second per stream]. */
const COST_CASES = (streams: number): ReadonlyArray<readonly [string, number, number, number]> => [
  ['no streams', 0, 0, 0],
  ['heartbeat 100 ms', streams, 100, 0],
  ['heartbeat 1 s', streams, 1000, 0],
  ['heartbeat 1 s + echo 10/s each', streams, 1000, 10],
  // A control for the heartbeat gaps: the same period, a hundredth of the streams.
  [`${Math.max(1, Math.round(streams / 100))} streams, heartbeat 100 ms`, Math.max(1, Math.round(streams / 100)), 100, 0],
];

const jsonLine = async (child: ChildProcess): Promise<Record<string, number>> => {
  const out = waitForOutput(child, /^\{.*\}$/m, 10_000);
  child.kill('SIGTERM');
  return JSON.parse((await out).split('\n').find((l) => l.startsWith('{')) as string) as Record<string, number>;
};

/** Every case once per round, in an order alternating round to round; samples by case. */
async function streamCost(opts: FailoverBenchOptions, rounds: number): Promise<Record<string, CostSample[]>> {
  const out: Record<string, CostSample[]> = {};
  const gw = await startGateway(snapshotOf(workload(10, 2)), { HEALTH_PORT: '8080' }, async (ns) => {
    // The simulated nodes live in the peer namespace: an address there, and the way to the pod's.
    await sh(['ip', '-n', `${ns}p`, 'addr', 'add', '198.51.100.20/24', 'dev', 'eth0']);
    await sh(['ip', '-n', `${ns}p`, 'route', 'add', `${GATEWAY_IP}/32`, 'via', '198.51.100.12']);
  });
  try {
    await gw.log.waitFor('ready', (l) => l.event === 'readiness_changed' && l.ready === true, 60_000);
    const pid = gw.daemon.pid as number;
    const url = `http://${GATEWAY_IP}:8080/readiness/stream`;
    const peer = `${gw.ns}p`;
    const measure = async (): Promise<Pick<CostSample, 'gatewayCpuPct' | 'softirqPct' | 'rssMiB'>> => {
      const c0 = cpuMsOf(pid);
      const m0 = machineCpu();
      const t0 = Date.now();
      await sleep(opts.windowMs);
      const wall = Date.now() - t0;
      const m1 = machineCpu();
      return { gatewayCpuPct: ((cpuMsOf(pid) - c0) / wall) * 100, softirqPct: ((m1.softirq - m0.softirq) / wall) * 100, rssMiB: memoryOf(pid).rssMiB };
    };
    const cases = COST_CASES(opts.streams);
    for (let r = 0; r < rounds; r++) {
      for (const [name, streams, heartbeat, echoes] of r % 2 === 0 ? cases : [...cases].reverse()) {
        let load: ChildProcess | undefined;
        let echoLoad: ChildProcess | undefined;
        try {
          if (streams > 0) {
            load = spawnIn(peer, [process.execPath, join(__dirname, 'lib', 'stream-load.js'), url, String(streams), String(heartbeat)]);
            await waitForOutput(load, new RegExp(`open ${streams}`), 60_000);
          }
          if (echoes > 0) {
            echoLoad = spawnIn(peer, [process.execPath, join(__dirname, 'lib', 'echo-load.js'), GATEWAY_IP, String(streams * echoes)]);
            await waitForOutput(echoLoad, /sending/);
          }
          await sleep(2000);
          const sample = await measure();
          const echo = echoLoad ? await jsonLine(echoLoad) : undefined;
          const gaps = load ? await jsonLine(load) : undefined;
          const full: CostSample = {
            ...sample,
            ...(gaps ? { maxGapMs: gaps.maxGapMs, p99GapMs: gaps.p99GapMs } : {}),
            ...(echo ? { echoAnswered: echo.answered } : {}),
          };
          (out[name] ??= []).push(full);
          process.stderr.write(`failover: cost round ${r + 1} ${name}: ${JSON.stringify(full)}\n`);
        } finally {
          if (echoLoad) await stopChild(echoLoad, 'SIGKILL');
          if (load) await stopChild(load, 'SIGKILL');
        }
        await sleep(1000);
      }
    }
  } finally {
    await gw.close();
  }
  return out;
}

const p = (xs: readonly number[], q: number): number => quantile([...xs].sort((a, b) => a - b), q);

export async function benchFailover(opts: FailoverBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const ours = await detection('ours', opts.rounds, {});
  const felix = await detection('felix', opts.felixRounds, FELIX_ENV);
  // The echo's period sets how fast a silent gateway is found: the same cut with echoes 75 ms apart.
  const fast = await detection('echo 75 ms', opts.rounds, { AGENT_GATEWAY_ECHO_INTERVAL: '75ms' }, ['cut']);
  for (const kind of KINDS) {
    const o = ours[kind];
    const f = felix[kind];
    const value = summarize(o);
    rows.push({
      bench: 'failover',
      case: `${kind}: detect and switch`,
      metric: 'action → out of the group',
      unit: 'ms',
      value,
      ...(f.length ? { baseline: { name: "Felix's poll (10 s, 3 failures)", value: summarize(f) }, ratio: summarize([value.median / summarize(f).median]) } : {}),
      target: '≤ 1000 ms (aim 300)',
      met: p(o, 0.99) <= 1000,
      note: `p50 ${p(o, 0.5).toFixed(0)} ms, p99 ${p(o, 0.99).toFixed(0)} ms over ${o.length} rounds${f.length ? `; Felix's poll p50 ${p(f, 0.5).toFixed(0)} ms, p99 ${p(f, 0.99).toFixed(0)} ms over ${f.length}` : ''}`,
    });
  }

  if (fast.cut.length) {
    rows.push({
      bench: 'failover',
      case: 'cut, AGENT_GATEWAY_ECHO_INTERVAL=75ms: detect and switch',
      metric: 'action → out of the group',
      unit: 'ms',
      value: summarize(fast.cut),
      baseline: { name: 'echo every 100 ms (the default)', value: summarize(ours.cut) },
      target: '≤ 300 ms (the aim)',
      met: p(fast.cut, 0.99) <= 300,
      note: `p50 ${p(fast.cut, 0.5).toFixed(0)} ms, p99 ${p(fast.cut, 0.99).toFixed(0)} ms over ${fast.cut.length} rounds; 13,333 echoes a second at 1,000 nodes instead of 10,000`,
    });
  }

  const back = await recovery(opts.rounds);
  if (back.fromReady.length) {
    rows.push({
      bench: 'failover',
      case: 'none ready, then one ready again: recover',
      metric: 'gateway says ready → route through a group',
      unit: 'ms',
      value: summarize(back.fromReady),
      target: '≤ 1000 ms (within the same second)',
      met: p(back.fromReady, 0.99) <= 1000,
      note: `p50 ${p(back.fromReady, 0.5).toFixed(0)} ms, p99 ${p(back.fromReady, 0.99).toFixed(0)} ms over ${back.fromReady.length} rounds; from the upstream coming back (the gateway's own probe first): p50 ${p(back.fromAction, 0.5).toFixed(0)} ms, p99 ${p(back.fromAction, 0.99).toFixed(0)} ms`,
    });
  }

  const pins = await rolling('pins', opts.rolls);
  const nopins = await rolling('nopins', opts.rolls);
  if (pins.broken.length) {
    rows.push({
      bench: 'failover',
      case: 'rolling update, 2 replicas, DRAIN_DELAY 3 s, connections of 1 s every 20 ms',
      metric: 'connections broken per update',
      unit: 'connections',
      value: summarize(pins.broken),
      ...(nopins.broken.length ? { baseline: { name: 'no flow pins (resilient groups alone)', value: summarize(nopins.broken) } } : {}),
      target: '0',
      met: Math.max(...pins.broken) === 0,
      note: `of ${summarize(pins.connections).median} connections per update (with pins), ${summarize(nopins.connections).median} (without)`,
    });
  }

  if (opts.streams > 0) {
    const cost = await streamCost(opts, opts.costRounds);
    const idle = cost['no streams'] ?? [];
    const med = (xs: readonly CostSample[], f: (c: CostSample) => number | undefined): number => summarize(xs.map(f).filter((x): x is number => x !== undefined)).median;
    for (const [name, samples] of Object.entries(cost)) {
      if (name === 'no streams') continue;
      rows.push({
        bench: 'failover',
        case: name.includes('streams,') ? name : `${opts.streams} client nodes: ${name}`,
        metric: 'gateway CPU',
        unit: '% of a core',
        value: summarize(samples.map((x) => x.gatewayCpuPct)),
        baseline: { name: 'no streams', value: summarize(idle.map((x) => x.gatewayCpuPct)) },
        note:
          // RSS never shrinks back once streams were open: the one before any stream is the baseline.
          `RSS ${med(samples, (x) => x.rssMiB).toFixed(0)} MiB (before any stream: ${idle[0]?.rssMiB.toFixed(0) ?? '?'}); ` +
          `machine softirq ${med(samples, (x) => x.softirqPct).toFixed(1)} % of a core (no streams: ${med(idle, (x) => x.softirqPct).toFixed(1)}); ` +
          `gaps between a stream's lines p99 ${med(samples, (x) => x.p99GapMs).toFixed(0)} ms, max ${Math.max(...samples.map((x) => x.maxGapMs ?? 0)).toFixed(0)} ms` +
          (samples[0]?.echoAnswered !== undefined ? `; echoes answered per window ${med(samples, (x) => x.echoAnswered).toFixed(0)}` : ''),
      });
    }
  }
  return rows;
}
