import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** An IP address in canonical text form (IPv6 compressed, lower case). */
export interface IpAddress {
  readonly family: Family;
  readonly text: string;
  /** A fresh copy on every read (derived from `text`): callers may keep or change it. */
  readonly bytes: Uint8Array;
}

/**
 * Holds only the family and the text; the bytes are derived when asked for. A small Uint8Array
 * costs about 200 bytes of heap, two thirds of a parsed prefix, and the daemon keeps one address
 * per route plus one per prefix: at 50k routes that was ~20 MiB for bytes read only when an entry
 * is written to the kernel.
 */
class Address implements IpAddress {
  constructor(
    readonly family: Family,
    readonly text: string,
  ) {}

  get bytes(): Uint8Array {
    return this.family === 4 ? ipv4Bytes(this.text) : ipv6Bytes(this.text);
  }
}

/** Bytes of a canonical dotted quad (already validated), from ipv4Value's one reading of it. */
function ipv4Bytes(text: string): Uint8Array {
  const v = ipv4Value(text);
  return Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
}

/** A network prefix; `address` is the network address (host bits cleared). */
export interface Cidr {
  readonly family: Family;
  readonly address: IpAddress;
  readonly prefixLength: number;
  /** Canonical "address/len", e.g. "100.64.1.0/26". */
  readonly text: string;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIp(input: string): IpAddress | undefined {
  const s = input.trim();
  if (isIPv4(s)) return ipFromBytes(Uint8Array.from(s.split('.').map(Number)));
  if (isIPv6(s) && !s.includes('%')) return ipFromBytes(ipv6Bytes(s));
  return undefined;
}

/** Parses "addr/len" (a bare address counts as a host prefix); undefined when malformed. */
export function parseCidr(input: string): Cidr | undefined {
  const s = input.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const addr = parseIp(addrText);
  if (!addr) return undefined;
  const max = addr.family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    len = Number(lenText);
    if (len > max) return undefined;
  }
  return cidrOf(addr, len);
}

export function cidrOf(addr: IpAddress, prefixLength: number): Cidr {
  if (addr.family === 4) return ipv4CidrOf(addr, prefixLength);
  const bytes = addr.bytes;
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) {
    const i = bit >> 3;
    bytes[i] = (bytes[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  const address = ipFromBytes(bytes);
  return { family: address.family, address, prefixLength, text: `${address.text}/${prefixLength}` };
}

/**
 * cidrOf for IPv4 on a 32-bit integer rather than bytes (a route read back from the kernel goes
 * through here on every resync: 50k of them at 50k routes). Same results; with no host bits set the
 * address itself is the network address and is shared (IpAddress is read-only).
 */
function ipv4CidrOf(addr: IpAddress, prefixLength: number): Cidr {
  const value = ipv4Value(addr.text);
  const mask = prefixLength <= 0 ? 0 : prefixLength >= 32 ? 0xffffffff : (0xffffffff << (32 - prefixLength)) >>> 0;
  const net = (value & mask) >>> 0;
  const address = net === value ? addr : new Address(4, ipv4Text(net));
  return { family: 4, address, prefixLength, text: `${address.text}/${prefixLength}` };
}

function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** True when `addr` lies inside `cidr`. */
export function cidrContains(cidr: Cidr, addr: IpAddress): boolean {
  if (cidr.family !== addr.family) return false;
  return cidrOf(addr, cidr.prefixLength).address.text === cidr.address.text;
}

/**
 * cidrContains without allocating, for per-route paths (the desired state asks it of every client
 * block against the gateway's addresses): IPv4 compares 32-bit values read from the canonical texts,
 * where `bytes` would make a fresh array on every read; IPv6 reads each side's bytes once.
 */
export function cidrHolds(cidr: Cidr, addr: IpAddress): boolean {
  if (cidr.family !== addr.family) return false;
  const len = cidr.prefixLength;
  if (addr.family === 4) {
    if (len <= 0) return true;
    const mask = len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
    return ((ipv4Value(cidr.address.text) & mask) >>> 0) === ((ipv4Value(addr.text) & mask) >>> 0);
  }
  const net = cidr.address.bytes;
  const a = addr.bytes;
  let bits = len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((net[i] ?? 0) & m) !== ((a[i] ?? 0) & m)) return false;
  }
  return true;
}

/** The 32-bit value of a canonical dotted quad (already validated), e.g. an IPv4 IpAddress's text. */
export function ipv4Value(text: string): number {
  let value = 0;
  let part = 0;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 46) {
      value = value * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return value * 256 + part;
}

/**
 * An IPv4 address from text its caller has already checked is a canonical dotted quad (four
 * decimal parts 0-255, no leading zeros, nothing else): not checked again here. For parsers that
 * validate as they read (policysync/decode.ts), so that the text is not turned into bytes and back.
 */
export function ipv4FromCanonicalText(text: string): IpAddress {
  return new Address(4, text);
}

export function ipFromBytes(bytes: Uint8Array): IpAddress {
  // A template, not Array.from(bytes).join('.'): no array per address (resyncs read 50k of them).
  if (bytes.length === 4) return new Address(4, `${bytes[0] as number}.${bytes[1] as number}.${bytes[2] as number}.${bytes[3] as number}`);
  if (bytes.length === 16) return new Address(6, formatIpv6(bytes));
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

function ipv6Bytes(s: string): Uint8Array {
  // node:net has already validated the syntax; expand "::" and an embedded IPv4 tail.
  let text = s.toLowerCase();
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = tail.split('.').map(Number);
    const hi = (((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16);
    const lo = (((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}
