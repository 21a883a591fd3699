import { getSystemErrorName } from 'node:util';
import { parseMessages, Protocol, RawNetlinkSocket } from 'netlink';

/**
 * One rtnetlink socket with a bounded number of requests in flight, several requests packed into
 * one datagram, and replies routed back to their request by sequence number.
 *
 * Why batched: one sendmsg and one ACK per route cost a system call and a wakeup each. The kernel
 * processes the messages of a datagram in order, one after the other, and always reports a failed
 * message with an NLMSG_ERROR carrying its sequence number, ACK flag or not. So only the last
 * message of a datagram asks for an ACK: when its reply arrives, every earlier message of that
 * datagram has been processed, and those without an error of their own succeeded.
 * Why bounded: replies the receive buffer cannot hold are dropped (the socket reports ENOBUFS);
 * at most maxInFlight messages await a reply, so at most that many error replies can be queued.
 */

const NLMSG_HDRLEN = 16;
const NLM_F_REQUEST = 0x1;
const NLM_F_MULTI = 0x2;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

export const NlFlags = {
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;

export interface NetlinkSessionOptions {
  /**
   * Requests sent and not yet answered. Only failures and the last message of each datagram get
   * replies, each well under 1.5 KiB of receive buffer, and Linux grants at least 2 × 208 KiB by
   * default: 256 error replies always fit. Default: what the granted buffer holds (256 to 4096).
   */
  readonly maxInFlight?: number;
  /** Upper bound of one datagram; default 32 KiB. */
  readonly maxDatagramBytes?: number;
  /** A request unanswered for this long fails with ETIMEDOUT; default 10 s. */
  readonly timeoutMs?: number;
  /** Receive buffer asked of the kernel (capped by net.core.rmem_max); default 1 MiB. */
  readonly recvBufferSize?: number;
}

/** A netlink failure, shaped like a Node system error: `code` is the errno name ("EEXIST"). */
export class NetlinkError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(errno: number, what: string) {
    const code = errnoName(errno);
    super(`${code} (${what})`);
    this.name = 'NetlinkError';
    this.code = code;
    this.errno = errno;
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${Math.abs(errno)}`;
  }
}

/** One message of a dump reply: its type and payload (family header and attributes). */
export interface NetlinkReply {
  readonly type: number;
  readonly data: Buffer;
}

interface Pending {
  seq: number;
  readonly wire: Buffer;
  readonly dump: boolean;
  readonly parts: NetlinkReply[];
  /** What the request does, for error messages; a batch member asks its group instead. */
  readonly what: string | undefined;
  /** A single request settles its own promise; a batch member reports into its group. */
  readonly resolve: ((parts: NetlinkReply[]) => void) | undefined;
  readonly reject: ((err: Error) => void) | undefined;
  readonly group: Group | undefined;
  readonly index: number;
  /** The datagram it was sent in, in order; the last one carries the ACK request. */
  batch?: Datagram;
}

/**
 * The members of one `requestMany` call: one promise for all of them, and one slot per member
 * for its own error, so a failing entry is still reported on its own, with its own description.
 */
interface Group {
  readonly errors: (Error | undefined)[];
  readonly describe: (index: number) => string;
  open: number;
  readonly resolve: (errors: (Error | undefined)[]) => void;
}

interface Datagram {
  readonly members: Pending[];
  /** Members not settled yet. */
  open: number;
  timer?: NodeJS.Timeout;
}

/** The transport the session needs; the real one is the `netlink` package's raw socket. */
export interface DatagramSocket {
  send(datagram: Buffer, callback: (err?: Error) => void): void;
  onMessage(handler: (datagram: Buffer) => void): void;
  onError(handler: (err: Error) => void): void;
  ref(): void;
  unref(): void;
  close(): void;
  /** The receive buffer the kernel granted, in bytes, when known. */
  recvBufferSize?(): number;
}

function rawRouteSocket(recvBufferSize: number): DatagramSocket {
  const raw = new RawNetlinkSocket(Protocol.ROUTE, { recvBufferSize, sendBufferSize: recvBufferSize });
  return {
    send: (d, cb) => raw.send(d, { port: 0 }, (err) => cb(err)),
    onMessage: (h) => void raw.on('message', (msg) => h(msg)),
    onError: (h) => void raw.on('error', (err) => h(err)),
    ref: () => raw.ref(),
    unref: () => raw.unref(),
    close: () => raw.close(),
    recvBufferSize: () => raw.getRecvBufferSize(),
  };
}

export class NetlinkSession {
  private readonly maxInFlight: number;
  private readonly maxDatagramBytes: number;
  private readonly timeoutMs: number;
  private readonly socket: DatagramSocket;
  /** Requests not yet sent, from queueHead on (an index, not shift(): 10k requests queue at once). */
  private queue: Pending[] = [];
  private queueHead = 0;
  private readonly inFlight = new Map<number, Pending>();
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private flushScheduled = false;
  private dumping = false;
  private closed = false;
  /** Datagrams sent, for tests and the benchmark. */
  datagramsSent = 0;

  constructor(options: NetlinkSessionOptions = {}, socket?: DatagramSocket) {
    this.maxDatagramBytes = Math.max(1024, options.maxDatagramBytes ?? 32 * 1024);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.socket = socket ?? rawRouteSocket(options.recvBufferSize ?? 1 << 20);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? defaultInFlight(this.socket));
    this.socket.onMessage((d) => this.receive(d));
    // A receive error (ENOBUFS: replies were dropped) means any in-flight reply may never come.
    this.socket.onError((err) => this.failInFlight(err));
    this.socket.unref();
  }

  /** Sends one request and waits for its ACK; rejects with a NetlinkError on a negative ACK. */
  async request(type: number, flags: number, payload: Uint8Array, what: string): Promise<void> {
    await this.enqueue(type, flags | NLM_F_REQUEST | NLM_F_ACK, payload, false, what);
  }

  /**
   * Sends many requests, each already encoded whole (see `encodeRequest`; the session fills in the
   * sequence number and the ACK flag), and resolves once all are answered with one slot per
   * request: undefined when it succeeded, its error otherwise. Never rejects: a closed session or
   * a lost reply shows up as the error of each request concerned. One promise for the whole
   * batch, not one per request: at 10k routes the promises and their closures cost more than the
   * encoding.
   */
  requestMany(wires: readonly Buffer[], describe: (index: number) => string): Promise<(Error | undefined)[]> {
    const errors: (Error | undefined)[] = new Array<Error | undefined>(wires.length).fill(undefined);
    if (wires.length === 0) return Promise.resolve(errors);
    if (this.closed) {
      return Promise.resolve(errors.map((_, i) => new Error(`${describe(i)}: netlink session closed`)));
    }
    return new Promise((resolve) => {
      const group: Group = { errors, describe, open: wires.length, resolve };
      for (let i = 0; i < wires.length; i++) {
        const wire = wires[i] as Buffer;
        this.queue.push({ seq: 0, wire, dump: false, parts: NO_PARTS, what: undefined, resolve: undefined, reject: undefined, group, index: i });
      }
      this.scheduleFlush();
    });
  }

  /** Sends a dump request and collects every message of the reply. */
  dump(type: number, payload: Uint8Array, what: string): Promise<NetlinkReply[]> {
    return this.enqueue(type, NLM_F_REQUEST | NLM_F_DUMP, payload, true, what);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('netlink session closed');
    const queued = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    for (const p of queued) this.finish(p, err);
    this.failInFlight(err);
    this.socket.close();
  }

  private enqueue(type: number, flags: number, payload: Uint8Array, dump: boolean, what: string): Promise<NetlinkReply[]> {
    if (this.closed) return Promise.reject(new Error(`${what}: netlink session closed`));
    const wire = encodeRequest(type, flags, payload.length);
    wire.set(payload, NLMSG_HDRLEN);
    return new Promise<NetlinkReply[]>((resolve, reject) => {
      this.queue.push({ seq: 0, wire, dump, parts: [], what, resolve, reject, group: undefined, index: 0 });
      this.scheduleFlush();
    });
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0xfffffffe ? 1 : this.seq + 1;
    return this.seq;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: callers that each await something first still share a datagram.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queueHead < this.queue.length && this.inFlight.size < this.maxInFlight && !this.dumping) {
      const batch: Pending[] = [];
      let bytes = 0;
      for (;;) {
        const next = this.queue[this.queueHead];
        if (!next) break;
        // The kernel runs one dump at a time per socket: a dump travels alone and waits for its end.
        if (next.dump && batch.length > 0) break;
        if (batch.length > 0 && bytes + next.wire.length > this.maxDatagramBytes) break;
        if (this.inFlight.size + batch.length >= this.maxInFlight) break;
        this.queue[this.queueHead++] = undefined as unknown as Pending; // let it go once settled
        batch.push(next);
        bytes += next.wire.length;
        if (next.dump) break;
      }
      if (batch.length === 0) break;
      if (batch[0]?.dump) this.dumping = true;
      this.send(batch);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private send(members: Pending[]): void {
    const datagram: Datagram = { members, open: members.length };
    const last = members.length - 1;
    members.forEach((p, i) => {
      // Sequence numbers are given at sending, so those of one datagram are consecutive.
      p.seq = this.nextSeq();
      p.wire.writeUInt32LE(p.seq, 8);
      // Only the last message asks for an ACK (see the top of this file); a dump never does.
      const flags = p.wire.readUInt16LE(6);
      if (!p.dump) p.wire.writeUInt16LE(i < last ? flags & ~NLM_F_ACK : flags | NLM_F_ACK, 6);
      p.batch = datagram;
      this.inFlight.set(p.seq, p);
    });
    datagram.timer = setTimeout(() => {
      for (const p of members) this.settle(p, new NetlinkError(110 /* ETIMEDOUT */, `no reply from the kernel to ${this.describe(p)}`));
    }, this.timeoutMs);
    datagram.timer.unref();
    this.socket.ref();
    this.datagramsSent++;
    this.socket.send(datagramBytes(members), (err) => {
      if (err) for (const p of members) this.settle(p, err);
    });
  }

  private receive(datagram: Buffer): void {
    let messages;
    try {
      messages = parseMessages(datagram);
    } catch {
      return; // a garbled datagram carries nothing we can attribute; the timeout reports it
    }
    for (const m of messages) {
      const p = this.inFlight.get(m.seq);
      if (!p) continue; // a late reply to a request that already timed out
      if (m.type === NLMSG_ERROR) {
        const errno = m.data.length >= 4 ? m.data.readInt32LE(0) : -5; /* EIO */
        this.settle(p, errno === 0 ? undefined : new NetlinkError(errno, this.describe(p)));
        // The reply to the last message of a datagram: everything before it is done, and what
        // reported no error succeeded.
        const members = p.batch?.members;
        if (members && members[members.length - 1] === p) for (const q of members) this.settle(q, undefined);
      } else if (m.type === NLMSG_DONE) {
        const errno = m.data.length >= 4 ? m.data.readInt32LE(0) : 0;
        this.settle(p, errno === 0 ? undefined : new NetlinkError(errno, this.describe(p)));
      } else if (p.dump) {
        p.parts.push({ type: m.type, data: Buffer.from(m.data) });
        if (!(m.flags & NLM_F_MULTI)) this.settle(p, undefined);
      }
    }
  }

  private settle(p: Pending, err: Error | undefined): void {
    if (this.inFlight.get(p.seq) !== p) return;
    this.inFlight.delete(p.seq);
    const batch = p.batch;
    if (batch && --batch.open === 0 && batch.timer) clearTimeout(batch.timer);
    if (p.dump) this.dumping = false;
    this.finish(p, err);
    if (this.inFlight.size === 0) this.socket.unref();
    if (this.queueHead < this.queue.length) this.scheduleFlush();
  }

  private finish(p: Pending, err: Error | undefined): void {
    const g = p.group;
    if (g) {
      g.errors[p.index] = err;
      if (--g.open === 0) g.resolve(g.errors);
    } else if (err) p.reject?.(err);
    else p.resolve?.(p.parts);
  }

  private describe(p: Pending): string {
    return p.what ?? p.group?.describe(p.index) ?? 'netlink request';
  }

  private failInFlight(err: Error): void {
    for (const p of [...this.inFlight.values()]) this.settle(p, err);
  }
}

/**
 * The requests of a datagram as one buffer: a view when they lie back to back in one buffer (a
 * batch encoded into one slab, see return-path.ts), a copy otherwise.
 */
function datagramBytes(members: readonly Pending[]): Buffer {
  const first = (members[0] as Pending).wire;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < members.length; i++) {
    const w = (members[i] as Pending).wire;
    if (w.buffer !== first.buffer || w.byteOffset !== end) return Buffer.concat(members.map((p) => p.wire));
    end += w.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

const NO_PARTS: NetlinkReply[] = [];

/**
 * As many requests in flight as error replies fit in the receive buffer the kernel really granted
 * (an error reply echoes its request; with the socket buffer's accounting it takes well under
 * 1.5 KiB), between 256, which the minimum grant always holds, and 4096. A 10k-route snapshot then
 * needs a few round trips instead of forty.
 */
function defaultInFlight(socket: DatagramSocket): number {
  let granted: number | undefined;
  try {
    granted = socket.recvBufferSize?.();
  } catch {
    granted = undefined;
  }
  if (granted === undefined || !Number.isFinite(granted)) return 256;
  return Math.max(256, Math.min(4096, Math.floor(granted / 1536)));
}

/**
 * A request with room for `payloadLength` bytes after its header, for `requestMany`: the caller
 * writes the payload from offset NLMSG_HDRLEN. The sequence number is filled in when it is sent.
 */
export function encodeRequest(type: number, flags: number, payloadLength: number): Buffer {
  const length = NLMSG_HDRLEN + payloadLength;
  // Buffer.alloc: the attribute writers rely on zeroed padding. (The ENODEV failures once blamed on
  // Node's shared pool were vxlan0 being re-created mid-pass by the guard: see VxlanGuard.start.)
  const wire = Buffer.alloc(align4(length));
  wire.writeUInt32LE(length, 0);
  wire.writeUInt16LE(type, 4);
  // ACK is decided per datagram when sending (see the top of this file).
  wire.writeUInt16LE(flags | NLM_F_REQUEST, 6);
  wire.writeUInt32LE(0, 8);
  wire.writeUInt32LE(0, 12);
  return wire;
}

export { NLMSG_HDRLEN };
