import type { LinkCarrier, LinkState, VxlanSpec } from '../model/link';

/**
 * The kernel, as the rest of the gateway sees it: small interfaces named for what they manage.
 * Each has one real adapter (netlink, /proc/sys, iptables-restore / nft) and one stateful
 * in-memory fake that prints itself as text (`dump()`, all in ./fake/), for unit tests.
 */

export type { LinkCarrier, LinkState, VxlanSpec } from '../model/link';

export interface Links {
  get(name: string): Promise<LinkState | undefined>;
  /**
   * Creates the VXLAN device, or leaves it alone when one with the same parameters exists;
   * a device of that name with other parameters is replaced. Sets it up. Returns what the kernel holds.
   */
  ensureVxlan(spec: VxlanSpec): Promise<LinkState>;
  /** Deletes the device of that name; false when there was none (not an error). */
  remove(name: string): Promise<boolean>;
  /**
   * A device's IPv4 setting (net.ipv4.conf.<name>.<key>) as rtnetlink reports it; undefined when
   * the device has no IPv4 settings. Throws when the device does not exist.
   */
  ipv4Conf(name: string, key: Ipv4ConfKey): Promise<number | undefined>;
  /**
   * Sets it over rtnetlink (RTM_SETLINK, IFLA_AF_SPEC): CAP_NET_ADMIN is enough, where /proc/sys is
   * read-only in an unprivileged container.
   */
  setIpv4Conf(name: string, key: Ipv4ConfKey, value: number): Promise<void>;
}

/** The per-device IPv4 settings the project reads or writes over rtnetlink. */
export type Ipv4ConfKey = 'forwarding' | 'proxy_arp' | 'rp_filter' | 'accept_local' | 'src_valid_mark';

export interface Sysctl {
  /** Key in dotted or slashed form below /proc/sys, e.g. "net/ipv4/ip_forward". */
  get(key: string): Promise<string>;
  set(key: string, value: string): Promise<void>;
}

/** The family a ruleset is written for. */
export type NetfilterBackend = 'iptables-legacy' | 'iptables-nft' | 'nftables';

/**
 * Which rules a payload holds: iptables text for IPv4 (iptables-restore) or IPv6
 * (ip6tables-restore), or nft text for an `inet` table, which holds both families in one transaction.
 */
export type RulesetFamily = 'ipv4' | 'ipv6' | 'inet';

/**
 * Applies a ruleset the gateway owns as one atomic transaction: either all of it takes effect or
 * none of it does. Rules the gateway does not own are never touched.
 */
export interface Netfilter {
  readonly backend: NetfilterBackend;
  /**
   * `payload` is the full text of the owned chains/table (iptables-restore or nft -f syntax).
   * `family` defaults to 'ipv4' for the iptables backends and 'inet' for nftables; a family the
   * backend cannot apply (ipv6 to nft, inet to iptables) is rejected before anything runs.
   */
  apply(payload: string, family?: RulesetFamily): Promise<void>;
}

export interface LinkWatchHandlers {
  /** Every link once when the watch starts (and again after lost events), then each change the kernel reports. */
  onLink(link: LinkCarrier): void;
  /** Events were lost or the socket failed; the watch lists the links again when it can. */
  onError(err: Error): void;
}

/** Link events of the namespace, pushed by the kernel (no polling). */
export interface LinkWatch {
  /** Subscribes; throws a coded error when the kernel refuses. */
  watch(handlers: LinkWatchHandlers): void;
  close(): void;
}

/**
 * Notice that the namespace's forwarding or rp_filter settings changed, pushed by the kernel
 * (rtnetlink netconf notifications), so that what init set is checked when it changes instead of
 * being read on a timer. `what` names the change for the log; the caller reads the settings itself.
 */
export interface SysctlWatch {
  /** Subscribes; throws a coded error when the kernel refuses. Lost notices are reported as a change. */
  watch(handlers: { onChange(what: string): void; onError(err: Error): void }): void;
  close(): void;
}

/** NUD_* states by name; an entry has exactly one. */
export type NeighbourState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent' | 'none';

export interface NeighbourCacheEntry {
  readonly dev: string;
  /** Canonical address text (IPv4 or IPv6). */
  readonly ip: string;
  readonly state: NeighbourState;
}

/** Where the kernel sends a packet for a destination now: out of `dev`, to the neighbour `ip`. */
export interface NextHop {
  readonly dev: string;
  /** The gateway, or the destination itself when it is on-link. */
  readonly ip: string;
}

/**
 * The kernel's ARP/NDP cache (all of it, not only the entries the gateway programs), for the
 * carrier recovery: which neighbour a destination goes through, which entries are unresolved,
 * and deleting one so the next packet starts a fresh resolution at once.
 */
export interface NeighbourCache {
  /** The route lookup's answer for `ip`; undefined when there is no route. */
  nextHop(ip: string): Promise<NextHop | undefined>;
  /** The entries on `dev`, both families. */
  list(dev: string): Promise<NeighbourCacheEntry[]>;
  /** Deletes one entry; one already gone is not an error. */
  remove(entry: NeighbourCacheEntry): Promise<void>;
}

export interface ReturnPathWatchHandlers {
  /** The kernel reported a change to an entry the gateway owns (or lost reports): `what` says which. */
  onChange(what: string): void;
  onError(err: Error): void;
}

/** Notifications about the return path's own entries, pushed by the kernel (no polling). */
export interface ReturnPathWatch {
  /** Subscribes for the owned routes and the owned entries on `device`; throws a coded error when refused. */
  watch(device: string, handlers: ReturnPathWatchHandlers): void;
  /** Stops listening while the gateway writes (it would only hear its own changes)... */
  pause(): void;
  /** ...and listens again once its writes are acknowledged. */
  resume(): void;
  close(): void;
}
