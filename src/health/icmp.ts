import { randomBytes, randomInt } from 'node:crypto';
import { parseIp, type Family, type IpAddress } from '../model/ip';
import type { ProbeTarget } from './probe-runner';

/**
 * ICMP echo (ping) over a raw socket. Every raw ICMP socket on the host sees every ICMP packet,
 * including replies to other processes' pings, so a reply counts only when its identifier,
 * sequence number, source and payload cookie all match a request this pinger has in flight.
 */

const ECHO_REQUEST_V4 = 8;
const ECHO_REPLY_V4 = 0;
const ECHO_REQUEST_V6 = 128;
const ECHO_REPLY_V6 = 129;
const HEADER_LENGTH = 8;

export interface EchoPacket {
  readonly identifier: number;
  readonly sequence: number;
  readonly payload: Buffer;
}

/**
 * An echo request. IPv4 carries our checksum; for ICMPv6 the kernel fills it in (it covers a
 * pseudo-header with addresses only the kernel knows for sure), so it is left zero.
 */
export function encodeEchoRequest(family: Family, identifier: number, sequence: number, payload: Uint8Array): Buffer {
  const packet = Buffer.alloc(HEADER_LENGTH + payload.length);
  packet.writeUInt8(family === 4 ? ECHO_REQUEST_V4 : ECHO_REQUEST_V6, 0);
  packet.writeUInt8(0, 1);
  packet.writeUInt16BE(identifier & 0xffff, 4);
  packet.writeUInt16BE(sequence & 0xffff, 6);
  packet.set(payload, HEADER_LENGTH);
  if (family === 4) packet.writeUInt16BE(internetChecksum(packet), 2);
  return packet;
}

/**
 * The echo reply in a received packet, or undefined when it is anything else. IPv4 raw sockets
 * deliver the IP header too; IPv6 raw sockets deliver the ICMPv6 message alone.
 */
export function parseEchoReply(family: Family, packet: Uint8Array): EchoPacket | undefined {
  let icmp: Buffer = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  if (family === 4) {
    if (icmp.length < 20 || icmp.readUInt8(0) >> 4 !== 4) return undefined;
    const headerLength = (icmp.readUInt8(0) & 0x0f) * 4;
    if (headerLength < 20 || icmp[9] !== 1 || icmp.length < headerLength + HEADER_LENGTH) return undefined;
    icmp = icmp.subarray(headerLength);
    if (internetChecksum(icmp) !== 0) return undefined;
  } else if (icmp.length < HEADER_LENGTH) {
    return undefined;
  }
  if (icmp[0] !== (family === 4 ? ECHO_REPLY_V4 : ECHO_REPLY_V6) || icmp[1] !== 0) return undefined;
  return {
    identifier: icmp.readUInt16BE(4),
    sequence: icmp.readUInt16BE(6),
    payload: Buffer.from(icmp.subarray(HEADER_LENGTH)),
  };
}

/** RFC 1071 ones' complement sum; 0 when run over a packet that carries a correct checksum. */
export function internetChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (data.length % 2 === 1) sum += (data[data.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The port: sends ICMP packets and hands over every ICMP packet the host receives. */
export interface IcmpSocket {
  /** Opens the socket for `family` now, so a missing CAP_NET_RAW shows at start; throws when it cannot. */
  open(family: Family): void;
  /** Resolves when the kernel took the packet; rejects when it refused (e.g. no route). */
  send(target: IpAddress, packet: Buffer): Promise<void>;
  /** `packet` is only valid during the call. */
  onPacket(listener: (family: Family, source: string, packet: Buffer) => void): void;
  close(): void;
}

interface Pending {
  readonly target: string;
  readonly resolve: () => void;
}

export interface PingerOptions {
  /** Fixed identifier (tests); default random, so two gateways or a `ping` do not share one. */
  readonly identifier?: number;
  /** Fixed cookie (tests); default 8 random bytes. */
  readonly cookie?: Uint8Array;
}

/** Sends echo requests and matches replies; one per process, shared by all ICMP targets. */
export class Pinger {
  readonly identifier: number;
  private readonly cookie: Buffer;
  private sequence: number;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly socket: IcmpSocket,
    options: PingerOptions = {},
  ) {
    this.identifier = (options.identifier ?? randomInt(0, 0x10000)) & 0xffff;
    this.cookie = Buffer.from(options.cookie ?? randomBytes(8));
    this.sequence = randomInt(0, 0x10000);
    socket.onPacket((family, source, packet) => this.receive(family, source, packet));
  }

  /** Resolves when `target` answers; rejects when sending fails or `signal` aborts. */
  echo(target: IpAddress, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const sequence = this.nextSequence();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.pending.delete(sequence);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(sequence, {
        target: target.text,
        resolve: () => {
          done();
          resolve();
        },
      });
      this.socket.send(target, encodeEchoRequest(target.family, this.identifier, sequence, this.cookie)).catch((err: unknown) => {
        done();
        reject(err);
      });
    });
  }

  /** One probe target per address, for the ProbeRunner. */
  targets(addresses: readonly IpAddress[]): ProbeTarget[] {
    return addresses.map((ip) => ({ name: ip.text, attempt: (signal) => this.echo(ip, signal) }));
  }

  /** Requests still waiting for a reply. */
  inFlight(): number {
    return this.pending.size;
  }

  private nextSequence(): number {
    // Skip numbers still in flight, so a wrap-around never mixes up two requests.
    for (let i = 0; i < 0x10000; i++) {
      this.sequence = (this.sequence + 1) & 0xffff;
      if (!this.pending.has(this.sequence)) return this.sequence;
    }
    throw new Error('65536 ICMP echo requests in flight');
  }

  private receive(family: Family, source: string, packet: Buffer): void {
    const reply = parseEchoReply(family, packet);
    if (!reply || reply.identifier !== this.identifier) return;
    const pending = this.pending.get(reply.sequence);
    if (!pending) return;
    if (parseIp(source)?.text !== pending.target) return;
    if (!reply.payload.subarray(0, this.cookie.length).equals(this.cookie)) return;
    pending.resolve();
  }
}
