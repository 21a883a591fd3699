import type { Clock, TimerHandle } from '../model/clock';
import { systemClock } from '../model/clock';
import type { SyncConnectionState, SyncEvent } from '../model/felix';
import type { Logger } from '../observability/logger';
import { silentLogger } from '../observability/logger';
import { ErrorCodes, GatewayError, describeCause } from '../errors';
import type { BackoffPolicy } from './backoff';
import { Backoff, DEFAULT_BACKOFF } from './backoff';
import { DecodeCache } from './decode';
import { decodeReceived } from './decode';
import type { CloseInfo, KeepaliveOptions, SyncCall } from './sync-call';
import { DEFAULT_KEEPALIVE, openSyncCall } from './sync-call';
import { L3_ROUTES_SUBSCRIPTION, decodeToDataplaneBytes, encodeSyncRequest } from './proto';

/**
 * The PolicySync stream supervisor: keeps one Sync stream to Felix open over the pod's Unix socket,
 * decodes what arrives, and hands it on in order. It never touches the kernel; what to do with the
 * events is the consumer's business. On any failure (socket missing, refused, stream ended or broken)
 * it redials after a capped, jittered backoff, which resets only once a stream reaches in_sync, so a
 * Felix that accepts and then drops us at once is still retried ever more slowly.
 */

export interface PolicySyncOptions {
  /** Felix's socket in the pod, e.g. /var/run/nodeagent/socket. */
  readonly socketPath: string;
  /** Sent in the SyncRequest: true when the gateway has an IPv6 address. */
  readonly supportsIPv6RouteUpdates: boolean;
  readonly clock?: Clock;
  /** In [0, 1); drives the backoff jitter. */
  readonly random?: () => number;
  readonly backoff?: BackoffPolicy;
  readonly logger?: Logger;
  /** HTTP/2 PING keepalive; DEFAULT_KEEPALIVE (see sync-call.ts for why it is not shorter). */
  readonly keepalive?: KeepaliveOptions;
  /** The largest message accepted; gRPC's 4 MiB by default. */
  readonly maxMessageBytes?: number;
}

export interface StreamInfo {
  /** 1 for the first stream of this client, 2 after the first reconnect that got through, ... */
  readonly stream: number;
}

export interface StateChange {
  readonly state: SyncConnectionState;
  /** Why the stream went away (for 'disconnected'). */
  readonly reason?: string;
  /** When the next attempt is due (for 'disconnected'). */
  readonly retryInMs?: number;
}

export interface PolicySyncHandlers {
  /**
   * A new stream has started. Everything it sends up to its in_sync is a complete snapshot that
   * replaces whatever earlier streams said: start a fresh one now. Called before the stream's first event.
   */
  onStreamStart?(info: StreamInfo): void;
  /** Every message, decoded, in arrival order; 'ignored' and 'malformed' ones too (to count them). */
  onEvent(event: SyncEvent, info: StreamInfo): void;
  /** Each change of connection state, including the final 'stopped'. */
  onState?(change: StateChange): void;
}

export type EventCounts = Record<SyncEvent['kind'], number>;

export interface PolicySyncStats {
  readonly state: SyncConnectionState;
  /** The current stream has delivered its in_sync. */
  readonly inSync: boolean;
  /** Dial attempts, the first one included. */
  readonly attempts: number;
  /**
   * Streams that started after the first one (streams - 1): how often the stream came back after it
   * was lost. Failed dials are not reconnects; they show in `attempts`. The metric
   * egress_gateway_policysync_reconnects_total reads this same number.
   */
  readonly reconnects: number;
  /** Streams that got as far as headers or a message. */
  readonly streams: number;
  readonly messages: Readonly<EventCounts>;
  /** Clock time of the last in_sync, if any. */
  readonly lastInSyncAt?: number;
  /**
   * While 'connecting': since when this attempt has been dialling, and (once the socket accepted it)
   * since when it has been waiting for Felix's response headers. A Felix that is not in sync itself
   * (just restarted, say) accepts the connection and sends nothing, not even headers, until it is.
   */
  readonly dialingSince?: number;
  readonly awaitingHeadersSince?: number;
}

function zeroCounts(): EventCounts {
  return { in_sync: 0, route_update: 0, route_remove: 0, vtep_update: 0, vtep_remove: 0, ignored: 0, malformed: 0 };
}

interface Attempt {
  call: SyncCall | undefined;
  started: boolean;
  /** Clock time the attempt began, and when its connection to the socket came up (no headers yet). */
  readonly dialedAt: number;
  connectedAt?: number;
}

export class PolicySyncClient {
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly counts = zeroCounts();
  /** Node addresses and names, shared between the routes of a node (decode.ts DecodeCache). */
  private readonly decodeCache = new DecodeCache();
  private state: SyncConnectionState = 'disconnected';
  private inSync = false;
  private attempts = 0;
  private streams = 0;
  private lastInSyncAt: number | undefined;
  private current: Attempt | undefined;
  private retryTimer: TimerHandle | undefined;
  private running = false;
  private stopped = false;
  private resolveRun: (() => void) | undefined;
  /** Handed to onEvent with every message of the current stream (one object per stream, not per message). */
  private streamInfo: StreamInfo | undefined;
  /** Doubled when Felix says we ping too often (GOAWAY too_many_pings), as gRPC clients do. */
  private keepalive: KeepaliveOptions;

  constructor(
    private readonly options: PolicySyncOptions,
    private readonly handlers: PolicySyncHandlers,
  ) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF, options.random ?? Math.random);
    this.log = (options.logger ?? silentLogger()).child({ component: 'policysync' });
    this.keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
  }

  /**
   * Runs until `signal` aborts; the promise settles once the stream, its connection and the retry timer are gone.
   * A client runs once.
   */
  run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new GatewayError(ErrorCodes.INTERNAL, 'PolicySyncClient.run called twice');
    this.running = true;
    return new Promise<void>((resolve) => {
      this.resolveRun = resolve;
      if (signal.aborted) {
        this.stop();
        return;
      }
      signal.addEventListener('abort', () => this.stop(), { once: true });
      this.dial();
    });
  }

  stats(): PolicySyncStats {
    return {
      state: this.state,
      inSync: this.inSync,
      attempts: this.attempts,
      reconnects: Math.max(0, this.streams - 1),
      streams: this.streams,
      messages: { ...this.counts },
      ...(this.lastInSyncAt !== undefined ? { lastInSyncAt: this.lastInSyncAt } : {}),
      ...(this.state === 'connecting' && this.current ? { dialingSince: this.current.dialedAt } : {}),
      ...(this.state === 'connecting' && this.current?.connectedAt !== undefined ? { awaitingHeadersSince: this.current.connectedAt } : {}),
    };
  }

  private dial(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    this.attempts++;
    this.setState({ state: 'connecting' });
    const attempt: Attempt = { call: undefined, started: false, dialedAt: this.clock.now() };
    this.current = attempt;
    try {
      attempt.call = openSyncCall(
        {
          socketPath: this.options.socketPath,
          request: encodeSyncRequest({
            subscription_type: L3_ROUTES_SUBSCRIPTION,
            supports_ipv6_route_updates: this.options.supportsIPv6RouteUpdates,
          }),
          logger: this.log,
          keepalive: this.keepalive,
          ...(this.options.maxMessageBytes !== undefined ? { maxMessageBytes: this.options.maxMessageBytes } : {}),
        },
        {
          onConnected: () => {
            if (attempt === this.current) attempt.connectedAt = this.clock.now();
          },
          onHeaders: () => this.onStarted(attempt),
          onMessage: (bytes) => this.onMessage(attempt, bytes),
          onClose: (info) => this.onFinished(attempt, info),
        },
      );
    } catch (err) {
      // We run from a timer here: a throw would take the whole daemon down, so it is one more failure.
      this.current = undefined;
      this.retryLater(`cannot dial: ${describeCause(err)}`, false);
    }
  }

  private onStarted(attempt: Attempt): void {
    if (attempt !== this.current || attempt.started || this.stopped) return;
    attempt.started = true;
    this.streams++;
    this.inSync = false;
    this.log.info({ event: 'stream_started', stream: this.streams, socket: this.options.socketPath }, 'PolicySync stream started');
    this.setState({ state: 'connected' });
    this.callHandler('onStreamStart', () => this.handlers.onStreamStart?.({ stream: this.streams }));
  }

  private onMessage(attempt: Attempt, bytes: Buffer): void {
    if (attempt !== this.current || this.stopped) return;
    this.onStarted(attempt);
    const event = decodeReceived(decodeToDataplaneBytes(bytes), this.decodeCache);
    this.counts[event.kind]++;
    if (event.kind === 'in_sync') {
      this.inSync = true;
      this.lastInSyncAt = this.clock.now();
      this.backoff.reset();
      this.log.info({ event: 'in_sync', stream: this.streams, seq: event.seq }, 'PolicySync snapshot complete');
    } else if (event.kind === 'malformed') {
      const err = new GatewayError(ErrorCodes.MESSAGE_MALFORMED, `skipping ${event.payload} seq ${event.seq}: ${event.reason}`);
      this.log.warn({ event: 'message_malformed', seq: event.seq, payload: event.payload, err }, err.message);
    } else if (event.kind === 'ignored') {
      this.log.debug({ event: 'message_ignored', seq: event.seq, payload: event.payload }, 'payload not used by l3-routes');
    }
    // Not through callHandler: a closure and an info object per message add up over a snapshot.
    if (this.streamInfo?.stream !== this.streams) this.streamInfo = { stream: this.streams };
    try {
      this.handlers.onEvent(event, this.streamInfo);
    } catch (cause) {
      this.handlerFailed('onEvent', cause);
    }
  }

  private onFinished(attempt: Attempt, info: CloseInfo): void {
    if (attempt !== this.current) return;
    this.current = undefined;
    this.inSync = false;
    if (info.tooManyPings) {
      this.keepalive = { ...this.keepalive, intervalMs: this.keepalive.intervalMs * 2 };
      this.log.warn({ event: 'keepalive_backoff', intervalMs: this.keepalive.intervalMs }, 'Felix says we ping too often; pinging less');
    }
    if (this.stopped) return;
    this.retryLater(info.failure ?? 'stream ended by Felix', attempt.started);
  }

  private retryLater(reason: string, started: boolean): void {
    const retryInMs = this.backoff.next();
    const err = new GatewayError(ErrorCodes.POLICYSYNC_FAILED, `PolicySync stream on ${this.options.socketPath}: ${reason}`);
    this.log.warn({ event: 'stream_lost', started, retryInMs, err }, err.message);
    this.setState({ state: 'disconnected', reason, retryInMs });
    if (this.stopped) return; // a state handler may have aborted us
    this.retryTimer = this.clock.setTimeout(() => this.dial(), retryInMs);
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    const attempt = this.current;
    this.current = undefined;
    attempt?.call?.close();
    this.inSync = false;
    this.setState({ state: 'stopped' });
    this.log.info({ event: 'stopped' }, 'PolicySync client stopped');
    this.resolveRun?.();
  }

  private setState(change: StateChange): void {
    if (change.state === this.state && change.state !== 'disconnected') return;
    this.state = change.state;
    this.callHandler('onState', () => this.handlers.onState?.(change));
  }

  /** A throwing handler is a bug in the consumer; it must not take the stream down with it. */
  private callHandler(name: string, fn: () => void): void {
    try {
      fn();
    } catch (cause) {
      this.handlerFailed(name, cause);
    }
  }

  private handlerFailed(name: string, cause: unknown): void {
    const err = new GatewayError(ErrorCodes.INTERNAL, `PolicySync ${name} handler threw: ${describeCause(cause)}`, { cause });
    this.log.error({ event: 'handler_failed', err }, err.message);
  }
}
