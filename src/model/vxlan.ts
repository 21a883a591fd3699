import type { Family, IpAddress } from './ip';
import type { LinkState, VxlanSpec } from './link';
import { gatewayVxlanMac } from './mac';

/**
 * vxlan0 as the gateway makes it: one definition that init (which creates it) and the daemon
 * (which re-creates it when it goes, and checks it against this spec) share.
 */

/** The name client nodes' Felix expects the gateway's VXLAN device to answer as. */
export const VXLAN_DEVICE = 'vxlan0';

/** The kernel gives a VXLAN device its parent's MTU minus this (outer IPv4 + UDP + VXLAN + Ethernet). */
export const VXLAN_OVERHEAD_BYTES = 50;
/** The same over an IPv6 underlay (outer IPv6 header is 20 bytes longer): an IPv6-only pod's vxlan0. */
export const VXLAN6_OVERHEAD_BYTES = 70;

export function vxlanOverheadBytes(underlay: Family): number {
  return underlay === 4 ? VXLAN_OVERHEAD_BYTES : VXLAN6_OVERHEAD_BYTES;
}

/** One /proc/sys setting. */
export interface SysctlSetting {
  /** Slashed form below /proc/sys, so interface names with dots stay unambiguous. */
  readonly key: string;
  readonly value: string;
}

/** What vxlan0 is made from: EGRESS_VXLAN_VNI, EGRESS_VXLAN_PORT, EGRESS_INTERFACE and the underlay address. */
export interface VxlanSettings {
  readonly vni: number;
  readonly vxlanPort: number;
  readonly underlay: string;
  /** The underlay address: the IPv4 egress address, or the IPv6 one on an IPv6-only pod. */
  readonly egressIp: IpAddress;
}

/** vxlan0 as init creates it; the daemon re-creates it with the same spec when it goes missing. */
export function vxlanSpecFor(c: VxlanSettings): VxlanSpec {
  return { name: VXLAN_DEVICE, vni: c.vni, port: c.vxlanPort, parent: c.underlay, mac: gatewayVxlanMac(c.egressIp), local: c.egressIp.text };
}

/**
 * The settings that belong to vxlan0 itself, lost when the device is re-created, so the daemon
 * re-asserts them after a repair. Decapsulated packets arrive on vxlan0 from client pod addresses
 * that the pod's routes would send out of eth0; strict reverse-path filtering would drop them.
 * IPv6 has no rp_filter, and a new device inherits forwarding from "default", which init's write
 * to "all" also set.
 */
export function vxlanSysctls(underlay: Family = 4): SysctlSetting[] {
  return underlay === 4 ? [{ key: `net/ipv4/conf/${VXLAN_DEVICE}/rp_filter`, value: '0' }] : [];
}

/** What is wrong with `link` for `spec`, or undefined when it is what init made. */
export function vxlanDefect(link: LinkState | undefined, spec: VxlanSpec): string | undefined {
  if (!link) return `${spec.name} does not exist`;
  if (link.kind !== 'vxlan' || !link.vxlan) return `${spec.name} is a ${link.kind || 'plain'} device, not vxlan`;
  const v = link.vxlan;
  if (v.vni !== spec.vni) return `${spec.name} has vni ${v.vni}, not ${spec.vni}`;
  if (v.port !== spec.port) return `${spec.name} has dstport ${v.port}, not ${spec.port}`;
  if (spec.local !== undefined && v.local !== spec.local) return `${spec.name} has local ${v.local ?? 'unset'}, not ${spec.local}`;
  if (link.mac !== spec.mac.toLowerCase()) return `${spec.name} has address ${link.mac}, not ${spec.mac}`;
  if (!link.up) return `${spec.name} is down`;
  return undefined;
}
