import type { DiffKind } from '../dataplane/diff';
import {
  formatNexthop,
  formatNexthopGroup,
  formatRule,
  formatTableRoute,
  type NexthopEntry,
  type NexthopGroupEntry,
  type RuleEntry,
  type TableRouteEntry,
} from '../model/policy-routing';

/**
 * How the steering's kernel entries are keyed and compared for the project's one diff: entries are
 * equal when they print the same; the key is what the kernel cannot hold twice (for rules, what
 * the agent never wants twice: one rule per source address at its priority).
 */

export const ruleKind: DiffKind<RuleEntry> & { format(r: RuleEntry): string } = {
  // A pod's rule: one per source address; a flow pin: one per mark.
  key: (r) => `${r.src.text}${r.fwmark ? ` fwmark ${r.fwmark.value}/${r.fwmark.mask}` : ''} ${r.priority}`,
  same: (a, b) => formatRule(a) === formatRule(b),
  format: formatRule,
};

/** A table holds one route per destination and metric (the gateway route and the backstop share a dst). */
export const tableRouteKind: DiffKind<TableRouteEntry> & { format(r: TableRouteEntry): string } = {
  key: (r) => `${r.table} ${r.dst.text} ${r.metric}`,
  same: (a, b) => formatTableRoute(a) === formatTableRoute(b),
  format: formatTableRoute,
};

export const nexthopKind: DiffKind<NexthopEntry> & { format(n: NexthopEntry): string } = {
  key: (n) => String(n.id),
  same: (a, b) => formatNexthop(a) === formatNexthop(b),
  format: formatNexthop,
};

export const groupKind: DiffKind<NexthopGroupEntry> & { format(g: NexthopGroupEntry): string } = {
  key: (g) => String(g.id),
  same: (a, b) => formatNexthopGroup(a) === formatNexthopGroup(b),
  format: formatNexthopGroup,
};
