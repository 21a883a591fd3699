/**
 * Hand-built ctnetlink messages for the audit tests: a small encoder of its own, written from the
 * uapi layout (not from the decoder), so a wrong constant or byte order in the decoder fails a test.
 */

/** struct nlattr: u16 length (header included), u16 type, both host order (LE); value padded to 4. */
export function attr(type: number, value: Buffer, nested = false): Buffer {
  const len = 4 + value.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type | (nested ? 0x8000 : 0), 2);
  value.copy(out, 4);
  return out;
}

export const nest = (type: number, ...children: Buffer[]): Buffer => attr(type, Buffer.concat(children), true);
export const u8 = (n: number): Buffer => Buffer.from([n]);
export const be16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
export const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
export const be64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
};
export const v4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
/** Full (uncompressed) IPv6 text only, to keep the helper trivial: "2001:db8:0:0:0:0:0:1". */
export const v6 = (s: string): Buffer => Buffer.concat(s.split(':').map((g) => be16(parseInt(g, 16))));

export interface TupleSpec {
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
}

export function tuple(type: 1 | 2, t: TupleSpec): Buffer {
  const six = t.src.includes(':');
  const ip = six ? nest(1, attr(3, v6(t.src)), attr(4, v6(t.dst))) : nest(1, attr(1, v4(t.src)), attr(2, v4(t.dst)));
  const ports = [...(t.sport !== undefined ? [attr(2, be16(t.sport))] : []), ...(t.dport !== undefined ? [attr(3, be16(t.dport))] : [])];
  return nest(type, ip, nest(2, attr(1, u8(t.proto)), ...ports));
}

export interface MessageSpec {
  /** 'new' = IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL, 'update' = NEW without, 'destroy' = DELETE. */
  kind: 'new' | 'update' | 'destroy';
  family?: number;
  orig: TupleSpec;
  reply: TupleSpec;
  status?: number;
  id?: number;
  counters?: { orig: [bigint, bigint]; reply: [bigint, bigint] };
  timestamp?: { start: bigint; stop?: bigint };
}

/** The payload after the netlink header: nfgenmsg (family, version 0, res_id 0) + attributes. */
export function payload(m: MessageSpec): Buffer {
  const parts: Buffer[] = [Buffer.from([m.family ?? 2, 0, 0, 0]), tuple(1, m.orig), tuple(2, m.reply)];
  if (m.status !== undefined) parts.push(attr(3, be32(m.status)));
  if (m.id !== undefined) parts.push(attr(12, be32(m.id)));
  if (m.counters) {
    parts.push(nest(9, attr(1, be64(m.counters.orig[0])), attr(2, be64(m.counters.orig[1]))));
    parts.push(nest(10, attr(1, be64(m.counters.reply[0])), attr(2, be64(m.counters.reply[1]))));
  }
  if (m.timestamp) parts.push(nest(20, attr(1, be64(m.timestamp.start)), ...(m.timestamp.stop !== undefined ? [attr(2, be64(m.timestamp.stop))] : [])));
  return Buffer.concat(parts);
}

export function header(m: MessageSpec): { type: number; flags: number } {
  if (m.kind === 'destroy') return { type: 0x102, flags: 0 };
  return { type: 0x100, flags: m.kind === 'new' ? 0x600 : 0 };
}

/** One whole netlink message (struct nlmsghdr + payload), as a multicast event arrives. */
export function message(m: MessageSpec, seq = 0): Buffer {
  const p = payload(m);
  const { type, flags } = header(m);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + p.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(0, 12);
  return Buffer.concat([h, p]);
}

/** A TCP connection 100.64.1.5:40000 → 203.0.113.10:443, SNATed to 100.64.2.7:40000. */
export const SNAT_TCP: Pick<MessageSpec, 'orig' | 'reply'> = {
  orig: { src: '100.64.1.5', dst: '203.0.113.10', proto: 6, sport: 40000, dport: 443 },
  reply: { src: '203.0.113.10', dst: '100.64.2.7', proto: 6, sport: 443, dport: 40000 },
};
/** IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE, as the kernel reports a new SNATed connection. */
export const STATUS_SNAT = 0x198;
/** The same plus IPS_SEEN_REPLY and IPS_ASSURED, as at its end. */
export const STATUS_SNAT_ASSURED = 0x39e;
