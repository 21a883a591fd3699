import type { Cidr, IpAddress } from './ip';

/**
 * The three kinds of kernel entry the return path is made of, as plain values. Devices are named
 * (vxlan0, eth0), not indexed: an adapter resolves names, so a recreated device does not make every
 * entry look different.
 */

/** A route in the main table carrying the gateway's route protocol. */
export interface RouteEntry {
  readonly dst: Cidr;
  /** Next hop; absent for a route straight out of the device (scope link). */
  readonly gateway?: IpAddress;
  readonly dev: string;
  /** The next hop is on the link even though no address of the device covers it (RTNH_F_ONLINK). */
  readonly onlink: boolean;
}

/** A permanent neighbour (ARP/NDP) entry. */
export interface NeighbourEntry {
  readonly ip: IpAddress;
  /** "aa:bb:cc:dd:ee:ff", lower case. */
  readonly mac: string;
  readonly dev: string;
}

/** A permanent forwarding entry of a VXLAN device: frames for `mac` are sent to `dst`. */
export interface FdbEntry {
  readonly mac: string;
  readonly dst: IpAddress;
  readonly dev: string;
}

/** The whole return path: entries of all three classes. */
export interface ReturnPathEntries {
  readonly routes: readonly RouteEntry[];
  readonly neighbours: readonly NeighbourEntry[];
  readonly fdb: readonly FdbEntry[];
}

export type EntryClass = 'route' | 'neighbour' | 'fdb';

/** How one class of entry is keyed, compared and printed; the diff and the fakes share these. */
export interface EntryKind<T> {
  readonly cls: EntryClass;
  /** Identity in the kernel: two entries with the same key cannot both exist (for our purposes). */
  key(entry: T): string;
  /** iproute2-like one-line rendering; two entries are equal when their renderings are. */
  format(entry: T): string;
  /**
   * format(a) === format(b), field by field without building either text: a full resync compares
   * every entry the kernel holds (50k renderings of each side cost more than the comparison).
   */
  same(a: T, b: T): boolean;
}

export const routeKind: EntryKind<RouteEntry> = {
  cls: 'route',
  key: (r) => r.dst.text,
  format: formatRoute,
  same: (a, b) => a.dst.text === b.dst.text && a.gateway?.text === b.gateway?.text && a.dev === b.dev && a.onlink === b.onlink,
};

export const neighbourKind: EntryKind<NeighbourEntry> = {
  cls: 'neighbour',
  key: (n) => `${n.dev} ${n.ip.text}`,
  format: formatNeighbour,
  same: (a, b) => a.ip.text === b.ip.text && a.mac === b.mac && a.dev === b.dev,
};

export const fdbKind: EntryKind<FdbEntry> = {
  cls: 'fdb',
  key: (f) => `${f.dev} ${f.mac}`,
  format: formatFdb,
  same: (a, b) => a.mac === b.mac && a.dst.text === b.dst.text && a.dev === b.dev,
};

/** "100.64.1.0/26 via 198.51.100.11 dev vxlan0 onlink", as `ip route` prints it. */
export function formatRoute(r: RouteEntry): string {
  const via = r.gateway ? ` via ${r.gateway.text}` : '';
  const scope = r.gateway ? '' : ' scope link';
  return `${r.dst.text}${via} dev ${r.dev}${scope}${r.onlink ? ' onlink' : ''}`;
}

/** "198.51.100.11 dev vxlan0 lladdr 66:…" as `ip neigh` prints it. */
export function formatNeighbour(n: NeighbourEntry): string {
  return `${n.ip.text} dev ${n.dev} lladdr ${n.mac} PERMANENT`;
}

/** "66:… dev vxlan0 dst 198.51.100.11 self permanent" as `bridge fdb` prints it. */
export function formatFdb(f: FdbEntry): string {
  return `${f.mac} dev ${f.dev} dst ${f.dst.text} self permanent`;
}

/** Words an error message uses for one entry: "route 100.64.1.0/26 via 198.51.100.11 dev vxlan0". */
export function describeEntry(cls: 'route', e: RouteEntry): string;
export function describeEntry(cls: 'neighbour', e: NeighbourEntry): string;
export function describeEntry(cls: 'fdb', e: FdbEntry): string;
export function describeEntry(cls: EntryClass, e: RouteEntry | NeighbourEntry | FdbEntry): string;
export function describeEntry(cls: EntryClass, e: RouteEntry | NeighbourEntry | FdbEntry): string {
  switch (cls) {
    case 'route': {
      const r = e as RouteEntry;
      return `route ${r.dst.text}${r.gateway ? ` via ${r.gateway.text}` : ''} dev ${r.dev}`;
    }
    case 'neighbour': {
      const n = e as NeighbourEntry;
      return `neighbour ${n.ip.text} lladdr ${n.mac} dev ${n.dev}`;
    }
    case 'fdb': {
      const f = e as FdbEntry;
      return `fdb entry ${f.mac} dst ${f.dst.text} dev ${f.dev}`;
    }
  }
}
