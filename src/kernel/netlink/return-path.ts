import type { FdbEntry, NeighbourEntry, RouteEntry } from '../../dataplane/entries';
import { cidrOf, ipFromBytes, type Family, type IpAddress } from '../../model/ip';
import { formatMac, parseMac } from '../../model/mac';
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
import { parseAttributes, stringAttribute } from './attributes';
import { NetlinkError, NetlinkSession, NlFlags } from './session';
import { RequestWriter } from './writer';

/**
 * The return-path ports over rtnetlink. Requests are written here, byte by byte, by a RequestWriter
 * into one buffer per batch call, back to back, as they go on the wire (header, family header,
 * attributes; no buffer per request): the `netlink` package maps some header fields to names and
 * drops others (RTNH_F_ONLINK lives in rtm_flags, which it does not name), and its attribute streams
 * cost several small buffers per message, which matters at 10k routes. Writes go to the session in
 * batches (`*Many`), one promise per class of entries; the single-entry calls are batches of one.
 * Dump replies are read with the project's one attribute parser (./attributes.ts).
 */

const RTM_GETLINK = 18;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_GETROUTE = 26;
const RTM_NEWNEIGH = 28;
const RTM_DELNEIGH = 29;
const RTM_GETNEIGH = 30;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_BRIDGE = 7;
const AF_INET6 = 10;

const RTN_UNICAST = 1;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
/** In rtm_flags, not in a nexthop: the kernel copies it to the route's single nexthop. */
const RTNH_F_ONLINK = 0x4;

const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;

const ENODEV = 19;

function familyCode(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

function ipFromBuffer(b: Buffer | undefined): IpAddress | undefined {
  if (!b || (b.length !== 4 && b.length !== 16)) return undefined;
  return ipFromBytes(Uint8Array.from(b));
}

function rtmsg(f: { family: number; dstLen: number; table: number; protocol: number; scope: number; type: number; flags: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(f.family, 0);
  b.writeUInt8(f.dstLen, 1);
  b.writeUInt8(f.table < 256 ? f.table : 252 /* RT_TABLE_COMPAT: the real id is in RTA_TABLE */, 4);
  b.writeUInt8(f.protocol, 5);
  b.writeUInt8(f.scope, 6);
  b.writeUInt8(f.type, 7);
  b.writeUInt32LE(f.flags, 8);
  return b;
}

function ndmsg(f: { family: number; ifindex: number; state: number; flags: number }): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(f.family, 0);
  b.writeInt32LE(f.ifindex, 4);
  b.writeUInt16LE(f.state, 8);
  b.writeUInt8(f.flags, 10);
  return b;
}

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_TABLE = 15;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const IFLA_IFNAME = 3;

/** A host-order u32 attribute's value; undefined when absent or too short. */
function u32Of(b: Buffer | undefined): number | undefined {
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/**
 * What every route message of one shape (message type and flags, family, protocol, scope, type,
 * rtm_flags, whether it names a device, the gateway's family) has in common: a whole request with
 * zeroed prefix length, addresses and device, and where those go. A batch copies it per route and
 * writes only those.
 */
class RouteShape {
  readonly bytes: Buffer;
  readonly dstAt: number;
  readonly oifAt: number;
  readonly gatewayAt: number;

  constructor(
    readonly type: number,
    readonly flags: number,
    readonly family: Family,
    readonly protocol: number,
    readonly scope: number,
    readonly rtType: number,
    readonly rtFlags: number,
    readonly withOif: boolean,
    readonly gateway: Family | 0,
  ) {
    const w = new RequestWriter(1);
    const at = w.begin(type, flags, 12);
    w.u8(at, familyCode(family));
    w.u8(at + 4, MAIN_TABLE < 256 ? MAIN_TABLE : 252 /* RT_TABLE_COMPAT: the real id is in RTA_TABLE */);
    w.u8(at + 5, protocol);
    w.u8(at + 6, scope);
    w.u8(at + 7, rtType);
    w.u32(at + 8, rtFlags);
    w.attrU32(RTA_TABLE, MAIN_TABLE);
    const addrLen = family === 4 ? 4 : 16;
    w.attrBytes(RTA_DST, new Uint8Array(addrLen));
    this.dstAt = 16 + 12 + 8 + 4;
    let next = this.dstAt + addrLen;
    this.oifAt = -1;
    if (withOif) {
      w.attrU32(RTA_OIF, 0);
      this.oifAt = next + 4;
      next += 8;
    }
    this.gatewayAt = -1;
    if (gateway !== 0) {
      w.attrBytes(RTA_GATEWAY, new Uint8Array(gateway === 4 ? 4 : 16));
      this.gatewayAt = next + 4;
    }
    w.finish();
    this.bytes = Buffer.from(w.done().bytes);
  }

  is(type: number, flags: number, family: Family, protocol: number, scope: number, rtType: number, rtFlags: number, withOif: boolean, gateway: Family | 0): boolean {
    return (
      this.type === type &&
      this.flags === flags &&
      this.family === family &&
      this.protocol === protocol &&
      this.scope === scope &&
      this.rtType === rtType &&
      this.rtFlags === rtFlags &&
      this.withOif === withOif &&
      this.gateway === gateway
    );
  }
}

/** The shapes of one batch call: one or a few (IPv4, IPv6, with and without gateway). */
class RouteShapes {
  private readonly shapes: RouteShape[] = [];
  private last: RouteShape | undefined;

  get(type: number, flags: number, family: Family, protocol: number, scope: number, rtType: number, rtFlags: number, withOif: boolean, gateway: Family | 0): RouteShape {
    const last = this.last;
    if (last?.is(type, flags, family, protocol, scope, rtType, rtFlags, withOif, gateway)) return last;
    let shape = this.shapes.find((s) => s.is(type, flags, family, protocol, scope, rtType, rtFlags, withOif, gateway));
    if (!shape) {
      shape = new RouteShape(type, flags, family, protocol, scope, rtType, rtFlags, withOif, gateway);
      this.shapes.push(shape);
    }
    this.last = shape;
    return shape;
  }
}

/**
 * The one route message encoder, for RTM_NEWROUTE and RTM_DELROUTE alike: rtmsg, then table, dst,
 * oif (when known) and gateway attributes; a copy of the route's shape with its own values written in.
 */
function writeRoute(w: RequestWriter, shapes: RouteShapes, type: number, flags: number, route: RouteEntry, protocol: number, scope: number, rtType: number, rtFlags: number, oif: number | undefined): void {
  const gateway = route.gateway;
  const shape = shapes.get(type, flags, route.dst.family, protocol, scope, rtType, rtFlags, oif !== undefined, gateway?.family ?? 0);
  const at = w.beginFrom(shape.bytes);
  w.u8(at + 16 + 1, route.dst.prefixLength);
  w.ipAt(at + shape.dstAt, route.dst.address);
  if (oif !== undefined) w.u32(at + shape.oifAt, oif);
  if (gateway) w.ipAt(at + shape.gatewayAt, gateway);
  w.finish();
}

/** The one neighbour message encoder (ARP/NDP and FDB entries alike): ndmsg, dst, and the MAC when given. */
function writeNeighbour(w: RequestWriter, type: number, flags: number, family: number, ifindex: number, state: number, ndFlags: number, dst: IpAddress, mac: Buffer | undefined): void {
  const at = w.begin(type, flags, 12);
  w.u8(at, family);
  w.i32(at + 4, ifindex);
  w.u16(at + 8, state);
  w.u8(at + 10, ndFlags);
  w.attrIp(NDA_DST, dst);
  if (mac) w.attrBytes(NDA_LLADDR, mac);
  w.finish();
}

/** MAC text → bytes, cached: a few hundred nodes' MACs recur across thousands of entries. */
const macCache = new Map<string, Buffer>();
function macBuffer(mac: string): Buffer {
  let b = macCache.get(mac);
  if (b) return b;
  const bytes = parseMac(mac);
  if (!bytes) throw new NetlinkError(22 /* EINVAL */, `bad MAC address ${JSON.stringify(mac)}`);
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
    const replies = await this.session.dump(RTM_GETLINK, Buffer.alloc(16), 'RTM_GETLINK dump');
    const byName = new Map<string, number>();
    const byIndex = new Map<number, string>();
    for (const r of replies) {
      if (r.type !== 16 /* RTM_NEWLINK */ || r.data.length < 16) continue;
      const index = r.data.readInt32LE(4);
      const nameBytes = parseAttributes(r.data.subarray(16), 'lenient').get(IFLA_IFNAME);
      if (nameBytes === undefined) continue;
      const ifname = stringAttribute(nameBytes);
      byName.set(ifname, index);
      byIndex.set(index, ifname);
    }
    this.byName = byName;
    this.byIndex = byIndex;
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

function devsOf<T extends { readonly dev: string }>(xs: readonly T[]): Set<string> {
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
    const replies = await this.session.dump(RTM_GETROUTE, rtmsg({ family: AF_UNSPEC, dstLen: 0, table: 0, protocol: 0, scope: 0, type: 0, flags: 0 }), 'RTM_GETROUTE dump');
    const out: RouteEntry[] = [];
    for (const r of replies) {
      if (r.type !== RTM_NEWROUTE || r.data.length < 12) continue;
      const d = r.data;
      const family = d.readUInt8(0);
      if ((family !== AF_INET && family !== AF_INET6) || d.readUInt8(5) !== this.protocol || d.readUInt8(7) !== RTN_UNICAST) continue;
      const attrs = parseAttributes(d.subarray(12), 'lenient');
      if ((u32Of(attrs.get(RTA_TABLE)) ?? d.readUInt8(4)) !== MAIN_TABLE) continue;
      const dstLen = d.readUInt8(1);
      const dstIp = ipFromBuffer(attrs.get(RTA_DST)) ?? ipFromBytes(new Uint8Array(family === AF_INET ? 4 : 16));
      const oif = u32Of(attrs.get(RTA_OIF));
      const dev = oif === undefined ? undefined : this.links.nameOf(oif);
      const gateway = ipFromBuffer(attrs.get(RTA_GATEWAY));
      out.push({
        dst: cidrOf(dstIp, dstLen),
        ...(gateway ? { gateway } : {}),
        // A multipath or device-less route of ours is still ours; an odd name makes it differ and be fixed.
        dev: dev ?? (oif === undefined ? '(none)' : `(ifindex ${oif})`),
        onlink: (d.readUInt32LE(8) & RTNH_F_ONLINK) !== 0,
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
    const shapes = new RouteShapes();
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
      writeRoute(b.writer, shapes, RTM_NEWROUTE, flags, route, this.protocol, scope, RTN_UNICAST, route.onlink ? RTNH_F_ONLINK : 0, oif);
      b.wrote(i);
    }
    return b.send(this.session, (i) => `RTM_NEWROUTE ${items[i]?.entry.dst.text ?? '?'}`);
  }

  async removeMany(routes: readonly RouteEntry[]): Promise<BatchErrors> {
    const oifs = await indicesOf(this.links, devsOf(routes));
    const b = new Batch(routes.length);
    const shapes = new RouteShapes();
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i] as RouteEntry;
      const oif = oifs.get(route.dev);
      // The protocol makes the kernel match only our route, never a foreign one with the same dst;
      // with the device gone, dst and protocol alone.
      writeRoute(b.writer, shapes, RTM_DELROUTE, 0, route, this.protocol, RT_SCOPE_NOWHERE, 0, 0, typeof oif === 'number' ? oif : undefined);
      b.wrote(i);
    }
    return b.send(this.session, (i) => `RTM_DELROUTE ${routes[i]?.dst.text ?? '?'}`, ['ESRCH', 'ENOENT']);
  }
}

interface NdEntry {
  readonly family: number;
  readonly ifindex: number;
  readonly state: number;
  readonly flags: number;
  readonly dst?: IpAddress;
  readonly lladdr?: string;
}

async function dumpNeighbours(session: NetlinkSession, family: number): Promise<NdEntry[]> {
  const replies = await session.dump(RTM_GETNEIGH, ndmsg({ family, ifindex: 0, state: 0, flags: 0 }), `RTM_GETNEIGH dump (family ${family})`);
  const out: NdEntry[] = [];
  for (const r of replies) {
    if (r.type !== RTM_NEWNEIGH || r.data.length < 12) continue;
    const attrs = parseAttributes(r.data.subarray(12), 'lenient');
    const dst = ipFromBuffer(attrs.get(NDA_DST));
    const lladdr = attrs.get(NDA_LLADDR);
    out.push({
      family: r.data.readUInt8(0),
      ifindex: r.data.readInt32LE(4),
      state: r.data.readUInt16LE(8),
      flags: r.data.readUInt8(10),
      ...(dst ? { dst } : {}),
      ...(lladdr && lladdr.length === 6 ? { lladdr: formatMac(lladdr) } : {}),
    });
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

  constructor(readonly session: NetlinkSession) {
    this.links = new LinkIndex(session);
    this.routes = new NetlinkRoutes(session, this.links);
    this.neighbours = new NetlinkNeighbours(session, this.links);
    this.fdb = new NetlinkFdb(session, this.links);
  }

  close(): void {
    this.session.close();
  }
}
