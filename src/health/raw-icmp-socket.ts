import { endianness } from 'node:os';
import * as raw from 'raw-socket';
import { kernelError } from '../errors';
import type { Family, IpAddress } from '../model/ip';
import type { Logger } from '../observability/logger';
import type { IcmpSocket } from './icmp';

/** SOL_RAW / ICMP_FILTER (linux/icmp.h): a 32-bit mask of ICMP types the socket does not receive. */
const SOL_RAW = 255;
const ICMP_FILTER = 1;
/** IPPROTO_ICMPV6 / ICMP6_FILTER (linux/icmpv6.h): 256 bits, a set bit blocks that type. */
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
const ECHO_REPLY_V4 = 0;
const ECHO_REPLY_V6 = 129;

/**
 * A raw ICMP socket receives every ICMP packet the host gets: an echo flood at the egress IP was
 * parsed packet by packet in JavaScript (~30 % of a core). The kernel's per-socket filter lets only
 * echo replies through, the one type the pinger reads (a filtered packet costs the kernel a bit
 * test). Both masks are in host byte order, as the kernel reads them.
 */
export function filterToEchoReplies(socket: Pick<raw.Socket, 'setOption'>, family: Family): void {
  if (family === 4) {
    socket.setOption(SOL_RAW, ICMP_FILTER, ~(1 << ECHO_REPLY_V4) >>> 0);
    return;
  }
  const mask = Buffer.alloc(32, 0xff);
  const word = ECHO_REPLY_V6 >> 5;
  const value = ~(1 << (ECHO_REPLY_V6 & 31)) >>> 0;
  if (endianness() === 'LE') mask.writeUInt32LE(value, word * 4);
  else mask.writeUInt32BE(value, word * 4);
  socket.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, mask, mask.length);
}

/**
 * The real IcmpSocket: one raw socket per address family (needs CAP_NET_RAW), opened on first
 * use and opened again after an error closed it. Must run in the network namespace to probe from.
 */
export class RawIcmpSocket implements IcmpSocket {
  private readonly sockets = new Map<Family, raw.Socket>();
  private readonly listeners: ((family: Family, source: string, packet: Buffer) => void)[] = [];
  private closed = false;

  constructor(private readonly logger?: Logger) {}

  send(target: IpAddress, packet: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      let socket: raw.Socket;
      try {
        socket = this.socketFor(target.family);
      } catch (err) {
        reject(err);
        return;
      }
      socket.send(packet, 0, packet.length, target.text, (err) => {
        if (err) reject(kernelError(`sending ICMP echo to ${target.text}`, err));
        else resolve();
      });
    });
  }

  open(family: Family): void {
    this.socketFor(family);
  }

  onPacket(listener: (family: Family, source: string, packet: Buffer) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.closed = true;
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
  }

  private socketFor(family: Family): raw.Socket {
    if (this.closed) throw kernelError('opening a raw ICMP socket', new Error('the ICMP socket is closed'));
    const existing = this.sockets.get(family);
    if (existing) return existing;
    let socket: raw.Socket;
    try {
      socket =
        family === 4
          ? raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 })
          : raw.createSocket({ protocol: raw.Protocol.ICMPv6, addressFamily: raw.AddressFamily.IPv6 });
    } catch (err) {
      throw kernelError(`opening a raw ICMPv${family === 4 ? 4 : 6} socket (needs CAP_NET_RAW)`, err);
    }
    try {
      filterToEchoReplies(socket, family);
    } catch (err) {
      socket.close();
      throw kernelError(`filtering the raw ICMPv${family === 4 ? 4 : 6} socket to echo replies`, err);
    }
    socket.on('message', (buffer, source) => {
      for (const listener of this.listeners) listener(family, source, buffer);
    });
    socket.on('error', (err) => {
      // raw-socket closes the socket after an error; the next send opens a fresh one.
      this.logger?.warn({ component: 'probe', event: 'icmp_socket_error', err }, `raw ICMP socket failed: ${err.message}`);
    });
    socket.on('close', () => {
      if (this.sockets.get(family) === socket) this.sockets.delete(family);
    });
    this.sockets.set(family, socket);
    return socket;
  }
}
