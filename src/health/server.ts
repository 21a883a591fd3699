import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Registry } from 'prom-client';
import { LIVENESS_PATH, READINESS_PATH, READINESS_STREAM_PATH } from '../config/variables';
import { GatewayError, ErrorCodes, describeCause } from '../errors';
import type { Clock } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { CheckName, CheckReport, ProbeTargetInputs, ReadinessReport } from './readiness';
import { checkFields, hostPort, isoFrom, targetTimes, type CheckFields, type TargetTimes, type ToIso } from './render';
import { heartbeatFromQuery, type ReadinessStreams } from './stream';

/**
 * The health port: /readiness (client nodes and the kubelet route traffic by it), /liveness,
 * /metrics. Built without listening so tests drive it with app.inject(). Hardened because it
 * listens on the egress IP: GET/HEAD only, no bodies, short timeouts, no internals in errors.
 */

export interface LivenessStatus {
  readonly alive: boolean;
  readonly reason?: string;
}

export interface HttpLimits {
  /** Largest request body accepted (none is needed); larger declared bodies get 413. */
  readonly bodyLimit: number;
  /** Whole request (headers and body) must arrive within this. */
  readonly requestTimeoutMs: number;
  /** Headers must arrive within this (at most requestTimeoutMs). */
  readonly headersTimeoutMs: number;
  /** An idle socket is closed after this. */
  readonly connectionTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** How often Node checks for requests past their timeouts. */
  readonly timeoutCheckIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  bodyLimit: 1024,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  connectionTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  timeoutCheckIntervalMs: 1_000,
};

export interface HealthAppDeps {
  /** Usually the ReadinessTracker. */
  readonly readiness: { report(): ReadinessReport };
  /** The registry of createMetrics(); GatewayMetrics fits. */
  readonly metrics: { readonly registry: Registry };
  /** The clock the readiness times are on, to show them as wall-clock times. */
  readonly clock: Clock;
  /** Alive while the stream supervisor runs; answering at all proves the event loop turns. Default: alive. */
  readonly liveness?: () => LivenessStatus;
  readonly logger?: Logger;
  /** Wall-clock milliseconds (default Date.now), for the times in the /readiness body. */
  readonly wallNow?: () => number;
  readonly limits?: Partial<HttpLimits>;
  /** The readiness streams of the client nodes' agents (GET /readiness/stream); absent: 404, as before. */
  readonly streams?: ReadinessStreams;
}

const PATHS = new Set([READINESS_PATH, READINESS_STREAM_PATH, LIVENESS_PATH, '/metrics']);
const ALLOW = 'GET, HEAD';

export function buildHealthApp(deps: HealthAppDeps): FastifyInstance {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...deps.limits };
  const wallNow = deps.wallNow ?? Date.now;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimit,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
      maxHeaderSize: 8192,
    },
    maxRequestsPerSocket: 100,
    forceCloseConnections: true,
    return503OnClosing: true,
  });

  // Before any body is read: refuse declared bodies that are too large, and every method but GET/HEAD.
  app.addHook('onRequest', async (req, reply) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (!Number.isFinite(declared) || declared > limits.bodyLimit) {
      return sendError(reply, 413);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const path = req.url.split('?')[0] ?? '';
      if (PATHS.has(path)) {
        reply.header('allow', ALLOW);
        return sendError(reply, 405);
      }
      return sendError(reply, 404);
    }
    return undefined;
  });

  app.setNotFoundHandler((_req, reply) => sendError(reply, 404));

  app.setErrorHandler((err: { statusCode?: number; code?: string; message?: string }, req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      deps.logger?.error(
        { component: 'health', event: 'health_request_failed', path: req.url, err },
        `health request ${req.method} ${req.url} failed: ${describeCause(err)}`,
      );
    }
    return sendError(reply, status);
  });

  app.get(READINESS_PATH, async (_req, reply) => {
    const report = deps.readiness.report();
    reply.header('cache-control', 'no-store');
    return reply.code(report.ready ? 200 : 503).send(renderReadiness(report, isoFrom(deps.clock.now(), wallNow())));
  });

  const streams = deps.streams;
  if (streams) {
    app.get(READINESS_STREAM_PATH, (req, reply) => {
      // The response outlives the handler: Node's own response object carries the stream from here.
      reply.hijack();
      streams.attach(req.raw, reply.raw, heartbeatFromQuery((req.query as Record<string, unknown> | undefined)?.heartbeatMs));
    });
    app.addHook('preClose', async () => streams.closeAll());
  }

  app.get(LIVENESS_PATH, async (_req, reply) => {
    let status: LivenessStatus;
    try {
      status = deps.liveness ? deps.liveness() : { alive: true };
    } catch (err) {
      status = { alive: false, reason: `liveness check failed: ${describeCause(err)}` };
    }
    reply.header('cache-control', 'no-store');
    return reply.code(status.alive ? 200 : 503).send(status.alive ? { alive: true } : { alive: false, reason: status.reason ?? 'not alive' });
  });

  app.get('/metrics', async (_req, reply) => {
    // Refresh the readiness gauges, so a scrape never shows a window that has run out.
    deps.readiness.report();
    const text = await deps.metrics.registry.metrics();
    reply.header('cache-control', 'no-store');
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  return app;
}

function sendError(reply: FastifyReply, status: number): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({ error: (STATUS_CODES[status] ?? 'Error').toLowerCase() });
}

type RenderedTarget = { target: string } & TargetTimes;
/** A check with more probe targets than READINESS_TARGETS_LISTED: counts instead of the list. */
interface TargetsSummary {
  readonly total: number;
  /** The last attempt was answered. */
  readonly up: number;
  readonly down: number;
  /** No attempt has finished yet. */
  readonly pending: number;
  readonly listedIn: string;
}
type RenderedCheck = CheckFields & { targets?: RenderedTarget[]; targetsSummary?: TargetsSummary };

/**
 * Above this many targets a check's /readiness entry counts them instead of listing them: the body
 * goes to whoever can reach the egress IP, every 10 s from every client node, and 500 targets made
 * it 53 kB. `egress-gateway status` lists them all.
 */
export const READINESS_TARGETS_LISTED = 32;

/** The /readiness body: overall state, the failing checks, and per check why, when it last held and last failed. */
export function renderReadiness(
  report: ReadinessReport,
  toIso: ToIso,
): { ready: boolean; failing: readonly CheckName[]; checks: Partial<Record<CheckName, RenderedCheck>> } {
  const checks: Partial<Record<CheckName, RenderedCheck>> = {};
  for (const [name, check] of Object.entries(report.checks) as [CheckName, CheckReport][]) {
    const targets = check.targets;
    checks[name] = {
      ...checkFields(check, toIso),
      ...(targets && targets.length <= READINESS_TARGETS_LISTED ? { targets: targets.map((t) => ({ target: t.target, ...targetTimes(t, toIso) })) } : {}),
      ...(targets && targets.length > READINESS_TARGETS_LISTED ? { targetsSummary: summarise(targets) } : {}),
    };
  }
  return { ready: report.ready, failing: report.failing, checks };
}

function summarise(targets: readonly ProbeTargetInputs[]): TargetsSummary {
  let up = 0;
  let down = 0;
  for (const t of targets) {
    if (t.lastSuccessAt !== undefined && (t.lastErrorAt === undefined || t.lastSuccessAt >= t.lastErrorAt)) up++;
    else if (t.lastErrorAt !== undefined) down++;
  }
  return { total: targets.length, up, down, pending: targets.length - up - down, listedIn: 'egress-gateway status' };
}

export interface HealthServerOptions {
  /** 0: no server. */
  readonly port: number;
  readonly host: string;
  /**
   * Connections open at once (HEALTH_MAX_CONNECTIONS); one more is closed at once by the kernel
   * side of Node's server. Without a bound, 30k idle connections took 16k descriptors and RSS from
   * 66 to 210 MB, and a /readiness answer 2.1 s.
   */
  readonly maxConnections?: number;
  /** A connection was refused for the bound (counted in egress_gateway_health_connections_dropped_total). */
  readonly onRefused?: () => void;
}

/** Refusals are logged at most this often (the count says how many came in between). */
const REFUSED_LOG_INTERVAL_MS = 60_000;

export interface HealthServer {
  readonly app: FastifyInstance;
  /** The port actually bound. */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Builds the app and listens on host:port; resolves undefined when the port is 0 (HEALTH_PORT=0
 * disables the server). A bind failure is a HEALTH_SERVER_FAILED error naming the address.
 */
export async function startHealthServer(options: HealthServerOptions, deps: HealthAppDeps): Promise<HealthServer | undefined> {
  if (options.port === 0) return undefined;
  const app = buildHealthApp(deps);
  if (options.maxConnections !== undefined) {
    app.server.maxConnections = options.maxConnections;
    let refused = 0;
    let loggedAt: number | undefined;
    app.server.on('drop', (data?: { remoteAddress?: string }) => {
      refused++;
      options.onRefused?.();
      const now = deps.clock.now();
      if (loggedAt !== undefined && now - loggedAt < REFUSED_LOG_INTERVAL_MS) return;
      loggedAt = now;
      deps.logger?.warn(
        { component: 'health', event: 'health_connections_refused', maxConnections: options.maxConnections, refused, remoteAddress: data?.remoteAddress },
        `the health port has ${options.maxConnections} connections open (HEALTH_MAX_CONNECTIONS): refusing more (${refused} so far)`,
      );
    });
  }
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw new GatewayError(ErrorCodes.HEALTH_SERVER_FAILED, `listening for health checks on ${hostPort(options.host, options.port)}: ${describeCause(err)}`, {
      cause: err,
    });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  deps.logger?.info({ component: 'health', event: 'health_server_listening', host: options.host, port }, `health server listening on port ${port}`);
  return { app, port, close: () => app.close() };
}
