import type { IpAddress } from '../model/ip';
import {
  formatNexthop,
  formatNexthopGroup,
  formatRule,
  formatTableRoute,
  type NexthopEntry,
  type NexthopGroupEntry,
  type RuleEntry,
  type TableRouteEntry,
} from '../model/policy-routing';
import type { NexthopListing, PolicyRouting } from '../kernel/policy-routing';
import type { BatchErrors, Upsert } from '../kernel/return-path';

/**
 * A stateful in-memory kernel for the steering's policy routing, with the kernel's rules that
 * matter to fail-closed: a route must name an existing nexthop (an IPv6 route, one of IPv6 nexthops); a nexthop must be on an existing
 * device; deleting a nexthop takes it out of its groups, a group left empty is deleted, and a route
 * whose nexthop is deleted goes with it; deleting a device deletes its nexthops (and so on). It
 * keeps foreign entries too (seed*), prints itself like iproute2 (`dump()`), logs every write, and
 * fails chosen operations on request (`failNext`).
 */

type Op = 'addRule' | 'removeRule' | 'upsertRoute' | 'removeRoute' | 'upsertNexthop' | 'upsertGroup' | 'removeNexthop';

function errnoError(code: string, what: string): NodeJS.ErrnoException {
  const err = new Error(`${code} (${what})`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

interface Owned<T> {
  readonly entry: T;
  readonly owned: boolean;
}

export class FakePolicyRouting implements PolicyRouting {
  private rules: Owned<RuleEntry>[] = [];
  private routes: Owned<TableRouteEntry>[] = [];
  private readonly nexthops = new Map<number, Owned<NexthopEntry>>();
  private readonly groups = new Map<number, Owned<NexthopGroupEntry>>();
  private readonly failures: Array<{ op: Op; code: string; match?: string }> = [];
  /** Devices that exist, with the addresses they hold. */
  readonly devices = new Map<string, string[]>([['eth0', []]]);
  /** Every successful write, in order. */
  readonly writes: string[] = [];

  /** The next operation `op` (on an entry whose printed form contains `match`) fails with `code`. */
  failNext(op: Op, code: string, match?: string): void {
    this.failures.push({ op, code, ...(match !== undefined ? { match } : {}) });
  }

  seedRule(r: RuleEntry, owned = false): void {
    this.rules.push({ entry: r, owned });
  }

  seedRoute(r: TableRouteEntry, owned = false): void {
    this.routes.push({ entry: r, owned });
  }

  seedNexthop(n: NexthopEntry, owned = false): void {
    this.nexthops.set(n.id, { entry: n, owned });
  }

  /** Deletes a device as someone else would (`ip link del`), with what the kernel deletes with it. */
  deleteDevice(name: string): void {
    this.devices.delete(name);
    for (const [id, n] of this.nexthops) if (n.entry.dev === name) this.dropNexthop(id);
    this.routes = this.routes.filter((r) => !(r.entry.type === 'device' && r.entry.dev === name));
  }

  /** As someone else would: `ip rule del`, `ip route del`, `ip nexthop del`. */
  externalRemoveRule(match: (r: RuleEntry) => boolean): void {
    this.rules = this.rules.filter((r) => !match(r.entry));
  }

  externalRemoveRoute(match: (r: TableRouteEntry) => boolean): void {
    this.routes = this.routes.filter((r) => !match(r.entry));
  }

  externalRemoveNexthop(id: number): void {
    this.dropNexthop(id);
  }

  /** Rules, routes (by table), nexthops and groups, as iproute2 lists them; owned ones marked "proto 69". */
  dump(): string {
    const mark = (owned: boolean): string => (owned ? ' proto 69' : '');
    const lines: string[] = [];
    for (const r of [...this.rules].sort((a, b) => a.entry.priority - b.entry.priority)) lines.push(`rule ${formatRule(r.entry)}${mark(r.owned)}`);
    for (const r of [...this.routes].sort((a, b) => a.entry.table - b.entry.table || cmp(a.entry.dst.text, b.entry.dst.text) || a.entry.metric - b.entry.metric)) {
      lines.push(`route ${formatTableRoute(r.entry)}${mark(r.owned)}`);
    }
    for (const [, n] of [...this.nexthops].sort((a, b) => a[0] - b[0])) lines.push(`nexthop ${formatNexthop(n.entry)}${mark(n.owned)}`);
    for (const [, g] of [...this.groups].sort((a, b) => a[0] - b[0])) lines.push(`nexthop ${formatNexthopGroup(g.entry)}${mark(g.owned)}`);
    return lines.join('\n') + (lines.length ? '\n' : '');
  }

  async listRules(): Promise<RuleEntry[]> {
    return this.rules.filter((r) => r.owned).map((r) => r.entry);
  }

  async addRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    return rules.map((r) =>
      this.attempt('addRule', formatRule(r), () => {
        if (this.rules.some((h) => formatRule(h.entry) === formatRule(r))) throw errnoError('EEXIST', formatRule(r));
        this.rules.push({ entry: r, owned: true });
        this.writes.push(`add rule ${formatRule(r)}`);
      }),
    );
  }

  async removeRules(rules: readonly RuleEntry[]): Promise<BatchErrors> {
    return rules.map((r) =>
      this.attempt('removeRule', formatRule(r), () => {
        const i = this.rules.findIndex((h) => h.owned && formatRule(h.entry) === formatRule(r));
        if (i < 0) return; // already gone: done
        this.rules.splice(i, 1);
        this.writes.push(`del rule ${formatRule(r)}`);
      }),
    );
  }

  async listTableRoutes(): Promise<TableRouteEntry[]> {
    return this.routes.filter((r) => r.owned).map((r) => r.entry);
  }

  async upsertTableRoutes(items: readonly Upsert<TableRouteEntry>[]): Promise<BatchErrors> {
    return items.map(({ entry, existing }) =>
      this.attempt('upsertRoute', formatTableRoute(entry), () => {
        if (entry.type === 'nexthop' && !this.nexthops.has(entry.nexthopId ?? -1) && !this.groups.has(entry.nexthopId ?? -1)) {
          throw errnoError('EINVAL', `nexthop id ${entry.nexthopId ?? '?'} does not exist`);
        }
        if (entry.type === 'device' && !this.devices.has(entry.dev ?? '')) throw errnoError('ENODEV', `no device named ${entry.dev ?? '?'}`);
        // The kernel's rule (measured on 6.18): an IPv4 route may use IPv6 nexthops, not the reverse.
        if (entry.type === 'nexthop' && entry.dst.family === 6 && this.hasIpv4Nexthop(entry.nexthopId ?? -1)) {
          throw errnoError('EINVAL', 'IPv6 routes can not use an IPv4 nexthop');
        }
        const key = routeKey(entry);
        const i = this.routes.findIndex((h) => routeKey(h.entry) === key);
        const held = this.routes[i];
        if (held && (!held.owned || !existing)) throw errnoError('EEXIST', formatTableRoute(entry));
        if (held) this.routes[i] = { entry, owned: true };
        else this.routes.push({ entry, owned: true });
        this.writes.push(`${held ? 'replace' : 'add'} route ${formatTableRoute(entry)}`);
      }),
    );
  }

  async removeTableRoutes(routes: readonly TableRouteEntry[]): Promise<BatchErrors> {
    return routes.map((r) =>
      this.attempt('removeRoute', formatTableRoute(r), () => {
        const i = this.routes.findIndex((h) => h.owned && formatTableRoute(h.entry) === formatTableRoute(r));
        if (i < 0) return;
        this.routes.splice(i, 1);
        this.writes.push(`del route ${formatTableRoute(r)}`);
      }),
    );
  }

  async listNexthops(): Promise<NexthopListing> {
    const foreignIds = [...this.nexthops.values(), ...this.groups.values()].filter((n) => !n.owned).map((n) => n.entry.id);
    return {
      nexthops: [...this.nexthops.values()].filter((n) => n.owned).map((n) => n.entry),
      groups: [...this.groups.values()].filter((g) => g.owned).map((g) => g.entry),
      foreignIds,
    };
  }

  async upsertNexthops(items: readonly Upsert<NexthopEntry>[]): Promise<BatchErrors> {
    return items.map(({ entry, existing }) =>
      this.attempt('upsertNexthop', formatNexthop(entry), () => {
        if (!this.devices.has(entry.dev)) throw errnoError('ENODEV', `no device named ${entry.dev}`);
        const held = this.nexthops.get(entry.id);
        if (this.groups.has(entry.id) || (held && (!held.owned || !existing))) throw errnoError('EEXIST', formatNexthop(entry));
        this.nexthops.set(entry.id, { entry, owned: true });
        this.writes.push(`${held ? 'replace' : 'add'} nexthop ${formatNexthop(entry)}`);
      }),
    );
  }

  async upsertGroups(items: readonly Upsert<NexthopGroupEntry>[]): Promise<BatchErrors> {
    return items.map(({ entry, existing }) =>
      this.attempt('upsertGroup', formatNexthopGroup(entry), () => {
        for (const m of entry.members) if (!this.nexthops.has(m)) throw errnoError('EINVAL', `member nexthop id ${m} does not exist`);
        const held = this.groups.get(entry.id);
        if (this.nexthops.has(entry.id) || (held && (!held.owned || !existing))) throw errnoError('EEXIST', formatNexthopGroup(entry));
        if (held && held.entry.buckets !== entry.buckets) throw errnoError('EINVAL', 'cannot change the number of buckets of a resilient group');
        this.groups.set(entry.id, { entry, owned: true });
        this.writes.push(`${held ? 'replace' : 'add'} nexthop ${formatNexthopGroup(entry)}`);
      }),
    );
  }

  async removeNexthops(ids: readonly number[]): Promise<BatchErrors> {
    return ids.map((id) =>
      this.attempt('removeNexthop', `id ${id}`, () => {
        if (!this.nexthops.has(id) && !this.groups.has(id)) return;
        this.dropNexthop(id);
        this.writes.push(`del nexthop id ${id}`);
      }),
    );
  }

  async deviceWithAddress(ip: IpAddress): Promise<string | undefined> {
    for (const [name, addrs] of this.devices) if (addrs.includes(ip.text)) return name;
    return undefined;
  }

  private hasIpv4Nexthop(id: number): boolean {
    const ids = this.groups.get(id)?.entry.members ?? [id];
    return ids.some((m) => this.nexthops.get(m)?.entry.gateway.family === 4);
  }

  /** The kernel's cascade: routes using the id go; a single leaves its groups; an emptied group goes too. */
  private dropNexthop(id: number): void {
    this.nexthops.delete(id);
    this.groups.delete(id);
    this.routes = this.routes.filter((r) => r.entry.nexthopId !== id);
    for (const [gid, g] of [...this.groups]) {
      if (!g.entry.members.includes(id)) continue;
      const members = g.entry.members.filter((m) => m !== id);
      if (members.length === 0) this.dropNexthop(gid);
      else this.groups.set(gid, { entry: { ...g.entry, members }, owned: g.owned });
    }
  }

  private attempt(op: Op, text: string, fn: () => void): Error | undefined {
    const i = this.failures.findIndex((f) => f.op === op && (f.match === undefined || text.includes(f.match)));
    if (i >= 0) {
      const f = this.failures.splice(i, 1)[0] as { code: string };
      return errnoError(f.code, text);
    }
    try {
      fn();
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }
}

function routeKey(r: TableRouteEntry): string {
  return `${r.table} ${r.dst.text} ${r.metric}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
