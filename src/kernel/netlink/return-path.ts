import { rt } from 'netlink';
import type { FdbEntry, NeighbourEntry, RouteEntry } from '../../dataplane/entries';
import { cidrOf, ipFromBytes, type Family, type IpAddress } from '../../model/ip';
import { formatMac, parseMac } from '../../model/mac';
import { MAIN_TABLE, RETURN_PATH_ROUTE_PROTOCOL, type Fdb, type Neighbours, type ReturnPathKernel, type Routes } from '../return-path';
import { NetlinkError, NetlinkSession, NlFlags } from './session';

/**
 * The return-path ports over rtnetlink. Requests are written here, byte by byte, into one buffer
 * each: the `netlink` package maps some header fields to names and drops others (RTNH_F_ONLINK lives
 * in rtm_flags, which it does not name), and its attribute streams cost several small buffers per
 * message, which matters at 10k routes. Replies are decoded with the package's codecs.
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

/** A fixed header followed by attributes (type, value), each padded to 4 bytes, in one buffer. */
function message(header: Buffer, attrs: readonly (readonly [number, Uint8Array])[]): Buffer {
  let size = header.length;
  for (const [, v] of attrs) size += (4 + v.length + 3) & ~3;
  const out = Buffer.alloc(size);
  header.copy(out, 0);
  let off = header.length;
  for (const [type, v] of attrs) {
    out.writeUInt16LE(4 + v.length, off);
    out.writeUInt16LE(type, off + 2);
    out.set(v, off + 4);
    off += (4 + v.length + 3) & ~3;
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

function macBuffer(mac: string): Buffer {
  const bytes = parseMac(mac);
  if (!bytes) throw new NetlinkError(22 /* EINVAL */, `bad MAC address ${JSON.stringify(mac)}`);
  return Buffer.from(bytes);
}

/** Device names ↔ indices. Refreshed on every listing, and when a name is not known (recreated device). */
export class LinkIndex {
  private byName = new Map<string, number>();
  private byIndex = new Map<number, string>();

  constructor(private readonly session: NetlinkSession) {}

  async refresh(): Promise<void> {
    const replies = await this.session.dump(RTM_GETLINK, Buffer.alloc(16), 'RTM_GETLINK dump');
    const byName = new Map<string, number>();
    const byIndex = new Map<number, string>();
    for (const r of replies) {
      if (r.type !== 16 /* RTM_NEWLINK */ || r.data.length < 16) continue;
      const index = r.data.readInt32LE(4);
      const { attrs } = rt.parseLinkMessage(r.data);
      if (attrs.ifname === undefined) continue;
      byName.set(attrs.ifname, index);
      byIndex.set(index, attrs.ifname);
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

/** Swallows the "already gone" errno of a removal: removing what is not there is done. */
async function removal(op: Promise<void>, goneCodes: readonly string[]): Promise<void> {
  try {
    await op;
  } catch (err) {
    if (err instanceof NetlinkError && goneCodes.includes(err.code)) return;
    throw err;
  }
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
      const attrs = rt.parseRouteAttrs(d.subarray(12));
      if ((attrs.table ?? d.readUInt8(4)) !== MAIN_TABLE) continue;
      const dstLen = d.readUInt8(1);
      const dstIp = ipFromBuffer(attrs.dst) ?? ipFromBytes(new Uint8Array(family === AF_INET ? 4 : 16));
      const dev = attrs.oif === undefined ? undefined : this.links.nameOf(attrs.oif);
      const gateway = ipFromBuffer(attrs.gateway);
      out.push({
        dst: cidrOf(dstIp, dstLen),
        ...(gateway ? { gateway } : {}),
        // A multipath or device-less route of ours is still ours; an odd name makes it differ and be fixed.
        dev: dev ?? (attrs.oif === undefined ? '(none)' : `(ifindex ${attrs.oif})`),
        onlink: (d.readUInt32LE(8) & RTNH_F_ONLINK) !== 0,
      });
    }
    return out;
  }

  async upsert(route: RouteEntry, existing?: RouteEntry): Promise<void> {
    const oif = await this.links.indexOf(route.dev);
    // Create exclusively: a route we do not own with the same destination fails with EEXIST instead
    // of being overwritten. Replace only when the kernel holds our own route under that key.
    const flags = NlFlags.CREATE | (existing ? NlFlags.REPLACE : NlFlags.EXCL);
    const header = rtmsg({
      family: familyCode(route.dst.family),
      dstLen: route.dst.prefixLength,
      table: MAIN_TABLE,
      protocol: this.protocol,
      scope: route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
      type: RTN_UNICAST,
      flags: route.onlink ? RTNH_F_ONLINK : 0,
    });
    const attrs: [number, Uint8Array][] = [
      [RTA_TABLE, u32(MAIN_TABLE)],
      [RTA_DST, route.dst.address.bytes],
      [RTA_OIF, u32(oif)],
    ];
    if (route.gateway) attrs.push([RTA_GATEWAY, route.gateway.bytes]);
    await this.session.request(RTM_NEWROUTE, flags, message(header, attrs), `RTM_NEWROUTE ${route.dst.text}`);
  }

  async remove(route: RouteEntry): Promise<void> {
    const header = rtmsg({
      family: familyCode(route.dst.family),
      dstLen: route.dst.prefixLength,
      table: MAIN_TABLE,
      // The protocol makes the kernel match only our route, never a foreign one with the same dst.
      protocol: this.protocol,
      scope: RT_SCOPE_NOWHERE,
      type: 0,
      flags: 0,
    });
    const attrs: [number, Uint8Array][] = [
      [RTA_TABLE, u32(MAIN_TABLE)],
      [RTA_DST, route.dst.address.bytes],
    ];
    let oif: number | undefined;
    try {
      oif = await this.links.indexOf(route.dev);
    } catch {
      oif = undefined; // device gone: match on dst and protocol alone
    }
    if (oif !== undefined) attrs.push([RTA_OIF, u32(oif)]);
    if (route.gateway) attrs.push([RTA_GATEWAY, route.gateway.bytes]);
    await removal(this.session.request(RTM_DELROUTE, 0, message(header, attrs), `RTM_DELROUTE ${route.dst.text}`), ['ESRCH', 'ENOENT']);
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
    const attrs = rt.parseNeighborAttrs(r.data.subarray(12));
    const dst = ipFromBuffer(attrs.dst);
    out.push({
      family: r.data.readUInt8(0),
      ifindex: r.data.readInt32LE(4),
      state: r.data.readUInt16LE(8),
      flags: r.data.readUInt8(10),
      ...(dst ? { dst } : {}),
      ...(attrs.lladdr && attrs.lladdr.length === 6 ? { lladdr: formatMac(Uint8Array.from(attrs.lladdr)) } : {}),
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
    const ifindex = await this.links.indexOf(n.dev);
    const header = ndmsg({ family: familyCode(n.ip.family), ifindex, state: NUD_PERMANENT, flags: 0 });
    const attrs: [number, Uint8Array][] = [
      [NDA_DST, n.ip.bytes],
      [NDA_LLADDR, macBuffer(n.mac)],
    ];
    // Replace: a learned (non-permanent) entry for the same address must become ours.
    await this.session.request(RTM_NEWNEIGH, NlFlags.CREATE | NlFlags.REPLACE, message(header, attrs), `RTM_NEWNEIGH ${n.ip.text}`);
  }

  async remove(n: NeighbourEntry): Promise<void> {
    let ifindex: number;
    try {
      ifindex = await this.links.indexOf(n.dev);
    } catch {
      return; // the device went, and its neighbours with it
    }
    const header = ndmsg({ family: familyCode(n.ip.family), ifindex, state: 0, flags: 0 });
    await removal(this.session.request(RTM_DELNEIGH, 0, message(header, [[NDA_DST, n.ip.bytes]]), `RTM_DELNEIGH ${n.ip.text}`), ['ENOENT', 'ESRCH']);
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
    const ifindex = await this.links.indexOf(f.dev);
    const header = ndmsg({ family: AF_BRIDGE, ifindex, state: NUD_PERMANENT, flags: NTF_SELF });
    const attrs: [number, Uint8Array][] = [
      [NDA_LLADDR, macBuffer(f.mac)],
      [NDA_DST, f.dst.bytes],
    ];
    // On a VXLAN device, REPLACE rewrites the remote of an existing entry for this MAC.
    await this.session.request(RTM_NEWNEIGH, NlFlags.CREATE | NlFlags.REPLACE, message(header, attrs), `RTM_NEWNEIGH fdb ${f.mac}`);
  }

  async remove(f: FdbEntry): Promise<void> {
    let ifindex: number;
    try {
      ifindex = await this.links.indexOf(f.dev);
    } catch {
      return;
    }
    const header = ndmsg({ family: AF_BRIDGE, ifindex, state: 0, flags: NTF_SELF });
    const attrs: [number, Uint8Array][] = [
      [NDA_LLADDR, macBuffer(f.mac)],
      [NDA_DST, f.dst.bytes],
    ];
    await removal(this.session.request(RTM_DELNEIGH, 0, message(header, attrs), `RTM_DELNEIGH fdb ${f.mac}`), ['ENOENT', 'ESRCH']);
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
