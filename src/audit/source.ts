import { Protocol, RawNetlinkSocket } from 'netlink';
import { kernelError } from '../errors';
import { encodeRequest } from '../kernel/netlink/session';
import {
  CT_GET_TYPE,
  ConntrackDecodeError,
  NFNLGRP_CONNTRACK_DESTROY,
  NFNLGRP_CONNTRACK_NEW,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  decodeConntrack,
  dumpRequestPayload,
  splitMessages,
  type ConntrackEvent,
} from './ctnetlink';
import { tupleText } from './tracker';

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
const NLM_F_DUMP = 0x300;
const ENOBUFS = 105;

/**
 * ctnetlink over the `netlink` package's raw socket (NETLINK_NETFILTER): joins the NEW and DESTROY
 * groups only. UPDATE (every TCP state change) would multiply the traffic for nothing the log needs.
 */
export class NetlinkConntrackEvents implements ConntrackEvents {
  private socket: RawNetlinkSocket | undefined;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;

  constructor(private readonly opts: NetlinkConntrackOptions = {}) {}

  /** SO_RCVBUF the kernel granted (it reports twice what it accounts for), once open. */
  get recvBufferSize(): number | undefined {
    return this.socket?.getRecvBufferSize();
  }

  open(h: ConntrackHandlers): void {
    if (this.socket) throw new Error('conntrack events: already open');
    let socket: RawNetlinkSocket;
    try {
      socket = new RawNetlinkSocket(Protocol.NETFILTER, { recvBufferSize: this.opts.recvBufferSize ?? DEFAULT_EVENT_BUFFER_BYTES, sendBufferSize: 0 });
    } catch (err) {
      throw kernelError('opening a NETLINK_NETFILTER socket for conntrack events', err);
    }
    try {
      socket.addMembership(NFNLGRP_CONNTRACK_NEW);
      socket.addMembership(NFNLGRP_CONNTRACK_DESTROY);
    } catch (err) {
      socket.close();
      throw kernelError('joining the conntrack NEW and DESTROY multicast groups (needs CAP_NET_ADMIN)', err);
    }
    socket.on('message', (datagram) => {
      let messages;
      try {
        messages = splitMessages(datagram);
      } catch (err) {
        h.onMalformed(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      for (const m of messages) {
        try {
          const event = decodeConntrack(m.type, m.flags, m.payload);
          if (event) h.onEvent(event);
        } catch (err) {
          if (err instanceof ConntrackDecodeError) h.onMalformed(err);
          else throw err;
        }
      }
    });
    // With message peeking a datagram is never cut; if one is, it is as good as lost.
    socket.on('truncatedMessage', () => h.onOverrun());
    socket.on('error', (err) => {
      if (err.errno === ENOBUFS || err.code === 'ENOBUFS') h.onOverrun();
      else h.onError(err);
    });
    // The daemon's other components keep the process alive; this socket alone must not.
    socket.unref();
    this.socket = socket;
  }

  list(): Promise<ConntrackEvent[]> {
    const timeoutMs = this.opts.dumpTimeoutMs ?? 30_000;
    return new Promise<ConntrackEvent[]>((resolve, reject) => {
      let socket: RawNetlinkSocket;
      try {
        // Its own socket: dump replies do not mix with the event stream, and a big table cannot overflow it.
        socket = new RawNetlinkSocket(Protocol.NETFILTER, { recvBufferSize: 4 << 20, sendBufferSize: 0 });
      } catch (err) {
        reject(kernelError('opening a NETLINK_NETFILTER socket to dump conntrack', err));
        return;
      }
      const entries: ConntrackEvent[] = [];
      const seq = (this.seq = this.seq >= 0x7ffffffe ? 1 : this.seq + 1);
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.close();
        if (err) reject(err);
        else resolve(entries);
      };
      const timer = setTimeout(() => finish(kernelError('dumping the conntrack table', new Error(`no end of dump within ${timeoutMs} ms`))), timeoutMs);
      socket.on('error', (err) => finish(kernelError('dumping the conntrack table', err)));
      socket.on('message', (datagram) => {
        try {
          for (const m of splitMessages(datagram)) {
            if (m.seq !== seq) continue;
            if (m.type === NLMSG_DONE) return finish();
            if (m.type === NLMSG_ERROR) {
              const errno = m.payload.length >= 4 ? -m.payload.readInt32LE(0) : 5;
              if (errno === 0) continue;
              return finish(kernelError('dumping the conntrack table', Object.assign(new Error(`errno ${errno}`), { errno })));
            }
            try {
              const e = decodeConntrack(m.type, m.flags, m.payload);
              if (e) entries.push(e);
            } catch (err) {
              if (!(err instanceof ConntrackDecodeError)) throw err;
              // one bad entry does not spoil the dump
            }
          }
        } catch (err) {
          finish(kernelError('dumping the conntrack table', err));
        }
      });
      const payload = dumpRequestPayload(0);
      const msg = encodeRequest(CT_GET_TYPE, NLM_F_DUMP, payload.length);
      payload.copy(msg, NLMSG_HDRLEN);
      msg.writeUInt32LE(seq, 8);
      socket.send(msg, { port: 0 }, (err) => {
        if (err) finish(kernelError('requesting a conntrack dump', err));
      });
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

/**
 * The in-memory conntrack for tests: the test plays the kernel (`emit`, `overrun`, `table`), and the
 * fake prints what the audit asked of it.
 */
export class FakeConntrackEvents implements ConntrackEvents {
  private handlers: ConntrackHandlers | undefined;
  /** What `list` returns. */
  table: ConntrackEvent[] = [];
  /** Set to make the next dumps fail. */
  dumpError: Error | undefined;
  /** Set to make open fail. */
  openError: Error | undefined;
  dumps = 0;
  private closed = false;

  open(h: ConntrackHandlers): void {
    if (this.openError) throw this.openError;
    this.handlers = h;
  }

  async list(): Promise<ConntrackEvent[]> {
    this.dumps++;
    if (this.dumpError) throw this.dumpError;
    return [...this.table];
  }

  close(): void {
    this.closed = true;
    this.handlers = undefined;
  }

  emit(e: ConntrackEvent): void {
    this.handlers?.onEvent(e);
  }

  malformed(err: Error): void {
    this.handlers?.onMalformed(err);
  }

  overrun(): void {
    this.handlers?.onOverrun();
  }

  /** Subscribed/closed state, dumps served, and the table. */
  dump(): string {
    const state = this.closed ? 'closed' : this.handlers ? 'subscribed' : 'idle';
    return `state: ${state}\ndumps: ${this.dumps}\ntable:\n${this.table.map((e) => tupleText(e.orig)).join('\n')}\n`;
  }
}
