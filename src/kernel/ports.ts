/**
 * The kernel, as the rest of the gateway sees it: small interfaces named for what they manage.
 * Each has one real adapter (netlink, /proc/sys, iptables-restore / nft) and one stateful
 * in-memory fake that prints itself as text (`dump()`), for unit tests.
 */

/** A VXLAN device as the gateway wants it. */
export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  /** UDP destination port. */
  readonly port: number;
  /** Name of the underlay device (eth0). */
  readonly parent: string;
  /** "aa:bb:cc:dd:ee:ff" */
  readonly mac: string;
  /** Local underlay address for encapsulated packets (the egress IP). */
  readonly local?: string;
  /** MTU; when omitted, the kernel's choice (parent MTU - 50) is kept. */
  readonly mtu?: number;
}

export interface LinkState {
  readonly name: string;
  readonly index: number;
  readonly kind: string;
  readonly up: boolean;
  readonly mtu: number;
  readonly mac: string;
  /** Set for VXLAN links. */
  readonly vxlan?: { readonly vni: number; readonly port: number; readonly parentIndex?: number; readonly local?: string };
}

export interface Links {
  get(name: string): Promise<LinkState | undefined>;
  /**
   * Creates the VXLAN device, or leaves it alone when one with the same parameters exists;
   * a device of that name with other parameters is replaced. Sets it up. Returns what the kernel holds.
   */
  ensureVxlan(spec: VxlanSpec): Promise<LinkState>;
}

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
