/**
 * Micro-benchmark of the receive path's own code: the `routes` benchmark's 10k encoded RouteUpdates
 * (100 nodes), read by the generated decoder (proto.ts) and checked by decode.ts, as the daemon does per message.
 * Not part of `make bench`: it needs no namespace and is meant for A/B runs of two trees, each round
 * a fresh process (the daemon decodes its snapshot once, cold), alternated by the caller, e.g.
 *   for i in 1 2 3 4 5 6; do for t in /old /new; do node --max-semi-space-size=2 $t/dist/bench/micro/decode.js; done; done
 * Prints one JSON line: CPU ms of the first pass (cold, what the daemon pays) and the median of the
 * warm passes. CPU time includes the GC and compiler threads' share: it moves with garbage and JIT work too.
 * MICRO_STAGE=wire times the generated decoder alone; MICRO_METRICS=1 creates the daemon's metrics registry
 * first (its runtime metrics), to see what they cost around the GCs; MICRO_ASYNC=1 yields to
 * the event loop every few messages, as the daemon does, so that work deferred to it (GC observers)
 * runs inside the timed pass.
 */
import { DecodeCache } from '../../src/policysync/decode';
import { decodeReceived } from '../../src/policysync/decode';
import { decodeToDataplaneBytes } from '../../src/policysync/proto';
import { createMetrics } from '../../src/observability/metrics';
import { snapshotMessages, workload } from '../routes';

const N = Number(process.env.MICRO_N ?? 10_000);
const PASSES = Number(process.env.MICRO_PASSES ?? 10);
const stage = process.env.MICRO_STAGE === 'wire' ? 'wire' : 'full';
const keep: unknown[] = [];
/** As the client keeps one: node addresses parsed once per node. */
const nodeIps = new DecodeCache();

/** Messages decoded per event-loop turn when MICRO_ASYNC=1 (the daemon gets them a few per read). */
const perTurn = process.env.MICRO_ASYNC === '1' ? 8 : Infinity;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** CPU milliseconds (user + system) of this process: steadier than wall time on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function pass(messages: readonly Buffer[]): Promise<number> {
  const t0 = cpuMs();
  // Keeping every result alive, as the route store does, so GC has the daemon's work to do.
  const out: unknown[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const r = decodeToDataplaneBytes(messages[i] as Buffer);
    out[i] = stage === 'wire' ? r : decodeReceived(r, nodeIps);
    // Turns let what runs between reads in the daemon run here too (GC observers among them).
    if ((i + 1) % perTurn === 0) await turn();
  }
  const ms = cpuMs() - t0;
  keep[0] = out;
  return ms;
}

async function main(): Promise<void> {
  const metrics = process.env.MICRO_METRICS === '1' ? createMetrics() : undefined;
  const messages = snapshotMessages(workload(N, 100));
  const first = await pass(messages);
  const warm: number[] = [];
  for (let i = 1; i < PASSES; i++) warm.push(await pass(messages));
  warm.sort((a, b) => a - b);
  const median = warm.length > 0 ? (warm[Math.floor(warm.length / 2)] ?? 0) : 0;
  const result = { stage, n: N, async: perTurn !== Infinity, metrics: metrics !== undefined, firstMs: +first.toFixed(2), warmMedianMs: +median.toFixed(2) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main();
