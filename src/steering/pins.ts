import { createHash } from 'node:crypto';
import type { RuleEntry, TableRouteEntry } from '../model/policy-routing';

/**
 * Flow pinning (issue #16; pure): every connection a steered pod starts through egress.calico is
 * marked in conntrack with its gateway's slot, and its later packets are routed by that mark to the
 * same gateway, whatever the pod's nexthop group holds by then. That is what lets a draining
 * gateway take no new connection while it carries its established ones to the end: the group drops
 * it at once (new connections hash over the others), the pin keeps the old ones on it.
 *
 *   nftables (table inet egress_gateway_agent_pins, written whole):
 *     prerouting, priority mangle:  ct state established, ct direction original,
 *                                   ct mark & MASK == SLOT
 *                                   → meta mark = (meta mark & ~MASK) | SLOT      one rule per pin
 *     postrouting, priority mangle: oifname egress.calico, ct state new, rt ip nexthop <gateway>
 *                                   → ct mark = (ct mark & ~MASK) | SLOT          one rule per pin
 *                                   (and `rt ip6 nexthop <its IPv6 next hop>` when it has one)
 *   ip rule  fwmark SLOT/MASK lookup T priority P-1 proto 69                        one per pin
 *   table T: default nhid <the gateway's nexthop> metric 10; throw <bypass>, throw <gateway>/32
 *   (the same in IPv6 for a gateway with an IPv6 address: ip -6 rule, IPv6 default and throws)
 *
 * The table is `inet` since IPv6 is steered; an agent of an earlier version left an `ip` table of
 * the same name, which every write deletes in the same transaction.
 *
 * Only established connections are pinned: a connection that has had no answer yet (its SYN went
 * to a gateway that died meanwhile) is routed by its group again when it retries, and marked anew.
 *
 * Why the throws: the mark stays on the packet when egress.calico encapsulates it, and the VXLAN
 * packet's own route lookup (to the gateway's address, from the node) would match the pin's rule
 * and loop into egress.calico again; so the pin's table hands the gateway's address (and the
 * cluster's) back to the main table. No backstop: a pin whose route is gone lets its flows fall
 * through to the pod's own table (its gateways, or `unreachable`), never to the node's path.
 *
 * Marks: only bits of MASK (AGENT_FLOW_MARK_MASK, 0x3f00 by default: outside Felix's 0xffff0000 and
 * kube-proxy's 0x4000/0x8000) are read or written, so the other owners' bits pass through. Slots
 * are read back from the kernel's rules, so they survive an agent restart (a flow's mark must keep
 * meaning its gateway). Felix's eBPF dataplane does its FIB lookup with mark 0: there the pins do
 * nothing, and a drain moves its gateway's flows at once, as without pinning.
 */

export const PINS_TABLE = { family: 'inet', name: 'egress_gateway_agent_pins' } as const;
/** The IPv4-only table earlier versions wrote: deleted with every write, and at teardown. */
export const LEGACY_PINS_TABLE = { family: 'ip', name: 'egress_gateway_agent_pins' } as const;

export interface FlowMark {
  /** Contiguous mark bits (AGENT_FLOW_MARK_MASK); slot n is n shifted to the mask's lowest bit. */
  readonly mask: number;
}

export interface Pin {
  /** The gateway's key (its IPv4 address, else its IPv6 address). */
  readonly gateway: string;
  readonly slot: number;
  /** slot << shift: the value in the mark. */
  readonly mark: number;
  readonly table: number;
  /** The next hops its connections are recognised by, per family it has (`rt ip nexthop`, `rt ip6 nexthop`). */
  readonly ipv4Nexthop?: string;
  readonly ipv6Nexthop?: string;
}

function nexthopsOf(p: Pin): Array<['ip' | 'ip6', string]> {
  const out: Array<['ip' | 'ip6', string]> = [];
  if (p.ipv4Nexthop) out.push(['ip', p.ipv4Nexthop]);
  if (p.ipv6Nexthop) out.push(['ip6', p.ipv6Nexthop]);
  return out;
}

export function shiftOf(mask: number): number {
  let shift = 0;
  while (shift < 32 && ((mask >>> shift) & 1) === 0) shift++;
  return shift;
}

/** Slots 1 to this (0 is "not pinned"). */
export function maxSlot(mask: number): number {
  return (mask >>> shiftOf(mask)) >>> 0;
}

export function markOf(slot: number, mask: number): number {
  return (slot << shiftOf(mask)) >>> 0;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/**
 * The pins' nftables table as `nft -f -` input: created (a no-op when it exists) so that deleting
 * it cannot fail, deleted, and written whole in one transaction. The table's comment carries a
 * digest of the pins, which is how `pinsPresent` recognises it whatever nft version prints it.
 */
export function renderPins(device: string, flowMark: FlowMark, pins: readonly Pin[]): string {
  const table = `${PINS_TABLE.family} ${PINS_TABLE.name}`;
  const legacy = `${LEGACY_PINS_TABLE.family} ${LEGACY_PINS_TABLE.name}`;
  const keep = hex(~flowMark.mask);
  const dev = JSON.stringify(device);
  const sorted = [...pins].sort((a, b) => a.slot - b.slot);
  return [
    `table ${legacy}`,
    `delete table ${legacy}`,
    `table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    `\tcomment ${JSON.stringify(pinsDigest(device, flowMark, pins))}`,
    '\tchain restore {',
    '\t\ttype filter hook prerouting priority mangle; policy accept;',
    ...sorted.map((p) => `\t\tct state established ct direction original ct mark & ${hex(flowMark.mask)} == ${hex(p.mark)} meta mark set meta mark & ${keep} | ${hex(p.mark)}`),
    '\t}',
    '\tchain save {',
    '\t\ttype filter hook postrouting priority mangle; policy accept;',
    ...sorted.flatMap((p) => nexthopsOf(p).map(([family, via]) => `\t\toifname ${dev} ct state new rt ${family} nexthop ${via} ct mark set ct mark & ${keep} | ${hex(p.mark)}`)),
    '\t}',
    '}',
    '',
  ].join('\n');
}

export function pinsDigest(device: string, flowMark: FlowMark, pins: readonly Pin[]): string {
  const text = [device, hex(flowMark.mask), ...[...pins].sort((a, b) => a.slot - b.slot).map((p) => [p.slot, ...nexthopsOf(p).map(([, via]) => via)].join(' '))].join('|');
  return `egress-gateway pins ${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
}

/**
 * Whether `nft list table` output (undefined: no such table) holds these pins: its comment names
 * their digest, and it has the two chains with a rule per pin each.
 */
export function pinsPresent(listing: string | undefined, device: string, flowMark: FlowMark, pins: readonly Pin[]): boolean {
  if (listing === undefined) return false;
  const lines = listing.split('\n').map((l) => l.trim());
  if (!lines.some((l) => l === `comment ${JSON.stringify(pinsDigest(device, flowMark, pins))}`)) return false;
  const chains = lines.filter((l) => l.startsWith('chain ')).length;
  const restores = lines.filter((l) => l.includes('ct direction original ct mark')).length;
  const saves = lines.filter((l) => l.startsWith('oifname') && /rt ip6? nexthop/.test(l)).length;
  return chains === 2 && restores === pins.length && saves === pins.reduce((n, p) => n + nexthopsOf(p).length, 0);
}

/**
 * The pins the kernel holds now: rule (mark → table) and that table's gateway route of the rule's
 * family (→ nexthop → the gateway's key), one per slot whichever family tells it. Only the slot,
 * mark, table and gateway are read back (the next hops are the desired state's to say).
 */
export function pinsInKernel(
  rules: readonly RuleEntry[],
  routes: readonly TableRouteEntry[],
  gatewayOfNexthop: ReadonlyMap<number, string>,
  flowMark: FlowMark,
  priority: number,
): Pin[] {
  const shift = shiftOf(flowMark.mask);
  const out = new Map<number, Pin>();
  for (const r of [...rules].sort((a, b) => a.family - b.family)) {
    if (!r.fwmark || r.unexpected || r.priority !== priority || r.fwmark.mask !== flowMark.mask) continue;
    if ((r.fwmark.value & ~flowMark.mask) !== 0 || r.fwmark.value === 0) continue;
    const slot = r.fwmark.value >>> shift;
    if (out.has(slot)) continue;
    const route = routes.find((x) => x.table === r.table && x.type === 'nexthop' && x.dst.prefixLength === 0 && x.dst.family === r.family && !x.unexpected);
    const gateway = route?.nexthopId !== undefined ? gatewayOfNexthop.get(route.nexthopId) : undefined;
    if (gateway === undefined) continue;
    out.set(slot, { gateway, slot, mark: r.fwmark.value, table: r.table });
  }
  return [...out.values()];
}
