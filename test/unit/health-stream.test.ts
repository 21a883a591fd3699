import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { GatewayStream, httpStreamTransport } from '../../src/agent/gateway-health/stream';
import type { StreamRecord } from '../../src/agent/gateway-health/state';
import type { ReadinessReport } from '../../src/health/readiness';
import { startHealthServer, type HealthServer } from '../../src/health/server';
import { heartbeatFromQuery, maxStreamsFor, ReadinessStreams, streamStateLine, streamStateOf, STREAM_HEARTBEAT } from '../../src/health/stream';
import { ReadinessTracker } from '../../src/health/tracker';
import { FakeClock, systemClock } from '../../src/model/clock';
import { createMetrics } from '../../src/observability/metrics';

/**
 * The readiness stream end to end over loopback: the gateway's health server with its streams
 * (src/health/stream.ts) and the agent's stream client (src/agent/gateway-health/stream.ts), both
 * as they run, on real sockets and timers.
 */

let report: ReadinessReport = { ready: true, checks: {}, failing: [] };
const readiness = { report: () => report };

async function gateway(opts: { maxStreams?: number; streams?: boolean; connectionTimeoutMs?: number } = {}): Promise<{ server: HealthServer; streams: ReadinessStreams; url: string; metrics: ReturnType<typeof createMetrics> }> {
  report = { ready: true, checks: {}, failing: [] };
  const metrics = createMetrics({ processMetrics: false });
  const streams = new ReadinessStreams({
    clock: systemClock,
    current: () => streamStateOf(readiness.report()),
    maxStreams: opts.maxStreams ?? 10,
    metrics: { set: (n) => metrics.healthStreams.set(n), refused: () => metrics.healthStreamsRefused.inc() },
  });
  const server = await startHealthServer(
    { port: await freePort(), host: '127.0.0.1' },
    {
      readiness,
      metrics,
      clock: systemClock,
      ...(opts.streams === false ? {} : { streams }),
      ...(opts.connectionTimeoutMs !== undefined ? { limits: { connectionTimeoutMs: opts.connectionTimeoutMs, keepAliveTimeoutMs: opts.connectionTimeoutMs } } : {}),
    },
  );
  if (!server) throw new Error('no server');
  return { server, streams, url: `http://127.0.0.1:${server.port}/readiness/stream`, metrics };
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A raw GET that collects the body's lines; `close()` ends it. */
function rawStream(url: string): { lines: string[]; status: Promise<number>; ended: Promise<void>; close(): void } {
  const lines: string[] = [];
  let resolveStatus: (n: number) => void = () => undefined;
  let resolveEnd: () => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const ended = new Promise<void>((r) => (resolveEnd = r));
  let buffer = '';
  const req = request(url, { agent: false }, (res) => {
    resolveStatus(res.statusCode ?? 0);
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buffer += c;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    res.on('close', () => resolveEnd());
  });
  req.on('error', () => resolveEnd());
  req.end();
  return { lines, status, ended, close: () => req.destroy() };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('readiness stream: the gateway side', () => {
  it('the state at once, each change at once, an empty line every heartbeat; the heartbeat is bounded', async () => {
    const gw = await gateway();
    try {
      const s = rawStream(`${gw.url}?heartbeatMs=60`);
      assert.equal(await s.status, 200);
      await until('the first line', () => s.lines.length >= 1);
      assert.deepEqual(JSON.parse(s.lines[0] ?? ''), { ready: true, draining: false, failing: [], heartbeatMs: 60 });
      await until('two heartbeats', () => s.lines.filter((l) => l === '').length >= 2);
      assert.equal(gw.streams.count, 1);
      report = { ready: false, checks: {}, failing: ['drain'] };
      gw.streams.publish(streamStateOf(report));
      gw.streams.publish(streamStateOf(report)); // the same again: not sent twice
      await until('the drain', () => s.lines.some((l) => l.includes('"draining":true')));
      assert.deepEqual(s.lines.filter((l) => l !== '').map((l) => JSON.parse(l) as unknown).slice(1), [{ ready: false, draining: true, failing: ['drain'] }]);
      assert.match(await gw.metrics.registry.metrics(), /^egress_gateway_health_streams 1$/m);
      s.close();
      await until('the stream forgotten', () => gw.streams.count === 0);
    } finally {
      await gw.server.close();
    }
    assert.equal(heartbeatFromQuery('5'), STREAM_HEARTBEAT.minMs);
    assert.equal(heartbeatFromQuery('999999999'), STREAM_HEARTBEAT.maxMs);
    assert.equal(heartbeatFromQuery(undefined), STREAM_HEARTBEAT.defaultMs);
    assert.equal(heartbeatFromQuery('1e3'), STREAM_HEARTBEAT.defaultMs);
    assert.equal(maxStreamsFor(4096), 3072);
    assert.equal(maxStreamsFor(1), 1);
  });

  it('a stream outlives the idle timeout of the health port (the heartbeat is its own)', async () => {
    const gw = await gateway({ connectionTimeoutMs: 150 });
    try {
      const s = rawStream(`${gw.url}?heartbeatMs=60000`);
      assert.equal(await s.status, 200);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(gw.streams.count, 1, 'still open after four idle timeouts');
      s.close();
    } finally {
      await gw.server.close();
    }
  });

  it('past the stream cap: 503 and counted; closing the server ends every stream', async () => {
    const gw = await gateway({ maxStreams: 1 });
    const a = rawStream(gw.url);
    assert.equal(await a.status, 200);
    const b = rawStream(gw.url);
    assert.equal(await b.status, 503);
    assert.match(await gw.metrics.registry.metrics(), /^egress_gateway_health_streams_refused_total 1$/m);
    await gw.server.close();
    await a.ended;
  });

  it('the tracker tells the streams of every change of readiness or of the failing checks, and of nothing else', () => {
    const clock = new FakeClock();
    const tracker = new ReadinessTracker({ clock, datastoreTimeoutMs: 90_000 });
    const seen: string[] = [];
    tracker.onChange((r) => seen.push(streamStateLine(streamStateOf(r)).trim()));
    tracker.update();
    tracker.update();
    tracker.syncConnected();
    tracker.syncInSync();
    tracker.reconcileResult(true);
    tracker.reconcileResult(true);
    tracker.startDrain();
    assert.deepEqual(seen, [
      '{"ready":false,"draining":false,"failing":["policysync","reconcile"]}',
      '{"ready":false,"draining":false,"failing":["reconcile"]}',
      '{"ready":true,"draining":false,"failing":[]}',
      '{"ready":false,"draining":true,"failing":["drain"]}',
    ]);
  });
});

describe('readiness stream: the agent against the gateway', () => {
  const policy = { heartbeatMs: 50, connectTimeoutMs: 1000, retryMinMs: 20, retryMaxMs: 100, unsupportedRetryMs: 60_000 };
  const client = (url: string): { s: GatewayStream; records: StreamRecord[] } => {
    const records: StreamRecord[] = [];
    const s = new GatewayStream(url, { clock: systemClock, transport: httpStreamTransport, policy, onChange: (r) => records.push(r) });
    s.start();
    return { s, records };
  };

  it('live at once; a drain arrives as it happens; the gateway going away is seen as it happens', async () => {
    const gw = await gateway();
    const { s, records } = client(gw.url);
    try {
      await until('live', () => s.state.state === 'live');
      assert.equal(s.state.ready, true);
      // Several heartbeats pass and it stays live (the watchdog is fed).
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(s.state.state, 'live');
      gw.streams.publish({ ready: false, draining: true, failing: ['drain'] });
      await until('draining', () => s.state.draining === true);
      await gw.server.close();
      await until('lost', () => s.state.state === 'lost');
      assert.deepEqual(
        records.map((r) => (r.state === 'live' ? `live ${r.draining ? 'draining' : 'ready'}` : r.state)).slice(0, 3),
        ['live ready', 'live draining', 'lost'],
      );
    } finally {
      s.stop();
      await gw.server.close();
    }
  });

  it('a gateway without streams (404) and one at its cap (503): unsupported', async () => {
    const old = await gateway({ streams: false });
    const full = await gateway({ maxStreams: 1 });
    const hog = rawStream(full.url);
    const a = client(old.url);
    const b = client(full.url);
    try {
      await until('unsupported (404)', () => a.s.state.state === 'unsupported');
      assert.match(a.s.state.lastError ?? '', /HTTP 404/);
      await until('unsupported (503)', () => b.s.state.state === 'unsupported');
    } finally {
      a.s.stop();
      b.s.stop();
      hog.close();
      await old.server.close();
      await full.server.close();
    }
  });

  it('nobody listening: lost, and dialled again until the gateway is there', async () => {
    const port = await freePort();
    const { s } = client(`http://127.0.0.1:${port}/readiness/stream`);
    try {
      await until('lost', () => s.state.state === 'lost');
      assert.equal(s.state.lastError, 'ECONNREFUSED');
    } finally {
      s.stop();
    }
  });
});
