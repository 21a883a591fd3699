/**
 * Runs the real probes (raw ICMP socket, node:http) inside a network namespace, for
 * icmp-probe.test.ts: a Node process cannot switch namespaces, so the test starts this one
 * with `ip netns exec`. argv[2] is a JSON object of environment variables (ICMP_PROBE_*,
 * HTTP_PROBE_*). It prints a JSON line with the probe checks every 50 ms, and on a "mark" line
 * from stdin prints {"mark": <its clock>}. It stops when stdin closes.
 */
import { createInterface } from 'node:readline';
import { parseHealthConfig } from '../../src/config/health-config';
import { createHealthChecks } from '../../src/health/checks';
import { systemClock } from '../../src/model/clock';

const env = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const config = parseHealthConfig(env);
const checks = createHealthChecks({ config, clock: systemClock });
const emit = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

checks.start();
const poll = setInterval(() => {
  const r = checks.tracker.report();
  emit({ at: systemClock.now(), icmp: r.checks.icmp, http: r.checks.http });
}, 50);

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === 'mark') emit({ mark: systemClock.now() });
});
input.on('close', () => {
  clearInterval(poll);
  checks.stop();
});
