import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { isGatewayError } from '../../src/errors';
import { FakeIcmpNetwork } from '../../src/fakes/probes';
import { createHealthChecks } from '../../src/health/checks';
import { buildHealthApp, startHealthServer, type LivenessStatus } from '../../src/health/server';
import { FakeClock } from '../../src/model/clock';
import { parseIp, type IpAddress } from '../../src/model/ip';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';

const ip = (s: string): IpAddress => parseIp(s) ?? assert.fail(s);
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const WALL = Date.UTC(2024, 0, 1, 12, 0, 0);

function setup(liveness?: () => LivenessStatus) {
  const clock = new FakeClock(1_000_000);
  const net = new FakeIcmpNetwork(clock);
  const metrics = createMetrics({ processMetrics: false });
  const checks = createHealthChecks({
    config: {
      datastoreTimeoutMs: 90_000,
      icmp: { targets: [ip('198.51.100.1')], intervalMs: 1000, timeoutMs: 3000 },
      http: { targets: [], intervalMs: 1000, timeoutMs: 1000 },
    },
    clock,
    metrics,
    icmpSocket: net,
  });
  const app = buildHealthApp({
    readiness: checks.tracker,
    metrics,
    clock,
    wallNow: () => WALL,
    ...(liveness ? { liveness } : {}),
  });
  return { clock, net, metrics, checks, app, tracker: checks.tracker };
}

/**
 * A small check of the Prometheus text format: comments are HELP/TYPE lines, every sample is
 * `name{label="value",...} number`, and every sample belongs to a family declared by TYPE.
 * (prom-client prints NaN as "Nan"; Prometheus reads floats case-insensitively.)
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
  const sample = new RegExp(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?:${label})(?:,${label})*\\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|[Nn]a[Nn]|[+-]Inf)$`);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
      assert.ok(m, `bad comment line: ${line}`);
      if (m[1] === 'TYPE') {
        assert.match(m[3] ?? '', /^(counter|gauge|histogram|summary|untyped)$/);
        types.set(m[2] ?? '', m[3] ?? '');
      }
      continue;
    }
    const m = sample.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const name = m[1] ?? '';
    const family = [...types.keys()].find((f) => name === f || (types.get(f) === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(name)?.[1] === f));
    assert.ok(family, `sample without a TYPE: ${name}`);
    assert.ok(name.startsWith('egress_gateway_'), `metric without the prefix: ${name}`);
    samples.set(`${name}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

function makeReady(tracker: ReturnType<typeof setup>['tracker']): void {
  tracker.syncConnected();
  tracker.syncInSync();
  tracker.reconcileResult(true);
}

test('server: /readiness is 503 before in_sync, naming the failing checks, and 200 once all hold', async () => {
  const { app, tracker, checks, clock, net } = setup();
  const before = await app.inject({ method: 'GET', url: '/readiness' });
  assert.equal(before.statusCode, 503);
  assert.match(String(before.headers['content-type']), /application\/json/);
  assert.equal(before.headers['cache-control'], 'no-store');
  const body = before.json<{ ready: boolean; failing: string[]; checks: Record<string, { ok: boolean; reason: string }> }>();
  assert.equal(body.ready, false);
  assert.deepEqual(body.failing, ['policysync', 'reconcile', 'icmp']);
  assert.match(body.checks.policysync?.reason ?? '', /not yet in sync/);
  assert.equal(body.checks.drain?.ok, true);

  makeReady(tracker);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 2 });
  checks.start();
  await flush();
  clock.advance(2);
  await flush();
  const after = await app.inject({ method: 'GET', url: '/readiness' });
  assert.equal(after.statusCode, 200);
  const ok = after.json<{ ready: boolean; failing: string[]; checks: { icmp: { lastSuccess: string; targets: { target: string; latencyMs: number; lastSuccess: string }[] } } }>();
  assert.equal(ok.ready, true);
  assert.deepEqual(ok.failing, []);
  assert.deepEqual(ok.checks.icmp.targets, [{ target: '198.51.100.1', latencyMs: 2, lastSuccess: '2024-01-01T12:00:00.000Z' }]);

  const head = await app.inject({ method: 'HEAD', url: '/readiness' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');

  tracker.reconcileResult(false, new Error('programming route 100.64.1.0/26 via vxlan0: ENETUNREACH'));
  const failed = await app.inject({ method: 'GET', url: '/readiness' });
  assert.equal(failed.statusCode, 503);
  const f = failed.json<{ failing: string[]; checks: { reconcile: { lastError: string; lastErrorTime: string; lastSuccess: string } } }>();
  assert.deepEqual(f.failing, ['reconcile']);
  assert.equal(f.checks.reconcile.lastError, 'programming route 100.64.1.0/26 via vxlan0: ENETUNREACH');
  assert.equal(f.checks.reconcile.lastErrorTime, '2024-01-01T12:00:00.000Z');
  assert.equal(f.checks.reconcile.lastSuccess, '2024-01-01T11:59:59.998Z');

  tracker.reconcileResult(true);
  tracker.startDrain();
  const draining = await app.inject({ method: 'GET', url: '/readiness' });
  assert.equal(draining.statusCode, 503);
  assert.deepEqual(draining.json<{ failing: string[] }>().failing, ['drain']);
  checks.stop();
  await app.close();
});

test('server: /liveness follows the callback and never leaks an exception', async () => {
  let status: LivenessStatus = { alive: true };
  let explode = false;
  const { app } = setup(() => {
    if (explode) throw new Error('supervisor state at 0xdeadbeef');
    return status;
  });
  const alive = await app.inject({ method: 'GET', url: '/liveness' });
  assert.equal(alive.statusCode, 200);
  assert.deepEqual(alive.json(), { alive: true });
  status = { alive: false, reason: 'the PolicySync supervisor has stopped' };
  const dead = await app.inject({ method: 'GET', url: '/liveness' });
  assert.equal(dead.statusCode, 503);
  assert.deepEqual(dead.json(), { alive: false, reason: 'the PolicySync supervisor has stopped' });
  explode = true;
  const broken = await app.inject({ method: 'GET', url: '/liveness' });
  assert.equal(broken.statusCode, 503);
  assert.doesNotMatch(broken.body, /at .*\.js|stack/);
  await app.close();
});

test('server: /metrics is Prometheus text and the counters move when things happen', async () => {
  const { app, tracker, metrics, checks, clock, net } = setup();
  const first = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(first.statusCode, 200);
  assert.match(String(first.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const s1 = parsePrometheus(first.body);
  assert.equal(s1.get('egress_gateway_ready'), 0);
  assert.equal(s1.get('egress_gateway_readiness_check{check="policysync"}'), 0);
  assert.equal(s1.get('egress_gateway_reconcile_errors_total'), 0);

  makeReady(tracker);
  tracker.reconcileResult(false, new Error('boom'), 5);
  tracker.reconcileResult(true, undefined, 7);
  metrics.policySyncMessages.inc({ kind: 'route_update' }, 3);
  metrics.policySyncMalformed.inc();
  metrics.programmed.set({ kind: 'route' }, 2);
  net.setHost('198.51.100.1', { kind: 'answer', latencyMs: 3 });
  checks.start();
  await flush();
  clock.advance(3);
  await flush();
  const s2 = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
  checks.stop();
  assert.equal(s2.get('egress_gateway_ready'), 1);
  assert.equal(s2.get('egress_gateway_readiness_check{check="icmp"}'), 1);
  assert.equal(s2.get('egress_gateway_reconcile_errors_total'), 1);
  assert.equal(s2.get('egress_gateway_reconcile_duration_seconds_count{result="success"}'), 1);
  assert.equal(s2.get('egress_gateway_policysync_messages_total{kind="route_update"}'), 3);
  assert.equal(s2.get('egress_gateway_policysync_malformed_messages_total'), 1);
  assert.equal(s2.get('egress_gateway_policysync_state{state="in_sync"}'), 1);
  assert.equal(s2.get('egress_gateway_programmed_entries{kind="route"}'), 2);
  assert.equal(s2.get('egress_gateway_probe_attempts_total{kind="icmp",target="198.51.100.1",result="success"}'), 1);
  assert.equal(s2.get('egress_gateway_probe_duration_seconds_bucket{le="0.005",kind="icmp",target="198.51.100.1"}'), 1);
  await app.close();
});

test('server: process metrics share the prefix and still parse', async () => {
  const metrics = createMetrics();
  const s = parsePrometheus(await metrics.registry.metrics());
  assert.ok([...s.keys()].some((k) => k.startsWith('egress_gateway_process_cpu')), 'process metrics are present');
});

test('server: unknown paths 404, other methods 405, big bodies 413, errors without internals', async () => {
  let explode = false;
  const { app, tracker } = setup();
  const real = tracker.report.bind(tracker);
  tracker.report = () => {
    if (explode) throw new Error('internal detail /var/run/secret');
    return real();
  };
  const notFound = await app.inject({ method: 'GET', url: '/debug/pprof' });
  assert.equal(notFound.statusCode, 404);
  assert.deepEqual(notFound.json(), { error: 'not found' });
  assert.equal((await app.inject({ method: 'POST', url: '/nothing', payload: 'x' })).statusCode, 404);

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
    const r = await app.inject({ method, url: '/readiness', payload: method === 'DELETE' || method === 'OPTIONS' ? undefined : '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
    assert.deepEqual(r.json(), { error: 'method not allowed' });
  }
  assert.equal((await app.inject({ method: 'POST', url: '/metrics?x=1' })).statusCode, 405);

  const big = await app.inject({ method: 'POST', url: '/readiness', payload: 'x'.repeat(64 * 1024), headers: { 'content-type': 'text/plain' } });
  assert.equal(big.statusCode, 413);
  assert.deepEqual(big.json(), { error: 'payload too large' });

  explode = true;
  const failed = await app.inject({ method: 'GET', url: '/readiness' });
  assert.equal(failed.statusCode, 500);
  assert.deepEqual(failed.json(), { error: 'internal server error' });
  await app.close();
});

test('server: slow or silent clients are cut off', async () => {
  const { tracker, metrics, clock } = setup();
  const limited = buildHealthApp({
    readiness: tracker,
    metrics,
    clock,
    limits: { headersTimeoutMs: 200, requestTimeoutMs: 300, connectionTimeoutMs: 400, timeoutCheckIntervalMs: 50 },
  });
  await limited.listen({ port: 0, host: '127.0.0.1' });
  try {
    const { port } = limited.server.address() as AddressInfo;
    const waitClosed = async (send: string): Promise<string> => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      if (send !== '') socket.write(send);
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      // Bounded so a regression fails the test instead of hanging it; this asserts no speed.
      const guard = setTimeout(() => socket.destroy(new Error('the server kept a slow client open')), 10_000);
      try {
        await once(socket, 'close');
      } finally {
        clearTimeout(guard);
      }
      return received;
    };
    // Headers that never finish: Node answers 408 and closes.
    assert.match(await waitClosed('GET /readiness HTTP/1.1\r\nHost: gw\r\nX-Slow: '), /^HTTP\/1\.1 408/);
    // A client that connects and says nothing is closed too.
    await waitClosed('');
  } finally {
    await limited.close();
  }
});

test('server: startHealthServer does nothing on port 0 and names the address when binding fails', async () => {
  const { tracker, metrics, clock } = setup();
  const deps = { readiness: tracker, metrics, clock };
  assert.equal(await startHealthServer({ port: 0, host: '127.0.0.1' }, deps), undefined);

  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as AddressInfo;
  try {
    await assert.rejects(
      startHealthServer({ port, host: '127.0.0.1' }, deps),
      (err: unknown) => isGatewayError(err, 'HEALTH_SERVER_FAILED') && err.message.includes(`127.0.0.1:${port}`) && /EADDRINUSE/.test(err.message),
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  // Once the port is free, it serves on it.
  const server = await startHealthServer({ port, host: '127.0.0.1' }, deps);
  assert.ok(server);
  try {
    assert.equal(server.port, port);
    const res = await fetch(`http://127.0.0.1:${port}/liveness`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { alive: true });
  } finally {
    await server.close();
  }
});

test('server: at HEALTH_MAX_CONNECTIONS open connections, one more is refused at once and counted; a freed slot serves again', async () => {
  const { tracker, metrics, clock } = setup();
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  let refused = 0;
  // Port 0 turns the server off, so take a free port from the kernel first.
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const s = await startHealthServer({ port, host: '127.0.0.1', maxConnections: 3, onRefused: () => refused++ }, { readiness: tracker, metrics, clock, logger });
  assert.ok(s);
  const open = async (): Promise<ReturnType<typeof connect>> => {
    const c = connect(s.port, '127.0.0.1');
    await once(c, 'connect');
    return c;
  };
  const idle = [await open(), await open(), await open()];
  try {
    const extra = await open();
    // Node closes a connection over the bound as soon as it accepts it.
    await once(extra, 'close');
    await flush();
    assert.equal(refused, 1);
    assert.equal(logs.filter((l) => l['event'] === 'health_connections_refused').length, 1);
    idle[0]?.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`http://127.0.0.1:${s.port}/liveness`);
    assert.equal(res.status, 200, 'a freed slot serves');
  } finally {
    for (const c of idle) c.destroy();
    await s.close();
  }
});

test('/readiness: above 32 probe targets a check counts them instead of listing them', async () => {
  const clock = new FakeClock(1_000_000);
  const net = new FakeIcmpNetwork(clock);
  const metrics = createMetrics({ processMetrics: false });
  const targets = Array.from({ length: 500 }, (_, i) => ip(`198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`));
  const checks = createHealthChecks({
    config: { datastoreTimeoutMs: 90_000, icmp: { targets, intervalMs: 1000, timeoutMs: 3000 }, http: { targets: [], intervalMs: 1000, timeoutMs: 1000 } },
    clock,
    metrics,
    icmpSocket: net,
  });
  const app = buildHealthApp({ readiness: checks.tracker, metrics, clock, wallNow: () => WALL });
  const res = await app.inject({ method: 'GET', url: '/readiness' });
  assert.ok(res.body.length < 2048, `${res.body.length} bytes`);
  const body = JSON.parse(res.body) as { checks: { icmp: { targets?: unknown; targetsSummary?: unknown } } };
  assert.equal(body.checks.icmp.targets, undefined);
  assert.deepEqual(body.checks.icmp.targetsSummary, { total: 500, up: 0, down: 0, pending: 500, listedIn: 'egress-gateway status' });

  const few = createHealthChecks({
    config: { datastoreTimeoutMs: 90_000, icmp: { targets: targets.slice(0, 32), intervalMs: 1000, timeoutMs: 3000 }, http: { targets: [], intervalMs: 1000, timeoutMs: 1000 } },
    clock,
    metrics: createMetrics({ processMetrics: false }),
    icmpSocket: net,
  });
  const listed = JSON.parse((await buildHealthApp({ readiness: few.tracker, metrics, clock, wallNow: () => WALL }).inject({ method: 'GET', url: '/readiness' })).body) as {
    checks: { icmp: { targets?: unknown[] } };
  };
  assert.equal(listed.checks.icmp.targets?.length, 32);
});
