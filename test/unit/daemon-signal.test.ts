import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon, runDaemon, runStartCommand } from '../../src/daemon';
import { ErrorCodes, GatewayError, StartupError, exitStatusFor } from '../../src/errors';
import { SignalLatch } from '../../src/process-signals';
import { until } from './wait';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeLinks } from '../../src/fakes/links';
import { FakeClock } from '../../src/model/clock';
import { createLogger } from '../../src/observability/logger';
import { TestFelix } from '../lab/test-felix';

/**
 * SIGTERM/SIGINT handling of `start` (runDaemon), with the real Daemon on fakes and an emitter for
 * the process's signals. The handlers are in place before start-up: a signal while a component is
 * still starting stops what has started (and nothing more starts), without the drain's wait, and
 * the command answers 0, as after a drain.
 */

const GW = '100.64.2.7';

interface Rig {
  readonly daemon: Daemon;
  readonly clock: FakeClock;
  readonly logs: Record<string, unknown>[];
  readonly signals: EventEmitter;
  readonly exits: number[];
  readonly stderr: string[];
  readonly statusSocket: string;
  /** Resolves when the vxlan0 guard's first look at the link table is held; release() lets it go on. */
  readonly guardReached: Promise<void>;
  release(): void;
}

async function rig(t: TestContext, felixOptions: { autoInSync?: boolean } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-signal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: { routes: [] }, ...felixOptions });
  t.after(() => felix.stop());
  const links = new FakeLinks();
  links.addLink({ name: 'eth0', kind: 'veth', up: true, mtu: 1500, mac: '02:00:00:00:00:01' });
  // The guard's first check (part of its start) waits here until the test releases it.
  let release = (): void => undefined;
  let reached = (): void => undefined;
  const guardReached = new Promise<void>((resolve) => (reached = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  const get = links.get.bind(links);
  links.get = async (name: string) => {
    reached();
    await gate;
    return get(name);
  };
  const logs: Record<string, unknown>[] = [];
  const statusSocket = join(dir, 'status.sock');
  const clock = new FakeClock(1_000);
  const config = parseDaemonConfig({ EGRESS_POD_IP: GW, DAEMON_SOCKET_PATH: socketPath, HEALTH_PORT: '0', LOG_SEVERITY: 'debug', STATUS_SOCKET: statusSocket });
  const daemon = new Daemon(config, {
    kernel: new FakeReturnPathKernel(),
    links,
    clock,
    logger: createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
  });
  t.after(() => daemon.stop());
  return { daemon, clock, logs, signals: new EventEmitter(), exits: [], stderr: [], statusSocket, guardReached, release };
}

function run(r: Rig): Promise<number> {
  return runDaemon(r.daemon, { signals: r.signals, exit: (code) => void r.exits.push(code), stderr: (text) => void r.stderr.push(text), logger: r.daemon.log });
}

const targets = (logs: Record<string, unknown>[], event: string): unknown[] =>
  logs.filter((l) => l['component'] === 'lifecycle' && l['event'] === event).map((l) => l['target']);

test('SIGTERM during start-up: what started is stopped, nothing more starts, no drain wait, exit 0', { timeout: 20_000 }, async (t) => {
  const r = await rig(t);
  const running = run(r);
  await r.guardReached;
  assert.equal(r.signals.listenerCount('SIGTERM'), 1, 'the handler is in before start-up ends');
  assert.ok(existsSync(r.statusSocket), 'the status server started first');
  r.signals.emit('SIGTERM', 'SIGTERM');
  r.release();
  // The clock never moves: a drain that waited DRAIN_DELAY (10 s) here would never end.
  assert.equal(await running, 0);

  // Started up to the guard (held when the signal came), then stopped in reverse; nothing after it started.
  const started = targets(r.logs, 'started');
  assert.equal(started[0], 'status-server');
  assert.equal(started.at(-1), 'vxlan-guard');
  for (const later of ['policysync', 'health-server']) assert.ok(!started.includes(later), `${later} never started`);
  assert.deepEqual(targets(r.logs, 'stopped'), [...started].reverse());
  const draining = r.logs.find((l) => l['event'] === 'draining');
  assert.equal(draining?.['duringStartUp'], true);
  assert.equal(draining['delayMs'], 0);
  assert.ok(r.logs.some((l) => l['event'] === 'stopped' && l['component'] === 'daemon'));
  assert.equal(r.daemon.status().phase, 'stopped');
  assert.equal(r.daemon.healthPort, undefined, 'the health server never started');
  assert.equal(existsSync(r.statusSocket), false, 'the status socket is removed');
  assert.equal(r.signals.listenerCount('SIGTERM') + r.signals.listenerCount('SIGINT'), 0, 'handlers removed');
  assert.deepEqual(r.exits, []);
});

test('a second signal during start-up exits at once: 130 for SIGINT', { timeout: 20_000 }, async (t) => {
  const r = await rig(t);
  const running = run(r);
  await r.guardReached;
  r.signals.emit('SIGTERM', 'SIGTERM');
  r.signals.emit('SIGINT', 'SIGINT');
  assert.deepEqual(r.exits, [130]);
  assert.match(r.stderr.join(''), /SIGINT again, exiting without waiting for the drain/);
  r.release();
  assert.equal(await running, 0);
});

test('SIGTERM after start-up, once ready, drains for DRAIN_DELAY first; a second SIGTERM exits 143', { timeout: 20_000 }, async (t) => {
  const r = await rig(t);
  r.release();
  const running = run(r);
  const settled = running.then(() => 'exited');
  // Clients only come to a gateway that has said ready: the drain waits for them to move away.
  // The fake clock runs the pass that in_sync schedules only when told to (advance(0): no time passes).
  await until('ready', () => (r.clock.advance(0), r.daemon.health.tracker.report().ready));
  assert.equal(r.daemon.status().phase, 'running');
  r.signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(r.daemon.status().phase, 'draining');
  assert.equal(r.logs.find((l) => l['event'] === 'draining')?.['delayMs'], 10_000);
  await new Promise((res) => setImmediate(res));
  assert.equal(await Promise.race([settled, Promise.resolve('waiting')]), 'waiting', 'still draining before the delay has passed');
  r.signals.emit('SIGTERM', 'SIGTERM');
  assert.deepEqual(r.exits, [143]);
  r.clock.advance(10_000);
  assert.equal(await running, 0);
  assert.equal(r.daemon.status().phase, 'stopped');
});

test('SIGTERM to a gateway that was never ready (Felix never in sync): no DRAIN_DELAY wait, exit 0', { timeout: 20_000 }, async (t) => {
  const r = await rig(t, { autoInSync: false });
  r.release();
  const running = run(r);
  await until('running', () => r.daemon.status().phase === 'running' && targets(r.logs, 'started').includes('policysync'));
  await until('the stream is open', () => r.daemon.status().policysync.streams === 1);
  assert.equal(r.daemon.health.tracker.report().ready, false);
  r.signals.emit('SIGTERM', 'SIGTERM');
  // The clock never moves: waiting DRAIN_DELAY (10 s) would never end.
  assert.equal(await running, 0);
  const draining = r.logs.find((l) => l['event'] === 'draining');
  assert.equal(draining?.['delayMs'], 0);
  assert.equal(draining['neverReady'], true);
});

test('SIGHUP is logged and ignored; the daemon runs on', { timeout: 20_000 }, async (t) => {
  const r = await rig(t);
  r.release();
  const running = run(r);
  // The fake clock runs the pass that in_sync schedules only when told to (advance(0): no time passes).
  await until('ready', () => (r.clock.advance(0), r.daemon.health.tracker.report().ready));
  r.signals.emit('SIGHUP', 'SIGHUP');
  assert.equal(r.daemon.status().phase, 'running');
  assert.ok(r.logs.some((l) => l['event'] === 'signal_ignored' && l['signal'] === 'SIGHUP'));
  assert.deepEqual(r.exits, []);
  r.signals.emit('SIGTERM', 'SIGTERM');
  r.clock.advance(10_000);
  assert.equal(await running, 0);
});

test('a start-up failure is the command\'s error (a StartupError: exit status 2), and the handlers go away', async () => {
  const signals = new EventEmitter();
  const failing = { start: () => Promise.reject(new Error('cannot start')), drain: () => Promise.resolve() };
  await assert.rejects(runDaemon(failing, { signals }), (err: unknown) => {
    assert.ok(err instanceof StartupError);
    assert.equal(err.code, 'INTERNAL');
    assert.equal(err.message, 'cannot start');
    assert.equal(exitStatusFor(err), 2);
    return true;
  });
  const port = { start: () => Promise.reject(new GatewayError(ErrorCodes.HEALTH_SERVER_FAILED, 'listening for health checks on 100.64.2.7:8080: EADDRINUSE')), drain: () => Promise.resolve() };
  await assert.rejects(runDaemon(port, { signals }), (err: unknown) => err instanceof StartupError && err.code === 'HEALTH_SERVER_FAILED' && exitStatusFor(err) === 2);
  assert.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT') + signals.listenerCount('SIGHUP'), 0);
});

test('the daemon\'s adapters failing to open (a netlink socket refused) is start-up too: exit status 2, not 1', async () => {
  const signals = new EventEmitter();
  const env = { EGRESS_POD_IP: GW, HEALTH_PORT: '0' };
  const interfaces = new Map([['eth0', [GW]]]);
  const deps = (): never => {
    throw Object.assign(new Error('socket(AF_NETLINK): EPERM'), { code: 'EPERM' });
  };
  await assert.rejects(runStartCommand({}, env, { signals, interfaces, deps }), (err: unknown) => {
    assert.ok(err instanceof StartupError, String(err));
    assert.match(err.message, /EPERM/);
    assert.equal(exitStatusFor(err), 2);
    return true;
  });
});

test('the signal latch holds what came before anyone listened, and hands it over in order', () => {
  const proc = new EventEmitter();
  const latch = new SignalLatch(proc);
  proc.emit('SIGHUP', 'SIGHUP');
  proc.emit('SIGTERM', 'SIGTERM');
  assert.deepEqual(latch.pending(), ['SIGHUP', 'SIGTERM']);
  const got: string[] = [];
  latch.on('SIGTERM', (s) => void got.push(s));
  assert.deepEqual(got, ['SIGTERM']);
  assert.deepEqual(latch.pending(), ['SIGHUP']);
  proc.emit('SIGTERM', 'SIGTERM');
  assert.deepEqual(got, ['SIGTERM', 'SIGTERM'], 'later ones go straight to the listener');
});
