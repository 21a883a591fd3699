/** Network devices as plain values: what the kernel holds for one, and what the gateway wants of vxlan0. */

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

/** A link as a notification reports it: its carrier (IFF_LOWER_UP; a deleted link has none). */
export interface LinkCarrier {
  readonly name: string;
  readonly index: number;
  readonly carrier: boolean;
  /** The link was deleted (RTM_DELLINK). */
  readonly deleted?: boolean;
  /** IFLA_MTU, when the message carries it (the setup guard follows vxlan0's MTU by it). */
  readonly mtu?: number;
}
