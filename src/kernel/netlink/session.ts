import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket } from 'netlink';
import {
  EIO,
  ENOBUFS,
  ETIMEDOUT,
  NETLINK_ROUTE,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_MULTI,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
} from './constants';

/**
 * One netlink socket (any protocol: rtnetlink for routes, neighbours and links; netfilter's for
 * conntrack) that does everything the project asks of the kernel: requests answered by an ACK,
 * requests answered by messages (`query`), dumps, and multicast subscriptions (`subscribe`). It keeps
 * a bounded number of requests in flight, packs several requests into one datagram, and routes
 * replies back to their request by sequence number; a message that is not a reply to us (its port
 * is not ours) is a notification and goes to the subscriber.
 *
 * Why batched: one sendmsg and one ACK per route cost a system call and a wakeup each. The kernel
 * processes the messages of a datagram in order, one after the other, and always reports a failed
 * message with an NLMSG_ERROR carrying its sequence number, ACK flag or not. So only the last
 * message of a datagram asks for an ACK: when its reply arrives, every earlier message of that
 * datagram has been processed, and those without an error of their own succeeded.
 * Why bounded: replies the receive buffer cannot hold are dropped (the socket reports ENOBUFS);
 * at most maxInFlight messages await a reply, so at most that many error replies can be queued.
 * Why kept per datagram, not per request: the messages of a datagram get consecutive sequence
 * numbers, so a reply finds its message by subtraction, and the ACK of the last settles the rest in
 * one step per call; a batch written by a RequestWriter goes out as views of its one buffer. At 10k
 * routes a record, a map entry and a settle per request cost more than the encoding did.
 */

export const NlFlags = {
  REPLACE: NLM_F_REPLACE,
  EXCL: NLM_F_EXCL,
  CREATE: NLM_F_CREATE,
  APPEND: NLM_F_APPEND,
} as const;

export interface NetlinkSessionOptions {
  /** NETLINK_ROUTE (default) or NETLINK_NETFILTER (./constants.ts). */
  readonly protocol?: number;
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

/**
 * One message of a reply or a notification: its type, header flags and payload (family header and
 * attributes). `data` is a view of the datagram it came in, not a copy: decode it, and copy what is
 * kept for long.
 */
export interface NetlinkReply {
  readonly type: number;
  readonly flags: number;
  readonly data: Buffer;
}

/**
 * Reads one message of a dump where it lies: `buf[start, end)` is its payload. Nothing is allocated
 * per message, which matters when a dump is read only to be summed up (50k routes).
 */
export type DumpVisitor = (type: number, flags: number, buf: Buffer, start: number, end: number) => void;

/** What a subscription hears: each notification, and that some were lost. */
export interface NetlinkSubscriber {
  onMessage(message: NetlinkReply): void;
  /**
   * The receive buffer overflowed (ENOBUFS) or a datagram was cut: notifications were lost, so the
   * subscriber must list what it watches again.
   */
  onOverrun(): void;
  /** Any other socket error; the subscription stays. */
  onError(err: Error): void;
}

/**
 * Requests laid back to back in one buffer (see `RequestWriter`): request k is
 * `bytes[starts[k], starts[k + 1])`. Sent as views of that buffer, with no object per request.
 */
export interface EncodedRequests {
  readonly bytes: Buffer;
  /** count + 1 offsets, ascending. */
  readonly starts: ArrayLike<number>;
  readonly count: number;
}

/**
 * One call: a single request, a dump, or a batch. Its members go out in order, possibly over
 * several datagrams; each has one slot in `errors`, and the call settles when none is open.
 */
interface Job {
  /** Members as views of one buffer, or (`wires`) one buffer each. */
  readonly bytes: Buffer | undefined;
  readonly starts: ArrayLike<number> | undefined;
  readonly wires: readonly Buffer[] | undefined;
  readonly count: number;
  /** The next member to send. */
  next: number;
  /** Members not settled yet. */
  open: number;
  readonly errors: (Error | undefined)[];
  readonly describe: (index: number) => string;
  /**
   * Its replies are messages, collected in `parts`: a dump (settled by NLMSG_DONE, or by a message
   * without NLM_F_MULTI) or a query (settled by its ACK). Such a job travels alone in its datagram.
   */
  readonly collect: 'dump' | 'query' | undefined;
  readonly parts: NetlinkReply[];
  /** Instead of collecting: each reply message as it comes (its type, flags, and payload's place in `buf`). */
  readonly visit: DumpVisitor | undefined;
  readonly done: (job: Job) => void;
}

/**
 * One datagram in flight. Its members have the consecutive sequence numbers firstSeq ..
 * firstSeq + count - 1, so a reply finds its member by subtraction; they are runs of members of
 * one or more jobs (segment s: members from `segStart[s]` on are `jobs[s]`'s from `firstIndex[s]` on).
 */
interface Datagram {
  readonly firstSeq: number;
  count: number;
  /** Members not settled yet. */
  open: number;
  readonly jobs: Job[];
  readonly firstIndex: number[];
  readonly segStart: number[];
  /** Members settled on their own (an error reply); made on the first one: the common case has none. */
  settled: Uint8Array | undefined;
  timer: NodeJS.Timeout | undefined;
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
  /** The socket's netlink port: replies carry it, notifications another (or 0). Unknown: by sequence number alone. */
  localPort?(): number;
  /** Joins a multicast group; throws when the kernel refuses. */
  addMembership?(group: number): void;
  dropMembership?(group: number): void;
  /** A datagram was longer than what was read of it. */
  onTruncated?(handler: () => void): void;
}

/** The real transport: the `netlink` package's raw socket (message peeking on, so datagrams arrive whole). */
function rawSocket(protocol: number, recvBufferSize: number): DatagramSocket {
  const raw = new RawNetlinkSocket(protocol, { recvBufferSize, sendBufferSize: recvBufferSize });
  return {
    send: (d, cb) => raw.send(d, { port: 0 }, (err) => cb(err)),
    onMessage: (h) => void raw.on('message', (msg) => h(msg)),
    onError: (h) => void raw.on('error', (err) => h(err)),
    ref: () => raw.ref(),
    unref: () => raw.unref(),
    close: () => raw.close(),
    recvBufferSize: () => raw.getRecvBufferSize(),
    localPort: () => raw.address().port,
    addMembership: (group) => raw.addMembership(group),
    dropMembership: (group) => raw.dropMembership(group),
    onTruncated: (h) => void raw.on('truncatedMessage', () => h()),
  };
}

export class NetlinkSession {
  private readonly maxInFlight: number;
  private readonly maxDatagramBytes: number;
  private readonly timeoutMs: number;
  private readonly socket: DatagramSocket;
  /** Jobs not yet wholly sent, from queueHead on (an index, not shift()). */
  private queue: (Job | undefined)[] = [];
  private queueHead = 0;
  /** Datagrams in flight, by the sequence number of their last member (the one asking for the ACK). */
  private readonly inFlight = new Map<number, Datagram>();
  /** Members of the datagrams in flight not settled yet. */
  private inFlightCount = 0;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private flushScheduled = false;
  /** A collecting job (dump or query) is in flight: nothing else is sent until it settles. */
  private collecting = false;
  private closed = false;
  private subscriber: NetlinkSubscriber | undefined;
  private groups: number[] = [];
  private listening = true;
  /** Our port, when the transport knows it: replies carry it, notifications do not. */
  private readonly port: number | undefined;
  /** Datagrams sent (the batching's effect, which a kernel test and the benchmark check). */
  datagramsSent = 0;

  constructor(options: NetlinkSessionOptions = {}, socket?: DatagramSocket) {
    this.maxDatagramBytes = Math.max(1024, options.maxDatagramBytes ?? 32 * 1024);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.socket = socket ?? rawSocket(options.protocol ?? NETLINK_ROUTE, options.recvBufferSize ?? 1 << 20);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? defaultInFlight(this.socket));
    this.port = this.socket.localPort?.();
    this.socket.onMessage((d) => this.receive(d));
    // A receive error (ENOBUFS: replies were dropped) means any in-flight reply may never come, and
    // a subscriber missed notifications.
    this.socket.onError((err) => {
      this.failInFlight(() => err);
      const overrun = (err as NodeJS.ErrnoException).errno === ENOBUFS || (err as NodeJS.ErrnoException).code === 'ENOBUFS';
      if (overrun) this.subscriber?.onOverrun();
      else this.subscriber?.onError(err);
    });
    this.socket.onTruncated?.(() => this.subscriber?.onOverrun());
    this.socket.unref();
  }

  /**
   * Joins multicast `groups` and hands every notification to `subscriber`, in the order the socket
   * delivers them. One subscriber per session; it does not keep the process alive.
   */
  subscribe(groups: readonly number[], subscriber: NetlinkSubscriber): void {
    if (this.subscriber) throw new Error('netlink session: already subscribed');
    if (!this.socket.addMembership) throw new Error('netlink session: this transport cannot join multicast groups');
    for (const g of groups) this.socket.addMembership(g);
    this.subscriber = subscriber;
    this.groups = [...groups];
  }

  /**
   * Leaves (false) or rejoins (true) the subscribed groups. While out, the kernel queues nothing for
   * this socket: a caller about to make many changes it would only hear about again leaves first.
   */
  listen(on: boolean): void {
    if (this.closed || on === this.listening) return;
    for (const g of this.groups) {
      if (on) this.socket.addMembership?.(g);
      else this.socket.dropMembership?.(g);
    }
    this.listening = on;
  }

  /** Sends one request and waits for its ACK; rejects with a NetlinkError on a negative ACK. */
  async request(type: number, flags: number, payload: Uint8Array, what: string): Promise<void> {
    await this.enqueue(type, flags, payload, undefined, what);
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
    return this.batch(undefined, undefined, wires, wires.length, describe);
  }

  /** As `requestMany`, for requests written back to back into one buffer (see `RequestWriter`). */
  requestEncoded(requests: EncodedRequests, describe: (index: number) => string): Promise<(Error | undefined)[]> {
    return this.batch(requests.bytes, requests.starts, undefined, requests.count, describe);
  }

  /** Sends a dump request (NLM_F_REQUEST | NLM_F_DUMP) and collects every message of the reply. */
  dump(type: number, payload: Uint8Array, what: string): Promise<NetlinkReply[]> {
    return this.enqueue(type, NLM_F_DUMP, payload, 'dump', what);
  }

  /** A dump whose messages are handed to `visit` as they arrive, not collected. */
  async dumpEach(type: number, payload: Uint8Array, what: string, visit: DumpVisitor): Promise<void> {
    await this.enqueue(type, NLM_F_DUMP, payload, 'dump', what, visit);
  }

  /**
   * Sends one request whose answer is messages (a GET for one object: a link by name, the route to
   * one address) and collects them; resolves at its ACK, rejects with a NetlinkError on a negative one.
   */
  query(type: number, flags: number, payload: Uint8Array, what: string): Promise<NetlinkReply[]> {
    return this.enqueue(type, flags, payload, 'query', what);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('netlink session closed');
    const queued = this.queue;
    const head = this.queueHead;
    this.queue = [];
    this.queueHead = 0;
    for (let q = head; q < queued.length; q++) {
      const job = queued[q];
      if (!job) continue;
      for (let i = job.next; i < job.count; i++) job.errors[i] = err;
      job.open -= job.count - job.next;
      job.next = job.count;
      if (job.open === 0) job.done(job);
    }
    this.failInFlight(() => err);
    this.socket.close();
  }

  private batch(
    bytes: Buffer | undefined,
    starts: ArrayLike<number> | undefined,
    wires: readonly Buffer[] | undefined,
    count: number,
    describe: (index: number) => string,
  ): Promise<(Error | undefined)[]> {
    const errors: (Error | undefined)[] = new Array<Error | undefined>(count).fill(undefined);
    if (count === 0) return Promise.resolve(errors);
    if (this.closed) {
      for (let i = 0; i < count; i++) errors[i] = new Error(`${describe(i)}: netlink session closed`);
      return Promise.resolve(errors);
    }
    return new Promise((resolve) => {
      this.push({ bytes, starts, wires, count, next: 0, open: count, errors, describe, collect: undefined, parts: NO_PARTS, visit: undefined, done: (j) => resolve(j.errors) });
    });
  }

  private enqueue(type: number, flags: number, payload: Uint8Array, collect: Job['collect'], what: string, visit?: DumpVisitor): Promise<NetlinkReply[]> {
    if (this.closed) return Promise.reject(new Error(`${what}: netlink session closed`));
    const wire = encodeRequest(type, flags, payload.length);
    wire.set(payload, NLMSG_HDRLEN);
    return new Promise<NetlinkReply[]>((resolve, reject) => {
      const done = (j: Job): void => {
        const err = j.errors[0];
        if (err) reject(err);
        else resolve(j.parts);
      };
      this.push({ bytes: undefined, starts: undefined, wires: [wire], count: 1, next: 0, open: 1, errors: [undefined], describe: () => what, collect, parts: collect && !visit ? [] : NO_PARTS, visit, done });
    });
  }

  private push(job: Job): void {
    this.queue.push(job);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: callers that each await something first still share a datagram.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.queueHead >= this.queue.length) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queueHead < this.queue.length && this.inFlightCount < this.maxInFlight && !this.collecting) {
      if (!this.sendNext()) break;
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /**
   * Packs the next datagram from the queue and sends it: members are given consecutive sequence
   * numbers, and only the last asks for an ACK (see the top of this file); a dump or query travels
   * alone (the kernel runs one dump at a time per socket, and their replies are collected by
   * sequence number). Returns false when nothing was sent.
   */
  private sendNext(): boolean {
    // Sequence numbers of one datagram never wrap (at most one member per 16 bytes).
    if (this.seq > 0xfffffff0 - this.maxDatagramBytes / 16) this.seq = 1;
    const firstSeq = this.seq;
    const d: Datagram = { firstSeq, count: 0, open: 0, jobs: [], firstIndex: [], segStart: [], settled: undefined, timer: undefined };
    const chunks: Buffer[] = [];
    let n = 0;
    let bytes = 0;
    let lastBuf: Buffer | undefined;
    let lastOff = 0;
    while (this.queueHead < this.queue.length) {
      const job = this.queue[this.queueHead] as Job;
      if (job.collect && n > 0) break;
      const from = job.next;
      let i = from;
      const buf = job.bytes;
      const starts = job.starts;
      const wires = job.wires;
      while (i < job.count && this.inFlightCount + n < this.maxInFlight) {
        let w: Buffer;
        let off: number;
        let len: number;
        if (buf && starts) {
          w = buf;
          off = starts[i] as number;
          len = (starts[i + 1] as number) - off;
        } else {
          w = (wires as readonly Buffer[])[i] as Buffer;
          off = 0;
          len = w.length;
        }
        if (n > 0 && bytes + len > this.maxDatagramBytes) break;
        w.writeUInt32LE((firstSeq + n) >>> 0, off + 8);
        // ACK only on the last member, set below; the others' replies would only fill the buffer.
        const lowFlags = w[off + 6] as number;
        if (lowFlags & NLM_F_ACK) w[off + 6] = lowFlags & ~NLM_F_ACK;
        if (wires) chunks.push(w);
        lastBuf = w;
        lastOff = off;
        bytes += len;
        n++;
        i++;
        if (job.collect) break;
      }
      if (i > from) {
        d.jobs.push(job);
        d.firstIndex.push(from);
        d.segStart.push(n - (i - from));
        if (buf && starts) chunks.push(buf.subarray(starts[from], starts[i]));
        job.next = i;
      }
      if (i < job.count || job.collect) {
        if (job.collect && i > from) this.queue[this.queueHead++] = undefined;
        break;
      }
      this.queue[this.queueHead++] = undefined; // let it go once settled
    }
    if (n === 0 || !lastBuf) return false;
    const collect = d.jobs[0]?.collect;
    if (collect) this.collecting = true;
    // A dump ends with NLMSG_DONE; everything else asks for an ACK on its last member.
    if (collect !== 'dump') lastBuf[lastOff + 6] = (lastBuf[lastOff + 6] as number) | NLM_F_ACK;
    this.seq = firstSeq + n;
    d.count = n;
    d.open = n;
    this.inFlightCount += n;
    this.inFlight.set((firstSeq + n - 1) >>> 0, d);
    d.timer = setTimeout(() => this.complete(d, (job, i) => new NetlinkError(ETIMEDOUT, `no reply from the kernel to ${job.describe(i)}`)), this.timeoutMs);
    d.timer.unref();
    this.socket.ref();
    this.datagramsSent++;
    this.socket.send(joinChunks(chunks, bytes), (err) => {
      if (err) this.complete(d, () => err);
    });
    return true;
  }

  /** Walks a datagram of replies in place: nothing is allocated for an ACK. */
  private receive(datagram: Buffer): void {
    let off = 0;
    while (off + NLMSG_HDRLEN <= datagram.length) {
      const len = datagram.readUInt32LE(off);
      // A garbled message carries nothing we can attribute, nor says where the next one starts;
      // the timeout reports what it left unanswered.
      if (len < NLMSG_HDRLEN || off + len > datagram.length) return;
      this.reply(datagram, off, len);
      off += align4(len);
    }
  }

  private reply(buf: Buffer, off: number, len: number): void {
    const type = buf.readUInt16LE(off + 4);
    const seq = buf.readUInt32LE(off + 8);
    // Replies carry our port; a notification carries its originator's (or the kernel's 0).
    if (this.port !== undefined && buf.readUInt32LE(off + 12) !== this.port) {
      this.notify(buf, off, len, type);
      return;
    }
    const d = this.inFlight.get(seq) ?? this.datagramOf(seq);
    if (!d) {
      // A late reply to a request that already timed out, or (port unknown) a notification.
      if (type !== NLMSG_ERROR && type !== NLMSG_DONE) this.notify(buf, off, len, type);
      return;
    }
    const k = seq - d.firstSeq;
    if (type === NLMSG_ERROR) {
      const errno = len >= NLMSG_HDRLEN + 4 ? buf.readInt32LE(off + NLMSG_HDRLEN) : -EIO;
      if (errno !== 0) this.settle(d, k, (job, i) => new NetlinkError(errno, job.describe(i)));
      // The reply to the last message of a datagram: everything before it is done, and what
      // reported no error succeeded.
      if (k === d.count - 1) this.complete(d, undefined);
      else if (errno === 0) this.settle(d, k, undefined);
    } else if (type === NLMSG_DONE) {
      const errno = len >= NLMSG_HDRLEN + 4 ? buf.readInt32LE(off + NLMSG_HDRLEN) : 0;
      this.settle(d, k, errno === 0 ? undefined : (job, i) => new NetlinkError(errno, job.describe(i)));
    } else {
      const job = d.jobs[0];
      if (!job?.collect) {
        this.notify(buf, off, len, type);
        return;
      }
      const flags = buf.readUInt16LE(off + 6);
      // A view, not a copy: the datagram is ours (the binding hands over a fresh buffer each time).
      if (job.visit) job.visit(type, flags, buf, off + NLMSG_HDRLEN, off + len);
      else job.parts.push({ type, flags, data: buf.subarray(off + NLMSG_HDRLEN, off + len) });
      if (job.collect === 'dump' && !(flags & NLM_F_MULTI)) this.settle(d, k, undefined);
    }
  }

  private notify(buf: Buffer, off: number, len: number, type: number): void {
    this.subscriber?.onMessage({ type, flags: buf.readUInt16LE(off + 6), data: buf.subarray(off + NLMSG_HDRLEN, off + len) });
  }

  /** The datagram in flight holding `seq`, for a reply to a member other than the last (an error). */
  private datagramOf(seq: number): Datagram | undefined {
    for (const d of this.inFlight.values()) if (seq - d.firstSeq >= 0 && seq - d.firstSeq < d.count) return d;
    return undefined;
  }

  /** Settles member k of a datagram on its own, unless it already was. */
  private settle(d: Datagram, k: number, error: ((job: Job, index: number) => Error) | undefined): void {
    if (d.open === 0) return;
    d.settled ??= new Uint8Array(d.count);
    if (d.settled[k]) return;
    d.settled[k] = 1;
    let s = d.segStart.length - 1;
    while (s > 0 && (d.segStart[s] as number) > k) s--;
    const job = d.jobs[s] as Job;
    const index = (d.firstIndex[s] as number) + k - (d.segStart[s] as number);
    job.errors[index] = error?.(job, index);
    d.open--;
    this.inFlightCount--;
    if (--job.open === 0) job.done(job);
    if (d.open === 0) this.retire(d);
  }

  /**
   * Settles every member of a datagram not settled yet: as succeeded (`error` undefined: the ACK of
   * its last member came), or each with its own error. Without earlier error replies this costs
   * one step per job, not per member.
   */
  private complete(d: Datagram, error: ((job: Job, index: number) => Error) | undefined): void {
    if (d.open === 0) return;
    const settled = d.settled;
    const segs = d.jobs.length;
    for (let s = 0; s < segs; s++) {
      const job = d.jobs[s] as Job;
      const start = d.segStart[s] as number;
      const end = s + 1 < segs ? (d.segStart[s + 1] as number) : d.count;
      const first = d.firstIndex[s] as number;
      let open = 0;
      if (!settled && !error) open = end - start;
      else {
        for (let k = start; k < end; k++) {
          if (settled?.[k]) continue;
          open++;
          if (error) job.errors[first + k - start] = error(job, first + k - start);
        }
      }
      job.open -= open;
      if (open > 0 && job.open === 0) job.done(job);
    }
    this.inFlightCount -= d.open;
    d.open = 0;
    this.retire(d);
  }

  private retire(d: Datagram): void {
    if (d.timer) clearTimeout(d.timer);
    this.inFlight.delete((d.firstSeq + d.count - 1) >>> 0);
    if (d.jobs[0]?.collect) this.collecting = false;
    if (this.inFlightCount === 0) this.socket.unref();
    this.scheduleFlush();
  }

  private failInFlight(error: (job: Job, index: number) => Error): void {
    for (const d of [...this.inFlight.values()]) this.complete(d, error);
  }
}

/**
 * The members of a datagram as one buffer: a view when they lie back to back in one buffer (a
 * batch written by a RequestWriter, or views of one slab), a copy otherwise.
 */
function joinChunks(chunks: readonly Buffer[], bytes: number): Buffer {
  const first = chunks[0] as Buffer;
  if (chunks.length === 1) return first;
  let end = first.byteOffset + first.length;
  for (let i = 1; i < chunks.length; i++) {
    const c = chunks[i] as Buffer;
    if (c.buffer !== first.buffer || c.byteOffset !== end) return Buffer.concat(chunks, bytes);
    end += c.length;
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
 * A request with room for `payloadLength` bytes after its header (for `requestMany`, or a socket of
 * the caller's own): the caller writes the payload from offset NLMSG_HDRLEN. The session fills in
 * the sequence number and the ACK flag when it sends one; a caller sending it itself writes its
 * own sequence number at offset 8.
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
