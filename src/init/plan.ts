import type { InitConfig, IptablesVariant } from '../config/init-config';
import type { NetfilterBackend, RulesetFamily } from '../kernel/ports';
import type { IpAddress } from '../model/ip';
import type { VxlanSpec } from '../model/link';
import { VXLAN_DEVICE, vxlanSpecFor, vxlanSysctls, type SysctlSetting } from '../model/vxlan';
import { mssForMtu, renderFailsafe, renderRuleset, type RulesetInput, type RulesetPayload } from './ruleset';

// vxlan0's spec and own settings live in ../model/vxlan.ts, which the daemon's guard shares.
export { VXLAN_DEVICE, VXLAN6_OVERHEAD_BYTES, VXLAN_OVERHEAD_BYTES, vxlanOverheadBytes, vxlanSpecFor, vxlanSysctls, type SysctlSetting } from '../model/vxlan';

/** What init will make the kernel hold, decided from the config alone. */
export interface InitPlan {
  readonly vxlan: VxlanSpec;
  /** In order: ip_forward first, as writing it resets every interface's forwarding flag. */
  readonly sysctls: readonly SysctlSetting[];
  /**
   * Written after the ruleset: the per-namespace nf_conntrack keys exist only once conntrack is in
   * use, which the NAT rules guarantee. Empty unless the audit log is on.
   */
  readonly conntrackSysctls: readonly SysctlSetting[];
  readonly backend: NetfilterBackend;
  /** vxlan0's address (its underlay family): IPv4 when the pod has one. */
  readonly egressIp: InitConfig['egressIp'];
  /** The egress address of each family the pod has; each gets SNAT and an MSS clamp. */
  readonly egress: { readonly ipv4?: IpAddress; readonly ipv6?: IpAddress };
  readonly underlay: string;
}

export function backendFor(config: Pick<InitConfig, 'dataplane'>, variant: IptablesVariant): NetfilterBackend {
  if (config.dataplane === 'nftables') return 'nftables';
  return variant === 'legacy' ? 'iptables-legacy' : 'iptables-nft';
}

/** What the SNAT audit log needs: byte/packet counters and start times on each connection. */
export const CONNTRACK_ACCOUNTING_SYSCTLS: readonly SysctlSetting[] = [
  { key: 'net/netfilter/nf_conntrack_acct', value: '1' },
  { key: 'net/netfilter/nf_conntrack_timestamp', value: '1' },
];

/**
 * Dual-stack (docs/dual-stack.md): one vxlan0 whose underlay is the IPv4 egress address when the
 * pod has one (IPv6 client traffic rides inside the same IPv4 tunnel), else the IPv6 one. Each
 * family the pod has gets forwarding, SNAT and an MSS clamp of its own.
 */
export function planInit(
  config: Pick<InitConfig, 'egressIp' | 'egressIpv6' | 'vni' | 'vxlanPort' | 'underlay' | 'conntrackAccounting'>,
  backend: NetfilterBackend,
): InitPlan {
  const ipv4 = config.egressIp.family === 4 ? config.egressIp : undefined;
  const ipv6 = config.egressIpv6 ?? (config.egressIp.family === 6 ? config.egressIp : undefined);
  const sysctls: SysctlSetting[] = [];
  if (ipv4) {
    sysctls.push(
      { key: 'net/ipv4/ip_forward', value: '1' },
      // The effective rp_filter is the larger of "all" and the device's, so both must be 0.
      { key: 'net/ipv4/conf/all/rp_filter', value: '0' },
      ...vxlanSysctls(),
      // IPv4 forwards what arrives on a device whose own forwarding flag is on: ip_forward=1 sets
      // vxlan0's too, but only this key keeps it so (the daemon guards it; one set to 0 drops every
      // client's traffic while ip_forward still says 1).
      { key: `net/ipv4/conf/${VXLAN_DEVICE}/forwarding`, value: '1' },
    );
  }
  if (ipv6) {
    // "all" sets every interface and the default for new ones. IPv6 has no rp_filter sysctl.
    // With forwarding on, the kernel ignores router advertisements unless accept_ra is 2; we
    // leave accept_ra alone: a pod's routes are static (the CNI's), and a gateway should not
    // take its routes from whatever advertises on its link.
    sysctls.push({ key: 'net/ipv6/conf/all/forwarding', value: '1' });
  }
  return {
    vxlan: vxlanSpecFor(config),
    sysctls,
    conntrackSysctls: config.conntrackAccounting ? CONNTRACK_ACCOUNTING_SYSCTLS : [],
    backend,
    egressIp: config.egressIp,
    egress: { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) },
    underlay: config.underlay,
  };
}

/** The MSS clamp of each family, checked: vxlan0's MTU must leave room for a TCP segment. */
function clamps(plan: InitPlan, vxlanMtu: number): { ipv4?: number; ipv6?: number } {
  const out: { ipv4?: number; ipv6?: number } = {};
  for (const [key, family] of [['ipv4', 4], ['ipv6', 6]] as const) {
    if (!plan.egress[key]) continue;
    const mss = mssForMtu(vxlanMtu, family);
    if (!Number.isInteger(mss) || mss < 1) throw new RangeError(`vxlan0 MTU ${vxlanMtu} leaves no room for TCP over IPv${family}`);
    out[key] = mss;
  }
  return out;
}

/**
 * The ruleset payloads, in apply order, once vxlan0's MTU is known (the MSS clamps depend on it):
 * the fail-safe first, so that the SNAT never exists without the drop behind it, then the rules.
 */
export function rulesetsFor(plan: InitPlan, vxlanMtu: number): RulesetPayload[] {
  const mss = clamps(plan, vxlanMtu);
  const { ipv4, ipv6 } = plan.egress;
  const input: RulesetInput = {
    underlay: plan.underlay,
    tunnel: plan.vxlan.name,
    ...(ipv4 && mss.ipv4 !== undefined ? { ipv4: { egressIp: ipv4, mss: mss.ipv4 } } : {}),
    ...(ipv6 && mss.ipv6 !== undefined ? { ipv6: { egressIp: ipv6, mss: mss.ipv6 } } : {}),
  };
  return [renderFailsafe(input), ...renderRuleset(plan.backend, input)];
}

/** All ruleset text in apply order, for reading (dry run, tests). */
export function rulesetFor(plan: InitPlan, vxlanMtu: number): string {
  return rulesetsFor(plan, vxlanMtu)
    .map((p) => p.text)
    .join('');
}

/** What `--dry-run` prints: everything that would be applied, in the order it would be. */
export function describePlan(plan: InitPlan, vxlanMtu: number, mtuNote: string): string {
  const v = plan.vxlan;
  const mss = clamps(plan, vxlanMtu);
  // An IPv4-only pod keeps the one-number form; otherwise each clamp is labelled.
  const mssText =
    plan.egress.ipv6 === undefined
      ? String(mss.ipv4)
      : [mss.ipv4 !== undefined ? `${mss.ipv4} (IPv4)` : '', `${mss.ipv6} (IPv6)`].filter(Boolean).join(', ');
  const payloads = rulesetsFor(plan, vxlanMtu);
  const lines = [
    '# egress-gateway init --dry-run: nothing was changed',
    `vxlan: ${v.name} id ${v.vni} dstport ${v.port} dev ${v.parent} local ${v.local ?? '-'} address ${v.mac} nolearning up`,
    `vxlan mtu: ${vxlanMtu} (${mtuNote}); tcp mss clamp: ${mssText}`,
    ...plan.sysctls.map((s) => `sysctl: ${s.key} = ${s.value}`),
    `netfilter: ${plan.backend} (${payloads.map((p) => applyCommandFor(p.part === 'failsafe' ? 'nftables' : plan.backend, p.family)).join('; ')})`,
    ...payloads.flatMap((p) => [p.part === 'failsafe' ? '# fail-safe (nft):' : p.family === 'ipv6' ? '# ruleset (IPv6):' : '# ruleset:', p.text.trimEnd()]),
    ...plan.conntrackSysctls.map((s) => `sysctl (after the ruleset, for AUDIT_LOG): ${s.key} = ${s.value}`),
    '',
  ];
  return lines.join('\n');
}

export function applyCommandFor(backend: NetfilterBackend, family?: RulesetFamily): string {
  const ip = family === 'ipv6' ? 'ip6' : 'ip';
  switch (backend) {
    case 'nftables':
      return 'nft -f -';
    case 'iptables-legacy':
      return `${ip}tables-legacy-restore --noflush`;
    case 'iptables-nft':
      return `${ip}tables-nft-restore --noflush`;
  }
}
