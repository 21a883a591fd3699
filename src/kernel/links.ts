import { createRtNetlink, FlagsNew, type RtNetlinkSocket } from 'netlink';
import { ErrorCodes, kernelError } from '../errors';
import { formatMac, parseMac } from '../model/mac';
import { ipFromBytes, parseIp } from '../model/ip';
import { encodeAttribute as attr, parseAttributes } from './netlink/attributes';
import type { LinkState, Links, VxlanSpec } from './ports';

/*
 * Attribute numbers from linux/if_link.h. The netlink package decodes IFLA_LINKINFO only as raw
 * bytes, so the nested kind/data attributes are encoded and decoded here.
 */
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_LINK = 3;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PORT = 15;
/** An IPv6 local address makes the device send and receive VXLAN over IPv6 (an IPv6-only pod). */
const IFLA_VXLAN_LOCAL6 = 17;

/**
 * Links through rtnetlink, in the network namespace the process runs in. A handful of requests
 * per run, one at a time, so no request queue.
 */
export class NetlinkLinks implements Links {
  private socket: RtNetlinkSocket | undefined;

  constructor(private readonly open: () => RtNetlinkSocket = () => createRtNetlink()) {}

  async get(name: string): Promise<LinkState | undefined> {
    try {
      const msgs = await this.rt().getLink({}, { ifname: name });
      const msg = msgs[0];
      return msg ? toLinkState(msg.data.index ?? 0, msg.data.flags?.up === true, msg.attrs) : undefined;
    } catch (err) {
      if (errnoOf(err) === 'ENODEV') return undefined;
      throw kernelError(`looking up link ${name}`, netlinkCause(err));
    }
  }

  async ensureVxlan(spec: VxlanSpec): Promise<LinkState> {
    const doing = `ensuring vxlan device ${spec.name} (id ${spec.vni}, dstport ${spec.port}, dev ${spec.parent})`;
    const parent = await this.get(spec.parent);
    if (!parent) throw kernelError(doing, new Error(`parent interface ${spec.parent} does not exist`));
    const mac = parseMac(spec.mac);
    if (!mac) throw kernelError(doing, new Error(`${spec.mac} is not a MAC address`), ErrorCodes.INTERNAL);

    let current = await this.get(spec.name);
    if (current && !sameVxlan(current, spec, parent.index)) {
      await this.call(`${doing}: deleting the ${current.kind || 'link'} of that name with other parameters`, () =>
        this.rt().delLink({ index: current?.index ?? 0 }),
      );
      current = undefined;
    }
    if (!current) {
      const linkinfo = Buffer.concat([attr(IFLA_INFO_KIND, Buffer.from('vxlan')), attr(IFLA_INFO_DATA, vxlanData(spec, parent.index))]);
      await this.call(`${doing}: creating it`, () =>
        this.rt().newLink(
          {},
          { ifname: spec.name, address: Buffer.from(mac), linkinfo, ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) },
          { flags: FlagsNew.CREATE | FlagsNew.EXCL },
        ),
      );
      current = await this.get(spec.name);
      if (!current) throw kernelError(doing, new Error('the kernel accepted the device but does not list it'));
    }
    const index = current.index;
    if (current.mac !== formatMac(mac)) {
      await this.call(`${doing}: setting its address to ${spec.mac}`, () => this.rt().setLink({ index }, { address: Buffer.from(mac) }));
    }
    if (spec.mtu !== undefined && current.mtu !== spec.mtu) {
      await this.call(`${doing}: setting its MTU to ${spec.mtu}`, () => this.rt().setLink({ index }, { mtu: spec.mtu }));
    }
    if (!current.up) {
      await this.call(`${doing}: setting it up`, () => this.rt().setLink({ index, flags: { up: true }, change: { up: true } }));
    }
    const final = await this.get(spec.name);
    if (!final) throw kernelError(doing, new Error('the device disappeared while it was being set up'));
    return final;
  }

  /** Releases the netlink socket; the adapter opens a new one if used again. */
  close(): void {
    this.socket?.socket.close();
    this.socket = undefined;
  }

  private rt(): RtNetlinkSocket {
    this.socket ??= this.open();
    return this.socket;
  }

  private async call(doing: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // EOPNOTSUPP on creation: the kernel has no vxlan driver (module missing).
      const code = errnoOf(err) === 'EOPNOTSUPP' ? ErrorCodes.BACKEND_UNAVAILABLE : ErrorCodes.KERNEL_OP_FAILED;
      throw kernelError(doing, netlinkCause(err), code);
    }
  }
}

function sameVxlan(link: LinkState, spec: VxlanSpec, parentIndex: number): boolean {
  const v = link.vxlan;
  if (link.kind !== 'vxlan' || !v) return false;
  return v.vni === spec.vni && v.port === spec.port && v.parentIndex === parentIndex && (spec.local === undefined || v.local === spec.local);
}

function vxlanData(spec: VxlanSpec, parentIndex: number): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(spec.port); // __be16 on the wire, unlike the other integers
  const parts = [attr(IFLA_VXLAN_ID, u32(spec.vni)), attr(IFLA_VXLAN_LINK, u32(parentIndex)), attr(IFLA_VXLAN_PORT, port)];
  if (spec.local !== undefined) {
    const local = parseIp(spec.local);
    if (!local) throw kernelError(`creating ${spec.name}`, new Error(`local ${spec.local} is not an IP address`), ErrorCodes.INTERNAL);
    parts.push(attr(local.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, Buffer.from(local.bytes)));
  }
  // The daemon programs every FDB entry; learning would let any inner source MAC repoint one.
  parts.push(attr(IFLA_VXLAN_LEARNING, Buffer.from([0])));
  return Buffer.concat(parts);
}

function toLinkState(index: number, up: boolean, attrs: { ifname?: string; mtu?: number; address?: Buffer; linkinfo?: Buffer }): LinkState {
  const info = attrs.linkinfo ? parseAttrs(attrs.linkinfo) : new Map<number, Buffer>();
  const kindBytes = info.get(IFLA_INFO_KIND);
  const kind = kindBytes ? kindBytes.toString('utf8').replace(/\0+$/, '') : '';
  const data = info.get(IFLA_INFO_DATA);
  let vxlan: LinkState['vxlan'];
  if (kind === 'vxlan' && data) {
    const d = parseAttrs(data);
    const id = d.get(IFLA_VXLAN_ID);
    const port = d.get(IFLA_VXLAN_PORT);
    const link = d.get(IFLA_VXLAN_LINK);
    const local = d.get(IFLA_VXLAN_LOCAL);
    const local6 = d.get(IFLA_VXLAN_LOCAL6);
    const local6Ip = local6 && local6.length === 16 ? ipFromBytes(local6) : undefined;
    vxlan = {
      vni: id && id.length >= 4 ? id.readUInt32LE(0) : 0,
      port: port && port.length >= 2 ? port.readUInt16BE(0) : 0,
      ...(link && link.length >= 4 ? { parentIndex: link.readUInt32LE(0) } : {}),
      ...(local && local.length === 4 ? { local: ipFromBytes(local).text } : {}),
      ...(local6Ip ? { local: local6Ip.text } : {}),
    };
  }
  return {
    name: attrs.ifname ?? '',
    index,
    kind,
    up,
    mtu: attrs.mtu ?? 0,
    mac: attrs.address && attrs.address.length === 6 ? formatMac(attrs.address) : '',
    ...(vxlan ? { vxlan } : {}),
  };
}

/** A kernel reply read for a few fields: what follows an attribute we cannot walk is left out. */
function parseAttrs(buf: Buffer): Map<number, Buffer> {
  return parseAttributes(buf, 'lenient');
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** The netlink package reports kernel errors as "Request rejected: ENODEV". */
function errnoOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const own = (err as NodeJS.ErrnoException).code;
  if (typeof own === 'string') return own;
  return /Request rejected: (E[A-Z0-9]+)/.exec(err.message)?.[1];
}

function netlinkCause(err: unknown): unknown {
  const errno = errnoOf(err);
  if (!errno || !(err instanceof Error)) return err;
  const e: NodeJS.ErrnoException = new Error(err.message.replace(/^Request rejected: /, 'rejected by the kernel: '));
  e.code = errno;
  return e;
}
