// Types for the parts of the `raw-socket` npm package the ICMP prober uses (the package ships none).
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';

  export const AddressFamily: { readonly IPv4: number; readonly IPv6: number };
  export const Protocol: { readonly None: number; readonly ICMP: number; readonly TCP: number; readonly UDP: number; readonly ICMPv6: number };
  export const SocketLevel: Readonly<Record<string, number>>;
  export const SocketOption: Readonly<Record<string, number>>;

  export interface SocketOptions {
    readonly protocol?: number;
    readonly addressFamily?: number;
    /** Receive buffer size; longer packets are truncated. Default 4096. */
    readonly bufferSize?: number;
  }

  export class Socket extends EventEmitter {
    /** Opens the socket at once; throws (e.g. "Operation not permitted") without CAP_NET_RAW. */
    constructor(options?: SocketOptions);
    /** `beforeCallback` runs just before the packet is handed to the kernel. */
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): this;
    send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: (error: Error | null, bytes: number) => void): this;
    close(): this;
    pauseRecv(): this;
    resumeRecv(): this;
    setOption(level: number, option: number, value: number | Buffer, length?: number): void;
    getOption(level: number, option: number, value: Buffer, length: number): number;
    /** The buffer is reused for the next packet: read it before returning. IPv4 packets include the IP header. */
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export function createSocket(options?: SocketOptions): Socket;
  export function createChecksum(...parts: (Buffer | { buffer: Buffer; offset: number; length: number })[]): number;
  export function writeChecksum(buffer: Buffer, offset: number, checksum: number): Buffer;
  export function htonl(n: number): number;
  export function htons(n: number): number;
  export function ntohl(n: number): number;
  export function ntohs(n: number): number;
}
