import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon, runDaemon } from '../../src/daemon';
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

async function rig(t: TestContext): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'egw-signal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: { routes: [] } });
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
  return runDaemon(r.daemon, { signals: r.signals, exit: (code) => void r.exits.push(code), stderr: (text) => void r.stderr.push(text) });
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
  assert.equal(draining?.['delayMs'], 0);
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

test('SIGTERM after start-up drains for DRAIN_DELAY first; a second SIGTERM exits 143', { timeout: 20_000 }, async (t) => {
  const r = await rig(t);
  r.release();
  const running = run(r);
  const settled = running.then(() => 'exited');
  // start() has resolved once the policysync component and the health server are in.
  for (let i = 0; i < 1000 && !targets(r.logs, 'started').includes('health-server'); i++) await new Promise((res) => setImmediate(res));
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

test('a start-up failure is the command\'s error, and the handlers go away', async () => {
  const signals = new EventEmitter();
  const failing = { start: () => Promise.reject(new Error('cannot start')), drain: () => Promise.resolve() };
  await assert.rejects(runDaemon(failing, { signals }), /cannot start/);
  assert.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0);
});
