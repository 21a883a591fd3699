/**
 * Netlink attributes (struct nlattr, linux/netlink.h): a 16-bit length (header included) and a
 * 16-bit type in host byte order (little-endian on every platform the image is built for, amd64 and
 * arm64), the payload, then padding to 4 bytes. The type's top two bits are flags, not part of the
 * type: NLA_F_NESTED (newer kernels set it on nested attributes, e.g. IFLA_LINKINFO, the conntrack
 * tuples) and NLA_F_NET_BYTEORDER. Every parser of the project reads attributes here, so all mask
 * them the same way.
 */

import { NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK } from './constants';

export { NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK };

/** An attribute stream that is cut or inconsistent. */
export class AttributeError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'AttributeError';
  }
}

/**
 * How to take a malformed stream: `strict` throws AttributeError (for messages whose every field
 * matters, such as conntrack events); `lenient` keeps the attributes before the first bad one (for
 * kernel replies read for a few fields, where newer kernels may append what we do not know).
 */
export type AttributeMode = 'strict' | 'lenient';

/**
 * The attributes of one level, by type without the flag bits; the last wins on a repeat. Values are
 * views of `buf`, not copies.
 */
export function parseAttributes(buf: Buffer, mode: AttributeMode = 'strict'): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > buf.length) {
      if (mode === 'lenient') return attrs;
      throw new AttributeError(`attribute ${type} at offset ${off} claims ${len} bytes, ${buf.length - off} remain`);
    }
    attrs.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += (len + 3) & ~3;
  }
  // Fewer bytes than an attribute header left over: the stream was cut.
  if (off < buf.length && mode === 'strict') throw new AttributeError(`${buf.length - off} stray bytes after the last attribute`);
  return attrs;
}

/** A NUL-terminated string attribute's value (IFLA_IFNAME and the like); the whole payload when unterminated. */
export function stringAttribute(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

/** One attribute, padded to 4 bytes. `type` may carry NLA_F_NESTED. */
export function encodeAttribute(type: number, payload: Uint8Array): Buffer {
  const len = NLA_HDRLEN + payload.length;
  if (len > 0xffff) throw new AttributeError(`attribute ${type & NLA_TYPE_MASK} of ${payload.length} bytes does not fit a 16-bit length`);
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  out.set(payload, NLA_HDRLEN);
  return out;
}
