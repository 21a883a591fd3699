import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/model/clock';
import type { SyncEvent } from '../../src/model/felix';
import type { PolicySyncHandlers, StateChange, StreamInfo } from '../../src/policysync/client';
import { PolicySyncClient } from '../../src/policysync/client';
import { formatSyncEvent } from '../../src/policysync/decode';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import type { TestFelixOptions } from '../lab/test-felix';
import { TestFelix } from '../lab/test-felix';

// These tests talk real gRPC over a Unix socket in a temp folder; they wait on events, never on time.
const TIMEOUT = { timeout: 20_000 };

const r1: RouteUpdateWire = { type: 1, ip_pool_type: 2, dst: '100.64.1.0/26', dst_node_name: 'node1', dst_node_ip: '198.51.100.11' };
const r2: RouteUpdateWire = { type: 1, ip_pool_type: 2, dst: '2001:db8:1::/122', dst_node_name: 'node1', dst_node_ip: '2001:db8::11' };
const r3: RouteUpdateWire = { type: 1, ip_pool_type: 2, dst: '100.64.3.0/26', dst_node_name: 'node3', dst_node_ip: '198.51.100.13' };
const R1 = 'kinds=remote_workload pool=vxlan node=node1 node_ip=198.51.100.11';
const R2 = 'kinds=remote_workload pool=vxlan node=node1 node_ip=2001:db8::11';
const R3 = 'kinds=remote_workload pool=vxlan node=node3 node_ip=198.51.100.13';

/** Records what the client reports, as text lines, and lets a test wait until a condition holds. */
class Recorder implements PolicySyncHandlers {
  readonly lines: string[] = [];
  readonly states: StateChange[] = [];
  private readonly waiters = new Set<() => void>();

  onStreamStart(info: StreamInfo): void {
    this.lines.push(`stream ${info.stream}`);
    this.poke();
  }

  onEvent(event: SyncEvent): void {
    this.lines.push(formatSyncEvent(event));
    this.poke();
  }

  onState(change: StateChange): void {
    this.states.push(change);
    this.poke();
  }

  count(prefix: string): number {
    return this.lines.filter((l) => l.startsWith(prefix)).length;
  }

  disconnects(): StateChange[] {
    return this.states.filter((s) => s.state === 'disconnected');
  }

  until(condition: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (condition()) {
          this.waiters.delete(check);
          resolve();
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }
}

function tempSocket(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'egw-policysync-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'socket');
}

/** Starts a client whose abort and a Felix's stop are registered as cleanups, also on failure. */
function startClient(
  t: TestContext,
  socketPath: string,
  rec: Recorder,
  extra: Partial<ConstructorParameters<typeof PolicySyncClient>[0]> = {},
): { client: PolicySyncClient; abort: AbortController; done: Promise<void> } {
  const abort = new AbortController();
  const client = new PolicySyncClient(
    { socketPath, supportsIPv6RouteUpdates: false, backoff: { initialMs: 20, maxMs: 200, factor: 2 }, ...extra },
    rec,
  );
  const done = client.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await done;
  });
  return { client, abort, done };
}

async function startFelix(t: TestContext, socketPath: string, options: TestFelixOptions): Promise<TestFelix> {
  const felix = await TestFelix.start(socketPath, options);
  t.after(() => felix.stop());
  return felix;
}

test('sends an l3-routes SyncRequest and delivers the snapshot, in_sync and live changes in order', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const felix = await startFelix(t, socket, {
    snapshot: { vteps: [{ node: 'node1', mac: '66:00:00:00:00:01', ipv4_addr: '100.64.1.192' }], routes: [r1, r2] },
  });
  const rec = new Recorder();
  const { client } = startClient(t, socket, rec, { supportsIPv6RouteUpdates: true });
  await rec.until(() => rec.count('in_sync') === 1);
  felix.sendRouteUpdate(r3);
  felix.sendRouteRemove('100.64.1.0/26');
  felix.sendVtepRemove('node1');
  await rec.until(() => rec.count('vtep_remove') === 1);

  assert.deepEqual(felix.requests, [
    {
      supports_drop_action_override: false,
      supports_dataplane_stats: false,
      subscription_type: 'l3-routes',
      supports_ipv6_route_updates: true,
    },
  ]);
  assert.deepEqual(rec.lines, [
    'stream 1',
    'vtep_update seq=1 node=node1 mac=66:00:00:00:00:01 ipv4=100.64.1.192',
    `route_update seq=2 100.64.1.0/26 ${R1}`,
    `route_update seq=3 2001:db8:1::/122 ${R2}`,
    'in_sync seq=4',
    `route_update seq=5 100.64.3.0/26 ${R3}`,
    'route_remove seq=6 100.64.1.0/26',
    'vtep_remove seq=7 node=node1',
  ]);
  assert.deepEqual(rec.states.map((s) => s.state), ['connecting', 'connected']);
  const stats = client.stats();
  assert.equal(stats.state, 'connected');
  assert.equal(stats.inSync, true);
  assert.equal(stats.streams, 1);
  assert.equal(stats.reconnects, 0);
  assert.deepEqual(stats.messages, { in_sync: 1, route_update: 3, route_remove: 1, vtep_update: 1, vtep_remove: 1, ignored: 0, malformed: 0 });
});

test('malformed and unknown messages are skipped and counted; the stream goes on', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const felix = await startFelix(t, socket, { snapshot: { routes: [r1] } });
  const rec = new Recorder();
  const { client } = startClient(t, socket, rec);
  await rec.until(() => rec.count('in_sync') === 1);
  felix.sendMalformed('bad_cidr');
  felix.sendMalformed('bad_ip');
  felix.sendMalformed('family_mismatch');
  felix.sendMalformed('empty_node_name');
  felix.sendMalformed('unknown_route_type');
  felix.sendMalformed('undecodable');
  felix.sendUnknownPayload(13);
  felix.sendRouteUpdate(r3);
  await rec.until(() => rec.lines.some((l) => l.includes('100.64.3.0/26')));

  assert.deepEqual(rec.lines.slice(3), [
    'malformed seq=3 payload=route_update: dst "100.64.9.0/33" is not a CIDR',
    'malformed seq=4 payload=route_update: dst_node_ip "198.51.100.999" is not an IP address',
    'malformed seq=5 payload=route_update: dst_node_ip 2001:db8::99 is IPv6, but dst 100.64.9.0/26 is IPv4',
    'malformed seq=6 payload=route_update: remote_workload route for 100.64.9.0/26 has an empty dst_node_name',
    'malformed seq=7 payload=route_update: unknown route type 42',
    'malformed seq=0 payload=unknown: undecodable ToDataplane (4 bytes): index out of range',
    'ignored seq=8 payload=field 13',
    `route_update seq=9 100.64.3.0/26 ${R3}`,
  ]);
  const stats = client.stats();
  assert.equal(stats.messages.malformed, 6);
  assert.equal(stats.messages.ignored, 1);
  assert.equal(stats.messages.route_update, 2);
  assert.equal(stats.streams, 1, 'a bad message must not cost the stream');
  assert.equal(stats.inSync, true);
});

test('a handler that throws does not stop later messages', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const felix = await startFelix(t, socket, { snapshot: { routes: [r1] } });
  const rec = new Recorder();
  const handlers: PolicySyncHandlers = {
    onEvent: (event, info) => {
      rec.onEvent(event);
      if (event.kind === 'route_update') throw new Error(`consumer bug in stream ${info.stream}`);
    },
  };
  const abort = new AbortController();
  const client = new PolicySyncClient({ socketPath: socket, supportsIPv6RouteUpdates: false }, handlers);
  const done = client.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await done;
  });
  await rec.until(() => rec.count('in_sync') === 1);
  felix.sendRouteUpdate(r3);
  felix.sendInSync();
  await rec.until(() => rec.count('in_sync') === 2);
  assert.deepEqual(rec.lines, [`route_update seq=1 100.64.1.0/26 ${R1}`, 'in_sync seq=2', `route_update seq=3 100.64.3.0/26 ${R3}`, 'in_sync seq=4']);
  assert.equal(client.stats().streams, 1);
});

test('Felix restarts: the client reconnects and announces a new stream before its snapshot', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const felix = await startFelix(t, socket, { snapshot: { routes: [r1, r2] } });
  const rec = new Recorder();
  const { client } = startClient(t, socket, rec);
  await rec.until(() => rec.count('in_sync') === 1);

  await felix.stop();
  await rec.until(() => rec.disconnects().length === 1);
  assert.equal(client.stats().inSync, false);
  felix.setSnapshot({ routes: [r3] });
  await felix.start();
  await rec.until(() => rec.count('in_sync') === 2);

  // Felix ends the stream cleanly, then breaks one: both are reconnected.
  felix.endStreams();
  await rec.until(() => rec.count('in_sync') === 3);
  felix.destroyStreams();
  await rec.until(() => rec.count('in_sync') === 4);

  assert.deepEqual(rec.lines, [
    'stream 1',
    `route_update seq=1 100.64.1.0/26 ${R1}`,
    `route_update seq=2 2001:db8:1::/122 ${R2}`,
    'in_sync seq=3',
    'stream 2',
    `route_update seq=1 100.64.3.0/26 ${R3}`,
    'in_sync seq=2',
    'stream 3',
    `route_update seq=1 100.64.3.0/26 ${R3}`,
    'in_sync seq=2',
    'stream 4',
    `route_update seq=1 100.64.3.0/26 ${R3}`,
    'in_sync seq=2',
  ]);
  assert.equal(felix.streamsConnected, 4);
  assert.ok(felix.requests.every((r) => r.subscription_type === 'l3-routes'));
  const reasons = rec.disconnects().map((d) => d.reason ?? '');
  assert.equal(reasons.filter((r) => r === 'stream ended by Felix').length, 1, reasons.join(' | '));
  assert.ok(reasons.some((r) => r.startsWith('UNAVAILABLE')), reasons.join(' | '));
  const stats = client.stats();
  assert.equal(stats.streams, 4);
  assert.equal(stats.reconnects, 3, 'every stream after the first is a reconnect');
  assert.equal(stats.inSync, true);
});

test('socket missing or refused at start: retries with growing backoff, connects when Felix appears, resets after in_sync', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const clock = new FakeClock();
  const rec = new Recorder();
  const { client, abort, done } = startClient(t, socket, rec, {
    clock,
    random: () => 0.5,
    backoff: { initialMs: 100, maxMs: 10_000, factor: 2 },
  });

  // Each failure schedules exactly one retry, on the fake clock: nothing happens until it is due.
  await rec.until(() => rec.disconnects().length === 1);
  assert.equal(rec.disconnects()[0]?.retryInMs, 75);
  assert.match(rec.disconnects()[0]?.reason ?? '', /ENOENT/);
  assert.equal(clock.pendingTimers(), 1);
  clock.advance(74);
  assert.equal(client.stats().attempts, 1);
  clock.advance(1);
  assert.equal(client.stats().attempts, 2);
  await rec.until(() => rec.disconnects().length === 2);
  assert.equal(rec.disconnects()[1]?.retryInMs, 150);

  // Something that is not a listening socket sits at the path: refused, and the backoff keeps growing.
  writeFileSync(socket, '');
  clock.advance(150);
  await rec.until(() => rec.disconnects().length === 3);
  assert.equal(rec.disconnects()[2]?.retryInMs, 300);
  assert.match(rec.disconnects()[2]?.reason ?? '', /ECONNREFUSED/);

  const felix = await startFelix(t, socket, { snapshot: { routes: [r1] } });
  clock.advance(300);
  await rec.until(() => rec.count('in_sync') === 1);
  assert.deepEqual(rec.lines, ['stream 1', `route_update seq=1 100.64.1.0/26 ${R1}`, 'in_sync seq=2']);
  assert.equal(client.stats().attempts, 4);
  assert.equal(client.stats().reconnects, 0, 'failed dials are attempts, not reconnects: only one stream has started');
  assert.equal(felix.streamsConnected, 1);

  // in_sync reset the backoff: the next failure waits the initial delay again.
  felix.destroyStreams();
  await rec.until(() => rec.disconnects().length === 4);
  assert.equal(rec.disconnects()[3]?.retryInMs, 75);

  abort.abort();
  await done;
  assert.equal(clock.pendingTimers(), 0, 'abort cancels the pending retry');
  assert.equal(client.stats().state, 'stopped');
  assert.deepEqual(
    rec.states.map((s) => s.state),
    ['connecting', 'disconnected', 'connecting', 'disconnected', 'connecting', 'disconnected', 'connecting', 'connected', 'disconnected', 'stopped'],
  );
});

test('abort while connected cancels the stream at Felix and delivers nothing more', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const felix = await startFelix(t, socket, { snapshot: { routes: [r1] } });
  const rec = new Recorder();
  const { client, abort, done } = startClient(t, socket, rec);
  await rec.until(() => rec.count('in_sync') === 1);
  assert.equal(felix.openStreams, 1);
  abort.abort();
  await done;
  await felix.waitForOpenStreams(0);
  const before = rec.lines.length;
  felix.sendRouteUpdate(r3);
  assert.equal(rec.lines.length, before);
  assert.equal(client.stats().state, 'stopped');
  assert.equal(rec.states.at(-1)?.state, 'stopped');
  assert.equal(felix.streamsConnected, 1, 'no reconnect after abort');
});

test('a signal aborted before run resolves at once without dialling', TIMEOUT, async () => {
  const rec = new Recorder();
  const client = new PolicySyncClient({ socketPath: '/nonexistent/egw-socket', supportsIPv6RouteUpdates: false }, rec);
  await client.run(AbortSignal.abort());
  assert.equal(client.stats().attempts, 0);
  assert.deepEqual(rec.states.map((s) => s.state), ['stopped']);
  assert.throws(() => client.run(new AbortController().signal), { code: 'INTERNAL' });
});

test('after abort nothing is left running: a process using the client and the test Felix exits by itself', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const clientModule = join(__dirname, '..', '..', 'src', 'policysync', 'client.js');
  const felixModule = join(__dirname, '..', 'lab', 'test-felix.js');
  // One client aborts while connected; another aborts while waiting out a 10-minute backoff. If any
  // timer, channel or socket survived, the child would not exit and the guard below would fire.
  const script = `
    process.on('uncaughtException', (e) => { console.error('uncaught', e); process.exit(4); });
    const { PolicySyncClient } = require(${JSON.stringify(clientModule)});
    const { TestFelix } = require(${JSON.stringify(felixModule)});
    (async () => {
      const socket = ${JSON.stringify(socket)};
      const felix = await TestFelix.start(socket, { snapshot: { routes: [${JSON.stringify(r1)}] } });
      const one = new AbortController();
      let synced; const inSync = new Promise((r) => (synced = r));
      const c1 = new PolicySyncClient({ socketPath: socket, supportsIPv6RouteUpdates: false },
        { onEvent: (e) => e.kind === 'in_sync' && synced() });
      const done1 = c1.run(one.signal);
      await inSync;
      const two = new AbortController();
      let failed; const waiting = new Promise((r) => (failed = r));
      const c2 = new PolicySyncClient(
        { socketPath: socket + '.missing', supportsIPv6RouteUpdates: false, backoff: { initialMs: 600000, maxMs: 600000, factor: 2 } },
        { onEvent() {}, onState: (s) => s.state === 'disconnected' && failed() });
      const done2 = c2.run(two.signal);
      await waiting;
      one.abort(); two.abort();
      await Promise.all([done1, done2]);
      // Aborted while the dial is under way, and from inside a handler in the middle of a snapshot
      // (as a daemon whose start-up fails elsewhere stops the client): nothing may throw afterwards.
      const three = new AbortController();
      const c3 = new PolicySyncClient({ socketPath: socket, supportsIPv6RouteUpdates: false }, { onEvent() {} });
      const done3 = c3.run(three.signal);
      three.abort();
      const four = new AbortController();
      const c4 = new PolicySyncClient({ socketPath: socket, supportsIPv6RouteUpdates: false },
        { onEvent: (e) => e.kind === 'route_update' && four.abort() });
      await c4.run(four.signal);
      await done3;
      await new Promise((r) => setTimeout(r, 200));
      await felix.stop();
      process.stdout.write(JSON.stringify([c1.stats().state, c2.stats().state, c3.stats().state, c4.stats().state, felix.streamsConnected]) + '\\n');
    })().catch((e) => { console.error(e); process.exit(3); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = await new Promise<number | string>((resolve) => {
    // A hang guard, not a speed check: the child needs well under a second.
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running 15 s after starting: something kept the event loop alive');
    }, 15_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve(code ?? -1);
    });
  });
  assert.equal(exit, 0, `stdout: ${out}\nstderr: ${err}`);
  const [s1, s2, s3, s4, streams] = JSON.parse(out.trim()) as [string, string, string, string, number];
  assert.deepEqual([s1, s2, s3, s4], ['stopped', 'stopped', 'stopped', 'stopped']);
  // c1's stream and c4's; c3 may or may not have got as far as a stream before it was aborted.
  assert.ok(streams === 2 || streams === 3, `streams at Felix: ${streams}`);
});

test('the test Felix program: serves a routes file, sends the difference on SIGHUP, ends streams on SIGUSR1', TIMEOUT, async (t) => {
  const socket = tempSocket(t);
  const routesFile = `${socket}.json`;
  writeFileSync(routesFile, JSON.stringify({ routes: [{ ...r1, type: 'REMOTE_WORKLOAD' }, r2] }));
  const program = spawn(process.execPath, [join(__dirname, '..', 'lab', 'test-felix.js'), '--socket', socket, '--routes', routesFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => program.on('exit', (code) => resolve(code)));
  t.after(() => {
    if (program.exitCode === null && program.signalCode === null) program.kill('SIGKILL');
  });
  const said: Array<Record<string, unknown>> = [];
  const heard = new Set<() => void>();
  let buffered = '';
  program.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      said.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>);
      buffered = buffered.slice(nl + 1);
      for (const h of [...heard]) h();
    }
  });
  const hear = (event: string, n = 1): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (said.filter((s) => s['event'] === event).length >= n) {
          heard.delete(check);
          resolve();
        }
      };
      heard.add(check);
      check();
    });

  await hear('listening');
  const rec = new Recorder();
  startClient(t, socket, rec);
  await rec.until(() => rec.count('in_sync') === 1);
  writeFileSync(routesFile, JSON.stringify({ routes: [r1, r3] }));
  program.kill('SIGHUP');
  await rec.until(() => rec.count('route_remove') === 1);
  program.kill('SIGUSR1');
  await rec.until(() => rec.count('in_sync') === 2);

  assert.deepEqual(rec.lines, [
    'stream 1',
    `route_update seq=1 100.64.1.0/26 ${R1}`,
    `route_update seq=2 2001:db8:1::/122 ${R2}`,
    'in_sync seq=3',
    `route_update seq=4 100.64.3.0/26 ${R3}`,
    'route_remove seq=5 2001:db8:1::/122',
    'stream 2',
    `route_update seq=1 100.64.1.0/26 ${R1}`,
    `route_update seq=2 100.64.3.0/26 ${R3}`,
    'in_sync seq=3',
  ]);
  await hear('stream', 2);
  program.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.deepEqual(
    said.map((s) => s['event']),
    ['listening', 'stream', 'reloaded', 'streams_ended', 'stream', 'stopped'],
  );
  assert.equal((said[1]?.['request'] as Record<string, unknown>)['subscription_type'], 'l3-routes');
});
