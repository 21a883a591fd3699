import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, cidrHolds, cidrOf, ipFromBytes, ipv4FromCanonicalText, parseCidr, parseIp } from '../../src/model/ip';
import { mulberry32 } from '../fuzz/to-dataplane';

/** The network address of bytes/len by masking byte by byte: a reference independent of ip.ts. */
function referenceNetwork(bytes: readonly number[], len: number): string {
  const out = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return out.join('.');
}

test('ip: IPv4 ipFromBytes and cidrOf agree with a byte-wise reference on random addresses and every length', () => {
  const rng = mulberry32(20261125);
  for (let i = 0; i < 2000; i++) {
    const bytes = [0, 1, 2, 3].map(() => (rng() < 0.2 ? [0, 255][Math.floor(rng() * 2)] : Math.floor(rng() * 256)) as number);
    const ip = ipFromBytes(Uint8Array.from(bytes));
    assert.equal(ip.text, bytes.join('.'));
    assert.deepEqual([...ip.bytes], bytes);
    const len = i % 33;
    const cidr = cidrOf(ip, len);
    const want = referenceNetwork(bytes, len);
    assert.equal(cidr.address.text, want, `${ip.text}/${len}`);
    assert.equal(cidr.text, `${want}/${len}`);
    assert.equal(cidr.family, 4);
    assert.equal(cidr.prefixLength, len);
    assert.deepEqual(cidr, parseCidr(`${ip.text}/${len}`));
    assert.ok(cidrContains(cidr, ip));
  }
});

test('ip: cidrOf shares an address that is already the network address, and makes a new one otherwise', () => {
  const net = parseIp('203.0.113.64');
  assert.ok(net);
  assert.equal(cidrOf(net, 26).address, net);
  assert.equal(cidrOf(net, 25).address.text, '203.0.113.0');
  assert.equal(cidrOf(net, 0).text, '0.0.0.0/0');
  assert.equal(cidrOf(net, 32).text, '203.0.113.64/32');
});

test('ip: IPv6 cidrOf is unchanged by the IPv4 path', () => {
  const ip = parseIp('2001:db8:1:2:3:4:5:6');
  assert.ok(ip);
  assert.equal(cidrOf(ip, 64).text, '2001:db8:1:2::/64');
  assert.equal(cidrOf(ip, 127).text, '2001:db8:1:2:3:4:5:6/127');
  assert.equal(cidrOf(ip, 0).text, '::/0');
});

test('ip: ipv4FromCanonicalText gives what parseIp gives for canonical text', () => {
  for (const text of ['0.0.0.0', '198.51.100.7', '255.255.255.255', '100.64.1.0']) assert.deepEqual(ipv4FromCanonicalText(text), parseIp(text));
});

test('ip: cidrHolds agrees with cidrContains (IPv4 and IPv6, every length, in and out, across families)', () => {
  const rng = mulberry32(4242);
  const byte = (): number => (rng() < 0.3 ? [0, 255, 128, 1][Math.floor(rng() * 4)] : Math.floor(rng() * 256)) as number;
  let inside = 0;
  for (let i = 0; i < 3000; i++) {
    const v6 = i % 3 === 2;
    const n = v6 ? 16 : 4;
    const a = Array.from({ length: n }, byte);
    // Half the time b shares a's first bytes, so that long prefixes hold it too.
    const keep = rng() < 0.5 ? Math.floor(rng() * (n + 1)) : 0;
    const b = a.map((x, k) => (k < keep ? x : byte()));
    const len = Math.floor(rng() * (n * 8 + 1));
    const cidr = cidrOf(ipFromBytes(Uint8Array.from(a)), len);
    const addr = ipFromBytes(Uint8Array.from(b));
    const want = cidrContains(cidr, addr);
    if (want) inside++;
    assert.equal(cidrHolds(cidr, addr), want, `${cidr.text} ${addr.text}`);
    const other = ipFromBytes(Uint8Array.from(v6 ? [b[0], b[1], b[2], b[3]] as number[] : [...b, ...b, ...b, ...b]));
    assert.equal(cidrHolds(cidr, other), false, `${cidr.text} ${other.text}`);
  }
  assert.ok(inside > 300 && inside < 2700, `both outcomes are exercised (${inside} inside)`);
});
