import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredReturnPath, type IncumbentLookup, type ReturnPathOptions } from '../../src/dataplane/desired';
import { diffReturnPath, planOperations, type ReturnPathEntries } from '../../src/dataplane/diff';
import { formatFdb, formatNeighbour, formatRoute } from '../../src/model/entries';
import { NodeParts } from '../../src/dataplane/node-parts';
import { RouteStore } from '../../src/dataplane/route-store';
import { ReturnPathReconciler, type ReconcileResult } from '../../src/dataplane/reconciler';
import { FakeReturnPathKernel } from '../../src/fakes/return-path';
import { FakeClock } from '../../src/model/clock';
import type { FelixRoute, FelixVtep, IpPoolType, RouteKind, SyncEvent } from '../../src/model/felix';
import { cidr, ev, gatewayOptions, ip, prng, route } from './dataplane-fixtures';

/**
 * Passes after live updates recompute only the nodes that changed and diff only their keys. This
 * replays seeded random update/remove sequences (blocks moving between nodes, VTEPs and tunnel
 * routes coming and going, nodes sharing an address or a tunnel /32 landing on another node's
 * block, IPv6 blocks over an IPv4 underlay) and after every pass compares the kernel with the
 * full desired state computed afresh, and the pass's writes with the least that change needs.
 */

const NODES = ['node1', 'node3', 'node4', 'node5', 'node6'];

function pick<T>(xs: readonly T[], rand: () => number): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

function randomEvent(rand: () => number, dual: boolean): SyncEvent {
  const node = pick(NODES, rand);
  const n = NODES.indexOf(node) + 1;
  // Node addresses are mostly the node's own, sometimes another's: two nodes claiming one address.
  const addr = rand() < 0.95 ? n : 1 + Math.floor(rand() * 6);
  // Tunnel addresses likewise: mostly the node's own, sometimes another's or on another's block.
  const tun = rand() < 0.9 ? 20 + n : 20 + Math.floor(rand() * 6);
  const pool = pick<IpPoolType>(['none', 'vxlan', 'ipip', 'none'], rand);
  const x = rand();
  if (x < 0.45) {
    const six = dual && rand() < 0.3;
    // Few destinations, so updates hit existing blocks (moving them between nodes) and removes hit.
    const block = Math.floor(rand() * 12);
    const dst = six
      ? `2001:db8:${block}::/122`
      : rand() < 0.04
        ? `100.64.${20 + (block % 6)}.1/32` // may equal some node's tunnel address
        : `100.64.${block}.0/26`; // 100.64.2.0/26 holds the gateway itself
    const nodeIp = six ? `2001:db8:ff::${addr}` : `198.51.100.${addr}`;
    const kinds: RouteKind[] = rand() < 0.1 ? ['local_workload'] : ['remote_workload'];
    const tunnel = rand() < 0.2 ? { vxlan: true } : {};
    return ev.update(route(dst, kinds, rand() < 0.03 ? '' : node, rand() < 0.03 ? undefined : nodeIp, { pool, tunnel }));
  }
  if (x < 0.65) {
    const block = Math.floor(rand() * 12);
    const dst = dual && rand() < 0.3 ? `2001:db8:${block}::/122` : rand() < 0.3 ? `100.64.${20 + (block % 6)}.1/32` : `100.64.${block}.0/26`;
    return ev.remove(dst);
  }
  if (x < 0.75) {
    // A tunnel host route naming the node (the tunnel address when no VTEP names one).
    const t = tun;
    const kinds: RouteKind[] = ['remote_tunnel'];
    return rand() < 0.7
      ? ev.update(route(`100.64.${t}.1/32`, kinds, node, `198.51.100.${addr}`, { tunnel: rand() < 0.5 ? { vxlan: true } : { ipip: true } }))
      : ev.remove(`100.64.${t}.1/32`);
  }
  if (x < 0.9) {
    const vtep: FelixVtep = {
      node,
      mac: '66:00:00:00:00:01',
      ...(rand() < 0.8 ? { ipv4Addr: ip(`100.64.${tun}.1`) } : {}),
      ...(rand() < 0.7 ? { parentDeviceIp: ip(`198.51.100.${addr}`) } : {}),
      ...(dual && rand() < 0.5 ? { ipv6Addr: ip(`2001:db8:fe::${n}`), parentDeviceIpv6: ip(`2001:db8:ff::${addr}`) } : {}),
    };
    return ev.vtep(vtep);
  }
  return ev.vtepRemove(node);
}

/** What Felix told, kept by the test itself (not by the reconciler's store). */
class Model {
  readonly routes = new Map<string, FelixRoute>();
  readonly vteps = new Map<string, FelixVtep>();
  apply(e: SyncEvent): void {
    if (e.kind === 'route_update') this.routes.set(e.route.dst.text, e.route);
    else if (e.kind === 'route_remove') this.routes.delete(e.dst.text);
    else if (e.kind === 'vtep_update') this.vteps.set(e.vtep.node, e.vtep);
    else if (e.kind === 'vtep_remove') this.vteps.delete(e.node);
  }
}

async function kernelText(k: FakeReturnPathKernel): Promise<string> {
  const routes = (await k.routes.list()).map(formatRoute).sort();
  const neighs = (await k.neighbours.list('vxlan0')).map(formatNeighbour).sort();
  const fdb = (await k.fdb.list('vxlan0')).map(formatFdb).sort();
  return [...routes, '--', ...neighs, '--', ...fdb].join('\n');
}

/**
 * Who holds each node address in the fake kernel now (its neighbour entry's MAC). Two nodes claiming
 * one address is settled in favour of the holder (desired.ts), so the full desired state is computed
 * with the kernel's own holders: an intact kernel is then its fixed point.
 */
async function holders(k: FakeReturnPathKernel): Promise<IncumbentLookup> {
  const byIp = new Map((await k.neighbours.list('vxlan0')).map((n) => [n.ip.text, n.mac]));
  return (address) => byIp.get(address.text);
}

function desiredText(d: ReturnPathEntries): string {
  return [...d.routes.map(formatRoute).sort(), '--', ...d.neighbours.map(formatNeighbour).sort(), '--', ...d.fdb.map(formatFdb).sort()].join('\n');
}

/** Counts of what the fake kernel holds as the gateway's own, per class. */
async function kernelCounts(k: FakeReturnPathKernel): Promise<{ routes: number; neighbours: number; fdb: number }> {
  return { routes: (await k.routes.list()).length, neighbours: (await k.neighbours.list('vxlan0')).length, fdb: (await k.fdb.list('vxlan0')).length };
}

/**
 * Someone else changes the kernel behind the reconciler's back (returns false when there was
 * nothing to change): deletes one of its entries, rewrites one, or adds an owned entry the desired
 * state does not have, or a second one under a key it has.
 */
async function drift(k: FakeReturnPathKernel, rand: () => number): Promise<boolean> {
  const routes = await k.routes.list();
  const neighbours = await k.neighbours.list('vxlan0');
  const fdb = await k.fdb.list('vxlan0');
  const x = rand();
  if (x < 0.25 && routes.length > 0) await k.routes.remove(pick(routes, rand));
  else if (x < 0.4 && neighbours.length > 0) await k.neighbours.upsert({ ...pick(neighbours, rand), mac: '66:00:00:00:00:99' });
  else if (x < 0.55 && fdb.length > 0) await k.fdb.remove(pick(fdb, rand));
  else if (x < 0.7) k.seed({ route: { dst: cidr(`100.64.${40 + Math.floor(rand() * 4)}.0/26`), gateway: ip('198.51.100.9'), dev: 'vxlan0', onlink: true } });
  else if (x < 0.85 && routes.length > 0) k.seed({ route: { ...pick(routes, rand), gateway: ip('198.51.100.9') } });
  else if (fdb.length > 0) k.seed({ fdb: { ...pick(fdb, rand), dst: ip('198.51.100.9') } });
  else return false;
  return true;
}

interface ReplayCounts {
  incremental: number;
  full: number;
  /** Steps where one full pass (resync, a new stream's in_sync, requestResync) ran alone, cleanly, without drift before it. */
  cleanFull: number;
}

/**
 * Live updates mixed with every kind of full pass: the periodic resync, requestResync, a new
 * stream's snapshot (with updates arriving while it is collected), the retry after a failed write,
 * and drift made by others that the next full pass must repair. After every step the kernel must
 * hold the full desired state computed afresh, the reconciler's counts must be what the kernel
 * holds, and a pass that followed a clean one must have written exactly what changed.
 */
async function replay(seed: number, opts: ReturnPathOptions, dual: boolean, steps: number): Promise<ReplayCounts> {
  const rand = prng(seed);
  const kernel = new FakeReturnPathKernel();
  const clock = new FakeClock();
  const results: ReconcileResult[] = [];
  const r = new ReturnPathReconciler({ kernel, returnPath: opts, clock, wallClock: () => clock.now(), onReconciled: (x) => results.push(x) });
  let model = new Model();
  r.start();
  for (let i = 0; i < 30; i++) {
    const e = randomEvent(rand, dual);
    model.apply(e);
    r.apply(e);
  }
  r.apply(ev.inSync());
  clock.advance(0);
  await r.whenIdle();
  let prev = desiredReturnPath(model.routes.values(), model.vteps.values(), opts, await holders(kernel));
  assert.equal(await kernelText(kernel), desiredText(prev), `seed ${seed}: after in_sync`);
  const counts: ReplayCounts = { incremental: 0, full: 0, cleanFull: 0 };

  for (let step = 0; step < steps; step++) {
    const where = `seed ${seed}, step ${step}`;
    /** No drift made by others this step (a failed write shows as a failed pass among those that ran). */
    let clean = true;
    if (rand() < 0.03) {
      // A write that fails: the next pass is a full one, after which passes are incremental again.
      // (It fails only when a pass writes that class; the failed pass shows among those that ran.)
      kernel.inject({ cls: pick(['route', 'neighbour', 'fdb'] as const, rand), op: 'upsert', errno: 'ENOBUFS' });
    }
    const before = results.length;
    const x = rand();
    if (x < 0.06) {
      // A new stream: its snapshot (most of what Felix had, and some changes) replaces the routes at
      // in_sync; updates that arrive before then belong to the snapshot.
      r.streamStarted();
      const snapshot = new Model();
      const events: SyncEvent[] = [];
      for (const route of model.routes.values()) if (rand() < 0.85) events.push(ev.update(route));
      for (const vtep of model.vteps.values()) if (rand() < 0.85) events.push(ev.vtep(vtep));
      for (let i = Math.floor(rand() * 6); i > 0; i--) events.push(randomEvent(rand, dual));
      for (const e of events) {
        snapshot.apply(e);
        r.apply(e);
      }
      if (rand() < 0.5) clock.advance(2); // nothing may run before in_sync
      assert.equal(results.length, before, `${where}: no pass before the new stream's in_sync`);
      r.apply(ev.inSync());
      model = snapshot;
    } else if (x < 0.1 && (await drift(kernel, rand))) {
      clean = false;
      r.requestResync('drift');
    } else if (x < 0.14) {
      r.requestResync('requested');
    } else if (x < 0.2) {
      // The periodic resync comes due, with or without updates queued behind it.
      clock.advance(30_000);
    }
    const burst = Math.floor(rand() * 4);
    for (let i = 0; i < burst; i++) {
      const e = randomEvent(rand, dual);
      model.apply(e);
      r.apply(e);
    }
    // Until passes stop coming (a pass may have run while updates queued behind it) and the last was clean.
    for (let guard = 0; guard < 50; guard++) {
      const n = results.length;
      clock.advance(results.length > before && results[results.length - 1]?.ok === false ? 30_000 : 2);
      await r.whenIdle();
      if (results.length === n && (n === before || results[n - 1]?.ok)) break;
    }
    const ran = results.slice(before);
    const last = ran[ran.length - 1];
    const want = desiredReturnPath(model.routes.values(), model.vteps.values(), opts, await holders(kernel));
    const changes = planOperations(diffReturnPath(prev, want));
    if (changes > 0 || !clean) assert.ok(last?.ok, `${where}: a clean pass ran`);
    assert.equal(await kernelText(kernel), desiredText(want), `${where}: kernel equals the full desired state`);
    assert.deepEqual(r.programmedCounts(), await kernelCounts(kernel), `${where}: counts are what the kernel holds`);
    // Without failures or drift in between, one pass wrote exactly what changed: no key was
    // rewritten needlessly, by an incremental pass or a full one.
    if (ran.length === 1 && last?.ok && clean) assert.equal(last.operations, changes, `${where}: writes`);
    for (const p of ran) if (p.ok) counts[p.full ? 'full' : 'incremental']++;
    if (ran.length === 1 && last?.ok && last.full && clean) counts.cleanFull++;
    prev = want;
  }
  await r.stop();
  return counts;
}

const v4: ReturnPathOptions = { ...gatewayOptions, underlayGateway: ip('169.254.1.1') };
const dual: ReturnPathOptions = {
  ...gatewayOptions,
  gatewayIps: [ip('100.64.2.7'), ip('2001:db8:2::7')],
  families: new Set([4, 6] as const),
};

async function replayAll(seeds: readonly number[], opts: ReturnPathOptions, isDual: boolean): Promise<void> {
  const total: ReplayCounts = { incremental: 0, full: 0, cleanFull: 0 };
  for (const seed of seeds) {
    const c = await replay(seed, opts, isDual, 150);
    total.incremental += c.incremental;
    total.full += c.full;
    total.cleanFull += c.cleanFull;
  }
  assert.ok(total.incremental > 400, `most passes were incremental (${total.incremental})`);
  assert.ok(total.cleanFull > 50, `full passes mixed in, held to their writes too (${total.cleanFull} of ${total.full})`);
}

test('incremental passes mixed with resyncs, new streams, failures and drift leave the kernel equal to the full desired state (IPv4)', async () => {
  await replayAll([1, 2, 3, 4, 5, 6, 7, 8], v4, false);
});

test('incremental passes mixed with resyncs, new streams, failures and drift leave the kernel equal to the full desired state (dual-stack)', async () => {
  await replayAll([11, 12, 13, 14, 15, 16, 17, 18], dual, true);
});

/**
 * The parts themselves, updated block by block where a node's context (outer destination, tunnel
 * route, whether it has an FDB entry) stays the same: after every burst their union must equal the
 * full computation whenever no key has two owners. Also checks both paths really ran.
 */
function partsReplay(seed: number, opts: ReturnPathOptions, dual: boolean, steps: number): NodeParts {
  const rand = prng(seed);
  const store = new RouteStore();
  for (let i = 0; i < 30; i++) store.apply(randomEvent(rand, dual));
  store.apply(ev.inSync());
  store.takeDirty();
  const parts = new NodeParts(store, opts);
  let compared = 0;
  for (let step = 0; step < steps; step++) {
    const burst = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < burst; i++) store.apply(randomEvent(rand, dual));
    parts.update(store.takeDirty());
    if (parts.clashes) continue;
    compared++;
    const want = desiredReturnPath(store.routes(), store.vteps(), opts);
    assert.equal(desiredText(parts.all()), desiredText(want), `seed ${seed}, step ${step}: union of parts`);
  }
  assert.ok(compared > steps / 3, `seed ${seed}: compared ${compared} of ${steps} steps`);
  return parts;
}

test('parts updated block by block equal the full desired state (IPv4 and dual-stack)', () => {
  for (const seed of [21, 22, 23, 24, 25, 26]) partsReplay(seed, v4, false, 300);
  for (const seed of [31, 32, 33, 34, 35, 36]) partsReplay(seed, dual, true, 300);
});
