/**
 * ToDataplane messages for fuzzing the PolicySync path: valid ones whose effect is known, bad ones
 * that must be counted as malformed, and garbage (random bytes, mutations of valid encodings)
 * whose only requirement is that nothing crashes and every message is accounted for.
 *
 * Seeded (mulberry32), so a failing run is replayed by its seed: FUZZ_SEED and FUZZ_COUNT set the
 * run (`make fuzz` runs a long one with a fresh seed and prints it).
 */
import type { IPPoolType, RouteType, RouteUpdateWire, ToDataplaneWire } from '../../src/policysync/proto';
import { encodeToDataplane } from '../../src/policysync/proto';
import { prng } from '../unit/dataplane-fixtures';

export type Rng = () => number;

/** Seeded PRNG (mulberry32): the one the dataplane tests already use, under the name the fuzz tests know. */
export const mulberry32: (seed: number) => Rng = prng;

export function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export function pickOne<T>(rng: Rng, xs: readonly T[]): T {
  const x = xs[Math.floor(rng() * xs.length)];
  if (x === undefined) throw new Error('pickOne of an empty list');
  return x;
}

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

export const REMOTE_WORKLOAD = 1;
export const POOL_VXLAN = 2;

/** Client nodes the valid messages use: name and IPv4 address. */
export const NODES: ReadonlyArray<readonly [string, string]> = [
  ['node1', '198.51.100.11'],
  ['node3', '198.51.100.13'],
  ['node4', '198.51.100.14'],
];

/** Destinations the valid messages use: 64 /26 blocks in 100.64.16.0/20 (clear of the gateway's own 100.64.2.7). */
export function blockDst(i: number): string {
  return `100.64.${16 + Math.floor(i / 4)}.${(i % 4) * 64}/26`;
}

export function routeUpdate(dst: string, node: readonly [string, string], extra: Partial<RouteUpdateWire> = {}): ToDataplaneWire {
  return { route_update: { type: REMOTE_WORKLOAD, ip_pool_type: POOL_VXLAN, dst, dst_node_name: node[0], dst_node_ip: node[1], ...extra } };
}

export function encode(msg: ToDataplaneWire, seq: number): Buffer {
  return encodeToDataplane({ ...msg, sequence_number: seq });
}

/** Bad messages that decode but that the gateway must refuse; each must count as malformed. */
export function badMessage(rng: Rng): { name: string; msg: ToDataplaneWire } {
  const node = pickOne(rng, NODES);
  const dst = blockDst(int(rng, 0, 63));
  const huge = (unit: string): string => unit.repeat(int(rng, 10_000, 200_000));
  const cases: Array<() => { name: string; msg: ToDataplaneWire }> = [
    () => ({ name: 'prefix too long', msg: routeUpdate(dst.replace('/26', `/${int(rng, 33, 300)}`), node) }),
    () => ({ name: 'garbage dst', msg: routeUpdate(randomBytes(rng, int(rng, 1, 40)).toString('latin1'), node) }),
    () => ({ name: 'huge dst', msg: routeUpdate(huge('1'), node) }),
    () => ({ name: 'huge node ip', msg: routeUpdate(dst, [node[0], huge('9')]) }),
    () => ({ name: 'octet out of range', msg: routeUpdate(dst, [node[0], `198.51.100.${int(rng, 256, 99_999)}`]) }),
    () => ({ name: 'IPv6 node ip for an IPv4 block', msg: routeUpdate(dst, [node[0], `2001:db8::${int(rng, 1, 0xffff).toString(16)}`]) }),
    () => ({ name: 'IPv4 node ip for an IPv6 block', msg: routeUpdate(`2001:db8:${int(rng, 1, 0xffff).toString(16)}::/64`, node) }),
    () => ({ name: 'empty node name', msg: routeUpdate(dst, ['', node[1]]) }),
    () => ({ name: 'blank node name', msg: routeUpdate(dst, [' \t ', node[1]]) }),
    () => ({ name: 'unknown route type', msg: routeUpdate(dst, node, { type: int(rng, 8, 1_000_000) as RouteType }) }),
    () => ({ name: 'unknown pool type', msg: routeUpdate(dst, node, { ip_pool_type: int(rng, 4, 1_000_000) as IPPoolType }) }),
    () => ({ name: 'removal of garbage', msg: { route_remove: { dst: randomBytes(rng, int(rng, 0, 30)).toString('latin1').replace(/\//g, '') } } }),
    () => ({ name: 'removal of a huge dst', msg: { route_remove: { dst: huge('f') } } }),
  ];
  return pickOne(rng, cases)();
}

/** One garbage message: random bytes, or a valid encoding bit-flipped, truncated, spliced or repeated. */
export function garbage(rng: Rng, seq: number): { name: string; bytes: Buffer } {
  const base = encode(routeUpdate(blockDst(int(rng, 0, 63)), pickOne(rng, NODES)), seq);
  switch (int(rng, 0, 5)) {
    case 0:
      return { name: 'random bytes', bytes: randomBytes(rng, int(rng, 0, 512)) };
    case 1: {
      const b = Buffer.from(base);
      for (let i = int(rng, 1, 8); i > 0; i--) {
        const at = int(rng, 0, b.length - 1);
        b[at] = (b[at] ?? 0) ^ (1 << int(rng, 0, 7));
      }
      return { name: 'bit flips', bytes: b };
    }
    case 2:
      return { name: 'truncated', bytes: base.subarray(0, int(rng, 0, base.length - 1)) };
    case 3: {
      const at = int(rng, 0, base.length);
      return { name: 'spliced', bytes: Buffer.concat([base.subarray(0, at), randomBytes(rng, int(rng, 1, 64)), base.subarray(at)]) };
    }
    case 4:
      // Repeated fields: protobuf keeps the last value of a singular field, the last member of a oneof.
      return { name: 'repeated', bytes: Buffer.concat([base, base, encode({ in_sync: {} }, seq)]) };
    default: {
      // A field number the .proto does not declare, with a random wire type and body.
      const tag = (int(rng, 2, 20_000) << 3) | pickOne(rng, [0, 1, 2, 5]);
      return { name: 'unknown field', bytes: Buffer.concat([varint(tag), randomBytes(rng, int(rng, 1, 16))]) };
    }
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** The seed and count of a run: FUZZ_SEED / FUZZ_COUNT when set, else the CI defaults. */
export function fuzzRun(defaults: { seed: number; count: number }): { seed: number; count: number } {
  const seed = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : defaults.seed;
  const count = process.env['FUZZ_COUNT'] ? Number(process.env['FUZZ_COUNT']) : defaults.count;
  if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 1) throw new Error(`bad FUZZ_SEED=${String(seed)} / FUZZ_COUNT=${String(count)}`);
  return { seed, count };
}
