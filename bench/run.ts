/**
 * The benchmark suite: `make bench` (all), `make bench BENCH=routes` (one, or a comma list).
 * Prints a table and writes bench/results.json. Needs root (network namespaces), like the kernel tests.
 * See docs/benchmarks.md for what each benchmark measures and the published figures.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root';
import { VERSION } from '../src/version';
import type { Row } from './lib/report';
import { table } from './lib/report';
import { benchRoutes, DEFAULT_SIZES } from './routes';
import { benchUpdates } from './updates';
import { benchFootprint } from './footprint';
import { benchStartup } from './startup';
import { benchReadiness } from './readiness';
import { benchDataplane } from './dataplane';
import { benchConnections } from './connections';
import { benchFailover } from './failover';

type Bench = () => Promise<Row[]>;

const quick = process.env.BENCH_QUICK === '1';

/** In the order; each runs on its own with BENCH=name. */
const BENCHES: Record<string, Bench> = {
  routes: () => benchRoutes({ sizes: quick ? DEFAULT_SIZES.slice(0, 2).map((s) => ({ ...s, rounds: 3 })) : DEFAULT_SIZES }),
  updates: () => benchUpdates(quick ? { base: 10_000, count: 1_000, rounds: 1 } : { base: 10_000, count: 3_000, rounds: 3 }),
  readiness: () => benchReadiness(quick ? { intervals: [100, 1000], rounds: 2 } : { intervals: [100, 1000, 5000], rounds: 3 }),
  dataplane: () => benchDataplane(quick ? { rounds: 1, seconds: 2 } : { rounds: 3, seconds: 3 }),
  footprint: () => benchFootprint(quick ? { rounds: 1, windowMs: 5_000 } : { rounds: 2, windowMs: 10_000 }),
  startup: () => benchStartup(quick ? 2 : 5),
  connections: () =>
    benchConnections(quick ? { rounds: 2, seconds: 2, concurrency: 64, maxConnections: 100_000 } : { rounds: 3, seconds: 3, concurrency: 64, maxConnections: 200_000 }),
  failover: () =>
    benchFailover(quick ? { rounds: 3, felixRounds: 1, rolls: 1, streams: 1000, costRounds: 1, windowMs: 5_000 } : { rounds: 20, felixRounds: 3, rolls: 3, streams: 1000, costRounds: 3, windowMs: 10_000 }),
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces), as the kernel tests do\n');
    process.exitCode = 1;
    return;
  }
  const wanted = (process.env.BENCH || process.argv[2] || 'all').split(',').map((s) => s.trim()).filter(Boolean);
  const names = wanted.includes('all') ? Object.keys(BENCHES) : wanted;
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const rows: Row[] = [];
  const failures: { bench: string; error: string }[] = [];
  const started = new Date();
  for (const name of names) {
    const bench = BENCHES[name];
    if (!bench) continue;
    process.stderr.write(`bench: ${name} …\n`);
    const t0 = Date.now();
    try {
      const got = await bench();
      rows.push(...got);
      process.stdout.write(table(got));
    } catch (err) {
      // One broken benchmark must not hide the others' figures; it is reported and fails the run.
      failures.push({ bench: name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.stderr.write(`bench: ${name} failed: ${String(err)}\n`);
    }
    process.stderr.write(`bench: ${name} took ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  process.stdout.write(`\n${table(rows)}`);
  const results = {
    version: VERSION,
    started: started.toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version, loadavg: loadavg() },
    rows,
    failures,
  };
  const file = join(packageRoot(), 'bench', 'results.json');
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  process.stderr.write(`bench: wrote ${file}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

void main();
