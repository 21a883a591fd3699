/**
 * Runs the return-path adapters inside a network namespace. A Node process cannot enter a namespace
 * itself, so the kernel test starts this script under `ip netns exec NS node …`, feeds it steps as
 * JSON on stdin and reads one JSON result per step from stdout. Each run is a fresh process: a
 * second run is exactly a daemon restarted on a kernel that holds what the first run programmed.
 */
import { formatFdb, formatNeighbour, formatRoute, type FdbEntry, type NeighbourEntry, type RouteEntry } from '../../../src/model/entries';
import { ReturnPathReconciler } from '../../../src/dataplane/reconciler';
import { NetlinkReturnPath } from '../../../src/kernel/netlink/return-path';
import { NetlinkSession } from '../../../src/kernel/netlink/session';
import type { IpPoolType, RouteKind, SyncEvent } from '../../../src/model/felix';
import { cidr, ev, ip, route, vtep } from '../../unit/dataplane-fixtures';

export interface RouteSpec {
  readonly dst: string;
  readonly kinds: RouteKind[];
  readonly node: string;
  readonly nodeIp?: string;
  readonly pool?: IpPoolType;
}

export interface EntrySpec {
  readonly route?: { dst: string; gateway?: string; dev: string; onlink: boolean };
  readonly neighbour?: { ip: string; mac: string; dev: string };
  readonly fdb?: { mac: string; dst: string; dev: string };
  /** For a route upsert: the kernel already holds our route under this key (replace, not create). */
  readonly replace?: boolean;
}

export type Step =
  | { readonly op: 'reconcile'; readonly routes: RouteSpec[]; readonly vteps?: { node: string; addr: string; parent: string }[] }
  | { readonly op: 'list' }
  | { readonly op: 'fingerprint' }
  | { readonly op: 'bulk'; readonly action: 'upsert' | 'remove'; readonly routes: NonNullable<EntrySpec['route']>[] }
  | ({ readonly op: 'upsert' | 'remove' } & EntrySpec);

export interface StepResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly code?: string;
  readonly operations?: number;
  readonly full?: boolean;
  readonly listed?: string[];
  /** For a fingerprint step. */
  readonly print?: string;
  /** For a bulk step: the error message of each entry that failed, in entry order. */
  readonly errors?: string[];
  /** For a bulk step: datagrams the session sent for it. */
  readonly datagrams?: number;
}

function toRoute(r: NonNullable<EntrySpec['route']>): RouteEntry {
  return { dst: cidr(r.dst), ...(r.gateway ? { gateway: ip(r.gateway) } : {}), dev: r.dev, onlink: r.onlink };
}
function toNeighbour(n: NonNullable<EntrySpec['neighbour']>): NeighbourEntry {
  return { ip: ip(n.ip), mac: n.mac, dev: n.dev };
}
function toFdb(f: NonNullable<EntrySpec['fdb']>): FdbEntry {
  return { mac: f.mac, dst: ip(f.dst), dev: f.dev };
}

async function runStep(kernel: NetlinkReturnPath, step: Step): Promise<StepResult> {
  switch (step.op) {
    case 'list': {
      const listed = [
        ...(await kernel.routes.list()).map((r) => `route ${formatRoute(r)}`),
        ...(await kernel.neighbours.list('vxlan0')).map((n) => `neigh ${formatNeighbour(n)}`),
        ...(await kernel.fdb.list('vxlan0')).map((f) => `fdb ${formatFdb(f)}`),
      ].sort();
      return { ok: true, listed };
    }
    case 'fingerprint': {
      // The kernel's fingerprint, and the digest of what a full read lists: equal when they agree.
      const print = await kernel.fingerprint('vxlan0');
      const listed = { routes: await kernel.routes.list(), neighbours: await kernel.neighbours.list('vxlan0'), fdb: await kernel.fdb.list('vxlan0') };
      return { ok: true, print, ...(print === (await kernel.digest(listed, 'vxlan0')) ? {} : { error: 'the fingerprint is not the digest of what list() read' }) };
    }
    case 'bulk': {
      // One batch call, as a reconcile pass makes: many datagrams, one promise.
      const routes = step.routes.map(toRoute);
      const before = kernel.session.datagramsSent;
      const errors = step.action === 'upsert' ? await kernel.routes.upsertMany(routes.map((entry) => ({ entry }))) : await kernel.routes.removeMany(routes);
      return { ok: errors.every((e) => !e), errors: errors.flatMap((e) => (e ? [e.message] : [])), datagrams: kernel.session.datagramsSent - before };
    }
    case 'upsert':
    case 'remove': {
      try {
        if (step.route) {
          const r = toRoute(step.route);
          await (step.op === 'upsert' ? kernel.routes.upsert(r, step.replace ? r : undefined) : kernel.routes.remove(r));
        }
        if (step.neighbour) await kernel.neighbours[step.op](toNeighbour(step.neighbour));
        if (step.fdb) await kernel.fdb[step.op](toFdb(step.fdb));
        return { ok: true };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { ok: false, error: e.message, ...(e.code ? { code: e.code } : {}) };
      }
    }
    case 'reconcile': {
      const r = new ReturnPathReconciler({
        kernel,
        returnPath: { gatewayIp: ip('100.64.2.7'), vxlanDevice: 'vxlan0', underlayDevice: 'eth0' },
      });
      const events: SyncEvent[] = [
        ...step.routes.map((s) => ev.update(route(s.dst, s.kinds, s.node, s.nodeIp, s.pool ? { pool: s.pool } : {}))),
        ...(step.vteps ?? []).map((v) => ev.vtep(vtep(v.node, v.addr, v.parent))),
        ev.inSync(),
      ];
      r.streamStarted();
      for (const e of events) r.apply(e);
      const result = await r.reconcileNow('test');
      if (!result) return { ok: false, error: 'not in sync' };
      return {
        ok: result.ok,
        operations: result.operations,
        full: result.full,
        ...(result.error ? { error: result.error.errors.map((e) => e.message).join('\n') } : {}),
      };
    }
  }
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const steps = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Step[];
  const kernel = new NetlinkReturnPath(new NetlinkSession());
  const results: StepResult[] = [];
  try {
    for (const s of steps) results.push(await runStep(kernel, s));
  } finally {
    kernel.close();
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err: unknown) => {
  process.stderr.write(`netlink-driver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
