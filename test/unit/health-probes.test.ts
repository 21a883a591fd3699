import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeHttpTargets, FakeIcmpNetwork } from '../../src/fakes/probes';
import { httpTargets, displayUrl } from '../../src/health/http-probe';
import { Pinger } from '../../src/health/icmp';
import { ProbeRunner } from '../../src/health/probe-runner';
import { evaluateReadiness } from '../../src/health/readiness';
import { createHealthChecks } from '../../src/health/checks';
import { FakeClock } from '../../src/model/clock';
import { parseIp, type IpAddress } from '../../src/model/ip';
import { createMetrics } from '../../src/observability/metrics';

const ip = (s: string): IpAddress => parseIp(s) ?? assert.fail(s);
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Moves the fake clock in small steps, letting promises settle between them, as real time would. */
async function run(clock: FakeClock, ms: number, step = 5): Promise<void> {
  await flush();
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await flush();
  }
}

function icmpSetup(intervalMs: number, timeoutMs: number, targets: string[]) {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  const pinger = new Pinger(net);
  const metrics = createMetrics({ processMetrics: false });
  let results = 0;
  const runner = new ProbeRunner({
    kind: 'icmp',
    targets: pinger.targets(targets.map(ip)),
    intervalMs,
    timeoutMs,
    clock,
    metrics,
    onResult: () => results++,
  });
  return { clock, net, pinger, runner, metrics, results: () => results };
}

const healthy = (runner: ProbeRunner, now: number): boolean =>
  evaluateReadiness(
    { datastoreTimeoutMs: 1, sync: { connected: true, firstInSyncAt: 0 }, reconcile: { lastOk: true }, icmp: runner.inputs() },
    now,
  ).checks.icmp?.ok === true;

test('probes: an attempt per target every interval, the first at once', async () => {
  const { clock, net, runner, pinger } = icmpSetup(100, 300, ['198.51.100.1', '198.51.100.2']);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 10 });
  runner.start();
  await run(clock, 1000);
  runner.stop();
  // t = 0, 100, ..., 1000: eleven requests each; the silent one never answers.
  assert.equal(net.dump(), ['198.51.100.1 answers after 10ms: sent=11 replied=10 refused=0', '198.51.100.2 silent: sent=11 replied=0 refused=0'].join('\n'));
  const [a, b] = runner.inputs().targets;
  assert.deepEqual({ s: a?.lastSuccessAt, l: a?.lastLatencyMs, e: a?.lastError }, { s: 910, l: 10, e: undefined });
  assert.deepEqual({ s: b?.lastSuccessAt, e: b?.lastError, t: b?.lastErrorAt }, { s: undefined, e: 'no answer within 100ms', t: 1000 });
  assert.equal(pinger.inFlight(), 0, 'stop aborts what is in flight');
  // Only the fake host's reply to the last request is still on its way; the runner set no new timer.
  await run(clock, 20);
  assert.equal(clock.pendingTimers(), 0, 'stop cancels every timer');
  assert.equal(runner.inputs().targets[0]?.lastSuccessAt, 910, 'a reply after stop does not count');
});

test('probes: healthy while one target answers; unhealthy within timeout + one interval after it stops', async () => {
  const { clock, net, runner } = icmpSetup(1000, 3000, ['198.51.100.1', '198.51.100.2']);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 20 });
  runner.start();
  assert.equal(healthy(runner, clock.now()), false, 'nothing has answered at t=0');
  await run(clock, 50);
  assert.equal(healthy(runner, clock.now()), true);
  await run(clock, 10_000);
  assert.equal(healthy(runner, clock.now()), true);

  const stoppedAt = clock.now();
  net.setHost('198.51.100.1', { kind: 'silent' });
  let unhealthyAt: number | undefined;
  for (let i = 0; i < 1000 && unhealthyAt === undefined; i++) {
    await run(clock, 10);
    if (!healthy(runner, clock.now())) unhealthyAt = clock.now();
  }
  assert.ok(unhealthyAt !== undefined, 'never went unhealthy');
  assert.ok(unhealthyAt - stoppedAt <= 3000 + 1000, `unhealthy only after ${unhealthyAt - stoppedAt}ms`);
  assert.ok(unhealthyAt - stoppedAt > 2000, `unhealthy too soon, after ${unhealthyAt - stoppedAt}ms`);
  runner.stop();
});

test('probes: a send error is a failure with its message; metrics count results per target', async () => {
  const { clock, net, runner, metrics, results } = icmpSetup(100, 200, ['198.51.100.1', '198.51.100.9']);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 5 });
  net.setHost('198.51.100.9', { kind: 'unreachable', error: 'sending ICMP echo to 198.51.100.9: ENETUNREACH' });
  runner.start();
  await run(clock, 250);
  runner.stop();
  assert.equal(runner.inputs().targets[1]?.lastError, 'sending ICMP echo to 198.51.100.9: ENETUNREACH');
  assert.equal(results(), 6);
  const text = await metrics.registry.metrics();
  assert.match(text, /^egress_gateway_probe_attempts_total\{kind="icmp",target="198.51.100.1",result="success"\} 3$/m);
  assert.match(text, /^egress_gateway_probe_attempts_total\{kind="icmp",target="198.51.100.9",result="failure"\} 3$/m);
  assert.match(text, /^egress_gateway_probe_up\{kind="icmp",target="198.51.100.9"\} 0$/m);
  assert.match(text, /^egress_gateway_probe_duration_seconds_count\{kind="icmp",target="198.51.100.1"\} 3$/m);
  assert.match(text, /^egress_gateway_probe_duration_seconds_bucket\{le="0.005",kind="icmp",target="198.51.100.1"\} 3$/m);
});

test('probes: a hanging HTTP target is cut off at the interval and never delays the others', async () => {
  const clock = new FakeClock();
  const servers = new FakeHttpTargets(clock);
  servers.set('http://198.51.100.1/hang', { kind: 'hang' });
  servers.set('http://198.51.100.2/error', { kind: 'status', status: 500, latencyMs: 20 });
  servers.set('http://198.51.100.3/down', { kind: 'refuse', error: 'connect ECONNREFUSED 198.51.100.3:80' });
  const urls = ['http://198.51.100.1/hang', 'http://198.51.100.2/error', 'http://198.51.100.3/down'].map((u) => new URL(u));
  const runner = new ProbeRunner({ kind: 'http', targets: httpTargets(urls, servers.get), intervalMs: 1000, timeoutMs: 1000, clock });
  runner.start();
  await run(clock, 30);
  // The 500 came back after 20ms even though the first request still hangs.
  const [hang, error, down] = runner.inputs().targets;
  assert.equal(error?.lastSuccessAt, 20);
  assert.equal(down?.lastError, 'connect ECONNREFUSED 198.51.100.3:80');
  assert.equal(hang?.lastErrorAt, undefined);
  await run(clock, 3000);
  runner.stop();
  assert.equal(runner.inputs().targets[0]?.lastError, 'no answer within 1000ms');
  assert.equal(
    servers.dump(),
    [
      'http://198.51.100.1/hang hangs: requests=4 answered=0 aborted=4',
      'http://198.51.100.2/error 500 after 20ms: requests=4 answered=4 aborted=0',
      'http://198.51.100.3/down refuses (connect ECONNREFUSED 198.51.100.3:80): requests=4 answered=0 aborted=0',
    ].join('\n'),
  );
});

test('probes: a late answer to an attempt already cut off does not count', async () => {
  const clock = new FakeClock();
  const servers = new FakeHttpTargets(clock);
  servers.set('http://198.51.100.1/slow', { kind: 'status', status: 200, latencyMs: 150 });
  // This fake ignores aborts for 'status', like a server whose answer was already on the wire.
  const get = (url: URL): Promise<number> => servers.get(url, new AbortController().signal);
  const runner = new ProbeRunner({ kind: 'http', targets: httpTargets([new URL('http://198.51.100.1/slow')], get), intervalMs: 100, timeoutMs: 100, clock });
  runner.start();
  await run(clock, 1000);
  runner.stop();
  const t = runner.inputs().targets[0];
  assert.equal(t?.lastSuccessAt, undefined);
  assert.equal(t?.lastError, 'no answer within 100ms');
});

test('probes: URLs are shown without credentials', () => {
  assert.equal(displayUrl(new URL('https://user:secret@198.51.100.1:8443/x?y=1')), 'https://198.51.100.1:8443/x?y=1');
  assert.equal(displayUrl(new URL('http://198.51.100.1/')), 'http://198.51.100.1/');
});

test('createHealthChecks: only configured kinds take part; results reach the tracker at once', async () => {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 10 });
  const none = createHealthChecks({
    config: { datastoreTimeoutMs: 90_000, icmp: { targets: [], intervalMs: 100, timeoutMs: 100 }, http: { targets: [], intervalMs: 100, timeoutMs: 100 } },
    clock,
  });
  assert.equal(none.runners.length, 0);
  assert.deepEqual(Object.keys(none.tracker.report().checks).sort(), ['drain', 'policysync', 'reconcile']);

  const checks = createHealthChecks({
    config: { datastoreTimeoutMs: 90_000, icmp: { targets: [ip('198.51.100.1')], intervalMs: 100, timeoutMs: 300 }, http: { targets: [], intervalMs: 100, timeoutMs: 100 } },
    clock,
    icmpSocket: net,
  });
  checks.tracker.syncConnected();
  checks.tracker.syncInSync();
  checks.tracker.reconcileResult(true);
  assert.deepEqual(checks.tracker.report().failing, ['icmp']);
  checks.start();
  await run(clock, 20);
  assert.equal(checks.tracker.report().ready, true);
  checks.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test('createHealthChecks: start opens the ICMP socket of each configured family and fails loudly when it cannot', () => {
  const clock = new FakeClock();
  const net = new FakeIcmpNetwork(clock);
  const config = {
    datastoreTimeoutMs: 90_000,
    icmp: { targets: [ip('198.51.100.1'), ip('2001:db8::1')], intervalMs: 100, timeoutMs: 300 },
    http: { targets: [], intervalMs: 100, timeoutMs: 100 },
  };
  const ok = createHealthChecks({ config, clock, icmpSocket: net });
  ok.start();
  assert.deepEqual([...net.opened].sort(), [4, 6]);
  ok.stop();

  const denied = new FakeIcmpNetwork(clock);
  denied.refuseOpen.add(6);
  const checks = createHealthChecks({ config, clock, icmpSocket: denied });
  assert.throws(() => checks.start(), /ICMPv6 socket: Operation not permitted/);
  assert.equal(clock.pendingTimers(), 0, 'no probe started');
});
