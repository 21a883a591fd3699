import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { Daemon } from '../../src/daemon';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { createLogger } from '../../src/observability/logger';
import { decodeReceived } from '../../src/policysync/decode';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { decodeToDataplaneBytes } from '../../src/policysync/proto';
import { TestFelix } from '../lab/test-felix';
import { NODES, badMessage, blockDst, encode, fuzzRun, garbage, int, mulberry32, pickOne, routeUpdate } from '../fuzz/to-dataplane';

/**
 * Fuzzing the PolicySync path (issue 7): random and mutated ToDataplane messages with valid gRPC
 * framing, through a test Felix on a Unix socket, into a daemon with a fake kernel. CI runs a
 * fixed seed and a bounded count; `make fuzz` runs a long one (FUZZ_SEED, FUZZ_COUNT).
 */

const { seed, count } = fuzzRun({ seed: 20241124, count: 2000 });
const KINDS = ['in_sync', 'route_update', 'route_remove', 'vtep_update', 'vtep_remove', 'ignored', 'malformed'] as const;

test(`decode: ${count * 10} random and mutated messages never throw (seed ${seed})`, () => {
  const rng = mulberry32(seed);
  const seen = new Set<string>();
  for (let i = 0; i < count * 10; i++) {
    const bytes = i % 3 === 0 ? encode(badMessage(rng).msg, i) : garbage(rng, i).bytes;
    const event = decodeReceived(decodeToDataplaneBytes(bytes));
    assert.ok((KINDS as readonly string[]).includes(event.kind), `message ${i}: ${event.kind}`);
    seen.add(event.kind);
    if (event.kind === 'malformed') assert.ok(event.reason.length < 400, `a reason stays short: ${event.reason.length} characters`);
  }
  for (const kind of ['malformed', 'route_update', 'ignored'] as const) assert.ok(seen.has(kind), `the run reached ${kind}`);
});

test(`daemon: ${count} fuzzed messages through a test Felix: no crash, every message counted, bad ones skipped, valid ones applied (seed ${seed})`, { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'egw-fuzz-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'socket');
  const felix = await TestFelix.start(socketPath, { snapshot: {} });
  t.after(() => felix.stop());
  const kernel = new FakeReturnPathKernel();
  const logs: string[] = [];
  const daemon = new Daemon(parseDaemonConfig({ EGRESS_POD_IP: '100.64.2.7', DAEMON_SOCKET_PATH: socketPath, HEALTH_PORT: '0', STATUS_SOCKET: join(dir, 'status.sock') }), {
    kernel,
    logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
  });
  await daemon.start();
  t.after(() => daemon.stop());

  const counted = async (kind?: string): Promise<number> => {
    const m = await daemon.metrics.policySyncMessages.get();
    return m.values.filter((v) => kind === undefined || v.labels['kind'] === kind).reduce((a, v) => a + v.value, 0);
  };
  const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 60_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const routeLines = (): string[] =>
    (kernel.dump().split('# ip neigh')[0] ?? '')
      .split('\n')
      .filter((l) => l.includes(' via '))
      .sort();
  const expectRoutes = (model: ReadonlyMap<string, readonly [string, string]>): string[] =>
    [...model].map(([dst, node]) => `${dst} via ${node[1]} dev vxlan0 onlink proto egress`).sort();

  await until('the first stream in sync', async () => (await counted('in_sync')) === 1);
  const rng = mulberry32(seed);
  let seq = 1;
  let sent = 1;
  const send = (bytes: Buffer): void => {
    felix.sendRaw(bytes);
    sent++;
    seq++;
  };

  // Phase 1: valid updates and removals (their effect is known), bad messages, IPv6 routes the
  // IPv4-only gateway must skip.
  const model = new Map<string, readonly [string, string]>();
  let bad = 0;
  const badNames = new Set<string>();
  for (let i = 0; i < Math.ceil(count / 2); i++) {
    const r = rng();
    const dst = blockDst(int(rng, 0, 63));
    if (r < 0.45) {
      const node = pickOne(rng, NODES);
      model.set(dst, node);
      send(encode(routeUpdate(dst, node), seq));
    } else if (r < 0.55) {
      model.delete(dst);
      send(encode({ route_remove: { dst } }, seq));
    } else if (r < 0.6) {
      send(encode(routeUpdate(`2001:db8:${int(rng, 1, 0xffff).toString(16)}::/64`, ['node6', '2001:db8::6']), seq));
    } else {
      const b = badMessage(rng);
      badNames.add(b.name);
      bad++;
      send(encode(b.msg, seq));
    }
  }
  await until('phase 1 counted', async () => (await counted()) === sent);
  assert.equal(await counted('malformed'), bad, `every bad message is counted as malformed (${[...badNames].join('; ')})`);
  await until('phase 1 applied', async () => {
    await daemon.reconciler.whenIdle();
    return JSON.stringify(routeLines()) === JSON.stringify(expectRoutes(model));
  }).catch((err: unknown) => {
    assert.deepEqual(routeLines(), expectRoutes(model), String(err));
  });
  assert.equal(daemon.reconciler.status().lastReconcile?.ok, true);

  // Phase 2: garbage. Anything may happen to the routes; nothing may crash, every message counts.
  const before = await counted('malformed');
  for (let i = 0; i < Math.floor(count / 2); i++) send(garbage(rng, seq).bytes);
  await until('phase 2 counted', async () => (await counted()) === sent);
  assert.ok((await counted('malformed')) > before, 'garbage produced malformed messages');

  // Phase 3: a new stream whose snapshot is thousands of routes to one node, plus the model: the
  // kernel must end up exactly so, whatever the garbage did.
  const big: RouteUpdateWire[] = [];
  const bigNode = ['node-big', '198.51.100.50'] as const;
  const final = new Map(model);
  for (let i = 0; i < 3000; i++) {
    const dst = `100.65.${Math.floor(i / 256)}.${i % 256}/32`;
    big.push({ type: 1, ip_pool_type: 2, dst, dst_node_name: bigNode[0], dst_node_ip: bigNode[1] });
    final.set(dst, bigNode);
  }
  felix.setSnapshot({ routes: [...[...model].map(([dst, node]) => routeUpdate(dst, node).route_update ?? {}), ...big] });
  const inSyncs = await counted('in_sync');
  felix.endStreams();
  await until('the new snapshot in sync', async () => (await counted('in_sync')) > inSyncs);
  await until('the snapshot applied', async () => {
    await daemon.reconciler.whenIdle();
    return routeLines().length === final.size && daemon.reconciler.status().lastReconcile?.ok === true;
  });
  assert.deepEqual(routeLines(), expectRoutes(final));
  const neighbours = kernel.dump().split('# ip neigh')[1]?.split('# bridge fdb')[0]?.trim().split('\n') ?? [];
  assert.equal(neighbours.length, new Set([...final.values()].map((n) => n[1])).size, 'one neighbour per node');

  await until('ready', async () => daemon.health.tracker.report().ready);
  assert.equal(logs.filter((l) => l.includes('"event":"handler_failed"')).length, 0, 'no handler threw');
  const longest = Math.max(...logs.map((l) => l.length));
  assert.ok(longest < 4096, `no log line grows with the input (longest ${longest} characters)`);
  t.diagnostic(`seed ${seed}: ${sent} messages, ${bad} bad in phase 1, ${await counted('malformed')} malformed in all, ${routeLines().length} routes at the end`);
});
