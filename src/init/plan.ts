import type { InitConfig, IptablesVariant } from '../config/init-config';
import type { NetfilterBackend, VxlanSpec } from '../kernel/ports';
import { gatewayVxlanMac } from '../model/mac';
import { mssForMtu, renderRuleset } from './ruleset';

/** The name client nodes' Felix expects the gateway's VXLAN device to answer as. */
export const VXLAN_DEVICE = 'vxlan0';

/** The kernel gives a VXLAN device its parent's MTU minus this (outer IPv4 + UDP + VXLAN + Ethernet). */
export const VXLAN_OVERHEAD_BYTES = 50;

export interface SysctlSetting {
  /** Slashed form below /proc/sys, so interface names with dots stay unambiguous. */
  readonly key: string;
  readonly value: string;
}

/** What init will make the kernel hold, decided from the config alone. */
export interface InitPlan {
  readonly vxlan: VxlanSpec;
  /** In order: ip_forward first, as writing it resets every interface's forwarding flag. */
  readonly sysctls: readonly SysctlSetting[];
  readonly backend: NetfilterBackend;
  readonly egressIp: InitConfig['egressIp'];
  readonly underlay: string;
}

export function backendFor(config: Pick<InitConfig, 'dataplane'>, variant: IptablesVariant): NetfilterBackend {
  if (config.dataplane === 'nftables') return 'nftables';
  return variant === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
}

/** vxlan0 as init creates it; the daemon re-creates it with the same spec when it goes missing. */
export function vxlanSpecFor(c: Pick<InitConfig, 'vni' | 'vxlanPort' | 'underlay' | 'egressIp'>): VxlanSpec {
  return { name: VXLAN_DEVICE, vni: c.vni, port: c.vxlanPort, parent: c.underlay, mac: gatewayVxlanMac(c.egressIp), local: c.egressIp.text };
}

export function planInit(config: InitConfig, backend: NetfilterBackend): InitPlan {
  return {
    vxlan: vxlanSpecFor(config),
    sysctls: [
      { key: 'net/ipv4/ip_forward', value: '1' },
      // Decapsulated packets arrive on vxlan0 from client pod addresses that the pod's routes
      // would send out of eth0; strict reverse-path filtering would drop them. The effective
      // value is the larger of "all" and the device's, so both must be 0.
      { key: 'net/ipv4/conf/all/rp_filter', value: '0' },
      { key: `net/ipv4/conf/${VXLAN_DEVICE}/rp_filter`, value: '0' },
    ],
    backend,
    egressIp: config.egressIp,
    underlay: config.underlay,
  };
}

/** The full ruleset text once vxlan0's MTU is known (the MSS clamp depends on it). */
export function rulesetFor(plan: InitPlan, vxlanMtu: number): string {
  const mss = mssForMtu(vxlanMtu);
  if (!Number.isInteger(mss) || mss < 1) throw new RangeError(`vxlan0 MTU ${vxlanMtu} leaves no room for TCP`);
  return renderRuleset(plan.backend, { egressIp: plan.egressIp, underlay: plan.underlay, mss });
}

/** What `--dry-run` prints: everything that would be applied, in the order it would be. */
export function describePlan(plan: InitPlan, vxlanMtu: number, mtuNote: string): string {
  const v = plan.vxlan;
  const lines = [
    '# egress-gateway init --dry-run: nothing was changed',
    `vxlan: ${v.name} id ${v.vni} dstport ${v.port} dev ${v.parent} local ${v.local ?? '-'} address ${v.mac} nolearning up`,
    `vxlan mtu: ${vxlanMtu} (${mtuNote}); tcp mss clamp: ${mssForMtu(vxlanMtu)}`,
    ...plan.sysctls.map((s) => `sysctl: ${s.key} = ${s.value}`),
    `netfilter: ${plan.backend} (${applyCommandFor(plan.backend)})`,
    '# ruleset:',
    rulesetFor(plan, vxlanMtu).trimEnd(),
    '',
  ];
  return lines.join('\n');
}

export function applyCommandFor(backend: NetfilterBackend): string {
  switch (backend) {
    case 'nftables':
      return 'nft -f -';
    case 'iptables-legacy':
      return 'iptables-legacy-restore --noflush';
    case 'iptables-nft':
      return 'iptables-nft-restore --noflush';
  }
}
