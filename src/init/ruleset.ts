import type { NetfilterBackend, RulesetFamily } from '../kernel/ports';
import type { Family, IpAddress } from '../model/ip';

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
  /** nftables: one `inet` table holds the rules of both families, rewritten in one transaction. */
  nftFamily: 'inet',
  nftTable: 'egress_gateway',
  /**
   * nftables table of the fail-safe (both dataplanes): a drop behind the SNAT, kept apart from the
   * SNAT rules so that losing one of them (a flushed chain, a deleted table) leaves the other.
   */
  nftFailsafeTable: 'egress_gateway_failsafe',
} as const;

/** What one address family egresses with. */
export interface FamilyRules {
  /** SNAT source; traffic already carrying it is the pod's own and is left alone. */
  readonly egressIp: IpAddress;
  /** MSS that SYNs leaving the underlay are clamped down to. */
  readonly mss: number;
}

export interface RulesetInput {
  /** Forwarded traffic leaving this interface is SNATed and has its SYNs clamped. */
  readonly underlay: string;
  /** The VXLAN device client traffic arrives on (vxlan0): the fail-safe's input interface. */
  readonly tunnel?: string;
  readonly ipv4?: FamilyRules;
  readonly ipv6?: FamilyRules;
}

/** One transaction's worth of ruleset text, and which tool applies it. */
export interface RulesetPayload {
  readonly family: RulesetFamily;
  readonly text: string;
  /** 'rules': the SNAT and the MSS clamp (the backend's tool); 'failsafe': the nft drop behind them (nft). */
  readonly part: 'rules' | 'failsafe';
}

/**
 * IP + TCP headers without options, per family (IPv4 20 + 20, IPv6 40 + 20). A SYN's MSS must fit
 * in vxlan0's MTU: replies come back to the client through vxlan0 and would otherwise need
 * fragmenting (or be dropped: IPv6 routers never fragment, and IPv4 replies usually carry DF).
 */
export const TCP_IP_HEADER_BYTES = 40;
export const TCP_IPV6_HEADER_BYTES = 60;

export function mssForMtu(mtu: number, family: Family = 4): number {
  return mtu - (family === 4 ? TCP_IP_HEADER_BYTES : TCP_IPV6_HEADER_BYTES);
}

/**
 * IPv6 sources the SNAT leaves alone besides the egress address: link-local addresses are only
 * valid on their link, so rewriting one to a global address would break the pod's own link-local
 * traffic (a ping to the router, say). Forwarded client traffic never carries one.
 */
export const IPV6_LINK_LOCAL = 'fe80::/10';

/**
 * The ruleset for `backend`, in the order to apply it. iptables: one payload per family, IPv4
 * first (iptables-restore, then ip6tables-restore: two transactions, each idempotent, so a failed
 * IPv6 apply is repaired by the next run). nftables: one `inet` payload for both families.
 */
export function renderRuleset(backend: NetfilterBackend, input: RulesetInput): RulesetPayload[] {
  if (!input.ipv4 && !input.ipv6) throw new RangeError('a ruleset needs an egress address of at least one family');
  if (input.ipv4) assertFamily(input.ipv4.egressIp, 4);
  if (input.ipv6) assertFamily(input.ipv6.egressIp, 6);
  if (backend === 'nftables') return [{ family: 'inet', part: 'rules', text: renderNftRuleset(input) }];
  const out: RulesetPayload[] = [];
  if (input.ipv4) out.push({ family: 'ipv4', part: 'rules', text: renderIptablesRuleset(input.underlay, input.ipv4) });
  if (input.ipv6) out.push({ family: 'ipv6', part: 'rules', text: renderIptablesRuleset(input.underlay, input.ipv6) });
  return out;
}

/**
 * iptables-restore (or ip6tables-restore, by the egress address's family) --noflush input.
 * Declaring an owned chain (`:NAME - [0:0]`) flushes it when it exists, so each run rewrites the
 * owned chains whole and leaves every other chain alone. The `-I <built-in> -j <owned>` lines are
 * jumps that must exist once: the adapter drops one that iptables-save already lists
 * (iptables-restore has no "insert unless present").
 *
 * SNAT applies to traffic leaving the underlay whose source is not the egress IP: in POSTROUTING
 * the input interface is no longer known, and the only traffic that already carries the pod's
 * address is the pod's own, so excluding it limits the rule to forwarded traffic without a mark.
 * The chain names are the same for both families: ip6tables has tables of its own.
 */
export function renderIptablesRuleset(underlay: string, rules: FamilyRules): string {
  const { egressIp, mss } = rules;
  const host = egressIp.family === 4 ? 32 : 128;
  return [
    '*nat',
    `:${OWNED.natChain} - [0:0]`,
    ...(egressIp.family === 6 ? [`-A ${OWNED.natChain} -s ${IPV6_LINK_LOCAL} -j RETURN`] : []),
    `-A ${OWNED.natChain} ! -s ${egressIp.text}/${host} -o ${underlay} -j SNAT --to-source ${egressIp.text} --random-fully`,
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
 * no other table is touched. Both families share the inet table's chains; `ip`/`ip6` matches
 * limit the SNAT rules to their family, and `meta nfproto` the MSS clamps, whose MSS differs.
 */
export function renderNftRuleset(input: RulesetInput): string {
  const { underlay, ipv4, ipv6 } = input;
  const table = `${OWNED.nftFamily} ${OWNED.nftTable}`;
  // Written the way `nft list` prints it back (flags as "syn / syn,rst", set elements in address
  // order), so the daemon can tell an intact table from a changed one without rewriting it.
  const clamp = (proto: string, mss: number): string =>
    `\t\toifname "${underlay}" meta nfproto ${proto} tcp flags syn / syn,rst tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`;
  return [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    ...(ipv4 ? [`\t\toifname "${underlay}" ip saddr != ${ipv4.egressIp.text} snat ip to ${ipv4.egressIp.text} fully-random`] : []),
    ...(ipv6
      ? // A global address sorts before fe80::/10, as nft lists the set.
        [`\t\toifname "${underlay}" ip6 saddr != { ${ipv6.egressIp.text}, ${IPV6_LINK_LOCAL} } snat ip6 to ${ipv6.egressIp.text} fully-random`]
      : []),
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority mangle; policy accept;',
    ...(ipv4 ? [clamp('ipv4', ipv4.mss)] : []),
    ...(ipv6 ? [clamp('ipv6', ipv6.mss)] : []),
    '\t}',
    '}',
    '',
  ].join('\n');
}

/**
 * Why the fail-safe dropped a packet, by the rule that counted it (its sub-chain, in this order):
 *   - `invalid`: conntrack marked the packet invalid (a RST or FIN of a connection it has no entry
 *     for, a segment outside the connection's window, an ICMP error about a flow it never saw).
 *     NAT only translates tracked packets, so such a packet would leave with the client's own
 *     address; real traffic has them now and then (a flow moved from another gateway, an entry
 *     expired before the client was done). Dropping it is right; it says nothing about our rules.
 *   - `stale`: a packet of a connection whose conntrack entry was made without SNAT (its first packet
 *     left while the SNAT and the fail-safe were both missing). Conntrack decides NAT once per
 *     connection, so every later packet of it leaves untranslated even after the repair; the daemon
 *     deletes those entries (their next packet starts a new, translated entry).
 *   - `escaped`: any other packet, that is the first packet of a connection the SNAT did not
 *     translate (or an untracked one, which only a notrack rule makes). With our rules intact,
 *     something else stops the SNAT: that is the alarm.
 */
export type FailsafeKind = 'invalid' | 'stale' | 'escaped';

export const FAILSAFE_KINDS: readonly FailsafeKind[] = ['invalid', 'stale', 'escaped'];

/**
 * The rules of the fail-safe's sub-chain, one per kind, as `nft list` prints them back (without the
 * counter's values): the daemon tells its counters apart by these lines. `ct status confirmed`
 * tells an entry conntrack already holds (the first packet of a connection is not confirmed until it
 * has left postrouting, so a first packet dropped here never leaves an entry behind).
 */
export const FAILSAFE_RULES: Readonly<Record<FailsafeKind, string>> = {
  invalid: 'ct state invalid counter drop comment "invalid: conntrack could not place it, so NAT cannot translate it"',
  stale: 'ct status confirmed counter drop comment "stale: its connection was tracked without SNAT, before a repair"',
  escaped: 'counter drop comment "escaped: a new connection the SNAT did not translate"',
};

/** The fail-safe's sub-chain, which every packet about to leave without SNAT jumps to. */
export const FAILSAFE_CHAIN = 'without_snat';

/**
 * The fail-safe, one `nft -f -` transaction whatever the dataplane: forwarded traffic from the
 * tunnel that is about to leave the underlay with any source but the egress address of its family
 * is dropped. It hooks postrouting after source NAT (priority srcnat + 10), where the packet already
 * carries the address NAT gave it, so it only ever sees what the SNAT missed: after a flushed SNAT
 * chain, a deleted jump or table, or a foreign rule that stops our chain from being reached, a
 * client's new connection is dropped here instead of leaving with the client pod's own address.
 * In postrouting the input interface is still known for forwarded packets (the kernel passes it to
 * the hook), so the gateway's own traffic is never matched. A family without an egress address is
 * not forwarded at all. What is dropped is counted per kind (FailsafeKind) in a sub-chain, so that
 * a packet NAT could never have translated is not taken for a sign that our SNAT is bypassed;
 * packets that were translated never reach the sub-chain (one rule per family on their path, as
 * before). The daemon reads the counters.
 */
export function renderFailsafe(input: RulesetInput): RulesetPayload {
  if (input.tunnel === undefined) throw new RangeError('the fail-safe needs the tunnel device');
  const table = `${OWNED.nftFamily} ${OWNED.nftFailsafeTable}`;
  const from = `iifname "${input.tunnel}" oifname "${input.underlay}"`;
  // `ip saddr` implies IPv4 in an inet table (nft lists it without "meta nfproto").
  const rule = (proto: 'ipv4' | 'ipv6', rules: FamilyRules | undefined): string =>
    `\t\t${from} ${rules ? `${proto === 'ipv4' ? 'ip' : 'ip6'} saddr != ${rules.egressIp.text}` : `meta nfproto ${proto}`} jump ${FAILSAFE_CHAIN}`;
  const text = [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    '\tchain postrouting {',
    '\t\ttype filter hook postrouting priority srcnat + 10; policy accept;',
    rule('ipv4', input.ipv4),
    rule('ipv6', input.ipv6),
    '\t}',
    `\tchain ${FAILSAFE_CHAIN} {`,
    ...FAILSAFE_KINDS.map((k) => `\t\t${FAILSAFE_RULES[k]}`),
    '\t}',
    '}',
    '',
  ].join('\n');
  return { family: 'inet', part: 'failsafe', text };
}

/** Which kind a counted line of the fail-safe's listing is (normalized, without counter values); undefined for any other line. */
export function failsafeKindOf(line: string): FailsafeKind | undefined {
  const bare = line.trim();
  return FAILSAFE_KINDS.find((k) => FAILSAFE_RULES[k] === bare);
}

function assertFamily(ip: IpAddress, family: Family): void {
  // A wrong-family address here would render a rule nft rejects, or one that matches nothing.
  if (ip.family !== family) throw new RangeError(`the IPv${family} rules need an IPv${family} egress address, not ${ip.text}`);
}
