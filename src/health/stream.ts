import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../model/clock';
import type { Logger } from '../observability/logger';

/**
 * The readiness stream (`GET /readiness/stream` on the health port), for the OSS node agents of the
 * client nodes (issue #16; docs/design.md section 12). One long-lived HTTP/1.1 response per agent,
 * newline-delimited JSON:
 *
 *   {"ready":true,"draining":false,"failing":[],"heartbeatMs":1000}    at once, the state now
 *   {"ready":false,"draining":true,"failing":["drain"]}                 whenever it changes, at once
 *   (an empty line)                                                      every heartbeatMs
 *
 * What it is for: a 503 or the start of a drain reaches every client node within a round trip,
 * where a poll would take up to its interval; and a daemon that dies takes its streams with it (the
 * kernel closes the sockets: the client sees FIN or RST at once). The heartbeat only covers a daemon
 * that hangs or a peer whose packets stop arriving when the client has no faster check: the agent
 * pings the pod's address too, which the gateway's kernel answers without waking this process
 * (section 12 says why that is the default and what it costs). So the heartbeat is slow by default
 * (the client asks for its period with `?heartbeatMs=`, bounded below) and costs one write per
 * period for all streams together.
 *
 * Felix's poll of /readiness is unchanged: the stream is an extra path, answered by the same tracker.
 */

export interface StreamState {
  readonly ready: boolean;
  readonly draining: boolean;
  /** The failing readiness checks, in the tracker's order. */
  readonly failing: readonly string[];
}

export const STREAM_HEARTBEAT = {
  defaultMs: 1000,
  /** Below this a heartbeat costs the gateway more than it tells (see docs/benchmarks.md). */
  minMs: 50,
  maxMs: 60_000,
} as const;

/** A client that leaves this much unread is hopelessly behind: its stream is closed (it reconnects). */
export const STREAM_MAX_BUFFERED_BYTES = 64 * 1024;

/**
 * Streams a gateway keeps open at once: three quarters of HEALTH_MAX_CONNECTIONS, so that a quarter
 * is always left for the kubelet's and Felix's polls (4096 → 3072 client nodes per gateway).
 */
export function maxStreamsFor(maxConnections: number): number {
  return Math.max(1, Math.floor((maxConnections * 3) / 4));
}

/** The heartbeat period a client asked for (`?heartbeatMs=`), bounded; the default when absent or not a number. */
export function heartbeatFromQuery(value: unknown): number {
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n)) return STREAM_HEARTBEAT.defaultMs;
  return Math.min(STREAM_HEARTBEAT.maxMs, Math.max(STREAM_HEARTBEAT.minMs, n));
}

export function streamStateLine(s: StreamState, heartbeatMs?: number): string {
  return `${JSON.stringify({ ready: s.ready, draining: s.draining, failing: s.failing, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) })}\n`;
}

export function sameStreamState(a: StreamState, b: StreamState): boolean {
  return a.ready === b.ready && a.draining === b.draining && a.failing.join(',') === b.failing.join(',');
}

export interface StreamMetrics {
  /** Open streams now. */
  set(open: number): void;
  /** A stream refused because `maxStreams` were open. */
  refused(): void;
}

export interface ReadinessStreamsOptions {
  readonly clock: Clock;
  /** The state now, for a new stream's first line. */
  readonly current: () => StreamState;
  /**
   * Streams open at once; more get 503 (the agent falls back to polling that gateway). Kept below
   * HEALTH_MAX_CONNECTIONS so that streams never take the kubelet's and Felix's polls' connections.
   */
  readonly maxStreams: number;
  readonly logger?: Logger;
  readonly metrics?: StreamMetrics;
}

interface Stream {
  readonly res: ServerResponse;
  readonly heartbeatMs: number;
}

/** Streams that share a heartbeat period share one timer: one wake-up per period, whatever their number. */
interface HeartbeatGroup {
  readonly streams: Set<Stream>;
  timer: TimerHandle | undefined;
}

export class ReadinessStreams {
  private readonly groups = new Map<number, HeartbeatGroup>();
  private last: StreamState | undefined;
  private open = 0;
  private closed = false;

  constructor(private readonly opts: ReadinessStreamsOptions) {}

  get count(): number {
    return this.open;
  }

  /**
   * Sends `state` to every stream when it differs from the last one sent. Called by the tracker on
   * every change of readiness or of the failing checks.
   */
  publish(state: StreamState): void {
    if (this.last && sameStreamState(this.last, state)) return;
    this.last = state;
    const line = streamStateLine(state);
    for (const g of this.groups.values()) for (const s of g.streams) this.write(s, line);
  }

  /**
   * Takes over a request's response as a stream. Answers 503 when `maxStreams` are open or after
   * close(); otherwise writes the headers and the state now, and keeps the connection until the
   * client or close() ends it.
   */
  attach(req: IncomingMessage, res: ServerResponse, heartbeatMs: number): void {
    if (this.closed || this.open >= this.opts.maxStreams) {
      this.opts.metrics?.refused();
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '60' });
      res.end(JSON.stringify({ error: this.closed ? 'shutting down' : `too many readiness streams (${this.opts.maxStreams})` }));
      return;
    }
    // The server's idle timeout would end a quiet stream between heartbeats; the heartbeat is ours.
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    const stream: Stream = { res, heartbeatMs };
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    const state = this.opts.current();
    this.last ??= state;
    res.write(streamStateLine(state, heartbeatMs));
    this.open++;
    this.opts.metrics?.set(this.open);
    let group = this.groups.get(heartbeatMs);
    if (!group) {
      group = { streams: new Set(), timer: undefined };
      this.groups.set(heartbeatMs, group);
      this.armHeartbeat(heartbeatMs, group, this.opts.clock.now() + heartbeatMs);
    }
    group.streams.add(stream);
    const gone = (): void => {
      const g = this.groups.get(heartbeatMs);
      if (!g?.streams.delete(stream)) return;
      this.open--;
      this.opts.metrics?.set(this.open);
      if (g.streams.size === 0) {
        g.timer?.cancel();
        this.groups.delete(heartbeatMs);
      }
    };
    res.once('close', gone);
  }

  /** Ends every stream (the health server is closing) and refuses new ones. */
  closeAll(): void {
    this.closed = true;
    for (const g of this.groups.values()) {
      g.timer?.cancel();
      for (const s of g.streams) s.res.destroy();
    }
  }

  /** On a fixed schedule (`due`, `due` + period, ...): the time the writes take does not add up. */
  private armHeartbeat(periodMs: number, group: HeartbeatGroup, due: number): void {
    group.timer = this.opts.clock.setTimeout(() => {
      if (this.groups.get(periodMs) !== group) return;
      for (const s of group.streams) this.write(s, '\n');
      const now = this.opts.clock.now();
      // Late by more than a period (the process was stopped): start the schedule again from now.
      const next = due + periodMs > now ? due + periodMs : now + periodMs;
      this.armHeartbeat(periodMs, group, next);
    }, Math.max(0, due - this.opts.clock.now()));
  }

  private write(s: Stream, chunk: string): void {
    if (s.res.destroyed) return;
    if (s.res.writableLength > STREAM_MAX_BUFFERED_BYTES) {
      this.opts.logger?.info(
        { component: 'health', event: 'readiness_stream_behind', buffered: s.res.writableLength },
        `closing a readiness stream whose client has left ${s.res.writableLength} bytes unread`,
      );
      s.res.destroy();
      return;
    }
    s.res.write(chunk);
  }
}

/** The stream's view of a readiness report. */
export function streamStateOf(report: { readonly ready: boolean; readonly failing: readonly string[] }): StreamState {
  return { ready: report.ready, draining: report.failing.includes('drain'), failing: [...report.failing] };
}
