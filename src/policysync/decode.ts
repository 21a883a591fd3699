import type { FelixRoute, FelixVtep, IpPoolType, RouteKind, SyncEvent } from '../model/felix';
import type { Cidr, Family, IpAddress } from '../model/ip';
import { cidrOf, ipv4FromCanonicalText, parseCidr, parseIp } from '../model/ip';
import { formatMac, parseMac } from '../model/mac';
import type { ReceivedMessage, RouteUpdateWire, ToDataplaneWire, VtepUpdateWire } from './proto';

/**
 * ToDataplane (as the generated decoder gives it, see proto.ts) → SyncEvent. Pure: every check a message must pass before
 * the dataplane may act on it lives here, so a bad message is named, counted and skipped, never half
 * applied.
 */

/** OSS `type` (field 1): one value per route. */
const OSS_ROUTE_TYPES: readonly RouteKind[] = [
  'cidr_info',
  'remote_workload',
  'remote_host',
  'local_workload',
  'local_host',
  'remote_tunnel',
  'local_tunnel',
];

/** Enterprise `types` (field 12): a bitmap. */
const ENTERPRISE_ROUTE_BITS: ReadonlyArray<readonly [number, RouteKind]> = [
  [1, 'remote_workload'],
  [2, 'remote_host'],
  [4, 'local_workload'],
  [8, 'local_host'],
  [16, 'remote_tunnel'],
  [32, 'local_tunnel'],
];

const IP_POOL_TYPES: readonly IpPoolType[] = ['none', 'no_encap', 'vxlan', 'ipip'];

/** Kinds whose route is only usable with the node that holds it (it is where return traffic goes). */
const KINDS_NEEDING_NODE: ReadonlySet<RouteKind> = new Set(['remote_workload', 'remote_host', 'remote_tunnel']);

class Malformed extends Error {}

/** Decodes what proto.ts decodeToDataplaneBytes produced. */
export function decodeReceived(received: ReceivedMessage, cache?: DecodeCache): SyncEvent {
  if (!received.ok) return { kind: 'malformed', seq: '0', payload: 'unknown', reason: received.reason };
  return decodeToDataplane(received.message, received.unknownFields, cache);
}

/**
 * @param unknownFields top-level field numbers protobufjs skipped, used only to name an ignored payload.
 */
export function decodeToDataplane(msg: ToDataplaneWire, unknownFields: readonly number[] = [], cache?: DecodeCache): SyncEvent {
  // uint64: a Long (unsigned, so its text is exact) or a number; Felix leaves it 0.
  const seq = msg.sequence_number ? String(msg.sequence_number) : '0';
  const payload = msg.payload;
  try {
    switch (payload) {
      case 'in_sync':
        return { kind: 'in_sync', seq };
      case 'route_update':
        return { kind: 'route_update', seq, route: decodeRouteUpdate(msg.route_update ?? {}, cache) };
      case 'route_remove':
        return { kind: 'route_remove', seq, dst: requireCidr('dst', msg.route_remove?.dst) };
      case 'vtep_update':
        return { kind: 'vtep_update', seq, vtep: decodeVtepUpdate(msg.vtep_update ?? {}) };
      case 'vtep_remove':
        return { kind: 'vtep_remove', seq, node: requireName('node', msg.vtep_remove?.node) };
      case undefined:
        return {
          kind: 'ignored',
          seq,
          payload: unknownFields.length > 0 ? unknownFields.map((n) => `field ${n}`).join(',') : 'none',
        };
      default:
        // Only reachable if the .proto gains a payload this switch does not know yet.
        return { kind: 'ignored', seq, payload: String(payload) };
    }
  } catch (err) {
    if (err instanceof Malformed) return { kind: 'malformed', seq, payload: payload ?? 'none', reason: err.message };
    throw err;
  }
}

export function decodeRouteUpdate(r: RouteUpdateWire, cache?: DecodeCache): FelixRoute {
  const dst = requireCidr('dst', r.dst);
  const kinds = routeKinds(r.type ?? 0, r.types ?? 0);
  const ipPoolType = IP_POOL_TYPES[r.ip_pool_type ?? 0];
  if (ipPoolType === undefined) throw new Malformed(`unknown ip_pool_type ${String(r.ip_pool_type)}`);
  const bounded = boundedName('dst_node_name', r.dst_node_name ?? '');
  const dstNodeName = cache ? cache.name(bounded) : bounded;
  if (dstNodeName.trim() === '') {
    const needsNode = [...kinds].filter((k) => KINDS_NEEDING_NODE.has(k));
    if (needsNode.length > 0) throw new Malformed(`${needsNode.join('+')} route for ${dst.text} has an empty dst_node_name`);
  }
  const dstNodeIp = nodeIp(r.dst_node_ip, dst, cache);
  const t = r.tunnel_type;
  // Shared, never mutated (FelixRoute is read-only): one object per combination, not per route.
  const tunnel = t ? (TUNNELS[(t.ipip === true ? 1 : 0) | (t.vxlan === true ? 2 : 0) | (t.wireguard === true ? 4 : 0)] ?? NO_TUNNEL) : NO_TUNNEL;
  const sameSubnet = r.same_subnet === true;
  const natOutgoing = r.nat_outgoing === true;
  const localWorkload = r.local_workload === true;
  const borrowed = r.borrowed === true;
  // Two literals rather than a spread: one object per route, not two.
  return dstNodeIp
    ? { dst, kinds, ipPoolType, dstNodeName, dstNodeIp, sameSubnet, natOutgoing, localWorkload, borrowed, tunnel }
    : { dst, kinds, ipPoolType, dstNodeName, sameSubnet, natOutgoing, localWorkload, borrowed, tunnel };
}

const NO_TUNNEL: FelixRoute['tunnel'] = Object.freeze({ ipip: false, vxlan: false, wireguard: false });
const TUNNELS: readonly FelixRoute['tunnel'][] = Array.from({ length: 8 }, (_, i) =>
  i === 0 ? NO_TUNNEL : Object.freeze({ ipip: (i & 1) !== 0, vxlan: (i & 2) !== 0, wireguard: (i & 4) !== 0 }),
);

/** One set per single kind (the OSS case), shared by every route of that kind; read-only by type. */
const SINGLE_KINDS: ReadonlyMap<RouteKind, ReadonlySet<RouteKind>> = new Map(OSS_ROUTE_TYPES.map((k) => [k, new Set([k])]));

/**
 * What repeats across every route of a node (10k routes, ~100 nodes): its address, parsed once and
 * shared (IpAddress is read-only), and its name, one string for all its routes (the route store then
 * keeps the decoded route as it is, without a copy that shares them). A client keeps one of these
 * (its own, not the module's). Bounded, so a stream of ever new nodes cannot grow it without end.
 */
export class DecodeCache {
  readonly ips = new Map<string, IpAddress>();
  private readonly names = new Map<string, string>();

  /** The one string for this node name. */
  name(text: string): string {
    const shared = this.names.get(text);
    if (shared !== undefined) return shared;
    if (this.names.size >= DECODE_CACHE_MAX) this.names.clear();
    this.names.set(text, text);
    return text;
  }
}
const DECODE_CACHE_MAX = 4096;

function nodeIp(text: string | null | undefined, dst: Cidr, cache: DecodeCache | undefined): IpAddress | undefined {
  if (!text) return undefined;
  const cached = cache?.ips.get(text);
  if (cached && cached.family === dst.family) return cached;
  const ip = optionalIp('dst_node_ip', text, dst.family, `dst ${dst.text}`);
  if (ip && cache) {
    if (cache.ips.size >= DECODE_CACHE_MAX) cache.ips.clear();
    cache.ips.set(text, ip);
  }
  return ip;
}

/**
 * OSS Felix fills `type`; Enterprise fills the `types` bitmap. When `types` has bits, it wins (it
 * carries every kind at once). Undeclared bits next to known ones are dropped, so a newer Felix adding
 * a kind does not cost us the kinds we know; a value with no known kind at all is malformed.
 */
export function routeKinds(type: number, types: number): ReadonlySet<RouteKind> {
  if (types !== 0) {
    const kinds = new Set<RouteKind>();
    for (const [bit, kind] of ENTERPRISE_ROUTE_BITS) if ((types & bit) !== 0) kinds.add(kind);
    if (kinds.size === 0) throw new Malformed(`unknown route types bitmap ${types}`);
    return kinds;
  }
  const kind = Number.isInteger(type) ? OSS_ROUTE_TYPES[type] : undefined;
  if (kind === undefined) throw new Malformed(`unknown route type ${type}`);
  return SINGLE_KINDS.get(kind) ?? new Set([kind]);
}

export function decodeVtepUpdate(v: VtepUpdateWire): FelixVtep {
  const node = requireName('node', v.node);
  const mac = optionalMac('mac', v.mac);
  const macV6 = optionalMac('mac_v6', v.mac_v6);
  const ipv4Addr = optionalIp('ipv4_addr', v.ipv4_addr, 4, 'an IPv4 field');
  const parentDeviceIp = optionalIp('parent_device_ip', v.parent_device_ip, 4, 'an IPv4 field');
  const ipv6Addr = optionalIp('ipv6_addr', v.ipv6_addr, 6, 'an IPv6 field');
  const parentDeviceIpv6 = optionalIp('parent_device_ipv6', v.parent_device_ipv6, 6, 'an IPv6 field');
  return {
    node,
    ...(mac ? { mac } : {}),
    ...(ipv4Addr ? { ipv4Addr } : {}),
    ...(parentDeviceIp ? { parentDeviceIp } : {}),
    ...(macV6 ? { macV6 } : {}),
    ...(ipv6Addr ? { ipv6Addr } : {}),
    ...(parentDeviceIpv6 ? { parentDeviceIpv6 } : {}),
  };
}

/**
 * A value as it appears in a reason (and so in a log line): quoted, and cut short, so that a
 * megabyte-long field from the stream cannot turn every warning into a megabyte of log.
 */
export function shown(text: string, max = 64): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}

function requireCidr(field: string, text: string | null | undefined): Cidr {
  if (!text) throw new Malformed(`${field} is empty`);
  const cidr = canonicalIpv4Cidr(text) ?? parseCidr(text);
  if (!cidr) throw new Malformed(`${field} ${shown(text)} is not a CIDR`);
  return cidr;
}

function requireName(field: string, text: string | null | undefined): string {
  if (!text || text.trim() === '') throw new Malformed(`${field} is empty`);
  return boundedName(field, text);
}

/**
 * Node names are Kubernetes node names: at most 253 characters (a DNS subdomain). A longer one is
 * no node of the cluster (a 200 kB name once took another node's address), and would be held,
 * logged and shown in status at that size.
 */
export const MAX_NODE_NAME_LENGTH = 253;

function boundedName(field: string, text: string): string {
  if (text.length > MAX_NODE_NAME_LENGTH) {
    throw new Malformed(`${field} ${shown(text)} is longer than the ${MAX_NODE_NAME_LENGTH} characters a Kubernetes node name may have`);
  }
  return text;
}

/**
 * The common case of a dst, "a.b.c.d/len" in canonical form (no leading zeros, no spaces), read by
 * hand: parseCidr's general path (node:net validation, splits, maps, the mask loop) was a sixth of
 * the time to receive a snapshot. Anything else returns undefined and goes the general way, so the
 * result is always what parseCidr gives.
 */
function canonicalIpv4Cidr(text: string): Cidr | undefined {
  const n = text.length;
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  let i = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46 /* . */ || c === 47 /* / */) {
      if (digits === 0) return undefined;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
      if (c === 47) break;
      if (parts === 4) return undefined;
    } else return undefined;
  }
  if (parts !== 4 || i >= n) return undefined;
  const slash = i;
  let len = 0;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || digits >= 2) return undefined;
    len = len * 10 + (c - 48);
    digits++;
  }
  if (digits === 0 || len > 32 || (digits === 2 && len < 10)) return undefined;
  const address = ipv4FromCanonicalText(text.slice(0, slash));
  // Canonical and no host bits: the text is already what parseCidr would print, address included.
  if (len === 32 || ((0xffffffff >>> len) & value) === 0) return { family: 4, address, prefixLength: len, text };
  // Host bits set (rare from Felix): model/ip's cidrOf masks them off, as parseCidr does.
  return cidrOf(address, len);
}

/** Empty means "not given"; anything else must be an address of the expected family. */
function optionalIp(field: string, text: string | null | undefined, family: Family, against: string): IpAddress | undefined {
  if (!text) return undefined;
  const ip = parseIp(text);
  if (!ip) throw new Malformed(`${field} ${shown(text)} is not an IP address`);
  if (ip.family !== family) throw new Malformed(`${field} ${ip.text} is IPv${ip.family}, but ${against} is IPv${family}`);
  return ip;
}

function optionalMac(field: string, text: string | null | undefined): string | undefined {
  if (!text) return undefined;
  const bytes = parseMac(text);
  if (!bytes) throw new Malformed(`${field} ${shown(text)} is not a MAC address`);
  return formatMac(bytes);
}

/** One line per event, stable, for logs and for tests that compare text dumps. */
export function formatSyncEvent(event: SyncEvent): string {
  switch (event.kind) {
    case 'in_sync':
      return `in_sync seq=${event.seq}`;
    case 'route_update': {
      const r = event.route;
      const flags = [
        r.sameSubnet && 'same_subnet',
        r.natOutgoing && 'nat_outgoing',
        r.localWorkload && 'local_workload',
        r.borrowed && 'borrowed',
      ].filter((f): f is string => typeof f === 'string');
      const tunnel = (['ipip', 'vxlan', 'wireguard'] as const).filter((t) => r.tunnel[t]);
      return [
        `route_update seq=${event.seq} ${r.dst.text}`,
        `kinds=${[...r.kinds].sort().join('+')}`,
        `pool=${r.ipPoolType}`,
        `node=${r.dstNodeName || '-'}`,
        `node_ip=${r.dstNodeIp?.text ?? '-'}`,
        ...(flags.length > 0 ? [`flags=${flags.join(',')}`] : []),
        ...(tunnel.length > 0 ? [`tunnel=${tunnel.join(',')}`] : []),
      ].join(' ');
    }
    case 'route_remove':
      return `route_remove seq=${event.seq} ${event.dst.text}`;
    case 'vtep_update': {
      const v = event.vtep;
      const parts = [
        ['mac', v.mac],
        ['ipv4', v.ipv4Addr?.text],
        ['parent', v.parentDeviceIp?.text],
        ['mac_v6', v.macV6],
        ['ipv6', v.ipv6Addr?.text],
        ['parent_v6', v.parentDeviceIpv6?.text],
      ].filter(([, value]) => value !== undefined);
      return [`vtep_update seq=${event.seq} node=${v.node}`, ...parts.map(([k, value]) => `${k}=${value}`)].join(' ');
    }
    case 'vtep_remove':
      return `vtep_remove seq=${event.seq} node=${event.node}`;
    case 'ignored':
      return `ignored seq=${event.seq} payload=${event.payload}`;
    case 'malformed':
      return `malformed seq=${event.seq} payload=${event.payload}: ${event.reason}`;
  }
}
