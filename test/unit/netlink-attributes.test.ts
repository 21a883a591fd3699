import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConntrackDecodeError, parseAttributes as parseConntrackAttributes } from '../../src/kernel/netlink/conntrack';
import { AttributeError, encodeAttribute, NLA_F_NESTED, NLA_F_NET_BYTEORDER, parseAttributes } from '../../src/kernel/netlink/attributes';

/** A map of attributes as "type=hex" text, in stream order. */
const text = (m: Map<number, Buffer>): string => [...m].map(([t, v]) => `${t}=${v.toString('hex')}`).join(' ');

test('the flag bits are not part of the type: nested, network byte order, both or neither read alike', () => {
  const stream = Buffer.concat([
    encodeAttribute(1, Buffer.from([0x01])),
    encodeAttribute(2 | NLA_F_NESTED, Buffer.from([0x02])),
    encodeAttribute(3 | NLA_F_NET_BYTEORDER, Buffer.from([0x03])),
    encodeAttribute(4 | NLA_F_NESTED | NLA_F_NET_BYTEORDER, Buffer.from([0x04])),
    encodeAttribute(0x3fff, Buffer.from([0x05])),
  ]);
  assert.equal(text(parseAttributes(stream)), '1=01 2=02 3=03 4=04 16383=05');
  assert.equal(text(parseConntrackAttributes(stream)), '1=01 2=02 3=03 4=04 16383=05', 'the conntrack decoder reads them the same way');
});

test('attributes are padded to 4 bytes, read back as views, and the last of a repeated type wins', () => {
  const a = encodeAttribute(7, Buffer.from('vxlan'));
  assert.equal(a.toString('hex'), '0900' + '0700' + Buffer.from('vxlan').toString('hex') + '000000');
  const stream = Buffer.concat([a, encodeAttribute(8, Buffer.alloc(0)), encodeAttribute(7, Buffer.from([9, 9]))]);
  const m = parseAttributes(stream);
  assert.equal(text(m), '7=0909 8=');
  const v = m.get(7);
  assert.equal(v?.buffer, stream.buffer, 'a view of the stream, not a copy');
  // Nested: an attribute's value is itself a stream.
  const outer = encodeAttribute(2 | NLA_F_NESTED, Buffer.concat([encodeAttribute(1, Buffer.from([1, 16, 0, 0])), encodeAttribute(15, Buffer.from([0x12, 0xb6]))]));
  const inner = parseAttributes(parseAttributes(outer).get(2) ?? Buffer.alloc(0));
  assert.equal(inner.get(1)?.readUInt32LE(0), 4097);
  assert.equal(inner.get(15)?.readUInt16BE(0), 4790);
});

test('a cut stream: strict throws, lenient keeps what came before the bad attribute', () => {
  const good = encodeAttribute(1, Buffer.from([1, 2, 3, 4]));
  const overrun = Buffer.concat([good, Buffer.from([0x20, 0x00, 0x02, 0x00, 0xff])]); // claims 32 bytes, 5 remain
  assert.throws(() => parseAttributes(overrun), (e: unknown) => e instanceof AttributeError && /attribute 2 at offset 8 claims 32 bytes, 5 remain/.test(e.message));
  assert.equal(text(parseAttributes(overrun, 'lenient')), '1=01020304');
  const tooShort = Buffer.concat([good, Buffer.from([0x02, 0x00, 0x03, 0x00])]); // length 2 < header
  assert.throws(() => parseAttributes(tooShort), AttributeError);
  assert.equal(text(parseAttributes(tooShort, 'lenient')), '1=01020304');
  const stray = Buffer.concat([good, Buffer.from([0x00, 0x00])]);
  assert.throws(() => parseAttributes(stray), /2 stray bytes after the last attribute/);
  assert.equal(text(parseAttributes(stray, 'lenient')), '1=01020304');
  // The conntrack decoder reports the same problem as a malformed message.
  assert.throws(() => parseConntrackAttributes(overrun), (e: unknown) => e instanceof ConntrackDecodeError && /claims 32 bytes/.test(e.message));
});

test('an attribute too long for its 16-bit length is refused', () => {
  assert.throws(() => encodeAttribute(1, Buffer.alloc(0xffff)), AttributeError);
  assert.equal(encodeAttribute(1, Buffer.alloc(0xfffb)).readUInt16LE(0), 0xffff);
});
