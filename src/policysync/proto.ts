/**
 * The PolicySync service as plain JavaScript objects: the shapes of proto/felixbackend.proto's messages
 * once decoded, as proto-loader makes them (keepCase, uint64 as decimal strings, enums as numbers,
 * defaults filled in, a virtual `payload` naming the oneof member). Names are the .proto's own, so the
 * wire form and the code read the same.
 *
 * The daemon needs no .proto loader at run time: wire-decode.ts reads ToDataplane and client.ts writes
 * SyncRequest by hand. The .proto stays the contract: test/lab/proto-loader.ts loads it with
 * proto-loader (a dev dependency), and tests hold the hand-written code to what that makes.
 */

export const SYNC_METHOD_PATH = '/felix.PolicySync/Sync';
export const L3_ROUTES_SUBSCRIPTION = 'l3-routes';

/** Field numbers of ToDataplane that this project declares; any other is a payload we skip. */
export const TO_DATAPLANE_FIELDS = {
  in_sync: 1,
  sequence_number: 15,
  route_update: 23,
  route_remove: 24,
  vtep_update: 25,
  vtep_remove: 26,
} as const;

export interface SyncRequestWire {
  supports_drop_action_override?: boolean;
  supports_dataplane_stats?: boolean;
  subscription_type?: string;
  supports_ipv6_route_updates?: boolean;
}

export interface TunnelTypeWire {
  ipip?: boolean;
  vxlan?: boolean;
  wireguard?: boolean;
}

export interface RouteUpdateWire {
  type?: number;
  ip_pool_type?: number;
  dst?: string;
  dst_node_name?: string;
  dst_node_ip?: string;
  same_subnet?: boolean;
  nat_outgoing?: boolean;
  local_workload?: boolean;
  tunnel_type?: TunnelTypeWire | null;
  borrowed?: boolean;
  types?: number;
}

export interface RouteRemoveWire {
  dst?: string;
}

export interface VtepUpdateWire {
  node?: string;
  mac?: string;
  ipv4_addr?: string;
  parent_device_ip?: string;
  mac_v6?: string;
  ipv6_addr?: string;
  parent_device_ipv6?: string;
}

export interface VtepRemoveWire {
  node?: string;
}

export type PayloadName = 'in_sync' | 'route_update' | 'route_remove' | 'vtep_update' | 'vtep_remove';

/** A decoded ToDataplane. `payload` is undefined when no declared payload was set. */
export interface ToDataplaneWire {
  sequence_number?: string;
  payload?: PayloadName;
  in_sync?: Record<string, never> | null;
  route_update?: RouteUpdateWire | null;
  route_remove?: RouteRemoveWire | null;
  vtep_update?: VtepUpdateWire | null;
  vtep_remove?: VtepRemoveWire | null;
}

/**
 * What the client's deserializer hands on: the decoded message plus the numbers of top-level fields
 * we do not declare (so an 'ignored' event can say which payload it was), or the reason the bytes
 * did not decode at all (so one bad message becomes a 'malformed' event instead of failing the call).
 */
export type ReceivedMessage =
  | { readonly ok: true; readonly message: ToDataplaneWire; readonly unknownFields: readonly number[] }
  | { readonly ok: false; readonly reason: string };
