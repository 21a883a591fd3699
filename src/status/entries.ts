import type { ReturnPathEntries } from '../dataplane/diff';
import type { EntryAttribution } from '../dataplane/reconciler';
import { cidrHolds, parseCidr, type Cidr } from '../model/ip';
import type { FdbEntry, NeighbourEntry, RouteEntry } from '../model/entries';

/**
 * What the daemon has programmed, entry by entry, with the client node each came from: the answer
 * to "is my client block programmed, and via which node?" (`egress-gateway status --entries`,
 * `--block`, `--node`). Built from what the daemon holds after its last pass, like the rest of the
 * status: nothing is read from the kernel for it. Pure.
 */

/** Bumped when a field changes meaning or goes away. */
export const ENTRIES_FORMAT = 1;
/** Where the daemon serves it on its status socket. */
export const ENTRIES_PATH = '/status/entries';
/** More than this many entries are counted, not listed: a filter narrows it. */
export const MAX_LISTED_ENTRIES = 10_000;

export interface EntriesFilter {
  /** Routes whose destination overlaps this CIDR, with the neighbour and FDB entries of their nodes. */
  readonly block?: string;
  /** The entries of this client node. */
  readonly node?: string;
}

export interface ListedRoute {
  readonly dst: string;
  readonly via?: string;
  readonly dev: string;
  readonly onlink: boolean;
  /** The client node the route is for; absent when no route Felix sent names it (an entry on its way out). */
  readonly node?: string;
}

export interface ListedNeighbour {
  readonly address: string;
  readonly mac: string;
  readonly dev: string;
  readonly node?: string;
}

export interface ListedFdb {
  readonly mac: string;
  readonly dst: string;
  readonly dev: string;
  readonly node?: string;
}

export interface EntriesDocument {
  readonly format: typeof ENTRIES_FORMAT;
  readonly kind: 'entries';
  /** As /readiness says now, so the command's exit status means what `status` means. */
  readonly ready: boolean;
  readonly filter: EntriesFilter;
  /** Everything held, before the filter. */
  readonly programmed: { readonly routes: number; readonly neighbours: number; readonly fdb: number };
  readonly routes: readonly ListedRoute[];
  readonly neighbours: readonly ListedNeighbour[];
  readonly fdb: readonly ListedFdb[];
  /** Entries the filter matched beyond MAX_LISTED_ENTRIES. */
  readonly omitted: number;
}

/** A filter as the command line or the socket's query gave it: checked, so a typo is an error, not an empty list. */
export function checkEntriesFilter(filter: EntriesFilter): { block?: Cidr; node?: string } {
  const out: { block?: Cidr; node?: string } = {};
  if (filter.block !== undefined) {
    const c = parseCidr(filter.block);
    if (!c) throw new RangeError(`--block ${JSON.stringify(filter.block)} is not a CIDR (e.g. 100.64.1.0/26)`);
    out.block = c;
  }
  if (filter.node !== undefined) {
    if (filter.node === '' || filter.node.length > 253) throw new RangeError('--node must be a node name (1 to 253 characters)');
    out.node = filter.node;
  }
  return out;
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrHolds(a, b.address) || cidrHolds(b, a.address));
}

export function listEntries(held: ReturnPathEntries, attribution: EntryAttribution, filter: EntriesFilter, ready: boolean, max = MAX_LISTED_ENTRIES): EntriesDocument {
  const f = checkEntriesFilter(filter);
  const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  let routes: ListedRoute[] = held.routes.map((r) => route(r, attribution.nodeOfRoute(r)));
  let neighbours: ListedNeighbour[] = held.neighbours.map((n) => neighbour(n, attribution.nodeOfMac(n.mac)));
  let fdb: ListedFdb[] = held.fdb.map((e) => forwarding(e, attribution.nodeOfMac(e.mac)));
  if (f.block) {
    const block = f.block;
    const matched = held.routes.filter((r) => overlaps(r.dst, block));
    const nodes = new Set(matched.map((r) => attribution.nodeOfRoute(r)).filter((n): n is string => n !== undefined));
    const via = new Set(matched.map((r) => r.gateway?.text).filter((x): x is string => x !== undefined));
    routes = matched.map((r) => route(r, attribution.nodeOfRoute(r)));
    neighbours = neighbours.filter((n) => via.has(n.address) || (n.node !== undefined && nodes.has(n.node)));
    fdb = fdb.filter((e) => e.node !== undefined && nodes.has(e.node));
  }
  if (f.node !== undefined) {
    const node = f.node;
    routes = routes.filter((r) => r.node === node);
    neighbours = neighbours.filter((n) => n.node === node);
    fdb = fdb.filter((e) => e.node === node);
  }
  routes.sort((a, b) => byText(a.dst, b.dst));
  neighbours.sort((a, b) => byText(a.address, b.address));
  fdb.sort((a, b) => byText(a.mac, b.mac));
  // Cut in order routes, neighbours, FDB: the listing stays bounded whatever is held.
  let room = max;
  const take = <T>(xs: T[]): T[] => {
    const kept = xs.slice(0, Math.max(0, room));
    room -= kept.length;
    return kept;
  };
  const total = routes.length + neighbours.length + fdb.length;
  const listed = { routes: take(routes), neighbours: take(neighbours), fdb: take(fdb) };
  return {
    format: ENTRIES_FORMAT,
    kind: 'entries',
    ready,
    filter: { ...(filter.block !== undefined ? { block: filter.block } : {}), ...(filter.node !== undefined ? { node: filter.node } : {}) },
    programmed: { routes: held.routes.length, neighbours: held.neighbours.length, fdb: held.fdb.length },
    ...listed,
    omitted: total - (listed.routes.length + listed.neighbours.length + listed.fdb.length),
  };
}

function route(r: RouteEntry, node: string | undefined): ListedRoute {
  return { dst: r.dst.text, ...(r.gateway ? { via: r.gateway.text } : {}), dev: r.dev, onlink: r.onlink, ...(node !== undefined ? { node } : {}) };
}

function neighbour(n: NeighbourEntry, node: string | undefined): ListedNeighbour {
  return { address: n.ip.text, mac: n.mac, dev: n.dev, ...(node !== undefined ? { node } : {}) };
}

function forwarding(e: FdbEntry, node: string | undefined): ListedFdb {
  return { mac: e.mac, dst: e.dst.text, dev: e.dev, ...(node !== undefined ? { node } : {}) };
}

/** The listing as a table: one section per class. */
export function renderEntriesTable(doc: EntriesDocument): string {
  const out: string[] = [];
  const f = doc.filter;
  const filter = [f.block !== undefined ? `block ${f.block}` : '', f.node !== undefined ? `node ${f.node}` : ''].filter(Boolean).join(', ');
  out.push(`PROGRAMMED ${filter ? `(filter: ${filter})` : '(all)'}: ${doc.routes.length} routes, ${doc.neighbours.length} neighbours, ${doc.fdb.length} FDB entries`);
  out.push(`  of ${doc.programmed.routes} routes, ${doc.programmed.neighbours} neighbours, ${doc.programmed.fdb} FDB entries held${doc.omitted > 0 ? `; ${doc.omitted} more matched (narrow it with --block or --node)` : ''}`);
  const table = (title: string, headers: string[], rows: string[][]): void => {
    out.push('', title);
    if (rows.length === 0) {
      out.push('  none');
      return;
    }
    const all = [headers, ...rows];
    const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
    for (const r of all) out.push(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd());
  };
  table('ROUTES', ['DST', 'VIA', 'DEV', 'NODE'], doc.routes.map((r) => [r.dst, r.via ?? '-', `${r.dev}${r.onlink ? ' onlink' : ''}`, r.node ?? '-']));
  table('NEIGHBOURS', ['ADDRESS', 'MAC', 'DEV', 'NODE'], doc.neighbours.map((n) => [n.address, n.mac, n.dev, n.node ?? '-']));
  table('FDB', ['MAC', 'DST', 'DEV', 'NODE'], doc.fdb.map((e) => [e.mac, e.dst, e.dev, e.node ?? '-']));
  return `${out.join('\n')}\n`;
}
