import type { Cidr, IpAddress } from './ip';

/**
 * What Felix tells an l3-routes subscriber, after validation: plain values, no protobuf types.
 * See ../../../shared/FELIX-PROTOCOL.md for the wire form.
 */
export type RouteKind =
  | 'cidr_info'
  | 'remote_workload'
  | 'remote_host'
  | 'local_workload'
  | 'local_host'
  | 'remote_tunnel'
  | 'local_tunnel';

export type IpPoolType = 'none' | 'no_encap' | 'vxlan' | 'ipip';

export interface FelixRoute {
  readonly dst: Cidr;
  /** From OSS `type` (one kind) or Enterprise `types` (a bitmap): both land here. */
  readonly kinds: ReadonlySet<RouteKind>;
  readonly ipPoolType: IpPoolType;
  readonly dstNodeName: string;
  /** Absent for routes that name no node address (e.g. CIDR_INFO). */
  readonly dstNodeIp?: IpAddress;
  readonly sameSubnet: boolean;
  readonly natOutgoing: boolean;
  readonly localWorkload: boolean;
  readonly borrowed: boolean;
  readonly tunnel: { readonly ipip: boolean; readonly vxlan: boolean; readonly wireguard: boolean };
}

export interface FelixVtep {
  readonly node: string;
  readonly mac?: string;
  readonly ipv4Addr?: IpAddress;
  readonly parentDeviceIp?: IpAddress;
  readonly macV6?: string;
  readonly ipv6Addr?: IpAddress;
  readonly parentDeviceIpv6?: IpAddress;
}

/** One decoded ToDataplane message. `seq` is Felix's sequence_number (field 15), as a string. */
export type SyncEvent =
  | { readonly kind: 'in_sync'; readonly seq: string }
  | { readonly kind: 'route_update'; readonly seq: string; readonly route: FelixRoute }
  | { readonly kind: 'route_remove'; readonly seq: string; readonly dst: Cidr }
  | { readonly kind: 'vtep_update'; readonly seq: string; readonly vtep: FelixVtep }
  | { readonly kind: 'vtep_remove'; readonly seq: string; readonly node: string }
  /** A payload an l3-routes subscriber does not use; skipped quietly. */
  | { readonly kind: 'ignored'; readonly seq: string; readonly payload: string }
  /** A message that failed validation; logged with its seq, counted, skipped. */
  | { readonly kind: 'malformed'; readonly seq: string; readonly payload: string; readonly reason: string };

/** The stream's connection state, as the supervisor reports it. */
export type SyncConnectionState = 'connecting' | 'connected' | 'disconnected' | 'stopped';
