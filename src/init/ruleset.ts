import type { NetfilterBackend } from '../kernel/ports';
import type { IpAddress } from '../model/ip';

/**
 * Names the gateway owns in netfilter. Everything the gateway writes lives under these names, so
 * a rewrite of them never touches rules anyone else made. Renaming one orphans what older versions
 * wrote, so they are constants and never change lightly.
 */
export const OWNED = {
  /** iptables nat chain holding the SNAT rule, jumped to from POSTROUTING. */
  natChain: 'EGW-POSTROUTING',
  /** iptables mangle chain holding the MSS clamp, jumped to from FORWARD. */
  mangleChain: 'EGW-FORWARD',
  /** nftables: one table, `inet` so the dual-stack issue can add IPv6 rules to the same table. */
  nftFamily: 'inet',
  nftTable: 'egress_gateway',
} as const;

export interface RulesetInput {
  /** SNAT source; traffic already carrying it is the pod's own and is left alone. */
  readonly egressIp: IpAddress;
  /** Forwarded traffic leaving this interface is SNATed and has its SYNs clamped. */
  readonly underlay: string;
  /** MSS that SYNs leaving the underlay are clamped down to. */
  readonly mss: number;
}

/**
 * IPv4 + TCP headers without options. A SYN's MSS must fit in vxlan0's MTU: replies come back to
 * the client through vxlan0 and would otherwise need fragmenting (or be dropped with DF set).
 */
export const TCP_IP_HEADER_BYTES = 40;

export function mssForMtu(mtu: number): number {
  return mtu - TCP_IP_HEADER_BYTES;
}

/** The ruleset text for `backend`: what iptables-restore --noflush or `nft -f -` will be fed. */
export function renderRuleset(backend: NetfilterBackend, input: RulesetInput): string {
  return backend === 'nftables' ? renderNftRuleset(input) : renderIptablesRuleset(input);
}

/**
 * iptables-restore --noflush input. Declaring an owned chain (`:NAME - [0:0]`) flushes it when it
 * exists, so each run rewrites the owned chains whole and leaves every other chain alone. The
 * `-I <built-in> -j <owned>` lines are jumps that must exist once: the adapter drops one that
 * iptables-save already lists (iptables-restore has no "insert unless present").
 *
 * SNAT applies to traffic leaving the underlay whose source is not the egress IP: in POSTROUTING
 * the input interface is no longer known, and the only traffic that already carries the pod's
 * address is the pod's own, so excluding it limits the rule to forwarded traffic without a mark.
 */
export function renderIptablesRuleset(input: RulesetInput): string {
  const { egressIp, underlay, mss } = input;
  assertIpv4(egressIp);
  return [
    '*nat',
    `:${OWNED.natChain} - [0:0]`,
    `-A ${OWNED.natChain} ! -s ${egressIp.text}/32 -o ${underlay} -j SNAT --to-source ${egressIp.text} --random-fully`,
    `-I POSTROUTING -j ${OWNED.natChain}`,
    'COMMIT',
    '*mangle',
    `:${OWNED.mangleChain} - [0:0]`,
    // Only lower an MSS that is too big; TCPMSS --set-mss alone would also raise smaller ones.
    `-A ${OWNED.mangleChain} -o ${underlay} -p tcp -m tcp --tcp-flags SYN,RST SYN -m tcpmss --mss ${mss + 1}:65535 -j TCPMSS --set-mss ${mss}`,
    `-I FORWARD -j ${OWNED.mangleChain}`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * `nft -f -` input: create the table (a no-op when it exists) so that deleting it cannot fail,
 * delete it, and write it whole, all in one transaction, so a run is atomic and idempotent and
 * no other table is touched.
 */
export function renderNftRuleset(input: RulesetInput): string {
  const { egressIp, underlay, mss } = input;
  assertIpv4(egressIp);
  const table = `${OWNED.nftFamily} ${OWNED.nftTable}`;
  return [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\toifname "${underlay}" ip saddr != ${egressIp.text} snat ip to ${egressIp.text} fully-random`,
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority mangle; policy accept;',
    `\t\toifname "${underlay}" tcp flags & (syn | rst) == syn tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`,
    '\t}',
    '}',
    '',
  ].join('\n');
}

function assertIpv4(ip: IpAddress): void {
  // IPv6 SNAT is the dual-stack issue's job; a v6 address here would render a wrong rule.
  if (ip.family !== 4) throw new RangeError(`the IPv4 ruleset needs an IPv4 egress address, not ${ip.text}`);
}
