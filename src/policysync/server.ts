import { existsSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { FelixRoute, FelixVtep, RouteKind } from '../model/felix';
import type { Logger } from '../observability/logger';
import { silentLogger } from '../observability/logger';
import { ErrorCodes, GatewayError, describeCause } from '../errors';
import { POLICYSYNC_SERVICE, bridgeGrpcLog } from './grpc';
import type { RouteUpdateWire, SyncRequestWire, VtepUpdateWire } from './proto';
import { decodeSyncRequest, encodeToDataplane } from './proto';

/**
 * A PolicySync server: felix.PolicySync/Sync on a Unix socket, as Felix serves it to an l3-routes
 * subscriber (FELIX-PROTOCOL.md). The OSS node agent serves its route feed with it; the test Felix and
 * the benchmarks' Felix stand in for Felix with it.
 *
 *   const server = new PolicySyncServer({ socketPath, logger });
 *   await server.start();
 *   server.replace(routes, vteps);   // the whole desired set, as often as it changes
 *   server.inSync();                 // once the first complete set is there
 *   ...
 *   await server.close();
 *
 * Semantics, as Felix's:
 * - Until the first `inSync()`, a new stream gets nothing, not even response headers.
 * - After it, a new stream gets the current set as a snapshot (VTEPs, then routes), then `in_sync`, then
 *   live changes: each `replace()` sends open streams only the differences (VtepUpdate, RouteUpdate,
 *   RouteRemove, VtepRemove, in that order). Calling `replace()` with the same set sends nothing.
 * - Each stream is independent (the server identifies no caller; Felix closes an older stream of the
 *   same pod, a caller of ours has one socket and one stream).
 * - Per stream, messages wait in a queue while grpc-js's buffer is full (its `write()` returned false)
 *   and go on at 'drain'. A stream whose queue holds more than `queueLimit` live changes (by default
 *   10,000, a whole 10k-route turnover) has fallen hopelessly behind: it ends with RESOURCE_EXHAUSTED and
 *   its client re-syncs, rather than the server holding ever more memory for it. A snapshot is
 *   queued whole and does not count against the limit.
 * - Messages are encoded once, when the set changes, and the same bytes go to every stream.
 *
 * Route kinds go out as Enterprise's `types` bitmap (and OSS's `type` too when a route has one kind), so
 * both kinds of subscriber read them; a route whose only kind is cidr_info is type 0 with no bits.
 */

export interface PolicySyncServerOptions {
  readonly socketPath: string;
  readonly logger?: Logger;
  /** Live changes one stream may have queued before it is closed for falling behind (10,000). */
  readonly queueLimit?: number;
  /** Called for every new stream, before it gets anything (stand-ins use the handle to play Felix's odd cases). */
  readonly onStream?: (stream: SyncStream) => void;
}

export const DEFAULT_QUEUE_LIMIT = 10_000;

export interface PolicySyncServerStats {
  readonly listening: boolean;
  readonly socket: string;
  readonly openStreams: number;
  /** inSync() has been called. */
  readonly inSync: boolean;
  readonly routes: number;
  readonly vteps: number;
}

/** One open Sync call, as the server's `onStream` hook sees it. */
export interface SyncStream {
  /** 1 for the server's first stream, and so on. */
  readonly id: number;
  readonly request: SyncRequestWire;
  /**
   * Takes this stream out of the feed: it gets nothing from `replace()`/`inSync()` from now on, only what
   * is written through this handle. For stand-ins that script a stream message by message.
   */
  detach(): void;
  /** Sends response headers now (the feed sends them with its first message). */
  sendHeaders(): void;
  /** Writes one encoded ToDataplane (queued like the feed's own messages). */
  write(message: Uint8Array): void;
  /** Ends the call with status OK, as Felix does when the same pod joins again. */
  end(): void;
  /** Ends the call with an error status. */
  fail(code: grpc.status, message: string): void;
  readonly open: boolean;
  /** `listener` runs once when the stream is over, however it ended (at once if it is already). */
  onClose(listener: () => void): void;
}

const ENTERPRISE_BITS: Readonly<Partial<Record<RouteKind, number>>> = {
  remote_workload: 1,
  remote_host: 2,
  local_workload: 4,
  local_host: 8,
  remote_tunnel: 16,
  local_tunnel: 32,
};
const OSS_TYPES: readonly RouteKind[] = ['cidr_info', 'remote_workload', 'remote_host', 'local_workload', 'local_host', 'remote_tunnel', 'local_tunnel'];
const POOL_TYPES = { none: 0, no_encap: 1, vxlan: 2, ipip: 3 } as const;

/** FelixRoute (model) → RouteUpdate (wire). */
export function routeUpdateOf(route: FelixRoute): RouteUpdateWire {
  let types = 0;
  for (const kind of route.kinds) types |= ENTERPRISE_BITS[kind] ?? 0;
  const only = route.kinds.size === 1 ? [...route.kinds][0] : undefined;
  const t = route.tunnel;
  return {
    ...(only !== undefined ? { type: OSS_TYPES.indexOf(only) } : {}),
    ip_pool_type: POOL_TYPES[route.ipPoolType],
    dst: route.dst.text,
    dst_node_name: route.dstNodeName,
    dst_node_ip: route.dstNodeIp?.text ?? '',
    same_subnet: route.sameSubnet,
    nat_outgoing: route.natOutgoing,
    local_workload: route.localWorkload,
    ...(t.ipip || t.vxlan || t.wireguard ? { tunnel_type: { ipip: t.ipip, vxlan: t.vxlan, wireguard: t.wireguard } } : {}),
    borrowed: route.borrowed,
    types,
  };
}

/** FelixVtep (model) → VXLANTunnelEndpointUpdate (wire). */
export function vtepUpdateOf(vtep: FelixVtep): VtepUpdateWire {
  return {
    node: vtep.node,
    mac: vtep.mac ?? '',
    ipv4_addr: vtep.ipv4Addr?.text ?? '',
    parent_device_ip: vtep.parentDeviceIp?.text ?? '',
    mac_v6: vtep.macV6 ?? '',
    ipv6_addr: vtep.ipv6Addr?.text ?? '',
    parent_device_ipv6: vtep.parentDeviceIpv6?.text ?? '',
  };
}

/** A desired set as encoded messages: key (route dst, VTEP node) → the update's bytes. */
export interface EncodedSet {
  readonly routes: ReadonlyMap<string, Buffer>;
  readonly vteps: ReadonlyMap<string, Buffer>;
}

/** Encodes a desired set of wire-level updates (what `replace` does after mapping the model values). */
export function encodeSet(routes: readonly RouteUpdateWire[], vteps: readonly VtepUpdateWire[]): EncodedSet {
  return {
    routes: new Map(routes.map((r) => [r.dst ?? '', encodeToDataplane({ route_update: r })])),
    vteps: new Map(vteps.map((v) => [v.node ?? '', encodeToDataplane({ vtep_update: v })])),
  };
}

const IN_SYNC = encodeToDataplane({ in_sync: {} });

export class PolicySyncServer {
  private readonly log: Logger;
  private readonly queueLimit: number;
  private server: grpc.Server | undefined;
  private readonly streams = new Set<Stream>();
  private current: EncodedSet = { routes: new Map(), vteps: new Map() };
  private synced = false;
  private nextId = 0;

  constructor(private readonly options: PolicySyncServerOptions) {
    this.log = (options.logger ?? silentLogger()).child({ component: 'policysync-server' });
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    bridgeGrpcLog(this.log);
  }

  /** Listens on the socket path (its folder is made if missing); a socket file left there is replaced. */
  async start(): Promise<void> {
    if (this.server) return;
    const path = this.options.socketPath;
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new GatewayError(ErrorCodes.INTERNAL, `PolicySync server: ${path} exists and is not a socket`);
      rmSync(path, { force: true });
    }
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 });
    server.addService(POLICYSYNC_SERVICE, { Sync: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.accept(call) });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(new GatewayError(ErrorCodes.INTERNAL, `PolicySync server: cannot listen on ${path}: ${describeCause(err)}`, { cause: err })) : resolve(),
      ),
    );
    this.server = server;
    this.log.info({ event: 'listening', socket: path }, 'PolicySync server listening');
  }

  /** Stops at once: open streams break (their clients see the connection close), the socket goes away. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.streams) s.forget();
    this.streams.clear();
    server.forceShutdown();
    rmSync(this.options.socketPath, { force: true });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Open streams, in the feed or not. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** For `status`: whether it listens, how many streams are open, and the desired set's size. */
  stats(): PolicySyncServerStats {
    return { listening: this.listening, socket: this.options.socketPath, openStreams: this.streams.size, inSync: this.synced, routes: this.current.routes.size, vteps: this.current.vteps.size };
  }

  /** The whole desired set; open in-sync streams get the differences. */
  replace(routes: readonly FelixRoute[], vteps: readonly FelixVtep[]): void {
    this.replaceEncoded(encodeSet(routes.map(routeUpdateOf), vteps.map(vtepUpdateOf)));
  }

  /** `replace` for a set already encoded (encodeSet): stand-ins that need wire values the model cannot hold. */
  replaceEncoded(next: EncodedSet): void {
    const before = this.current;
    this.current = next;
    if (!this.synced) return;
    const changes: Buffer[] = [];
    for (const [node, bytes] of next.vteps) if (!before.vteps.get(node)?.equals(bytes)) changes.push(bytes);
    for (const [dst, bytes] of next.routes) if (!before.routes.get(dst)?.equals(bytes)) changes.push(bytes);
    for (const dst of before.routes.keys()) if (!next.routes.has(dst)) changes.push(encodeToDataplane({ route_remove: { dst } }));
    for (const node of before.vteps.keys()) if (!next.vteps.has(node)) changes.push(encodeToDataplane({ vtep_remove: { node } }));
    if (changes.length === 0) return;
    for (const s of this.streams) if (s.inFeed) s.sendLive(changes);
  }

  /**
   * The set is complete: streams waiting for it get the snapshot and in_sync now, new ones on arrival.
   * Later calls send in_sync again to streams in the feed (Felix repeats it after a resync).
   */
  inSync(): void {
    const first = !this.synced;
    this.synced = true;
    for (const s of this.streams) {
      if (!s.inFeed) continue;
      if (first) s.sendSnapshot(this.snapshot());
      else s.sendLive([IN_SYNC]);
    }
  }

  private snapshot(): Buffer[] {
    return [...this.current.vteps.values(), ...this.current.routes.values(), IN_SYNC];
  }

  private accept(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    let request: SyncRequestWire;
    try {
      request = decodeSyncRequest(call.request);
    } catch (err) {
      call.destroy(Object.assign(new Error(`undecodable SyncRequest: ${describeCause(err)}`), { code: grpc.status.INVALID_ARGUMENT }));
      return;
    }
    const stream = new Stream(++this.nextId, request, call, this.queueLimit, this.log, () => this.streams.delete(stream));
    this.streams.add(stream);
    this.log.info({ event: 'stream_opened', stream: stream.id, subscription: request.subscription_type ?? '' }, 'PolicySync stream opened');
    try {
      this.options.onStream?.(stream);
    } catch (err) {
      this.log.error({ event: 'handler_failed', err }, `PolicySync server onStream handler threw: ${describeCause(err)}`);
    }
    if (stream.inFeed && this.synced && stream.open) stream.sendSnapshot(this.snapshot());
  }
}

class Stream implements SyncStream {
  inFeed = true;
  private readonly queue: Buffer[] = [];
  /** The next message of `queue` to write. */
  private head = 0;
  /** Of the queued messages, how many are live changes (not snapshot). */
  private liveQueued = 0;
  private snapshotLeft = 0;
  private waitingForDrain = false;
  private headersSent = false;
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly request: SyncRequestWire,
    private readonly call: grpc.ServerWritableStream<Buffer, Buffer>,
    private readonly queueLimit: number,
    private readonly log: Logger,
    private readonly onGone: () => void,
  ) {
    const gone = (): void => this.forget();
    call.on('cancelled', gone);
    call.on('close', gone);
    call.on('error', gone);
    call.on('drain', () => {
      this.waitingForDrain = false;
      this.pump();
    });
  }

  get open(): boolean {
    return !this.closed;
  }

  detach(): void {
    this.inFeed = false;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  sendHeaders(): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    this.call.sendMetadata(new grpc.Metadata());
  }

  write(message: Uint8Array): void {
    this.enqueue([Buffer.isBuffer(message) ? message : Buffer.from(message)], false);
  }

  sendSnapshot(messages: readonly Buffer[]): void {
    this.snapshotLeft += messages.length;
    this.enqueue(messages, false);
  }

  sendLive(messages: readonly Buffer[]): void {
    this.enqueue(messages, true);
  }

  end(): void {
    if (this.closed) return;
    this.forget();
    this.call.end();
  }

  fail(code: grpc.status, message: string): void {
    if (this.closed) return;
    this.forget();
    // grpc-js sends an 'error' emitted on a server stream as the call's final status.
    this.call.emit('error', Object.assign(new Error(message), { code, details: message }));
  }

  forget(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    this.onGone();
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  private enqueue(messages: readonly Buffer[], live: boolean): void {
    if (this.closed) return;
    for (const m of messages) this.queue.push(m);
    if (live) this.liveQueued += messages.length;
    if (this.liveQueued > this.queueLimit) {
      this.log.warn({ event: 'stream_behind', stream: this.id, queued: this.queue.length - this.head }, 'PolicySync stream fell behind; closing it so its client re-syncs');
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `the stream fell more than ${this.queueLimit} changes behind; re-sync`);
      return;
    }
    this.pump();
  }

  /** Writes queued messages until grpc-js says its buffer is full; 'drain' resumes. */
  private pump(): void {
    if (this.waitingForDrain) return;
    this.headersSent = true;
    while (this.head < this.queue.length && !this.closed) {
      const m = this.queue[this.head++] as Buffer;
      if (this.snapshotLeft > 0) this.snapshotLeft--;
      else if (this.liveQueued > 0) this.liveQueued--;
      if (!this.call.write(m)) {
        this.waitingForDrain = true;
        break;
      }
    }
    // Drop what has been written: at once when all of it was, else in chunks (a 100k snapshot is
    // written 16 messages per 'drain'; shifting the array each time would cost O(n²)).
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 4096) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
