import { request } from 'node:http';
import type { Clock, TimerHandle } from '../../model/clock';
import { newStreamRecord, recordStreamEnd, recordStreamState, type StreamRecord } from './state';

/**
 * The client side of a gateway's readiness stream (src/health/stream.ts has the format): one
 * long-lived GET per gateway, a state line at once and on every change, an empty line every
 * heartbeat. The transport is a port so that tests can drive the stream's life with a fake clock;
 * the real one is node:http.
 */

/** What the transport reports about one request. */
export interface StreamHandlers {
  /** The response's status and content type arrived. */
  onResponse(status: number, contentType: string): void;
  /** Bytes of the body, as text. */
  onData(text: string): void;
  /** The response ended, or the request failed (`error` set); called once, last. */
  onEnd(error?: string): void;
}

export interface StreamTransport {
  /** Starts the GET; `close()` aborts it (no more handler calls after). */
  open(url: string, handlers: StreamHandlers): { close(): void };
}

export interface StreamPolicy {
  /** The heartbeat period asked of the gateway; one that sends nothing for three periods is lost. */
  readonly heartbeatMs: number;
  /** Headers and the first state line must arrive within this. */
  readonly connectTimeoutMs: number;
  /** Dialling again after a failure: first at once, then doubling from `retryMinMs` up to `retryMaxMs`. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** How long to poll instead before trying the stream again, after a gateway answered without one. */
  readonly unsupportedRetryMs: number;
}

export const DEFAULT_STREAM_POLICY: StreamPolicy = {
  heartbeatMs: 1000,
  connectTimeoutMs: 1000,
  retryMinMs: 100,
  retryMaxMs: 1000,
  unsupportedRetryMs: 60_000,
};

/** Heartbeats missed before a stream is given up. */
export const MISSED_HEARTBEATS = 3;

/** One state line, or undefined when the line is not one (an empty line is a heartbeat, and is not passed here). */
export function parseStateLine(line: string): { ready: boolean; draining: boolean; failing: string[]; heartbeatMs?: number } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.ready !== 'boolean') return undefined;
  const failing = Array.isArray(o.failing) ? o.failing.filter((x): x is string => typeof x === 'string') : [];
  const heartbeatMs = typeof o.heartbeatMs === 'number' && Number.isFinite(o.heartbeatMs) && o.heartbeatMs > 0 ? o.heartbeatMs : undefined;
  return { ready: o.ready, draining: o.draining === true, failing, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) };
}

/**
 * One gateway's stream, kept open: dialled at start, dialled again after every loss (at once, then
 * backing off to a second), given up when its heartbeat stops, ended on demand (`restart`, when
 * the echo finds the path gone). `onChange` gets every change of the record: state, or what a live
 * gateway says.
 */
export class GatewayStream {
  private record: StreamRecord;
  private current: { close(): void } | undefined;
  private timer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private failuresInRow = 0;
  private stopped = false;
  /** Bumped per request, so a late callback of an old one is ignored. */
  private generation = 0;

  constructor(
    private readonly url: string,
    private readonly deps: {
      readonly clock: Clock;
      readonly transport: StreamTransport;
      readonly policy: StreamPolicy;
      readonly onChange: (record: StreamRecord, before: StreamRecord) => void;
    },
  ) {
    this.record = newStreamRecord(deps.clock.now());
  }

  get state(): StreamRecord {
    return this.record;
  }

  start(): void {
    this.dial();
  }

  /** Ends the stream now as lost (`why` is recorded) and dials again. */
  restart(why: string): void {
    if (this.stopped || !this.current) return;
    this.end('lost', why);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.timer?.cancel();
    this.watchdog?.cancel();
    this.current?.close();
    this.current = undefined;
  }

  private dial(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    let buffer = '';
    let first = true;
    let heartbeatMs = this.deps.policy.heartbeatMs;
    const mine = (): boolean => gen === this.generation && !this.stopped;
    this.arm(this.deps.policy.connectTimeoutMs, `no answer within ${this.deps.policy.connectTimeoutMs} ms`);
    const url = `${this.url}?heartbeatMs=${this.deps.policy.heartbeatMs}`;
    this.current = this.deps.transport.open(url, {
      onResponse: (status, contentType) => {
        if (!mine()) return;
        if (status === 404 || status === 405 || (status === 200 && !contentType.startsWith('application/x-ndjson'))) {
          this.end('unsupported', `the gateway has no readiness stream (HTTP ${status})`);
        } else if (status === 503) {
          this.end('unsupported', 'the gateway refused the stream (HTTP 503: its stream cap is reached)');
        } else if (status !== 200) {
          this.end('lost', `HTTP ${status}`);
        }
      },
      onData: (text) => {
        if (!mine()) return;
        buffer += text;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === '') continue;
          const s = parseStateLine(line);
          if (!s) {
            this.end('lost', `not a state line: ${line.slice(0, 80)}`);
            return;
          }
          if (s.heartbeatMs !== undefined) heartbeatMs = s.heartbeatMs;
          const before = this.record;
          this.record = recordStreamState(before, s, this.deps.clock.now(), first);
          if (first) this.failuresInRow = 0;
          first = false;
          if (!sameRecord(before, this.record)) this.deps.onChange(this.record, before);
        }
        if (buffer.length > 64 * 1024) {
          this.end('lost', 'a line longer than 64 KiB');
          return;
        }
        // Any byte proves the gateway's process alive; before the first line the connect timeout runs.
        if (!first) this.arm(heartbeatMs * MISSED_HEARTBEATS, `no heartbeat for ${heartbeatMs * MISSED_HEARTBEATS} ms`);
      },
      onEnd: (error) => {
        if (!mine()) return;
        this.end('lost', error ?? 'the gateway closed the stream');
      },
    });
  }

  private arm(ms: number, why: string): void {
    this.watchdog?.cancel();
    const gen = this.generation;
    this.watchdog = this.deps.clock.setTimeout(() => {
      if (gen === this.generation && !this.stopped) this.end('lost', why);
    }, ms);
  }

  private end(state: 'lost' | 'unsupported', why: string): void {
    this.generation++;
    this.watchdog?.cancel();
    this.current?.close();
    this.current = undefined;
    const before = this.record;
    this.record = recordStreamEnd(before, state, why, this.deps.clock.now());
    if (!sameRecord(before, this.record)) this.deps.onChange(this.record, before);
    if (this.stopped) return;
    const p = this.deps.policy;
    const delay = state === 'unsupported' ? p.unsupportedRetryMs : this.failuresInRow === 0 ? 0 : Math.min(p.retryMaxMs, p.retryMinMs * 2 ** (this.failuresInRow - 1));
    this.failuresInRow++;
    this.timer?.cancel();
    this.timer = this.deps.clock.setTimeout(() => this.dial(), delay);
  }
}

function sameRecord(a: StreamRecord, b: StreamRecord): boolean {
  return (
    a.state === b.state &&
    a.ready === b.ready &&
    a.draining === b.draining &&
    (a.failing ?? []).join(',') === (b.failing ?? []).join(',') &&
    a.connects === b.connects &&
    a.lastError === b.lastError
  );
}

/** The real transport: one plain HTTP/1.1 GET per stream, no connection reuse (the stream owns its connection). */
export const httpStreamTransport: StreamTransport = {
  open(url, handlers) {
    let ended = false;
    const end = (error?: string): void => {
      if (ended) return;
      ended = true;
      handlers.onEnd(error);
    };
    const req = request(url, { method: 'GET', agent: false, headers: { accept: 'application/x-ndjson' } }, (res) => {
      res.setEncoding('utf8');
      handlers.onResponse(res.statusCode ?? 0, res.headers['content-type'] ?? '');
      res.on('data', (chunk: string) => {
        if (!ended) handlers.onData(chunk);
      });
      res.on('end', () => end());
      res.on('error', (err) => end(err.message));
      res.on('close', () => end(res.complete ? undefined : 'the connection closed'));
    });
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('error', (err: NodeJS.ErrnoException) => end(err.code ?? err.message));
    req.end();
    return {
      close: () => {
        ended = true;
        req.destroy();
      },
    };
  },
};
