import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidr } from '../../src/model/ip';
import { packageRoot } from '../../src/package-root';
import { DecodeCache } from '../../src/policysync/decode';
import { decodeRouteUpdate } from '../../src/policysync/decode';
import type { ToDataplaneWire } from '../../src/policysync/proto';
import { decodeToDataplaneBytes, encodeToDataplane } from '../../src/policysync/proto';
import { mulberry32 } from '../fuzz/to-dataplane';
import { bytesField as encodeBytesField, stringField, varintField as encodeVarintField } from '../lab/wire-bytes';

/**
 * The generated codec (src/policysync/gen, protobufjs static code) and the thin layer over it
 * (proto.ts): regenerating gives the committed files; messages survive a round trip; what protobufjs
 * skips or refuses becomes a named 'ignored' or an 'undecodable' reason, never an exception.
 */

test('codec: scripts/gen-proto.sh regenerates exactly the committed src/policysync/gen/', () => {
  const root = packageRoot();
  const out = mkdtempSync(join(tmpdir(), 'egw-gen-'));
  try {
    const r = spawnSync('bash', [join(root, 'scripts', 'gen-proto.sh'), out], { cwd: root, encoding: 'utf8', env: { ...process.env } });
    assert.equal(r.status, 0, `gen-proto.sh failed: ${r.stderr}`);
    const committed = join(root, 'src', 'policysync', 'gen');
    const names = readdirSync(committed).sort();
    assert.deepEqual(readdirSync(out).sort(), names);
    assert.deepEqual(names, ['felixbackend.d.ts', 'felixbackend.js']);
    for (const name of names) {
      assert.equal(readFileSync(join(out, name), 'utf8'), readFileSync(join(committed, name), 'utf8'), `${name} differs: run npm run gen:proto and commit`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

/** Decodes what proto.ts encoded, and says what came back. */
function roundTrip(msg: ToDataplaneWire): ToDataplaneWire {
  const bytes = encodeToDataplane(msg);
  const r = decodeToDataplaneBytes(bytes);
  assert.ok(r.ok, `refused ${bytes.toString('hex')}: ${r.ok ? '' : r.reason}`);
  return r.message;
}

function randomMessage(rng: () => number, i: number): ToDataplaneWire {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
  const text = (): string =>
    pick(['', '100.64.1.0/26', 'node-ü', 'nöde-日本-🙂', '2001:db8::/64', '::ffff:198.51.100.7', 'x'.repeat(200), 'del\x7f', 'nul\x00', '198.51.100.7', 'node-1']);
  const int = (): number => pick([0, 1, 6, 7, 127, 128, 300, 2 ** 31 - 1, -1, -(2 ** 31), 42]);
  const bool = (): boolean => rng() < 0.5;
  const seq = pick([0, 1, i, 300, 4294967295, 4294967296, 2 ** 53 - 1]);
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

test('codec: 3000 random valid messages come back as they went in (every field, int32 and uint64 extremes)', () => {
  const rng = mulberry32(20261125);
  for (let i = 0; i < 3000; i++) {
    const msg = randomMessage(rng, i);
    const back = roundTrip(msg);
    const payload = Object.keys(msg).find((k) => k !== 'sequence_number') as keyof ToDataplaneWire;
    assert.equal(back.payload, payload, `message ${i}`);
    assert.equal(String(back.sequence_number ?? 0), String(msg.sequence_number), `message ${i} seq`);
    const want = msg[payload] as Record<string, unknown>;
    const got = back[payload] as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) {
      if (k === 'tunnel_type') {
        const t = got[k] as { ipip: boolean; vxlan: boolean; wireguard: boolean };
        assert.deepEqual({ ipip: t.ipip, vxlan: t.vxlan, wireguard: t.wireguard }, v, `message ${i} ${k}`);
      }
      else assert.equal(got[k], v, `message ${i} ${k}`);
    }
  }
});

test('codec: repeated fields in a message: the last one wins, as proto3 says', () => {
  const route = Buffer.concat([stringField(3, '100.64.9.0/26'), stringField(4, 'first'), stringField(3, '100.64.1.0/26'), stringField(4, 'node1')]);
  const r = decodeToDataplaneBytes(Buffer.concat([encodeVarintField(15, 3), encodeBytesField(23, route)]));
  assert.ok(r.ok);
  assert.equal(r.message.route_update?.dst, '100.64.1.0/26');
  assert.equal(r.message.route_update.dst_node_name, 'node1');
  // Two payloads of the oneof: the one last on the wire is the message's payload.
  const two = decodeToDataplaneBytes(Buffer.concat([encodeBytesField(23, route), encodeBytesField(1)]));
  assert.ok(two.ok);
  assert.equal(two.message.payload, 'in_sync');
});

test('codec: unknown fields are skipped (every wire type) and named only when no payload is set', () => {
  const fixed64 = Buffer.from([(12 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]);
  const fixed32 = Buffer.from([(14 << 3) | 5, 1, 2, 3, 4]);
  const route = Buffer.concat([encodeBytesField(3, Buffer.from('100.64.1.0/26')), encodeVarintField(99, 5), fixed32]);
  const withPayload = Buffer.concat([fixed64, encodeBytesField(13), encodeBytesField(23, route), encodeVarintField(15, 5)]);
  const r = decodeToDataplaneBytes(withPayload);
  assert.ok(r.ok);
  assert.deepEqual(r.unknownFields, []);
  assert.equal(r.message.payload, 'route_update');
  assert.equal(r.message.route_update?.dst, '100.64.1.0/26');
  const without = Buffer.concat([encodeBytesField(13), fixed32, encodeBytesField(13), encodeVarintField(15, 5)]);
  const u = decodeToDataplaneBytes(without);
  assert.ok(u.ok);
  assert.deepEqual(u.unknownFields, [13, 14]);
  assert.equal(String(u.message.sequence_number), '5');
  // A declared payload with the wrong wire type is not that payload (protobufjs skips it as unknown).
  const wrongType = decodeToDataplaneBytes(Buffer.concat([encodeVarintField(23, 1), encodeVarintField(15, 6)]));
  assert.ok(wrongType.ok);
  assert.equal(wrongType.message.payload, undefined);
  assert.deepEqual(wrongType.unknownFields, [23]);
});

test('codec: truncated and invalid input is undecodable, never an exception', () => {
  const cases: ReadonlyArray<readonly [number[], RegExp]> = [
    [[0xba, 0x01, 0x7f, 0x01], /^undecodable ToDataplane \(4 bytes\): index out of range$/],
    [[0x78, 0x80], /index out of range/],
    [[0x7f], /invalid wire type 7/],
    [[0x17], /invalid wire type 7/],
    [[0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /invalid varint/],
    // A nested field running past its message's own length.
    [[0xba, 0x01, 0x02, 0x1a, 0x05, 0x31, 0x31, 0x31, 0x31, 0x31], /index out of range/],
  ];
  for (const [bytes, want] of cases) {
    const r = decodeToDataplaneBytes(Buffer.from(bytes));
    assert.equal(r.ok, false, Buffer.from(bytes).toString('hex'));
    assert.match(r.reason, want);
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
  const cache = new DecodeCache();
  const a = decodeRouteUpdate({ type: 1, dst: '100.64.1.0/26', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' }, cache);
  const b = decodeRouteUpdate({ type: 1, dst: '100.64.2.0/26', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' }, cache);
  assert.equal(a.dstNodeIp, b.dstNodeIp);
  assert.equal(a.dstNodeIp?.text, '198.51.100.11');
  assert.throws(
    () => decodeRouteUpdate({ type: 1, dst: '2001:db8:1::/64', dst_node_name: 'n1', dst_node_ip: '198.51.100.11' }, cache),
    /dst_node_ip 198.51.100.11 is IPv4, but dst 2001:db8:1::\/64 is IPv6/,
  );
});
