/**
 * A PolicySync server for benchmarks. Unlike the test Felix it encodes every message before the
 * clock starts: real Felix is a Go program whose encoding cost is not ours to measure, and a
 * JavaScript encoder on the same two cores would slow the gateway it is measuring.
 */
import { existsSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { RouteUpdateWire, SyncRequestWire, ToDataplaneWire, VtepUpdateWire } from '../../src/policysync/proto';
import { listenPolicySync, loadPolicySyncProto } from '../../test/lab/proto-loader';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function encode(message: ToDataplaneWire): Buffer {
  return loadPolicySyncProto().sync.responseSerialize(message);
}

export const encodeRouteUpdate = (r: RouteUpdateWire, seq: number): Buffer => encode({ route_update: r, sequence_number: String(seq) });
export const encodeRouteRemove = (dst: string, seq: number): Buffer => encode({ route_remove: { dst }, sequence_number: String(seq) });
export const encodeVtepUpdate = (v: VtepUpdateWire, seq: number): Buffer => encode({ vtep_update: v, sequence_number: String(seq) });
export const encodeInSync = (seq: number): Buffer => encode({ in_sync: {}, sequence_number: String(seq) });

export class BenchFelix {
  /** When each stream was accepted, just before its first message was written. */
  readonly streamStarts: number[] = [];
  /**
   * When grpc-js reported each stream's snapshot written (the last message's write callback). With
   * BENCH_VERBOSE the routes benchmark prints it next to the daemon's in_sync: when the two coincide,
   * the receive phase waited for this stand-in, not for the daemon.
   */
  readonly snapshotWritten: number[] = [];
  private server: grpc.Server | undefined;
  private readonly open = new Set<grpc.ServerWritableStream<SyncRequestWire, Buffer>>();
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socketPath: string,
    private snapshot: readonly Buffer[],
  ) {}

  /** `snapshot`: encoded messages sent to every new stream, in_sync included (the caller decides). */
  static async start(socketPath: string, snapshot: readonly Buffer[]): Promise<BenchFelix> {
    const felix = new BenchFelix(socketPath, snapshot);
    const server = await listenPolicySync<Buffer>(socketPath, (b) => b, (call) => felix.accept(call));
    felix.server = server;
    return felix;
  }

  setSnapshot(snapshot: readonly Buffer[]): void {
    this.snapshot = snapshot;
  }

  /** Resolves when a stream has been accepted (at once if one is open). */
  waitForStream(): Promise<void> {
    if (this.open.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes one encoded message to every open stream; returns the time just before the write. */
  send(message: Buffer): number {
    const at = nowMs();
    for (const call of this.open) call.write(message);
    return at;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const call of this.open) call.end();
    this.open.clear();
    server.forceShutdown();
    if (existsSync(this.socketPath)) rmSync(this.socketPath, { force: true });
  }

  private accept(call: grpc.ServerWritableStream<SyncRequestWire, Buffer>): void {
    this.open.add(call);
    const forget = (): void => void this.open.delete(call);
    call.on('cancelled', forget);
    call.on('error', forget);
    call.on('close', forget);
    this.streamStarts.push(nowMs());
    const last = this.snapshot.length - 1;
    // The same writes as before; only the last one asks to be told when it has gone out.
    this.snapshot.forEach((m, i) => (i === last ? call.write(m, () => this.snapshotWritten.push(nowMs())) : call.write(m)));
    if (process.env.BENCH_VERBOSE) process.stderr.write(`felix: snapshot of ${this.snapshot.length} written in ${(nowMs() - (this.streamStarts.at(-1) ?? 0)).toFixed(1)} ms\n`);
    for (const w of this.waiters.splice(0)) w();
  }
}
