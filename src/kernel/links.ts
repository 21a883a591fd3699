import { ErrorCodes, kernelError } from '../errors';
import { parseIp } from '../model/ip';
import type { LinkState, VxlanSpec } from '../model/link';
import { parseMac } from '../model/mac';
import { decodeLink, linkPayload, vxlanInfoData, type LinkMessage } from './netlink/codec';
import { IFF_UP, IPV4_DEVCONF, NLM_F_CREATE, NLM_F_EXCL, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTM_SETLINK } from './netlink/constants';
import { NetlinkError, NetlinkSession } from './netlink/session';
import type { Ipv4ConfKey, Links } from './ports';

/**
 * Links through rtnetlink (the project's session and codec, ./netlink/), in the network namespace
 * the process runs in. A handful of requests per run, one at a time.
 */
export class NetlinkLinks implements Links {
  private session: NetlinkSession | undefined;

  constructor(private readonly open: () => NetlinkSession = () => new NetlinkSession({ recvBufferSize: 256 * 1024 })) {}

  async get(name: string): Promise<LinkState | undefined> {
    try {
      const replies = await this.rt().query(RTM_GETLINK, 0, linkPayload({ name }), `RTM_GETLINK ${name}`);
      for (const r of replies) {
        const m = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
        if (m) return toLinkState(m);
      }
      return undefined;
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENODEV') return undefined;
      throw kernelError(`looking up link ${name}`, err);
    }
  }

  async ensureVxlan(spec: VxlanSpec): Promise<LinkState> {
    const doing = `ensuring vxlan device ${spec.name} (id ${spec.vni}, dstport ${spec.port}, dev ${spec.parent})`;
    const parent = await this.get(spec.parent);
    if (!parent) throw kernelError(doing, new Error(`parent interface ${spec.parent} does not exist`));
    const mac = parseMac(spec.mac);
    if (!mac) throw kernelError(doing, new Error(`${spec.mac} is not a MAC address`), ErrorCodes.INTERNAL);
    const local = spec.local === undefined ? undefined : parseIp(spec.local);
    if (spec.local !== undefined && !local) throw kernelError(doing, new Error(`local ${spec.local} is not an IP address`), ErrorCodes.INTERNAL);

    let current = await this.get(spec.name);
    if (current && !sameVxlan(current, spec, parent.index)) {
      const index = current.index;
      await this.call(`${doing}: deleting the ${current.kind || 'link'} of that name with other parameters`, RTM_DELLINK, 0, linkPayload({ index }));
      current = undefined;
    }
    if (!current) {
      const info = { kind: 'vxlan', data: vxlanInfoData({ vni: spec.vni, port: spec.port, parentIndex: parent.index, ...(local ? { local } : {}) }) };
      await this.call(
        `${doing}: creating it`,
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        linkPayload({ name: spec.name, address: mac, info, ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) }),
      );
      current = await this.get(spec.name);
      if (!current) throw kernelError(doing, new Error('the kernel accepted the device but does not list it'));
    }
    const index = current.index;
    if (current.mac !== spec.mac.toLowerCase()) {
      await this.call(`${doing}: setting its address to ${spec.mac}`, RTM_NEWLINK, 0, linkPayload({ index, address: mac }));
    }
    if (spec.mtu !== undefined && current.mtu !== spec.mtu) {
      await this.call(`${doing}: setting its MTU to ${spec.mtu}`, RTM_NEWLINK, 0, linkPayload({ index, mtu: spec.mtu }));
    }
    if (!current.up) {
      await this.call(`${doing}: setting it up`, RTM_NEWLINK, 0, linkPayload({ index, flags: IFF_UP, change: IFF_UP }));
    }
    const final = await this.get(spec.name);
    if (!final) throw kernelError(doing, new Error('the device disappeared while it was being set up'));
    return final;
  }

  async ipv4Conf(name: string, key: Ipv4ConfKey): Promise<number | undefined> {
    const doing = `reading net.ipv4.conf.${name}.${key} (RTM_GETLINK)`;
    let replies;
    try {
      replies = await this.rt().query(RTM_GETLINK, 0, linkPayload({ name }), doing);
    } catch (err) {
      throw kernelError(doing, rejected(err));
    }
    for (const r of replies) {
      const m = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
      if (m) return m.ipv4Conf?.[IPV4_DEVCONF[key] - 1];
    }
    throw kernelError(doing, new Error('the kernel answered without the link'));
  }

  async setIpv4Conf(name: string, key: Ipv4ConfKey, value: number): Promise<void> {
    const doing = `setting net.ipv4.conf.${name}.${key} to ${value} (RTM_SETLINK)`;
    const current = await this.get(name);
    if (!current) throw kernelError(doing, new Error(`no device named ${name}`));
    await this.call(doing, RTM_SETLINK, 0, linkPayload({ index: current.index, ipv4Conf: [[IPV4_DEVCONF[key], value]] }));
  }

  async remove(name: string): Promise<boolean> {
    const current = await this.get(name);
    if (!current) return false;
    try {
      await this.rt().request(RTM_DELLINK, 0, linkPayload({ index: current.index }), `deleting link ${name}`);
    } catch (err) {
      // Gone meanwhile: what was asked for holds.
      if (err instanceof NetlinkError && err.code === 'ENODEV') return false;
      throw kernelError(`deleting link ${name}`, rejected(err));
    }
    return true;
  }

  /** Releases the netlink socket; the adapter opens a new one if used again. */
  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private rt(): NetlinkSession {
    this.session ??= this.open();
    return this.session;
  }

  private async call(doing: string, type: number, flags: number, payload: Buffer): Promise<void> {
    try {
      await this.rt().request(type, flags, payload, doing);
    } catch (err) {
      // EOPNOTSUPP on creation: the kernel has no vxlan driver (module missing).
      const code = err instanceof NetlinkError && err.code === 'EOPNOTSUPP' ? ErrorCodes.BACKEND_UNAVAILABLE : ErrorCodes.KERNEL_OP_FAILED;
      throw kernelError(doing, rejected(err), code);
    }
  }
}

function sameVxlan(link: LinkState, spec: VxlanSpec, parentIndex: number): boolean {
  const v = link.vxlan;
  if (link.kind !== 'vxlan' || !v) return false;
  return v.vni === spec.vni && v.port === spec.port && v.parentIndex === parentIndex && (spec.local === undefined || v.local === spec.local);
}

export function toLinkState(m: LinkMessage): LinkState {
  return {
    name: m.name ?? '',
    index: m.index,
    kind: m.kind,
    up: (m.flags & IFF_UP) !== 0,
    mtu: m.mtu ?? 0,
    mac: m.address ?? '',
    ...(m.vxlan ? { vxlan: m.vxlan } : {}),
  };
}

/** A negative ACK as the operator reads it: "rejected by the kernel: EOPNOTSUPP", errno kept as `code`. */
function rejected(err: unknown): unknown {
  if (!(err instanceof NetlinkError)) return err;
  const e: NodeJS.ErrnoException = new Error(`rejected by the kernel: ${err.code}`);
  e.code = err.code;
  return e;
}
