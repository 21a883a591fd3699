import type { HealthConfig } from '../config/health-config';
import type { Clock } from '../model/clock';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { httpTargets, nodeHttpGet, type HttpGet } from './http-probe';
import { Pinger, type IcmpSocket } from './icmp';
import { ProbeRunner } from './probe-runner';
import { RawIcmpSocket } from './raw-icmp-socket';
import { ReadinessTracker } from './tracker';

export interface HealthChecksDeps {
  readonly config: Pick<HealthConfig, 'icmp' | 'http' | 'datastoreTimeoutMs'>;
  readonly clock: Clock;
  readonly logger?: Logger;
  readonly metrics?: GatewayMetrics;
  /** Default: a raw socket (CAP_NET_RAW), opened only when ICMP targets are configured. */
  readonly icmpSocket?: IcmpSocket;
  /** Default: node:http / node:https. */
  readonly httpGet?: HttpGet;
}

export interface HealthChecks {
  readonly tracker: ReadinessTracker;
  /** The configured probes (none, ICMP, HTTP, or both). */
  readonly runners: readonly ProbeRunner[];
  /**
   * Opens the ICMP socket for each configured family (throws a KERNEL_OP_FAILED error without
   * CAP_NET_RAW, so the daemon fails at start rather than staying not-ready for no visible reason),
   * then starts the probes; the first attempts go out at once.
   */
  start(): void;
  /** Stops the probes and timers and closes the ICMP socket. */
  stop(): void;
  /** An extra probe round at once for every configured kind (see ProbeRunner.runNow). */
  probeNow(reason: string): void;
}

/**
 * The tracker plus one probe runner per configured kind, wired so each probe result
 * re-evaluates readiness at once. A kind with no targets is not part of readiness.
 */
export function createHealthChecks(deps: HealthChecksDeps): HealthChecks {
  const { config, clock, logger, metrics } = deps;
  const tracker = new ReadinessTracker({
    clock,
    datastoreTimeoutMs: config.datastoreTimeoutMs,
    ...(logger ? { logger } : {}),
    ...(metrics ? { metrics } : {}),
  });
  const common = {
    clock,
    onResult: () => tracker.update(),
    ...(logger ? { logger } : {}),
    ...(metrics ? { metrics } : {}),
  };
  const runners: ProbeRunner[] = [];
  let socket: IcmpSocket | undefined;
  if (config.icmp.targets.length > 0) {
    socket = deps.icmpSocket ?? new RawIcmpSocket(logger);
    const pinger = new Pinger(socket);
    const runner = new ProbeRunner({
      ...common,
      kind: 'icmp',
      targets: pinger.targets(config.icmp.targets),
      intervalMs: config.icmp.intervalMs,
      timeoutMs: config.icmp.timeoutMs,
    });
    runners.push(runner);
    tracker.attachProbe('icmp', runner);
  }
  if (config.http.targets.length > 0) {
    const runner = new ProbeRunner({
      ...common,
      kind: 'http',
      targets: httpTargets(config.http.targets, deps.httpGet ?? nodeHttpGet),
      intervalMs: config.http.intervalMs,
      timeoutMs: config.http.timeoutMs,
    });
    runners.push(runner);
    tracker.attachProbe('http', runner);
  }
  return {
    tracker,
    runners,
    start: () => {
      if (socket) for (const family of new Set(config.icmp.targets.map((ip) => ip.family))) socket.open(family);
      runners.forEach((r) => r.start());
    },
    probeNow: (reason) => runners.forEach((r) => r.runNow(reason)),
    stop: () => {
      runners.forEach((r) => r.stop());
      socket?.close();
      tracker.stop();
    },
  };
}
