/**
 * Keeps Felix's NAT-outgoing off steered packets (pure: the ruleset text and its check).
 *
 * Felix masquerades pool → non-pool traffic in `nat POSTROUTING`, jumps there first and re-inserts
 * its jump every few seconds: a rule of ours in that chain would always come too late. But the
 * kernel's NAT runs the nat chains of one hook in priority order only until one of them binds the
 * connection's source (nf_nat_inet_fn stops at the first chain that set up NAT; iptables-legacy's
 * and iptables-nft's nat tables sit at priority srcnat = 100 like any nftables nat chain). So one
 * nftables chain of our own at srcnat - 1 binds every connection leaving through egress.calico to
 * its own source address (`snat to ip saddr`: a null binding that rewrites nothing), and Felix's
 * MASQUERADE never runs for it, whichever iptables flavour Felix uses and however often it
 * re-inserts its jump. Only connections routed into egress.calico are touched: the pod's other
 * traffic, and the VXLAN packets themselves (which leave through the node's interface), are not.
 */

export const NAT_EXEMPTION_TABLE = { family: 'inet', name: 'egress_gateway_agent' } as const;

/**
 * `nft -f -` input: create the table (a no-op when it exists) so that deleting it cannot fail,
 * delete it, and write it whole: one transaction, atomic and idempotent, touching no other table.
 */
export function renderNatExemption(device: string): string {
  const table = `${NAT_EXEMPTION_TABLE.family} ${NAT_EXEMPTION_TABLE.name}`;
  const dev = JSON.stringify(device);
  return [
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat - 1; policy accept;',
    `\t\toifname ${dev} meta nfproto ipv4 snat ip to ip saddr`,
    `\t\toifname ${dev} meta nfproto ipv6 snat ip6 to ip6 saddr`,
    '\t}',
    '}',
    '',
  ].join('\n');
}

/**
 * Whether `nft list table` output (undefined: no such table) still holds the exemption for
 * `device`. Checked by the lines that matter rather than the whole text, which nft versions print
 * differently ("priority srcnat - 1" or "priority 99", with or without the nfproto match).
 */
export function natExemptionPresent(listing: string | undefined, device: string): boolean {
  if (listing === undefined) return false;
  const dev = JSON.stringify(device);
  const lines = listing.split('\n').map((l) => l.trim());
  const hook = lines.some((l) => /^type nat hook postrouting priority (srcnat - 1|99);/.test(l));
  const v4 = lines.some((l) => l.startsWith(`oifname ${dev}`) && l.endsWith('snat ip to ip saddr'));
  const v6 = lines.some((l) => l.startsWith(`oifname ${dev}`) && l.endsWith('snat ip6 to ip6 saddr'));
  const extra = lines.filter((l) => l.startsWith('chain ') || /^(oifname|iifname|ip |ip6 |meta |counter|snat|masquerade|dnat|accept|drop)/.test(l)).length;
  // Exactly one chain and its two rules: anything more was written by someone else.
  return hook && v4 && v6 && extra === 3;
}
