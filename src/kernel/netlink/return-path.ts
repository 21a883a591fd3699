import type { FdbEntry, NeighbourEntry, ReturnPathEntries, RouteEntry } from '../../model/entries';
import { cidrOf, ipFromBytes, ipv4Value } from '../../model/ip';
import { parseMac } from '../../model/mac';
import {
  MAIN_TABLE,
  RETURN_PATH_ROUTE_PROTOCOL,
  type BatchErrors,
  type Fdb,
  type Neighbours,
  type ReturnPathKernel,
  type Routes,
  type Upsert,
} from '../return-path';
import { RouteEncoder, decodeLink, decodeNeighbour, decodeRoute, familyCode, linkPayload, neighbourPayload, routeDumpPayload, writeNeighbour, type NeighbourMessage } from './codec';
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  EINVAL,
  NDA_DST,
  NDA_LLADDR,
  NDMSG_LEN,
  NLA_TYPE_MASK,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_TABLE,
  RTMSG_LEN,
  ENODEV,
  NTF_SELF,
  NUD_PERMANENT,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTNH_F_ONLINK,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
} from './constants';
import { NetlinkError, NetlinkSession, NlFlags } from './session';
import { RequestWriter } from './writer';

/**
 * The return-path ports over rtnetlink. Requests are written by the codec (./codec.ts) into one
 * RequestWriter buffer per batch call, back to back, as they go on the wire (no buffer per request:
 * that matters at 10k routes). Writes go to the session in batches (`*Many`), one promise per class
 * of entries; the single-entry calls are batches of one. Dump replies are read by the codec.
 */

/** MAC text → bytes, cached: a few hundred nodes' MACs recur across thousands of entries. */
const macCache = new Map<string, Buffer>();
function macBuffer(mac: string): Buffer {
  let b = macCache.get(mac);
  if (b) return b;
  const bytes = parseMac(mac);
  if (!bytes) throw new NetlinkError(EINVAL, `bad MAC address ${JSON.stringify(mac)}`);
  // Its own memory, not a slice of Node's shared pool: it is cached and read for a long time.
  b = Buffer.alloc(6);
  b.set(bytes);
  if (macCache.size > 65_536) macCache.clear();
  macCache.set(mac, b);
  return b;
}

/** The error of a failed batch item, as a value: the batch goes on with the others. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Throws the error of a batch of one, for the single-entry calls. */
function single(errors: BatchErrors): void {
  const err = errors[0];
  if (err) throw err;
}

/**
 * The requests of one batch call, written as the items are walked: request k of the writer is item
 * `at[k]`; an item that could not be encoded has its error in `out` already, and one with nothing to
 * send (undefined) is done.
 */
class Batch {
  readonly writer: RequestWriter;
  readonly at: Int32Array;
  readonly out: (Error | undefined)[];

  constructor(items: number) {
    this.writer = new RequestWriter(items);
    this.at = new Int32Array(items);
    this.out = new Array<Error | undefined>(items).fill(undefined);
  }

  /** Marks the request just written as item i's. */
  wrote(i: number): void {
    this.at[this.writer.count - 1] = i;
  }

  /**
   * Writes item i's request for device `dev` with `write(ifindex)`. A device that does not exist fails
   * an add (`missing` = 'fail') with its lookup error, and leaves a removal done (`missing` = 'done':
   * the device's entries went with it); an item that cannot be encoded fails alone.
   */
  writeOn(i: number, dev: string, indices: ReadonlyMap<string, number | Error>, missing: 'fail' | 'done', write: (ifindex: number) => void): void {
    const ifindex = indices.get(dev);
    if (typeof ifindex !== 'number') {
      if (missing === 'fail') this.out[i] = ifindex ?? new NetlinkError(ENODEV, `no device named ${dev}`);
      return;
    }
    try {
      write(ifindex);
      this.wrote(i);
    } catch (err) {
      this.out[i] = asError(err);
    }
  }

  /** Sends what was written and merges the results; a "not found" errno in `goneCodes` is success. */
  async send(session: NetlinkSession, describe: (i: number) => string, goneCodes: readonly string[] = []): Promise<BatchErrors> {
    const { out, at } = this;
    if (this.writer.count === 0) return out;
    const errors = await session.requestEncoded(this.writer.done(), (k) => describe(at[k] ?? -1));
    for (let k = 0; k < errors.length; k++) {
      const err = errors[k];
      if (!err) continue;
      // Removing what is already gone is done.
      if (err instanceof NetlinkError && goneCodes.includes(err.code)) continue;
      out[at[k] as number] = err;
    }
    return out;
  }
}

/** Device names ↔ indices. Refreshed on every listing, and when a name is not known (recreated device). */
export class LinkIndex {
  private byName = new Map<string, number>();
  private byIndex = new Map<number, string>();
  /** The dump under way: a full resync lists all three classes at once, and one link dump serves them. */
  private refreshing: Promise<void> | undefined;

  constructor(private readonly session: NetlinkSession) {}

  refresh(): Promise<void> {
    this.refreshing ??= this.dumpLinks().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async dumpLinks(): Promise<void> {
    const replies = await this.session.dump(RTM_GETLINK, linkPayload({}), 'RTM_GETLINK dump');
    const byName = new Map<string, number>();
    const byIndex = new Map<number, string>();
    for (const r of replies) {
      const link = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
      if (link?.name === undefined) continue;
      byName.set(link.name, link.index);
      byIndex.set(link.index, link.name);
    }
    this.byName = byName;
    this.byIndex = byIndex;
  }

  /** The index of `name` as of the last listing, without asking the kernel. */
  indexOfKnown(name: string): number | undefined {
    return this.byName.get(name);
  }

  async indexOf(name: string): Promise<number> {
    let index = this.byName.get(name);
    if (index === undefined) {
      await this.refresh();
      index = this.byName.get(name);
    }
    if (index === undefined) throw new NetlinkError(ENODEV, `no device named ${name}`);
    return index;
  }

  nameOf(index: number): string | undefined {
    return this.byIndex.get(index);
  }
}

/** Device indices for the devices `entries` name; a device that does not exist maps to its error. */
async function indicesOf(links: LinkIndex, devs: Iterable<string>): Promise<Map<string, number | Error>> {
  const out = new Map<string, number | Error>();
  for (const dev of devs) {
    if (out.has(dev)) continue;
    try {
      out.set(dev, await links.indexOf(dev));
    } catch (err) {
      out.set(dev, asError(err));
    }
  }
  return out;
}

function devsOf(xs: readonly { readonly dev: string }[]): Set<string> {
  const s = new Set<string>();
  for (const x of xs) s.add(x.dev);
  return s;
}

export class NetlinkRoutes implements Routes {
  constructor(
    private readonly session: NetlinkSession,
    private readonly links: LinkIndex,
    private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL,
  ) {}

  async list(): Promise<RouteEntry[]> {
    await this.links.refresh();
    const replies = await this.session.dump(RTM_GETROUTE, routeDumpPayload(), 'RTM_GETROUTE dump');
    const out: RouteEntry[] = [];
    for (const r of replies) {
      // Cheap checks on the fixed header first: most of a dump may be routes of others.
      const d = r.data;
      if (r.type !== RTM_NEWROUTE || d.length < 12 || d.readUInt8(5) !== this.protocol || d.readUInt8(7) !== RTN_UNICAST) continue;
      const m = decodeRoute(d);
      if (!m || (m.family !== AF_INET && m.family !== AF_INET6) || m.table !== MAIN_TABLE) continue;
      const dstIp = m.dst ?? ipFromBytes(new Uint8Array(m.family === AF_INET ? 4 : 16));
      const dev = m.oif === undefined ? undefined : this.links.nameOf(m.oif);
      out.push({
        dst: cidrOf(dstIp, m.dstLen),
        ...(m.gateway ? { gateway: m.gateway } : {}),
        // A multipath or device-less route of ours is still ours; an odd name makes it differ and be fixed.
        dev: dev ?? (m.oif === undefined ? '(none)' : `(ifindex ${m.oif})`),
        onlink: (m.flags & RTNH_F_ONLINK) !== 0,
      });
    }
    return out;
  }

  async upsert(route: RouteEntry, existing?: RouteEntry): Promise<void> {
    single(await this.upsertMany([existing ? { entry: route, existing } : { entry: route }]));
  }

  async remove(route: RouteEntry): Promise<void> {
    single(await this.removeMany([route]));
  }

  async upsertMany(items: readonly Upsert<RouteEntry>[]): Promise<BatchErrors> {
    const oifs = await indicesOf(this.links, devsOf(items.map((i) => i.entry)));
    const b = new Batch(items.length);
    const encoder = new RouteEncoder();
    for (let i = 0; i < items.length; i++) {
      const { entry: route, existing } = items[i] as Upsert<RouteEntry>;
      const oif = oifs.get(route.dev);
      if (typeof oif !== 'number') {
        b.out[i] = oif ?? new NetlinkError(ENODEV, `no device named ${route.dev}`);
        continue;
      }
      // Create exclusively: a route we do not own with the same destination fails with EEXIST instead
      // of being overwritten. Replace only when the kernel holds our own route under that key.
      const flags = NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL);
      const scope = route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
      const fields = { family: route.dst.family, table: MAIN_TABLE, protocol: this.protocol, scope, type: RTN_UNICAST, flags: route.onlink ? RTNH_F_ONLINK : 0 };
      encoder.write(b.writer, RTM_NEWROUTE, flags, fields, route.dst, oif, route.gateway);
      b.wrote(i);
    }
    return b.send(this.session, (i) => `RTM_NEWROUTE ${items[i]?.entry.dst.text ?? '?'}`);
  }

  async removeMany(routes: readonly RouteEntry[]): Promise<BatchErrors> {
    const oifs = await indicesOf(this.links, devsOf(routes));
    const b = new Batch(routes.length);
    const encoder = new RouteEncoder();
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i] as RouteEntry;
      const oif = oifs.get(route.dev);
      // The protocol makes the kernel match only our route, never a foreign one with the same dst;
      // with the device gone, dst and protocol alone.
      const fields = { family: route.dst.family, table: MAIN_TABLE, protocol: this.protocol, scope: RT_SCOPE_NOWHERE, type: 0, flags: 0 };
      encoder.write(b.writer, RTM_DELROUTE, 0, fields, route.dst, typeof oif === 'number' ? oif : undefined, route.gateway);
      b.wrote(i);
    }
    return b.send(this.session, (i) => `RTM_DELROUTE ${routes[i]?.dst.text ?? '?'}`, ['ESRCH', 'ENOENT']);
  }
}

/** Every neighbour entry of one family (AF_INET, AF_INET6, or AF_BRIDGE for FDB entries). */
export async function dumpNeighbours(session: NetlinkSession, family: number): Promise<NeighbourMessage[]> {
  const replies = await session.dump(RTM_GETNEIGH, neighbourPayload({ family }), `RTM_GETNEIGH dump (family ${family})`);
  const out: NeighbourMessage[] = [];
  for (const r of replies) {
    const n = r.type === RTM_NEWNEIGH ? decodeNeighbour(r.data) : undefined;
    if (n) out.push(n);
  }
  return out;
}

export class NetlinkNeighbours implements Neighbours {
  constructor(
    private readonly session: NetlinkSession,
    private readonly links: LinkIndex,
  ) {}

  async list(dev: string): Promise<NeighbourEntry[]> {
    await this.links.refresh();
    let ifindex: number;
    try {
      ifindex = await this.links.indexOf(dev);
    } catch {
      return []; // no device, no neighbours on it
    }
    const all = [...(await dumpNeighbours(this.session, AF_INET)), ...(await dumpNeighbours(this.session, AF_INET6))];
    const out: NeighbourEntry[] = [];
    for (const n of all) {
      if (n.ifindex !== ifindex || !(n.state & NUD_PERMANENT) || !n.dst || !n.lladdr) continue;
      out.push({ ip: n.dst, mac: n.lladdr, dev });
    }
    return out;
  }

  async upsert(n: NeighbourEntry): Promise<void> {
    single(await this.upsertMany([{ entry: n }]));
  }

  async remove(n: NeighbourEntry): Promise<void> {
    single(await this.removeMany([n]));
  }

  async upsertMany(items: readonly Upsert<NeighbourEntry>[]): Promise<BatchErrors> {
    const indices = await indicesOf(this.links, devsOf(items.map((i) => i.entry)));
    const b = new Batch(items.length);
    items.forEach(({ entry: n }, i) =>
      b.writeOn(i, n.dev, indices, 'fail', (ifindex) =>
        // Replace: a learned (non-permanent) entry for the same address must become ours.
        writeNeighbour(b.writer, RTM_NEWNEIGH, NlFlags.CREATE | NlFlags.REPLACE, familyCode(n.ip.family), ifindex, NUD_PERMANENT, 0, n.ip, macBuffer(n.mac)),
      ),
    );
    return b.send(this.session, (i) => `RTM_NEWNEIGH ${items[i]?.entry.ip.text ?? '?'}`);
  }

  async removeMany(ns: readonly NeighbourEntry[]): Promise<BatchErrors> {
    const indices = await indicesOf(this.links, devsOf(ns));
    const b = new Batch(ns.length);
    ns.forEach((n, i) =>
      b.writeOn(i, n.dev, indices, 'done', (ifindex) => writeNeighbour(b.writer, RTM_DELNEIGH, 0, familyCode(n.ip.family), ifindex, 0, 0, n.ip, undefined)),
    );
    return b.send(this.session, (i) => `RTM_DELNEIGH ${ns[i]?.ip.text ?? '?'}`, ['ENOENT', 'ESRCH']);
  }
}

export class NetlinkFdb implements Fdb {
  constructor(
    private readonly session: NetlinkSession,
    private readonly links: LinkIndex,
  ) {}

  async list(dev: string): Promise<FdbEntry[]> {
    await this.links.refresh();
    let ifindex: number;
    try {
      ifindex = await this.links.indexOf(dev);
    } catch {
      return [];
    }
    const out: FdbEntry[] = [];
    for (const n of await dumpNeighbours(this.session, AF_BRIDGE)) {
      if (n.ifindex !== ifindex || !(n.flags & NTF_SELF) || !(n.state & NUD_PERMANENT) || !n.dst || !n.lladdr) continue;
      // The all-zero MAC is the device's default destination, which the gateway never programs.
      if (n.lladdr === '00:00:00:00:00:00') continue;
      out.push({ mac: n.lladdr, dst: n.dst, dev });
    }
    return out;
  }

  async upsert(f: FdbEntry): Promise<void> {
    single(await this.upsertMany([{ entry: f }]));
  }

  async remove(f: FdbEntry): Promise<void> {
    single(await this.removeMany([f]));
  }

  async upsertMany(items: readonly Upsert<FdbEntry>[]): Promise<BatchErrors> {
    const indices = await indicesOf(this.links, devsOf(items.map((i) => i.entry)));
    const b = new Batch(items.length);
    items.forEach(({ entry: f }, i) =>
      b.writeOn(i, f.dev, indices, 'fail', (ifindex) =>
        // On a VXLAN device, REPLACE rewrites the remote of an existing entry for this MAC.
        writeNeighbour(b.writer, RTM_NEWNEIGH, NlFlags.CREATE | NlFlags.REPLACE, AF_BRIDGE, ifindex, NUD_PERMANENT, NTF_SELF, f.dst, macBuffer(f.mac)),
      ),
    );
    return b.send(this.session, (i) => `RTM_NEWNEIGH fdb ${items[i]?.entry.mac ?? '?'}`);
  }

  async removeMany(fs: readonly FdbEntry[]): Promise<BatchErrors> {
    const indices = await indicesOf(this.links, devsOf(fs));
    const b = new Batch(fs.length);
    fs.forEach((f, i) =>
      b.writeOn(i, f.dev, indices, 'done', (ifindex) => writeNeighbour(b.writer, RTM_DELNEIGH, 0, AF_BRIDGE, ifindex, 0, NTF_SELF, f.dst, macBuffer(f.mac))),
    );
    return b.send(this.session, (i) => `RTM_DELNEIGH fdb ${fs[i]?.mac ?? '?'}`, ['ENOENT', 'ESRCH']);
  }
}

/** The three ports over one session, sharing one device index. */
export class NetlinkReturnPath implements ReturnPathKernel {
  readonly routes: NetlinkRoutes;
  readonly neighbours: NetlinkNeighbours;
  readonly fdb: NetlinkFdb;
  readonly links: LinkIndex;

  constructor(
    readonly session: NetlinkSession,
    private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL,
  ) {
    this.links = new LinkIndex(session);
    this.routes = new NetlinkRoutes(session, this.links, protocol);
    this.neighbours = new NetlinkNeighbours(session, this.links);
    this.fdb = new NetlinkFdb(session, this.links);
  }

  /**
   * The same three dumps a full read makes, summed up where the messages lie (nothing decoded into
   * objects): the owned routes (protocol, main table, unicast) and the permanent neighbour and FDB
   * entries on the device, each by the fields `list` reads, filtered as `list` filters them. The sum
   * does not depend on order, so `digest` can compute it from values. At 50k routes this is the
   * dumps' kernel time and one pass over their bytes, where a list builds ~10 objects per route.
   */
  async fingerprint(vxlanDevice: string): Promise<string> {
    await this.links.refresh();
    const dev = this.links.indexOfKnown(vxlanDevice) ?? -1;
    const sum = new EntrySum();
    const protocol = this.protocol;
    await this.session.dumpEach(RTM_GETROUTE, routeDumpPayload(), 'RTM_GETROUTE dump', (type, _flags, b, start, end) => {
      if (type !== RTM_NEWROUTE || end - start < RTMSG_LEN || b[start + 5] !== protocol || b[start + 7] !== RTN_UNICAST) return;
      const family = b[start] as number;
      if (family !== AF_INET && family !== AF_INET6) return;
      let table = b[start + 4] as number;
      let dst = -1;
      let dstLen = 0;
      let gw = -1;
      let gwLen = 0;
      let oif = -1;
      for (let off = start + RTMSG_LEN; off + 4 <= end; ) {
        const len = b.readUInt16LE(off);
        if (len < 4 || off + len > end) break;
        const at = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
        if (at === RTA_TABLE && len >= 8) table = b.readUInt32LE(off + 4);
        else if (at === RTA_DST && (len === 8 || len === 20)) [dst, dstLen] = [off + 4, len - 4];
        else if (at === RTA_GATEWAY && (len === 8 || len === 20)) [gw, gwLen] = [off + 4, len - 4];
        else if (at === RTA_OIF && len >= 8) oif = b.readUInt32LE(off + 4);
        off += (len + 3) & ~3;
      }
      if (table !== MAIN_TABLE) return;
      sum.route(family, b[start + 1] as number, (b.readUInt32LE(start + 8) & RTNH_F_ONLINK) !== 0, b, dst, dst < 0 ? (family === AF_INET ? 4 : 16) : dstLen, b, gw, gwLen, oif);
    });
    for (const family of [AF_INET, AF_INET6, AF_BRIDGE]) {
      await this.session.dumpEach(RTM_GETNEIGH, neighbourPayload({ family }), `RTM_GETNEIGH dump (family ${family})`, (type, _flags, b, start, end) => {
        if (type !== RTM_NEWNEIGH || end - start < NDMSG_LEN || b.readInt32LE(start + 4) !== dev || !(b.readUInt16LE(start + 8) & NUD_PERMANENT)) return;
        if (family === AF_BRIDGE && !((b[start + 10] as number) & NTF_SELF)) return;
        let dst = -1;
        let dstLen = 0;
        let mac = -1;
        for (let off = start + NDMSG_LEN; off + 4 <= end; ) {
          const len = b.readUInt16LE(off);
          if (len < 4 || off + len > end) break;
          const at = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
          if (at === NDA_DST && (len === 8 || len === 20)) [dst, dstLen] = [off + 4, len - 4];
          else if (at === NDA_LLADDR && len === 10) mac = off + 4;
          off += (len + 3) & ~3;
        }
        if (dst < 0 || mac < 0) return;
        if (family === AF_BRIDGE) {
          // As `list`: the all-zero MAC is the device's default destination, not an entry of ours.
          if (b.readUInt32LE(mac) === 0 && b.readUInt16LE(mac + 4) === 0) return;
          sum.fdb(b, dst, dstLen, b, mac);
        } else sum.neighbour(family, b, dst, dstLen, b, mac);
      });
    }
    return sum.text();
  }

  /** What `fingerprint` gives when the kernel holds exactly `entries` (the held maps) as owned entries. */
  async digest(entries: ReturnPathEntries, vxlanDevice: string): Promise<string> {
    await this.links.refresh();
    const sum = new EntrySum();
    let lastDev: string | undefined;
    let lastOif = -1;
    for (const r of entries.routes) {
      if (r.dev !== lastDev) [lastDev, lastOif] = [r.dev, this.links.indexOfKnown(r.dev) ?? -1];
      const gateway = r.gateway;
      if (r.dst.family === 4 && (!gateway || gateway.family === 4)) {
        // From the texts' values: `bytes` would allocate two arrays per route (100k per resync at 50k).
        sum.routeV4(r.dst.prefixLength, r.onlink, ipv4Value(r.dst.address.text), gateway ? ipv4Value(gateway.text) : undefined, lastOif);
        continue;
      }
      const dst = r.dst.address.bytes;
      const gw = gateway?.bytes;
      sum.route(familyCode(r.dst.family), r.dst.prefixLength, r.onlink, dst, 0, dst.length, gw ?? dst, gw ? 0 : -1, gw?.length ?? 0, lastOif);
    }
    for (const n of entries.neighbours) {
      if (n.dev !== vxlanDevice) continue;
      const ip = n.ip.bytes;
      sum.neighbour(familyCode(n.ip.family), ip, 0, ip.length, macBuffer(n.mac), 0);
    }
    for (const f of entries.fdb) {
      if (f.dev !== vxlanDevice) continue;
      const ip = f.dst.bytes;
      sum.fdb(ip, 0, ip.length, macBuffer(f.mac), 0);
    }
    return sum.text();
  }

  close(): void {
    this.session.close();
  }
}

/** An address's 32-bit value (first byte highest) as `bytes` reads its four bytes: a little-endian word. */
function littleEndian(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/**
 * A digest of a set of entries that does not depend on their order: each entry is hashed on its
 * own (two 32-bit running hashes, FNV-1a and a multiply-rotate one, over its fields as words) and
 * the hashes are added up, with the count. Fed from a dump's bytes or from values alike. Not for
 * adversaries: a collision only delays the repair of drift to a resync whose digest differs.
 */
class EntrySum {
  private sumA = 0;
  private sumB = 0;
  private n = 0;
  private a = 0;
  private b = 0;

  route(family: number, dstLen: number, onlink: boolean, dstBuf: Uint8Array, dst: number, dstBytes: number, gwBuf: Uint8Array, gw: number, gwBytes: number, oif: number): void {
    this.begin(0x52);
    this.word(family | (dstLen << 8) | (onlink ? 1 << 16 : 0));
    if (dst < 0) this.zeros(dstBytes);
    else this.bytes(dstBuf, dst, dstBytes);
    if (gw < 0) this.word(0);
    else {
      this.word(1);
      this.bytes(gwBuf, gw, gwBytes);
    }
    this.word(oif);
    this.end();
  }

  /** `route` of an IPv4 route, its addresses as 32-bit values (the same sum as their 4 bytes). */
  routeV4(dstLen: number, onlink: boolean, dst: number, gw: number | undefined, oif: number): void {
    this.begin(0x52);
    this.word(AF_INET | (dstLen << 8) | (onlink ? 1 << 16 : 0));
    this.word(littleEndian(dst));
    if (gw === undefined) this.word(0);
    else {
      this.word(1);
      this.word(littleEndian(gw));
    }
    this.word(oif);
    this.end();
  }

  neighbour(family: number, ipBuf: Uint8Array, ip: number, ipBytes: number, macBuf: Uint8Array, mac: number): void {
    this.begin(0x4e);
    this.word(family);
    this.bytes(ipBuf, ip, ipBytes);
    this.bytes(macBuf, mac, 6);
    this.end();
  }

  fdb(ipBuf: Uint8Array, ip: number, ipBytes: number, macBuf: Uint8Array, mac: number): void {
    this.begin(0x46);
    this.bytes(ipBuf, ip, ipBytes);
    this.bytes(macBuf, mac, 6);
    this.end();
  }

  text(): string {
    return `${(this.sumA >>> 0).toString(16)}${(this.sumB >>> 0).toString(16).padStart(8, '0')}/${this.n}`;
  }

  private begin(kind: number): void {
    this.a = 0x811c9dc5;
    this.b = 0x9747b28c;
    this.word(kind);
  }

  private end(): void {
    this.sumA = (this.sumA + this.a) | 0;
    this.sumB = (this.sumB + this.b) | 0;
    this.n++;
  }

  private word(v: number): void {
    this.a = Math.imul(this.a ^ v, 0x01000193);
    const b = Math.imul(this.b ^ v, 0x5bd1e995);
    this.b = (b << 13) | (b >>> 19);
  }

  /** `count` bytes from `off`, little-endian words, the last one zero-padded. */
  private bytes(buf: Uint8Array, off: number, count: number): void {
    for (let i = 0; i < count; i += 4) {
      let v = 0;
      for (let k = 0; k < 4 && i + k < count; k++) v |= (buf[off + i + k] as number) << (8 * k);
      this.word(v);
    }
  }

  private zeros(count: number): void {
    for (let i = 0; i < count; i += 4) this.word(0);
  }
}
