import { ErrorCodes, kernelError } from '../errors';
import { parseMac, formatMac } from '../model/mac';
import type { Ipv4ConfKey, LinkState, Links, VxlanSpec } from '../kernel/ports';

/**
 * The kernel's default: a VXLAN device gets its parent's MTU minus the encapsulation overhead,
 * 50 bytes over IPv4 and 70 over IPv6 (the device is IPv6 when its local address is).
 */
const VXLAN_OVERHEAD = 50;
const VXLAN6_OVERHEAD = 70;
/** What a new device of a fresh namespace reads (net.ipv4.conf.default.*). */
const DEFAULT_IPV4_CONF: Readonly<Record<Ipv4ConfKey, number>> = { forwarding: 0, proxy_arp: 0, rp_filter: 0, accept_local: 0, src_valid_mark: 0 };

/**
 * A stateful stand-in for the kernel's link table with the same ensureVxlan contract as the
 * netlink adapter. `log` lists every change it made, so a test can show a second run changes nothing.
 */
export class FakeLinks implements Links {
  readonly log: string[] = [];
  private readonly links = new Map<string, LinkState>();
  /** Per-device IPv4 settings set so far (the rest read as DEFAULT_IPV4_CONF). */
  private readonly conf = new Map<string, Map<Ipv4ConfKey, number>>();
  private nextIndex = 1;
  private failure: { op: 'create' | 'delete' | 'set'; errno: string } | undefined;

  /** Adds a device as if something else had made it (eth0, a stale vxlan0). */
  addLink(link: Omit<LinkState, 'index'> & { index?: number }): LinkState {
    const state: LinkState = { ...link, index: link.index ?? this.nextIndex };
    this.nextIndex = Math.max(this.nextIndex, state.index) + 1;
    this.links.set(state.name, state);
    return state;
  }

  has(name: string): boolean {
    return this.links.has(name);
  }

  /** Deletes a device as someone else would (`ip link del`); true when it existed. */
  removeLink(name: string): boolean {
    this.conf.delete(name);
    return this.links.delete(name);
  }

  /** The next operation of that kind fails with this errno, as the kernel would reject it. */
  failNext(op: 'create' | 'delete' | 'set', errno: string): void {
    this.failure = { op, errno };
  }

  async get(name: string): Promise<LinkState | undefined> {
    return this.links.get(name);
  }

  async ensureVxlan(spec: VxlanSpec): Promise<LinkState> {
    const doing = `ensuring vxlan device ${spec.name} (id ${spec.vni}, dstport ${spec.port}, dev ${spec.parent})`;
    const parent = this.links.get(spec.parent);
    if (!parent) throw kernelError(doing, new Error(`parent interface ${spec.parent} does not exist`));
    const mac = parseMac(spec.mac);
    if (!mac) throw kernelError(doing, new Error(`${spec.mac} is not a MAC address`), ErrorCodes.INTERNAL);
    let current = this.links.get(spec.name);
    const v = current?.vxlan;
    const same =
      current?.kind === 'vxlan' &&
      v !== undefined &&
      v.vni === spec.vni &&
      v.port === spec.port &&
      v.parentIndex === parent.index &&
      (spec.local === undefined || v.local === spec.local);
    if (current && !same) {
      this.fail('delete', `${doing}: deleting the ${current.kind || 'link'} of that name with other parameters`);
      this.links.delete(spec.name);
      this.log.push(`delete ${spec.name}`);
      current = undefined;
    }
    if (!current) {
      this.fail('create', `${doing}: creating it`);
      current = this.addLink({
        name: spec.name,
        kind: 'vxlan',
        up: false,
        mtu: spec.mtu ?? parent.mtu - (spec.local?.includes(':') ? VXLAN6_OVERHEAD : VXLAN_OVERHEAD),
        mac: formatMac(mac),
        vxlan: { vni: spec.vni, port: spec.port, parentIndex: parent.index, ...(spec.local !== undefined ? { local: spec.local } : {}) },
      });
      this.log.push(`create ${spec.name}`);
    }
    const wanted: LinkState = { ...current, mac: formatMac(mac), mtu: spec.mtu ?? current.mtu, up: true };
    if (wanted.mac !== current.mac || wanted.mtu !== current.mtu || wanted.up !== current.up) {
      this.fail('set', `${doing}: setting address/mtu/up`);
      this.links.set(spec.name, wanted);
      this.log.push(`set ${spec.name}${wanted.mac !== current.mac ? ` address ${wanted.mac}` : ''}${wanted.mtu !== current.mtu ? ` mtu ${wanted.mtu}` : ''}${!current.up ? ' up' : ''}`);
    }
    return wanted;
  }

  async ipv4Conf(name: string, key: Ipv4ConfKey): Promise<number | undefined> {
    if (!this.links.has(name)) throw kernelError(`reading net.ipv4.conf.${name}.${key} (RTM_GETLINK)`, Object.assign(new Error('rejected by the kernel: ENODEV'), { code: 'ENODEV' }));
    return this.conf.get(name)?.get(key) ?? DEFAULT_IPV4_CONF[key];
  }

  async setIpv4Conf(name: string, key: Ipv4ConfKey, value: number): Promise<void> {
    const doing = `setting net.ipv4.conf.${name}.${key} to ${value} (RTM_SETLINK)`;
    if (!this.links.has(name)) throw kernelError(doing, new Error(`no device named ${name}`));
    this.fail('set', doing);
    const conf = this.conf.get(name) ?? new Map<Ipv4ConfKey, number>();
    conf.set(key, value);
    this.conf.set(name, conf);
    this.log.push(`set ${name} ipv4 ${key} ${value}`);
  }

  async remove(name: string): Promise<boolean> {
    if (!this.links.has(name)) return false;
    this.fail('delete', `deleting link ${name}`);
    this.links.delete(name);
    this.conf.delete(name);
    this.log.push(`delete ${name}`);
    return true;
  }

  /** One line per device, by index, in the spirit of `ip -d link`. */
  dump(): string {
    const byIndex = new Map([...this.links.values()].map((l) => [l.index, l.name]));
    return [...this.links.values()]
      .sort((a, b) => a.index - b.index)
      .map((l) => {
        const v = l.vxlan;
        const vx = v
          ? ` vxlan id ${v.vni} dstport ${v.port} dev ${v.parentIndex !== undefined ? (byIndex.get(v.parentIndex) ?? `#${v.parentIndex}`) : '-'} local ${v.local ?? '-'}`
          : '';
        const conf = [...(this.conf.get(l.name) ?? [])].map(([k, v]) => ` ${k} ${v}`).join('');
        return `${l.index}: ${l.name} ${l.kind || 'device'} ${l.up ? 'up' : 'down'} mtu ${l.mtu} address ${l.mac}${vx}${conf}\n`;
      })
      .join('');
  }

  private fail(op: 'create' | 'delete' | 'set', doing: string): void {
    if (this.failure?.op !== op) return;
    const errno = this.failure.errno;
    this.failure = undefined;
    const cause: NodeJS.ErrnoException = new Error(`rejected by the kernel: ${errno}`);
    cause.code = errno;
    throw kernelError(doing, cause, errno === 'EOPNOTSUPP' ? ErrorCodes.BACKEND_UNAVAILABLE : ErrorCodes.KERNEL_OP_FAILED);
  }
}
