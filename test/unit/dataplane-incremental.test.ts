import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredReturnPath, type ReturnPathOptions } from '../../src/dataplane/desired';
import { diffReturnPath, planOperations, type ReturnPathEntries } from '../../src/dataplane/diff';
import { formatFdb, formatNeighbour, formatRoute } from '../../src/dataplane/entries';
import { NodeParts } from '../../src/dataplane/node-parts';
import { RouteStore } from '../../src/dataplane/route-store';
import { ReturnPathReconciler, type ReconcileResult } from '../../src/dataplane/reconciler';
import { FakeReturnPathKernel } from '../../src/kernel/fake-return-path';
import { FakeClock } from '../../src/model/clock';
import type { FelixRoute, FelixVtep, IpPoolType, RouteKind, SyncEvent } from '../../src/model/felix';
import { ev, gatewayOptions, ip, prng, route } from './dataplane-fixtures';

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

function desiredText(d: ReturnPathEntries): string {
  return [...d.routes.map(formatRoute).sort(), '--', ...d.neighbours.map(formatNeighbour).sort(), '--', ...d.fdb.map(formatFdb).sort()].join('\n');
}

async function replay(seed: number, opts: ReturnPathOptions, dual: boolean, steps: number): Promise<{ incremental: number; full: number }> {
  const rand = prng(seed);
  const kernel = new FakeReturnPathKernel();
  const clock = new FakeClock();
  const results: ReconcileResult[] = [];
  const r = new ReturnPathReconciler({ kernel, returnPath: opts, clock, wallClock: () => clock.now(), onReconciled: (x) => results.push(x) });
  const model = new Model();
  r.start();
  for (let i = 0; i < 30; i++) {
    const e = randomEvent(rand, dual);
    model.apply(e);
    r.apply(e);
  }
  r.apply(ev.inSync());
  clock.advance(0);
  await r.whenIdle();
  let prev = desiredReturnPath(model.routes.values(), model.vteps.values(), opts);
  assert.equal(await kernelText(kernel), desiredText(prev), `seed ${seed}: after in_sync`);
  const counts = { incremental: 0, full: 0 };

  for (let step = 0; step < steps; step++) {
    const where = `seed ${seed}, step ${step}`;
    if (rand() < 0.03) {
      // A write that fails: the next pass is a full one, after which passes are incremental again.
      kernel.inject({ cls: pick(['route', 'neighbour', 'fdb'] as const, rand), op: 'upsert', errno: 'ENOBUFS' });
    }
    const burst = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < burst; i++) {
      const e = randomEvent(rand, dual);
      model.apply(e);
      r.apply(e);
    }
    const before = results.length;
    for (let guard = 0; guard < 50; guard++) {
      clock.advance(results.length > before && results[results.length - 1]?.ok === false ? 30_000 : 2);
      await r.whenIdle();
      if (results.length > before && results[results.length - 1]?.ok) break;
    }
    const ran = results.slice(before);
    const last = ran[ran.length - 1];
    const want = desiredReturnPath(model.routes.values(), model.vteps.values(), opts);
    const changes = planOperations(diffReturnPath(prev, want));
    if (changes > 0) assert.ok(last?.ok, `${where}: a clean pass ran`);
    assert.equal(await kernelText(kernel), desiredText(want), `${where}: kernel equals the full desired state`);
    // Without failures in between, one pass wrote exactly what changed: no key was rewritten needlessly.
    if (ran.length === 1 && last?.ok && !last.full) assert.equal(last.operations, changes, `${where}: writes`);
    for (const x of ran) if (x.ok) counts[x.full ? 'full' : 'incremental']++;
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

test('incremental passes after random updates leave the kernel equal to the full desired state (IPv4)', async () => {
  let incremental = 0;
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) incremental += (await replay(seed, v4, false, 150)).incremental;
  assert.ok(incremental > 500, `most passes were incremental (${incremental})`);
});

test('incremental passes after random updates leave the kernel equal to the full desired state (dual-stack)', async () => {
  let incremental = 0;
  for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) incremental += (await replay(seed, dual, true, 150)).incremental;
  assert.ok(incremental > 500, `most passes were incremental (${incremental})`);
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
  const counts = { blocks: 0, wholeParts: 0 };
  for (const seed of [21, 22, 23, 24, 25, 26]) {
    const c = partsReplay(seed, v4, false, 300).counts;
    counts.blocks += c.blocks;
    counts.wholeParts += c.wholeParts;
  }
  for (const seed of [31, 32, 33, 34, 35, 36]) {
    const c = partsReplay(seed, dual, true, 300).counts;
    counts.blocks += c.blocks;
    counts.wholeParts += c.wholeParts;
  }
  assert.ok(counts.blocks > 500, `blocks updated one by one: ${counts.blocks}`);
  assert.ok(counts.wholeParts > 500, `parts recomputed whole: ${counts.wholeParts}`);
});
