import { kernelError } from '../../errors';
import { NETLINK_NETFILTER } from './constants';
import { NetlinkSession, type NetlinkReply } from './session';
import {
  CT_GET_TYPE,
  ConntrackDecodeError,
  NFNLGRP_CONNTRACK_DESTROY,
  NFNLGRP_CONNTRACK_NEW,
  decodeConntrack,
  dumpRequestPayload,
  type ConntrackEvent,
} from './conntrack';

/**
 * The kernel's conntrack table as the audit sees it: a stream of connection starts and ends, and a
 * dump of what is there now (to start from, and to catch up after events were lost).
 */
export interface ConntrackEvents {
  /** Subscribes; handlers run for every message until close. Throws when the kernel refuses. */
  open(handlers: ConntrackHandlers): void;
  /** Every conntrack entry of the namespace now (a ctnetlink dump). */
  list(): Promise<ConntrackEvent[]>;
  close(): void;
}

export interface ConntrackHandlers {
  onEvent(event: ConntrackEvent): void;
  /** A message that could not be decoded; it is skipped. */
  onMalformed(err: Error): void;
  /** The receive buffer overflowed (ENOBUFS): the kernel dropped events; the table needs a resync. */
  onOverrun(): void;
  /** Any other socket error; the subscription stays open. */
  onError(err: Error): void;
}

export interface NetlinkConntrackOptions {
  /**
   * SO_RCVBUF asked for; the kernel caps it at net.core.rmem_max. A burst of connections queues
   * here while the event loop is busy; when it overflows the kernel drops events (ENOBUFS).
   */
  readonly recvBufferSize?: number;
  /** A dump unanswered for this long fails. */
  readonly dumpTimeoutMs?: number;
}

export const DEFAULT_EVENT_BUFFER_BYTES = 8 << 20;

/**
 * ctnetlink on the project's netlink session (NETLINK_NETFILTER): joins the NEW and DESTROY groups
 * only. UPDATE (every TCP state change) would multiply the traffic for nothing the log needs.
 */
export class NetlinkConntrackEvents implements ConntrackEvents {
  private session: NetlinkSession | undefined;

  constructor(private readonly opts: NetlinkConntrackOptions = {}) {}

  open(h: ConntrackHandlers): void {
    if (this.session) throw new Error('conntrack events: already open');
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ protocol: NETLINK_NETFILTER, recvBufferSize: this.opts.recvBufferSize ?? DEFAULT_EVENT_BUFFER_BYTES });
    } catch (err) {
      throw kernelError('opening a NETLINK_NETFILTER socket for conntrack events', err);
    }
    try {
      session.subscribe([NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY], {
        onMessage: (m) => {
          try {
            const event = decodeConntrack(m.type, m.flags, m.data);
            if (event) h.onEvent(event);
          } catch (err) {
            if (err instanceof ConntrackDecodeError) h.onMalformed(err);
            else throw err;
          }
        },
        // With message peeking a datagram is never cut; if one is, it is as good as lost.
        onOverrun: () => h.onOverrun(),
        onError: (err) => h.onError(err),
      });
    } catch (err) {
      session.close();
      throw kernelError('joining the conntrack NEW and DESTROY multicast groups (needs CAP_NET_ADMIN)', err);
    }
    this.session = session;
  }

  list(): Promise<ConntrackEvent[]> {
    return dumpConntrack(this.opts.dumpTimeoutMs ?? 30_000);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

/** Every conntrack entry of the namespace (both families), on a socket of its own: replies never mix with an event stream, and a big table cannot overflow it. */
export async function dumpConntrack(timeoutMs: number): Promise<ConntrackEvent[]> {
  let session: NetlinkSession;
  try {
    session = new NetlinkSession({ protocol: NETLINK_NETFILTER, recvBufferSize: 4 << 20, timeoutMs });
  } catch (err) {
    throw kernelError('opening a NETLINK_NETFILTER socket to dump conntrack', err);
  }
  let replies: NetlinkReply[];
  try {
    replies = await session.dump(CT_GET_TYPE, dumpRequestPayload(0), 'conntrack dump');
  } catch (err) {
    throw kernelError('dumping the conntrack table', err);
  } finally {
    session.close();
  }
  const entries: ConntrackEvent[] = [];
  for (const m of replies) {
    try {
      const e = decodeConntrack(m.type, m.flags, m.data);
      if (e) entries.push(e);
    } catch (err) {
      if (!(err instanceof ConntrackDecodeError)) throw kernelError('dumping the conntrack table', err);
      // one bad entry does not spoil the dump
    }
  }
  return entries;
}
