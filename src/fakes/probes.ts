import type { Clock } from '../model/clock';
import type { Family, IpAddress } from '../model/ip';
import { parseIp } from '../model/ip';
import type { HttpGet } from '../health/http-probe';
import { internetChecksum, type IcmpSocket } from '../health/icmp';

/**
 * Stateful in-memory stand-ins for the probe ports, driven by a FakeClock and printing
 * themselves as text, for unit tests.
 */

export type HostBehaviour =
  | { readonly kind: 'answer'; readonly latencyMs: number }
  | { readonly kind: 'silent' }
  | { readonly kind: 'unreachable'; readonly error: string };

/** A network of hosts that answer pings (or not), seen through one IcmpSocket. */
export class FakeIcmpNetwork implements IcmpSocket {
  private readonly hosts = new Map<string, HostBehaviour>();
  private readonly counts = new Map<string, { sent: number; replied: number; refused: number }>();
  private readonly listeners: ((family: Family, source: string, packet: Buffer) => void)[] = [];
  private closed = false;

  constructor(private readonly clock: Clock) {}

  /** Families that fail to open, like a raw socket without CAP_NET_RAW. */
  readonly refuseOpen = new Set<Family>();
  readonly opened = new Set<Family>();

  open(family: Family): void {
    if (this.refuseOpen.has(family)) throw new Error(`opening a raw ICMPv${family} socket: Operation not permitted`);
    this.opened.add(family);
  }

  setHost(address: string, behaviour: HostBehaviour): void {
    this.hosts.set(address, behaviour);
  }

  send(target: IpAddress, packet: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new Error('socket closed'));
    const count = this.countFor(target.text);
    count.sent++;
    const behaviour = this.hosts.get(target.text) ?? { kind: 'silent' };
    if (behaviour.kind === 'unreachable') {
      count.refused++;
      return Promise.reject(new Error(behaviour.error));
    }
    if (behaviour.kind === 'answer') {
      const reply = Buffer.from(packet);
      this.clock.setTimeout(() => {
        count.replied++;
        this.deliver(target, echoReplyFor(target.family, reply));
      }, behaviour.latencyMs);
    }
    return Promise.resolve();
  }

  /** Delivers a packet as if it had arrived from `source` (e.g. a reply to another process's ping). */
  inject(source: string, icmp: Buffer): void {
    const ip = parseIp(source);
    if (!ip) throw new Error(`not an address: ${source}`);
    this.deliver(ip, icmp);
  }

  onPacket(listener: (family: Family, source: string, packet: Buffer) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.closed = true;
  }

  dump(): string {
    const lines: string[] = [];
    for (const address of [...new Set([...this.hosts.keys(), ...this.counts.keys()])].sort()) {
      const b = this.hosts.get(address) ?? { kind: 'silent' };
      const c = this.countFor(address);
      const how = b.kind === 'answer' ? `answers after ${b.latencyMs}ms` : b.kind === 'silent' ? 'silent' : `unreachable (${b.error})`;
      lines.push(`${address} ${how}: sent=${c.sent} replied=${c.replied} refused=${c.refused}`);
    }
    return lines.join('\n');
  }

  private countFor(address: string): { sent: number; replied: number; refused: number } {
    let c = this.counts.get(address);
    if (!c) {
      c = { sent: 0, replied: 0, refused: 0 };
      this.counts.set(address, c);
    }
    return c;
  }

  /** IPv4 raw sockets see the IP header as well, so the fake adds one. */
  private deliver(source: IpAddress, icmp: Buffer): void {
    if (this.closed) return;
    const packet = source.family === 4 ? Buffer.concat([ipv4Header(source, icmp.length), icmp]) : icmp;
    for (const listener of this.listeners) listener(source.family, source.text, packet);
  }
}

/** The reply a host sends to `request`: same identifier, sequence and payload. */
export function echoReplyFor(family: Family, request: Buffer): Buffer {
  const reply = Buffer.from(request);
  reply.writeUInt8(family === 4 ? 0 : 129, 0);
  reply.writeUInt16BE(0, 2);
  if (family === 4) reply.writeUInt16BE(internetChecksum(reply), 2);
  return reply;
}

function ipv4Header(source: IpAddress, payloadLength: number): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt8(0x45, 0);
  h.writeUInt16BE(20 + payloadLength, 2);
  h.writeUInt8(64, 8);
  h.writeUInt8(1, 9);
  h.set(source.bytes, 12);
  h.set([198, 51, 100, 1], 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return h;
}

export type UrlBehaviour =
  | { readonly kind: 'status'; readonly status: number; readonly latencyMs: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'refuse'; readonly error: string };

/** HTTP servers that answer with a status after a delay, hang until aborted, or refuse. */
export class FakeHttpTargets {
  private readonly urls = new Map<string, UrlBehaviour>();
  private readonly counts = new Map<string, { requests: number; answered: number; aborted: number }>();

  constructor(private readonly clock: Clock) {}

  set(url: string, behaviour: UrlBehaviour): void {
    this.urls.set(new URL(url).href, behaviour);
  }

  readonly get: HttpGet = (url, signal) =>
    new Promise<number>((resolve, reject) => {
      const count = this.countFor(url.href);
      count.requests++;
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const b = this.urls.get(url.href) ?? { kind: 'refuse', error: 'ECONNREFUSED' };
      const onAbort = (): void => {
        count.aborted++;
        timer?.cancel();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let timer: { cancel(): void } | undefined;
      if (b.kind === 'refuse') {
        signal.removeEventListener('abort', onAbort);
        reject(new Error(b.error));
      } else if (b.kind === 'status') {
        timer = this.clock.setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          count.answered++;
          resolve(b.status);
        }, b.latencyMs);
      }
      // 'hang': nothing happens until the signal aborts.
    });

  dump(): string {
    return [...new Set([...this.urls.keys(), ...this.counts.keys()])]
      .sort()
      .map((url) => {
        const b = this.urls.get(url) ?? { kind: 'refuse', error: 'ECONNREFUSED' };
        const c = this.countFor(url);
        const how = b.kind === 'status' ? `${b.status} after ${b.latencyMs}ms` : b.kind === 'hang' ? 'hangs' : `refuses (${b.error})`;
        return `${url} ${how}: requests=${c.requests} answered=${c.answered} aborted=${c.aborted}`;
      })
      .join('\n');
  }

  private countFor(url: string): { requests: number; answered: number; aborted: number } {
    let c = this.counts.get(url);
    if (!c) {
      c = { requests: 0, answered: 0, aborted: 0 };
      this.counts.set(url, c);
    }
    return c;
  }
}
