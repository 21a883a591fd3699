/**
 * The benchmarks' Felix on the project's PolicySync server (src/policysync/server.ts): the snapshot is
 * encoded before the clock starts (server.replaceEncoded), so that the receive phase measures the
 * gateway and not a JavaScript encoder on the same two cores (real Felix is a Go program whose
 * encoding cost is not ours to measure). `BENCH_FELIX=go` in the routes benchmark uses the Go Felix
 * stand-in instead (test/felix-go, grpc-go as Felix).
 */
import type { SyncStream } from '../../src/policysync/server';
import type { EncodedSet } from '../../src/policysync/server';
import { PolicySyncServer } from '../../src/policysync/server';
import type { RouteUpdateWire } from '../../src/policysync/proto';
import { encodeToDataplane } from '../../src/policysync/proto';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const encodeRouteUpdate = (r: RouteUpdateWire): Buffer => encodeToDataplane({ route_update: r });
export const encodeRouteRemove = (dst: string): Buffer => encodeToDataplane({ route_remove: { dst } });

export class BenchFelix {
  /** When each stream was accepted, just before its snapshot was queued. */
  readonly streamStarts: number[] = [];
  private readonly open = new Set<SyncStream>();
  private waiters: (() => void)[] = [];
  private readonly server: PolicySyncServer;

  private constructor(readonly socketPath: string) {
    this.server = new PolicySyncServer({ socketPath, onStream: (s) => this.accept(s) });
  }

  /** Serves `snapshot` (then in_sync) to every new stream. */
  static async start(socketPath: string, snapshot: EncodedSet): Promise<BenchFelix> {
    const felix = new BenchFelix(socketPath);
    felix.server.replaceEncoded(snapshot);
    felix.server.inSync();
    await felix.server.start();
    return felix;
  }

  /** Resolves when a stream has been accepted (at once if one is open). */
  waitForStream(): Promise<void> {
    if (this.open.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Writes one encoded message to every open stream, after the snapshot, outside the server's desired
   * set (a diff of the whole set per change would cost the bench process O(routes) per message);
   * returns the time it was handed to grpc-js.
   */
  send(message: Buffer): number {
    for (const s of this.open) s.write(message);
    return nowMs();
  }

  async stop(): Promise<void> {
    this.open.clear();
    await this.server.close();
  }

  private accept(stream: SyncStream): void {
    this.streamStarts.push(nowMs());
    this.open.add(stream);
    stream.onClose(() => this.open.delete(stream));
    for (const w of this.waiters.splice(0)) w();
  }
}
