import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIp, type IpAddress } from '../../src/model/ip';
import { RequestWriter } from '../../src/kernel/netlink/writer';

const ip = (text: string): IpAddress => {
  const a = parseIp(text);
  assert.ok(a, text);
  return a;
};

/** Messages of an encoded batch as hex, one per request, cut at the recorded starts. */
function hexes(bytes: Buffer, starts: ArrayLike<number>, count: number): string[] {
  return Array.from({ length: count }, (_, k) => bytes.subarray(starts[k] as number, starts[k + 1] as number).toString('hex'));
}

test('requests are written back to back: header, family header, aligned attributes, starts recorded', () => {
  const w = new RequestWriter(1, 16); // far too small: it must grow
  const at = w.begin(24, 0x400, 12);
  w.u8(at, 2);
  w.u8(at + 1, 26);
  w.u32(at + 8, 4);
  w.attrU32(15, 254);
  w.attrIp(1, ip('100.64.1.128'));
  w.attrBytes(2, Buffer.from([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
  w.finish();
  const at2 = w.begin(25, 0, 12);
  w.i32(at2 + 4, -1);
  w.u16(at2 + 8, 0x80);
  w.attrIp(5, ip('2001:db8::7'));
  w.finish();
  assert.equal(w.count, 2);
  const { bytes, starts, count } = w.done();
  assert.equal(count, 2);
  assert.deepEqual(Array.from(starts), [0, 56, 104]);
  assert.deepEqual(hexes(bytes, starts, count), [
    // nlmsghdr: length 56, type 24, flags CREATE|REQUEST, seq and port 0 (the session's);
    // rtmsg; table 254; dst; a 6-byte attribute padded to 8
    '38000000' + '1800' + '0104' + '00000000' + '00000000' + '021a0000' + '00000000' + '04000000' + '08000f00fe000000' + '0800010064400180' + '0a000200aabbccddeeff0000',
    // length 48, type 25, REQUEST only; ndmsg-shaped header; a 16-byte address
    '30000000' + '1900' + '0100' + '00000000' + '00000000' + '00000000' + 'ffffffff' + '80000000' + '14000500' + '20010db8000000000000000000000007',
  ]);
});

test('an IPv4 address written from its text has the same bytes as from its byte form', () => {
  for (const text of ['0.0.0.0', '100.64.255.1', '198.51.100.9', '255.255.255.255']) {
    const a = new RequestWriter();
    a.begin(24, 0, 0);
    a.attrIp(1, ip(text));
    a.finish();
    const b = new RequestWriter();
    b.begin(24, 0, 0);
    b.attrBytes(1, ip(text).bytes);
    b.finish();
    assert.equal(a.done().bytes.toString('hex'), b.done().bytes.toString('hex'), text);
  }
});

test('thousands of requests grow the buffer and the starts without losing any', () => {
  const w = new RequestWriter(4);
  for (let i = 0; i < 5000; i++) {
    const at = w.begin(24, 0, 12);
    w.u32(at + 8, i);
    w.attrU32(4, i * 3);
    w.finish();
  }
  const { bytes, starts, count } = w.done();
  assert.equal(count, 5000);
  assert.equal(bytes.length, 5000 * 36);
  for (let k = 0; k < count; k++) {
    const off = starts[k] as number;
    assert.equal(off, k * 36);
    assert.equal(bytes.readUInt32LE(off), 36);
    assert.equal(bytes.readUInt32LE(off + 16 + 8), k);
    assert.equal(bytes.readUInt32LE(off + 16 + 12 + 4), k * 3);
  }
});

test('misuse is refused rather than writing a corrupt batch', () => {
  const w = new RequestWriter();
  assert.throws(() => w.finish(), /without begin/);
  w.begin(24, 0, 12);
  assert.throws(() => w.begin(24, 0, 12), /before finish/);
  assert.throws(() => w.done(), /still open/);
});
