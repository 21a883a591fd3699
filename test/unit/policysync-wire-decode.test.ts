import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../src/model/ip';
import { decodeRouteUpdate } from '../../src/policysync/decode';
import type { ToDataplaneWire } from '../../src/policysync/proto';
import { loadPolicySyncProto } from '../lab/proto-loader';
import { encodeBytesField, encodeVarintField } from '../../src/policysync/wire';
import { decodeToDataplaneBytes } from '../../src/policysync/wire-decode';
import { mulberry32 } from '../fuzz/to-dataplane';

/**
 * The hand-written ToDataplane reader (wire-decode.ts) against protobufjs on the same bytes: the
 * .proto is the contract, the reader only a faster way to it.
 */

const proto = loadPolicySyncProto();

function viaProtobufjs(bytes: Buffer): unknown {
  return proto.sync.responseDeserialize(bytes);
}

function viaHand(bytes: Buffer): unknown {
  const r = decodeToDataplaneBytes(bytes);
  assert.ok(r.ok, `hand decoder refused ${bytes.toString('hex')}: ${r.ok ? '' : r.reason}`);
  return r.message;
}

function randomMessage(rng: () => number, i: number): ToDataplaneWire {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
  // Around readString's short ASCII path: non-ASCII at either end, lengths 64/65 (its limit), DEL, NUL.
  const text = (): string =>
    pick([
      '',
      '100.64.1.0/26',
      'node-ü',
      'ünode',
      'nöde-日本-🙂',
      '2001:db8::/64',
      '2001:db8:0:0:1::1',
      '::ffff:198.51.100.7',
      'x'.repeat(200),
      'a'.repeat(64),
      'b'.repeat(65),
      `${'c'.repeat(63)}é`,
      'del\x7f',
      'nul\x00',
      '198.51.100.7',
      '01.2.3.4/24',
      'node-1',
    ]);
  const int = (): number => pick([0, 1, 6, 7, 127, 128, 300, 2 ** 31 - 1, -1, -(2 ** 31), 42]);
  const bool = (): boolean => rng() < 0.5;
  const seq = pick(['0', '1', String(i), '300', '4294967295', '4294967296', '9007199254740993', '18446744073709551615']);
  switch (i % 6) {
    case 0:
      return { sequence_number: seq, in_sync: {} };
    case 1:
    case 2:
      return {
        sequence_number: seq,
        route_update: {
          type: int(),
          ip_pool_type: int(),
          dst: text(),
          dst_node_name: text(),
          dst_node_ip: text(),
          same_subnet: bool(),
          nat_outgoing: bool(),
          local_workload: bool(),
          ...(bool() ? { tunnel_type: { ipip: bool(), vxlan: bool(), wireguard: bool() } } : {}),
          borrowed: bool(),
          types: int(),
        },
      };
    case 3:
      return { sequence_number: seq, route_remove: { dst: text() } };
    case 4:
      return {
        sequence_number: seq,
        vtep_update: { node: text(), mac: text(), ipv4_addr: text(), parent_device_ip: text(), mac_v6: text(), ipv6_addr: text(), parent_device_ipv6: text() },
      };
    default:
      return { sequence_number: seq, vtep_remove: { node: text() } };
  }
}

test('wire-decode: 3000 random valid messages decode exactly as protobufjs decodes them', () => {
  const rng = mulberry32(20261125);
  for (let i = 0; i < 3000; i++) {
    const bytes = proto.sync.responseSerialize(randomMessage(rng, i));
    assert.deepEqual(viaHand(bytes), viaProtobufjs(bytes), `message ${i}: ${bytes.toString('hex')}`);
  }
});

test('wire-decode: string fields of random bytes (invalid UTF-8 too) and repeated fields decode as protobufjs does', () => {
  const rng = mulberry32(20261126);
  const randomBytes = (): Buffer => {
    const n = Math.floor(rng() * 80);
    const out = Buffer.alloc(n);
    // Mostly ASCII, some bytes >= 0x80 (continuation bytes, lead bytes, invalid ones).
    for (let i = 0; i < n; i++) out[i] = rng() < 0.9 ? Math.floor(rng() * 0x80) : 0x80 + Math.floor(rng() * 0x80);
    return out;
  };
  for (let i = 0; i < 2000; i++) {
    // RouteUpdate dst (3), dst_node_name (4), dst_node_ip (5), each present 0-2 times: the last wins.
    const fields: Buffer[] = [];
    for (const field of [3, 4, 5, 4, 3, 5]) if (rng() < 0.6) fields.push(encodeBytesField(field, randomBytes()));
    const route = Buffer.concat(fields.sort(() => rng() - 0.5));
    const vtep = Buffer.concat([1, 2, 3, 4, 5, 6, 7, 1].map((f) => encodeBytesField(f, randomBytes())));
    const payload = [
      encodeBytesField(23, route),
      encodeBytesField(24, encodeBytesField(2, randomBytes())),
      encodeBytesField(25, vtep),
      encodeBytesField(26, encodeBytesField(1, randomBytes())),
    ][i % 4] as Buffer;
    const bytes = Buffer.concat([encodeVarintField(15, i), payload]);
    assert.deepEqual(viaHand(bytes), viaProtobufjs(bytes), `message ${i}: ${bytes.toString('hex')}`);
  }
});

test('wire-decode: unknown fields are skipped (every wire type) and named only when no payload is set', () => {
  const fixed64 = Buffer.from([(12 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  const fixed32 = Buffer.from([(14 << 3) | 5, 1, 2, 3, 4]);
  const route = Buffer.concat([encodeBytesField(3, Buffer.from('100.64.1.0/26')), encodeVarintField(99, 5), fixed32]);
  const withPayload = Buffer.concat([fixed64, encodeBytesField(13), encodeBytesField(23, route), encodeVarintField(15, 5)]);
  assert.deepEqual(viaHand(withPayload), viaProtobufjs(withPayload));
  const r = decodeToDataplaneBytes(withPayload);
  assert.deepEqual(r.ok && r.unknownFields, []);
  const without = Buffer.concat([encodeBytesField(13), fixed32, encodeBytesField(13), encodeVarintField(15, 5)]);
  const u = decodeToDataplaneBytes(without);
  assert.deepEqual(u.ok && u.unknownFields, [13, 14]);
  assert.deepEqual(u.ok && u.message, viaProtobufjs(without));
});

test('wire-decode: truncated and invalid input is undecodable, never an exception', () => {
  const cases: ReadonlyArray<readonly [number[], RegExp]> = [
    [[0xba, 0x01, 0x7f, 0x01], /^undecodable ToDataplane \(4 bytes\): index out of range$/],
    [[0x78, 0x80], /index out of range/],
    [[0x7f], /wire type 7/],
    [[0x17], /invalid wire type 7/],
    [[0x00, 0x01], /invalid field number/],
    [[0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /invalid varint/],
    // A nested field running past its message's own length (protobufjs reads on into the parent).
    [[0xba, 0x01, 0x02, 0x1a, 0x05, 0x31, 0x31, 0x31, 0x31, 0x31], /index out of range/],
    // sequence_number sent as a string.
    [[0x7a, 0x01, 0x31], /ToDataplane field 15 has wire type 2, not 0/],
  ];
  for (const [bytes, want] of cases) {
    const r = decodeToDataplaneBytes(Buffer.from(bytes));
    assert.equal(r.ok, false, Buffer.from(bytes).toString('hex'));
    assert.match(r.ok ? '' : r.reason, want);
  }
});

test('decode: the IPv4 CIDR fast path gives what parseCidr gives, and leaves the rest to it', () => {
  const texts = [
    '100.64.1.0/26',
    '100.64.1.5/26',
    '0.0.0.0/0',
    '255.255.255.255/32',
    '10.0.0.0/8',
    '10.1.2.3/0',
    '200.1.2.3/0',
    '255.255.255.255/1',
    '128.0.0.1/1',
    '203.0.113.255/25',
    '100.64.1.63/26',
    '198.51.100.7/31',
    '1.2.3.4/08',
    '1.2.3.4/032',
    ' 1.2.3.0/24',
    '1.2.3.0/24 ',
    '2001:db8::/32',
    '2001:db8::1/128',
    '1.2.3.4',
  ];
  for (const dst of texts) {
    const want = parseCidr(dst);
    assert.ok(want, dst);
    assert.deepEqual(decodeRouteUpdate({ type: 0, dst }).dst, want, dst);
  }
  for (const dst of ['01.2.3.0/24', '1.2.3.4/33', '1.2.3/24', '1.2.3.4.5/8', '256.1.1.1/8', '1.2.3.4/', '1..3.4/8', 'a.b.c.d/8', '1.2.3.4/-1']) {
    assert.equal(parseCidr(dst), undefined, dst);
    assert.throws(() => decodeRouteUpdate({ type: 0, dst }), /is not a CIDR/, dst);
  }
});

test('decode: node addresses are shared between routes, still checked against the dst family', () => {
  const a = decodeRouteUpdate({ type: 1, dst: '100.64.1.0/26', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' });
  const b = decodeRouteUpdate({ type: 1, dst: '100.64.2.0/26', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' });
  assert.equal(a.dstNodeIp, b.dstNodeIp);
  assert.equal(a.dstNodeIp?.text, '198.51.100.11');
  assert.throws(
    () => decodeRouteUpdate({ type: 1, dst: '2001:db8:1::/64', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' }),
    /dst_node_ip 198.51.100.11 is IPv4, but dst 2001:db8:1::\/64 is IPv6/,
  );
});
