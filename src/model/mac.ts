import { createHash } from 'node:crypto';
import { ipFromBytes, type IpAddress } from './ip';

/** Formats 6 bytes as "aa:bb:cc:dd:ee:ff". */
export function formatMac(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new RangeError(`a MAC address has 6 bytes, not ${bytes.length}`);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses "aa:bb:cc:dd:ee:ff" (either case); undefined when malformed. */
export function parseMac(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text.trim())) return undefined;
  return Uint8Array.from(text.trim().split(':').map((h) => parseInt(h, 16)));
}

/**
 * The MAC of a client node's `egress.calico` VTEP, as Felix derives it:
 * 0x66 followed by the first five bytes of SHA-1(node name).
 */
export function clientVtepMac(nodeName: string): string {
  const digest = createHash('sha1').update(nodeName, 'utf8').digest();
  return formatMac(Uint8Array.from([0x66, ...digest.subarray(0, 5)]));
}

/**
 * The gateway's own vxlan0 MAC: a2:2a: followed by its IPv4 octets (what client nodes expect).
 * An IPv6-only gateway has no IPv4 address; it takes the last four bytes of its IPv6 address, the
 * same rule applied to the part of the address that differs between pods of one pool. This is the
 * project's choice, not a verified Felix behaviour: see docs/dual-stack.md.
 */
export function gatewayVxlanMac(egressIp: IpAddress): string {
  // One read: `bytes` parses the text afresh each time.
  const bytes = egressIp.bytes;
  return formatMac(Uint8Array.from([0xa2, 0x2a, ...bytes.subarray(bytes.length - 4)]));
}

/**
 * The IPv6 link-local address of a MAC by modified EUI-64 (RFC 4291 appendix A: ff:fe in the middle,
 * the universal/local bit flipped), the address a device with that MAC gives itself. The agent's
 * IPv6 next hop for a gateway: the gateway's vxlan0 address on the VXLAN link, resolved by a
 * permanent neighbour to that MAC (see src/steering/desired.ts for why not its global address).
 */
export function linkLocalOfMac(mac: string): IpAddress {
  const m = parseMac(mac);
  if (!m) throw new RangeError(`${mac} is not a MAC address`);
  const bytes = new Uint8Array(16);
  bytes.set([0xfe, 0x80]);
  bytes.set([(m[0] ?? 0) ^ 0x02, m[1] ?? 0, m[2] ?? 0, 0xff, 0xfe, m[3] ?? 0, m[4] ?? 0, m[5] ?? 0], 8);
  return ipFromBytes(bytes);
}
