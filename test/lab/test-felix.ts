/**
 * A test Felix: a PolicySync server on a Unix socket, speaking proto/felixbackend.proto, for unit tests,
 * kernel tests and the demo. It plays the parts of Felix that an l3-routes subscriber sees: a snapshot
 * then in_sync on every new stream (closing the previous stream, as Felix does when a pod reconnects),
 * live updates, and the awkward cases (malformed messages, payloads we do not declare, undecodable
 * bytes, dropped streams, a restart on the same path). It runs on the project's PolicySync server
 * (src/policysync/server.ts) and scripts each stream itself, with sequence numbers; the Go Felix
 * (test/felix-go) is the grpc-go counterpart.
 *
 * As a library: `const felix = await TestFelix.start(socketPath, { snapshot })`, then `send*`, `endStreams`,
 * `destroyStreams`, `stop`, `start`, and `requests` / `streamsConnected` to see what the client did.
 *
 * As a program:
 *   node dist/test/lab/test-felix.js --socket PATH [--routes FILE.json]
 * FILE.json is `{ "routes": [RouteUpdate...], "vteps": [VXLANTunnelEndpointUpdate...] }` with the
 * .proto's field names (`type` may be a name, e.g. "REMOTE_WORKLOAD", or a number). Every client gets
 * that snapshot, then in_sync. Signals: SIGHUP re-reads FILE.json and sends the differences to open
 * streams (updates for new or changed entries, removals for gone ones); SIGUSR1 ends open streams (the
 * client reconnects and gets a fresh snapshot); SIGTERM/SIGINT stop the server and exit. It prints one
 * JSON object per line on stdout: {"event":"listening"}, {"event":"stream","stream":N,"request":{...}},
 * {"event":"reloaded","routes":N,"vteps":N}, {"event":"streams_ended","count":N}.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { RouteUpdateWire, SyncRequestWire, ToDataplaneWire, VtepUpdateWire } from '../../src/policysync/proto';
import { RouteType, encodeToDataplane } from '../../src/policysync/proto';
import type { SyncStream } from '../../src/policysync/server';
import { PolicySyncServer } from '../../src/policysync/server';
import { bytesField, varintField } from './wire-bytes';

export interface Snapshot {
  readonly routes?: readonly RouteUpdateWire[];
  readonly vteps?: readonly VtepUpdateWire[];
}

export interface TestFelixOptions {
  readonly snapshot?: Snapshot;
  /** Send in_sync after the snapshot on each new stream (default true). */
  readonly autoInSync?: boolean;
  /** End older open streams when a new one starts, as Felix does for one pod (default true). */
  readonly closeOlderStreams?: boolean;
  /**
   * As a Felix that is not in sync itself: a new stream gets nothing, not even response headers,
   * until sendInSync(), which then sends the headers, the snapshot and in_sync (default false).
   */
  readonly silentUntilInSync?: boolean;
}

/** What the awkward cases look like on the wire. */
export type MalformedCase = 'bad_cidr' | 'bad_ip' | 'family_mismatch' | 'empty_node_name' | 'unknown_route_type' | 'undecodable';

/**
 * Each stream is scripted here message by message (with sequence numbers, which tests read back), so
 * streams are taken out of the server's own feed (SyncStream.detach); the server carries the transport:
 * listening, response headers, per-stream queues and backpressure, statuses.
 */
interface OpenStream {
  readonly id: number;
  readonly stream: SyncStream;
  seq: number;
}

export class TestFelix {
  /** Every SyncRequest received, in order. */
  readonly requests: SyncRequestWire[] = [];
  private snapshot: Snapshot;
  private readonly autoInSync: boolean;
  private readonly closeOlderStreams: boolean;
  private silent: boolean;
  private server: PolicySyncServer | undefined;
  private readonly open = new Map<number, OpenStream>();
  private streamCount = 0;
  private readonly events = new EventEmitter();

  private constructor(
    readonly socketPath: string,
    options: TestFelixOptions,
  ) {
    this.snapshot = options.snapshot ?? {};
    this.autoInSync = options.autoInSync ?? true;
    this.closeOlderStreams = options.closeOlderStreams ?? true;
    this.silent = options.silentUntilInSync ?? false;
  }

  static async start(socketPath: string, options: TestFelixOptions = {}): Promise<TestFelix> {
    const felix = new TestFelix(socketPath, options);
    await felix.start();
    return felix;
  }

  /** Streams accepted since construction, over restarts. */
  get streamsConnected(): number {
    return this.streamCount;
  }

  get openStreams(): number {
    return this.open.size;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** (Re)starts listening on the same path; a stale socket file is removed first. */
  async start(): Promise<void> {
    if (this.server) return;
    // Whatever is at the path (a test may leave a plain file there) gives way, as a restarted Felix's would.
    rmSync(this.socketPath, { force: true });
    const server = new PolicySyncServer({ socketPath: this.socketPath, onStream: (s) => this.accept(s) });
    await server.start();
    this.server = server;
  }

  /** Stops at once: open streams break (the client sees an error), the socket goes away. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.open.clear();
    this.events.emit('open_changed');
    await server.close();
  }

  /** Replaces the snapshot that new streams get (open streams are not told; see `sendDiff`). */
  setSnapshot(snapshot: Snapshot): void {
    this.snapshot = snapshot;
  }

  getSnapshot(): Snapshot {
    return this.snapshot;
  }

  /** Resolves once `count` streams in all have been accepted. */
  waitForStreams(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.streamCount >= count) {
          this.events.off('stream', check);
          resolve();
        }
      };
      this.events.on('stream', check);
      check();
    });
  }

  /** Resolves once exactly `count` streams are open (e.g. 0 after the client cancelled). */
  waitForOpenStreams(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.open.size === count) {
          this.events.off('open_changed', check);
          resolve();
        }
      };
      this.events.on('open_changed', check);
      check();
    });
  }

  onStream(listener: (id: number, request: SyncRequestWire) => void): void {
    this.events.on('stream', listener);
  }

  sendInSync(): void {
    if (this.silent) {
      // In sync at last: the held streams get their headers and snapshot now.
      this.silent = false;
      for (const s of this.open.values()) this.sendSnapshot(s);
    }
    this.broadcast({ in_sync: {} });
  }

  sendRouteUpdate(route: RouteUpdateWire): void {
    this.broadcast({ route_update: route });
  }

  sendRouteRemove(dst: string): void {
    this.broadcast({ route_remove: { dst } });
  }

  sendVtepUpdate(vtep: VtepUpdateWire): void {
    this.broadcast({ vtep_update: vtep });
  }

  sendVtepRemove(node: string): void {
    this.broadcast({ vtep_remove: { node } });
  }

  /** A payload the .proto does not declare (e.g. 13, a ConfigUpdate in real Felix), as an empty message. */
  sendUnknownPayload(fieldNumber: number, body: Uint8Array = new Uint8Array()): void {
    for (const s of this.open.values()) {
      s.seq++;
      this.write(s, Buffer.concat([bytesField(fieldNumber, body), varintField(SEQUENCE_NUMBER_FIELD, s.seq)]));
    }
  }

  /** Any bytes as one ToDataplane message (the gRPC framing stays valid): for the fuzzer. */
  sendRaw(bytes: Uint8Array): void {
    for (const s of this.open.values()) this.write(s, Buffer.from(bytes));
  }

  sendMalformed(which: MalformedCase): void {
    const base: RouteUpdateWire = {
      type: 1,
      dst: '100.64.9.0/26',
      dst_node_name: 'node-bad',
      dst_node_ip: '198.51.100.99',
    };
    switch (which) {
      case 'bad_cidr':
        return this.sendRouteUpdate({ ...base, dst: '100.64.9.0/33' });
      case 'bad_ip':
        return this.sendRouteUpdate({ ...base, dst_node_ip: '198.51.100.999' });
      case 'family_mismatch':
        return this.sendRouteUpdate({ ...base, dst_node_ip: '2001:db8::99' });
      case 'empty_node_name':
        return this.sendRouteUpdate({ ...base, dst_node_name: '' });
      case 'unknown_route_type':
        return this.sendRouteUpdate({ ...base, type: 42 as RouteType });
      case 'undecodable':
        // A length prefix running past the end of the message: protobufjs cannot decode it.
        for (const s of this.open.values()) this.write(s, Buffer.from([0xba, 0x01, 0x7f, 0x01]));
        return;
    }
  }

  /**
   * Tells open streams what changed between the snapshot they got and `next` (updates for new or
   * changed entries, removals for gone ones), then makes `next` the snapshot for new streams.
   */
  sendDiff(next: Snapshot): void {
    const before = this.snapshot;
    this.snapshot = next;
    const oldRoutes = new Map((before.routes ?? []).map((r) => [r.dst ?? '', r]));
    const newRoutes = new Map((next.routes ?? []).map((r) => [r.dst ?? '', r]));
    const oldVteps = new Map((before.vteps ?? []).map((v) => [v.node ?? '', v]));
    const newVteps = new Map((next.vteps ?? []).map((v) => [v.node ?? '', v]));
    // Compared as wire bytes: field by field, defaults and all, as a subscriber would see them.
    const same = (a: ToDataplaneWire, b: ToDataplaneWire): boolean => encodeToDataplane(a).equals(encodeToDataplane(b));
    for (const [node, v] of newVteps) {
      const old = oldVteps.get(node);
      if (!old || !same({ vtep_update: old }, { vtep_update: v })) this.sendVtepUpdate(v);
    }
    for (const [dst, r] of newRoutes) {
      const old = oldRoutes.get(dst);
      if (!old || !same({ route_update: old }, { route_update: r })) this.sendRouteUpdate(r);
    }
    for (const dst of oldRoutes.keys()) if (!newRoutes.has(dst)) this.sendRouteRemove(dst);
    for (const node of oldVteps.keys()) if (!newVteps.has(node)) this.sendVtepRemove(node);
  }

  /** Ends open streams cleanly (status OK); returns how many. */
  endStreams(): number {
    const n = this.open.size;
    for (const s of [...this.open.values()]) {
      this.open.delete(s.id);
      s.stream.end();
    }
    if (n > 0) this.events.emit('open_changed');
    return n;
  }

  /** Ends open streams with an error status (UNAVAILABLE); returns how many. */
  destroyStreams(): number {
    const n = this.open.size;
    for (const s of [...this.open.values()]) {
      this.open.delete(s.id);
      // For an abrupt cut (no status at all), see stop().
      s.stream.fail(grpc.status.UNAVAILABLE, 'test Felix dropped the stream');
    }
    if (n > 0) this.events.emit('open_changed');
    return n;
  }

  private accept(stream: SyncStream): void {
    stream.detach();
    if (this.closeOlderStreams) this.endStreams();
    const id = ++this.streamCount;
    const open: OpenStream = { id, stream, seq: 0 };
    this.open.set(id, open);
    // Every field, defaults included (the decoded message keeps defaults on its prototype).
    const r = stream.request;
    this.requests.push({
      supports_drop_action_override: r.supports_drop_action_override ?? false,
      supports_dataplane_stats: r.supports_dataplane_stats ?? false,
      subscription_type: r.subscription_type ?? '',
      supports_ipv6_route_updates: r.supports_ipv6_route_updates ?? false,
    });
    stream.onClose(() => {
      if (this.open.delete(id)) this.events.emit('open_changed');
    });
    if (!this.silent) {
      this.sendSnapshot(open);
      if (this.autoInSync) this.writeMessage(open, { in_sync: {} });
    }
    this.events.emit('stream', id, stream.request);
    this.events.emit('open_changed');
  }

  private sendSnapshot(stream: OpenStream): void {
    stream.stream.sendHeaders();
    for (const v of this.snapshot.vteps ?? []) this.writeMessage(stream, { vtep_update: v });
    for (const r of this.snapshot.routes ?? []) this.writeMessage(stream, { route_update: r });
  }

  private broadcast(message: ToDataplaneWire): void {
    for (const s of this.open.values()) this.writeMessage(s, message);
  }

  private writeMessage(s: OpenStream, message: ToDataplaneWire): void {
    s.seq++;
    this.write(s, encodeToDataplane({ ...message, sequence_number: s.seq }));
  }

  private write(s: OpenStream, bytes: Buffer): void {
    if (!s.stream.open) {
      if (this.open.delete(s.id)) this.events.emit('open_changed');
      return;
    }
    s.stream.write(bytes);
  }
}

/** ToDataplane.sequence_number. */
const SEQUENCE_NUMBER_FIELD = 15;

/** `type` in a routes file may be RouteType's name (e.g. "REMOTE_WORKLOAD") or its number. */
function routeFromFile(r: RouteUpdateWire & { type?: unknown }): RouteUpdateWire {
  if (typeof r.type !== 'string') return r;
  const value = (RouteType as unknown as Record<string, number | undefined>)[r.type];
  if (value === undefined) throw new Error(`unknown route type ${JSON.stringify(r.type)}`);
  return { ...r, type: value };
}

// ---- the program -----------------------------------------------------------------------------------

function readSnapshot(file: string | undefined): Snapshot {
  if (!file) return {};
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  return { routes: (parsed.routes ?? []).map(routeFromFile), vteps: parsed.vteps ?? [] };
}

function say(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(argv: readonly string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const socketPath = arg('--socket');
  const routesFile = arg('--routes');
  if (!socketPath) {
    process.stderr.write('usage: test-felix --socket PATH [--routes FILE.json]\n');
    process.exitCode = 2;
    return;
  }
  const felix = await TestFelix.start(socketPath, { snapshot: readSnapshot(routesFile) });
  felix.onStream((stream, request) => say({ event: 'stream', stream, request }));
  process.on('SIGHUP', () => {
    try {
      const next = readSnapshot(routesFile);
      felix.sendDiff(next);
      say({ event: 'reloaded', routes: next.routes?.length ?? 0, vteps: next.vteps?.length ?? 0 });
    } catch (err) {
      say({ event: 'reload_failed', error: (err as Error).message });
    }
  });
  process.on('SIGUSR1', () => say({ event: 'streams_ended', count: felix.endStreams() }));
  const shutdown = (): void => {
    void felix.stop().then(() => {
      say({ event: 'stopped' });
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  say({ event: 'listening', socket: socketPath });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`test-felix: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
