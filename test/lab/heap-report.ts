/**
 * Preloaded into a daemon by the soak (NODE_OPTIONS=--require .../heap-report.js): on SIGUSR2 it
 * runs a full garbage collection and writes what is still alive to stderr as one line,
 * `heap-report: {"heapUsed":…,"external":…,"arrayBuffers":…}`. RSS alone cannot tell a leak from
 * garbage not yet collected: V8 lets the old generation grow to up to 4x its live size before a
 * mark-compact (the factor varies from run to run), which moves RSS by tens of MB with no leak.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

process.on('SIGUSR2', () => {
  gc();
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  process.stderr.write(`heap-report: ${JSON.stringify({ heapUsed, external, arrayBuffers })}\n`);
});
