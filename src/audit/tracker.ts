import type { IpAddress } from '../model/ip';
import { hostPort, isSourceNatted, protocolName, tupleText, type ConntrackEvent } from '../kernel/netlink/conntrack';

export { tupleText };

/**
 * The pure core of the SNAT audit: conntrack events in, audit records and connection state out.
 * No I/O and no timers; the wall clock is passed in.
 *
 * Who is who in a SNATed connection: the client (pod) is the original tuple's source, the destination
 * is the original tuple's destination, and the egress address and port (what the destination and its
 * firewall see) are the reply tuple's destination.
 */

export interface AuditStart {
  readonly event: 'start';
  /** ISO 8601, UTC: when the connection started (the kernel's timestamp when it has one). */
  readonly time: string;
  readonly protocol: string;
  readonly clientIp: string;
  readonly clientPort?: number;
  /** The node whose pod block holds the client IP, from Felix's routes; absent when no route covers it. */
  readonly clientNode?: string;
  readonly egressIp: string;
  readonly egressPort?: number;
  readonly dstIp: string;
  readonly dstPort?: number;
  /** The kernel's connection id (CTA_ID), the same on the start and end line of one connection. */
  readonly ctId?: number;
}

export interface AuditEnd extends Omit<AuditStart, 'event'> {
  readonly event: 'end';
  /** When the connection started, if known (seen starting, or the kernel's timestamp). */
  readonly start?: string;
  readonly durationMs?: number;
  /** Client → destination (the original direction). */
  readonly packetsOut?: number;
  readonly bytesOut?: number;
  /** Destination → client (the reply direction). */
  readonly packetsIn?: number;
  readonly bytesIn?: number;
}

export type AuditRecord = AuditStart | AuditEnd;

export interface TrackerOptions {
  /** The client's node for a pod IP; the reconciler's view of Felix's routes. */
  readonly nodeFor: (ip: IpAddress) => string | undefined;
  /** Connections remembered at most; beyond it new ones are logged but not tracked (see `untracked`). */
  readonly maxTracked?: number;
}

export const DEFAULT_MAX_TRACKED = 262_144;

interface Tracked {
  readonly key: string;
  readonly protocol: string;
  readonly destKey: string;
  readonly egressKey: string;
  readonly startMs: number;
  readonly clientNode?: string;
  /** Order of arrival, so a resync can tell entries older than its dump from newer ones. */
  readonly seq: number;
}

/** Distinct egress source ports in use towards one destination. */
export interface PortUse {
  readonly protocol: string;
  /** "ip:port", IPv6 in brackets. */
  readonly destination: string;
  readonly ports: number;
}

/** The outcome of one event: a record to write (maybe) and whether the active set changed. */
export interface TrackResult {
  readonly record?: AuditRecord;
  readonly started?: string;
  readonly ended?: string;
}

export interface ResyncResult {
  /** Tracked connections the dump no longer holds: they ended while events were lost. */
  readonly vanished: number;
  /** SNATed connections in the dump that were not tracked (started before the daemon, or while events were lost). */
  readonly adopted: number;
}

export class SnatTracker {
  private readonly table = new Map<string, Tracked>();
  /** destination key → egress "ip port" → connections using it (one, unless egress IPs differ). */
  private readonly ports = new Map<string, Map<string, number>>();
  private readonly maxTracked: number;
  private seq = 0;
  /** Keys destroyed since a resync's dump began; the dump may still list them. */
  private destroyedDuringDump: Set<string> | undefined;
  /** NEW events that found the table full: logged, but neither counted as active nor tracked. */
  untracked = 0;

  constructor(private readonly opts: TrackerOptions) {
    this.maxTracked = opts.maxTracked ?? DEFAULT_MAX_TRACKED;
  }

  get active(): number {
    return this.table.size;
  }

  /**
   * One event: `nowMs` is the wall clock when it arrived. Only SNATed connections count; the rest
   * (the gateway's own traffic, DNATed or untranslated flows) give an empty result.
   */
  handle(e: ConntrackEvent, nowMs: number): TrackResult {
    if (e.kind === 'update' || !isSourceNatted(e)) return {};
    const key = tupleKey(e);
    const protocol = protocolName(e.orig.protocol);
    if (e.kind === 'new') {
      const startMs = e.startNs !== undefined ? nsToMs(e.startNs) : nowMs;
      const clientNode = this.opts.nodeFor(e.orig.src);
      if (this.table.has(key)) this.forget(key); // its end was lost; this is a new connection on the same tuple
      let started: string | undefined;
      if (this.table.size < this.maxTracked) {
        this.remember(e, key, startMs, clientNode);
        started = protocol;
      } else {
        this.untracked++;
      }
      const record: AuditStart = {
        event: 'start',
        time: iso(startMs),
        ...parties(e, protocol, clientNode),
      };
      return { record, ...(started ? { started } : {}) };
    }
    // destroy
    const tracked = this.table.get(key);
    if (tracked) this.forget(key);
    this.destroyedDuringDump?.add(key);
    const startMs = e.startNs !== undefined ? nsToMs(e.startNs) : tracked?.startMs;
    const endMs = e.stopNs !== undefined && e.stopNs > 0n ? nsToMs(e.stopNs) : nowMs;
    const clientNode = tracked ? tracked.clientNode : this.opts.nodeFor(e.orig.src);
    const record: AuditEnd = {
      event: 'end',
      time: iso(endMs),
      ...parties(e, protocol, clientNode),
      ...(startMs !== undefined ? { start: iso(startMs), durationMs: Math.max(0, Math.round(endMs - startMs)) } : {}),
      ...(e.countersOrig ? { packetsOut: Number(e.countersOrig.packets), bytesOut: Number(e.countersOrig.bytes) } : {}),
      ...(e.countersReply ? { packetsIn: Number(e.countersReply.packets), bytesIn: Number(e.countersReply.bytes) } : {}),
    };
    return { record, ...(tracked ? { ended: protocol } : {}) };
  }

  /** Call before requesting a dump for `resync`: destroys seen from now on are remembered. */
  beginResync(): number {
    this.destroyedDuringDump = new Set();
    return this.seq;
  }

  /**
   * Makes the table agree with a dump of the kernel's table, taken after `beginResync` returned
   * `mark`: entries tracked before the mark that the dump lacks are gone; SNATed entries in the dump
   * that are not tracked (and were not destroyed meanwhile) are adopted without a start line.
   */
  resync(dump: readonly ConntrackEvent[], mark: number, nowMs: number): ResyncResult & { readonly endedProtocols: string[] } {
    const destroyed = this.destroyedDuringDump ?? new Set<string>();
    this.destroyedDuringDump = undefined;
    const present = new Set<string>();
    let adopted = 0;
    for (const e of dump) {
      if (!isSourceNatted(e)) continue;
      const key = tupleKey(e);
      present.add(key);
      if (this.table.has(key) || destroyed.has(key) || this.table.size >= this.maxTracked) continue;
      const startMs = e.startNs !== undefined ? nsToMs(e.startNs) : nowMs;
      this.remember(e, key, startMs, this.opts.nodeFor(e.orig.src));
      adopted++;
    }
    const endedProtocols: string[] = [];
    for (const t of [...this.table.values()]) {
      if (t.seq <= mark && !present.has(t.key)) {
        this.forget(t.key);
        endedProtocols.push(t.protocol);
      }
    }
    return { vanished: endedProtocols.length, adopted, endedProtocols };
  }

  /** The destinations using the most egress source ports, at most `n`, busiest first. */
  topPortUse(n: number): PortUse[] {
    const all: PortUse[] = [];
    for (const [destKey, egress] of this.ports) {
      const [protocol = '', destination = ''] = destKey.split(' ');
      all.push({ protocol, destination, ports: egress.size });
    }
    all.sort((a, b) => b.ports - a.ports || a.destination.localeCompare(b.destination) || a.protocol.localeCompare(b.protocol));
    return all.slice(0, Math.max(0, n));
  }

  get destinations(): number {
    return this.ports.size;
  }

  /** The state as text, for tests: one line per tracked connection, then port use. */
  dump(): string {
    const conns = [...this.table.values()].map((t) => `${t.key} node=${t.clientNode ?? '-'}`).sort();
    const use = this.topPortUse(Infinity).map((u) => `${u.protocol} ${u.destination} ports=${u.ports}`);
    return `connections:\n${conns.join('\n')}\nport use:\n${use.join('\n')}\n`;
  }

  private remember(e: ConntrackEvent, key: string, startMs: number, clientNode: string | undefined): void {
    const protocol = protocolName(e.orig.protocol);
    const destKey = `${protocol} ${hostPort(e.orig.dst, e.orig.dstPort)}`;
    const egressKey = `${e.reply.dst.text} ${e.reply.dstPort ?? '-'}`;
    this.table.set(key, { key, protocol, destKey, egressKey, startMs, ...(clientNode !== undefined ? { clientNode } : {}), seq: ++this.seq });
    // Portless protocols (ICMP, GRE) cannot exhaust source ports; they are tracked but not counted here.
    if (e.reply.dstPort === undefined) return;
    let egress = this.ports.get(destKey);
    if (!egress) this.ports.set(destKey, (egress = new Map<string, number>()));
    egress.set(egressKey, (egress.get(egressKey) ?? 0) + 1);
  }

  private forget(key: string): void {
    const t = this.table.get(key);
    if (!t) return;
    this.table.delete(key);
    const egress = this.ports.get(t.destKey);
    const n = egress?.get(t.egressKey);
    if (!egress || n === undefined) return;
    if (n > 1) egress.set(t.egressKey, n - 1);
    else egress.delete(t.egressKey);
    if (egress.size === 0) this.ports.delete(t.destKey);
  }
}

function parties(e: ConntrackEvent, protocol: string, clientNode: string | undefined): Omit<AuditStart, 'event' | 'time'> {
  return {
    protocol,
    clientIp: e.orig.src.text,
    ...(e.orig.srcPort !== undefined ? { clientPort: e.orig.srcPort } : {}),
    ...(clientNode !== undefined ? { clientNode } : {}),
    egressIp: e.reply.dst.text,
    ...(e.reply.dstPort !== undefined ? { egressPort: e.reply.dstPort } : {}),
    dstIp: e.orig.dst.text,
    ...(e.orig.dstPort !== undefined ? { dstPort: e.orig.dstPort } : {}),
    ...(e.id !== undefined ? { ctId: e.id } : {}),
  };
}

/** The original tuple (and zone) names a live connection uniquely. */
export function tupleKey(e: ConntrackEvent): string {
  const zone = e.zone ? ` zone ${e.zone}` : '';
  return `${protocolName(e.orig.protocol)} ${hostPort(e.orig.src, e.orig.srcPort)} > ${hostPort(e.orig.dst, e.orig.dstPort)}${zone}`;
}


function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
