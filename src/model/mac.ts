import { createHash } from 'node:crypto';
import type { IpAddress } from './ip';

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
