import type { IpAddress } from '../../model/ip';
import { NLMSG_HDRLEN, NLM_F_REQUEST } from './constants';
import type { EncodedRequests } from './session';

/**
 * Writes netlink requests back to back into one growing buffer, for `NetlinkSession.requestEncoded`:
 * no buffer, view or attribute list per request, which at 10k routes cost more than the kernel's
 * work on them. The buffer is zeroed when allocated, so padding and reserved header bytes need no
 * writing. Headers and attributes are in host byte order, little-endian on every platform the image
 * is built for (amd64, arm64).
 */

export class RequestWriter {
  private buf: Buffer;
  private end = 0;
  /** Offset of each request's start; one more than `count` once finished. */
  private starts: Uint32Array;
  private n = 0;
  private open = -1;

  /** `expected`: about how many requests of about `typicalBytes` will be written (a hint). */
  constructor(expected = 16, typicalBytes = 64) {
    this.buf = Buffer.alloc(Math.max(256, expected * typicalBytes));
    this.starts = new Uint32Array(Math.max(16, expected + 1));
  }

  get count(): number {
    return this.n;
  }

  /**
   * Starts a request: its nlmsghdr (length filled in by `finish`, sequence number and ACK by the
   * session) and `familyHeaderBytes` zeroed bytes for the family header, which the caller fills in
   * at the offset returned.
   */
  begin(type: number, flags: number, familyHeaderBytes: number): number {
    if (this.open >= 0) throw new Error('RequestWriter: begin() before finish() of the previous request');
    this.reserve(NLMSG_HDRLEN + familyHeaderBytes);
    const at = this.end;
    this.open = at;
    this.buf.writeUInt16LE(type, at + 4);
    this.buf.writeUInt16LE(flags | NLM_F_REQUEST, at + 6);
    this.end = at + NLMSG_HDRLEN + familyHeaderBytes;
    return at + NLMSG_HDRLEN;
  }

  u8(at: number, v: number): void {
    this.buf[at] = v;
  }

  u16(at: number, v: number): void {
    this.buf.writeUInt16LE(v, at);
  }

  u32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }

  i32(at: number, v: number): void {
    this.buf.writeInt32LE(v, at);
  }

  /** An attribute holding a host-order 32-bit integer. */
  attrU32(type: number, v: number): void {
    this.reserve(8);
    const at = this.end;
    this.buf.writeUInt16LE(8, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.writeUInt32LE(v, at + 4);
    this.end = at + 8;
  }

  attrBytes(type: number, v: Uint8Array): void {
    const size = (4 + v.length + 3) & ~3;
    this.reserve(size);
    const at = this.end;
    this.buf.writeUInt16LE(4 + v.length, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.set(v, at + 4);
    this.end = at + size;
  }

  /** An address attribute. */
  attrIp(type: number, ip: IpAddress): void {
    const len = ip.family === 4 ? 4 : 16;
    this.reserve(4 + len);
    const at = this.end;
    this.buf.writeUInt16LE(4 + len, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.end = at + 4 + len;
    this.ipAt(at + 4, ip);
  }

  /**
   * Starts a request as a copy of `template`, one whole request as `done()` gives it (see
   * `finish`); returns its start, for the caller to write what differs. Requests of one shape
   * share all but a few bytes: one copy costs less than writing each field.
   */
  beginFrom(template: Uint8Array): number {
    if (this.open >= 0) throw new Error('RequestWriter: begin() before finish() of the previous request');
    this.reserve(template.length);
    const at = this.end;
    this.buf.set(template, at);
    this.open = at;
    this.end = at + template.length;
    return at;
  }

  /**
   * An address's bytes at `at`, inside the request being written. An IPv4 address is written from
   * its canonical text ("a.b.c.d"), without asking for `bytes` (a fresh array per read).
   */
  ipAt(at: number, ip: IpAddress): void {
    if (this.open < 0 || at < this.open || at + (ip.family === 4 ? 4 : 16) > this.end) throw new Error('RequestWriter: ipAt() outside the request being written');
    if (ip.family !== 4) {
      this.buf.set(ip.bytes, at);
      return;
    }
    const buf = this.buf;
    const text = ip.text;
    let i = at;
    let v = 0;
    for (let k = 0; k < text.length; k++) {
      const c = text.charCodeAt(k);
      if (c === 46 /* . */) {
        buf[i++] = v;
        v = 0;
      } else v = v * 10 + (c - 48);
    }
    buf[i] = v;
  }

  /** Ends the request begun last: writes its length and records it. */
  finish(): void {
    const at = this.open;
    if (at < 0) throw new Error('RequestWriter: finish() without begin()');
    this.buf.writeUInt32LE(this.end - at, at);
    this.end = (this.end + 3) & ~3; // attributes keep the end aligned; a family header may not
    this.reserve(0);
    if (this.n + 2 > this.starts.length) {
      const grown = new Uint32Array(this.starts.length * 2);
      grown.set(this.starts);
      this.starts = grown;
    }
    this.starts[this.n] = at;
    this.n++;
    this.starts[this.n] = this.end;
    this.open = -1;
  }

  /** What was written, as the session takes it. The writer must not be used afterwards. */
  done(): EncodedRequests {
    if (this.open >= 0) throw new Error('RequestWriter: done() with a request still open');
    return { bytes: this.buf.subarray(0, this.end), starts: this.starts.subarray(0, this.n + 1), count: this.n };
  }

  private reserve(more: number): void {
    if (this.end + more + 3 <= this.buf.length) return;
    const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.end + more + 3));
    this.buf.copy(grown, 0, 0, this.end);
    this.buf = grown;
  }
}
