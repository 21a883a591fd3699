import { snatAuditComponent } from './audit/component';
import { parseDaemonConfig, type DaemonConfig, type StartFlags } from './daemon-config';
import { ReturnPathReconciler, type ReconcileResult } from './dataplane/reconciler';
import { VxlanGuard } from './dataplane/vxlan-guard';
import { vxlanSpecFor, vxlanSysctls } from './model/vxlan';
import { networkInterfaces } from 'node:os';
import { checkNamespace, namespaceInterfaces, namespaceSettings, type NamespaceInterfaces } from './config/namespace-check';
import { ErrorCodes, GatewayError, StartupError, describeCause } from './errors';
import { SignalLatch, type SignalSource } from './process-signals';
import { ensureSysctls } from './init/apply';
import { realSetupDeps, setupGuardComponent, type SetupDeps } from './init/setup-component';
import { ProcSysctl } from './kernel/sysctl';
import { NetlinkLinks } from './kernel/links';
import type { LinkWatch, Links, NeighbourCache, ReturnPathWatch, Sysctl } from './kernel/ports';
import { NetlinkReturnPathWatch } from './kernel/netlink/route-watch';
import { CarrierMonitor, carrierTargets } from './health/carrier';
import { NetlinkLinkWatch } from './kernel/netlink/link-watch';
import { NetlinkNeighbourCache } from './kernel/netlink/neighbour-cache';
import { createHealthChecks, type HealthChecks } from './health/checks';
import { startHealthServer, type HealthServer } from './health/server';
import { maxStreamsFor, ReadinessStreams, streamStateOf } from './health/stream';
import { NetlinkReturnPath } from './kernel/netlink/return-path';
import { NetlinkSession } from './kernel/netlink/session';
import type { ReturnPathKernel } from './kernel/return-path';
import { Lifecycle, type StartOutcome } from './lifecycle';
import { systemClock, type Clock } from './model/clock';
import type { Family } from './model/ip';
import { createLogger, type Logger } from './observability/logger';
import { createMetrics, type GatewayMetrics } from './observability/metrics';
import { PolicySyncClient } from './policysync/client';
import { buildStatus, type DaemonPhase, type StatusDocument } from './status/model';
import { listEntries } from './status/entries';
import { startStatusServer, type StatusServer } from './status/server';
import { VERSION } from './version';

export type { StartFlags } from './daemon-config';

/**
 * What the daemon talks to, every part named: `realDaemonDeps()` for `start`, fakes in tests. A
 * part left out is off (no guessing from which others were given).
 */
export interface DaemonDeps {
  readonly clock?: Clock;
  /** Default: a logger at the configured level on stdout. */
  readonly logger?: Logger;
  /** The return path's kernel tables. */
  readonly kernel: ReturnPathKernel & { close?(): void };
  /** Notifications about the return path's own entries (drift repaired at once); without them only the periodic resync finds it. */
  readonly kernelWatch?: ReturnPathWatch;
  /** The link table, for the vxlan0 guard; without it the guard is off. */
  readonly links?: Links & { close?(): void };
  /** Link notifications for the guard: it checks vxlan0 when the kernel reports a change; without them it polls. */
  readonly vxlanWatch?: LinkWatch;
  /** Time between vxlan0 checks (default: 60 s as a backstop with `vxlanWatch`, else 2 s). */
  readonly vxlanCheckIntervalMs?: number;
  /** /proc/sys, to re-assert vxlan0's own settings (its rp_filter) after a repair; without it they are left alone. */
  readonly sysctl?: Sysctl;
  /** eth0's carrier and the neighbour cache, for the carrier monitor; without both it is off. */
  readonly linkWatch?: LinkWatch;
  readonly neighbourCache?: NeighbourCache & { close?(): void };
  /** For the setup guard (init's ruleset and sysctls, src/init/setup-guard.ts); without it (and `links`) it is off. */
  readonly setup?: SetupDeps;
}

/** The real kernel: netlink for the return path, links and events, /proc/sys for settings. */
export function realDaemonDeps(): DaemonDeps {
  return {
    kernel: new NetlinkReturnPath(new NetlinkSession()),
    kernelWatch: new NetlinkReturnPathWatch(),
    links: new NetlinkLinks(),
    vxlanWatch: new NetlinkLinkWatch(),
    sysctl: new ProcSysctl(),
    linkWatch: new NetlinkLinkWatch(),
    neighbourCache: new NetlinkNeighbourCache(),
    setup: realSetupDeps(),
  };
}

/**
 * `egress-gateway start`: the PolicySync stream feeds the return-path reconciler; stream state,
 * reconcile results and probe results feed readiness; the health server reports it.
 * Components start in this order and stop in reverse (server first, kernel session last).
 */
export class Daemon {
  readonly metrics: GatewayMetrics;
  readonly health: HealthChecks;
  /** The readiness streams of the client nodes' agents (GET /readiness/stream). */
  readonly streams: ReadinessStreams;
  readonly reconciler: ReturnPathReconciler;
  private readonly lifecycle: Lifecycle;
  private readonly client: PolicySyncClient;
  private readonly clock: Clock;
  readonly log: Logger;
  private server: HealthServer | undefined;
  private supervisor: Promise<void> | undefined;
  private supervisorAlive = false;
  private phase: DaemonPhase = 'starting';
  private readonly startedAt: number;
  private statusServer: StatusServer | undefined;
  /** The failed operations of the last reconcile, for `status`. */
  private reconcileFailures: readonly string[] = [];
  /** What the vxlan0 guard last found wrong; readiness stays 503 while it is set. */
  private vxlanProblem: GatewayError | undefined;
  readonly vxlanGuard: VxlanGuard | undefined;
  /** Restores the probes' path at once when eth0's carrier comes back (see health/carrier.ts). */
  readonly carrier: CarrierMonitor | undefined;
  /** Holds init's ruleset and sysctls (src/init/setup-guard.ts); undefined on fakes. */
  private readonly setup: ReturnType<typeof setupGuardComponent> | undefined;

  constructor(readonly config: DaemonConfig, deps: DaemonDeps) {
    this.clock = deps.clock ?? systemClock;
    this.startedAt = this.clock.now();
    this.log = deps.logger ?? createLogger(config.logLevel);
    this.lifecycle = new Lifecycle(this.log);
    this.metrics = createMetrics();

    const gatewayIp = config.egressIpv4 ?? config.egressIpv6;
    if (!gatewayIp) throw new Error('unreachable: the config always holds an egress address');
    const families = new Set<Family>();
    if (config.egressIpv4) families.add(4);
    if (config.egressIpv6) families.add(6);

    this.health = createHealthChecks({ config: config.health, clock: this.clock, logger: this.log, metrics: this.metrics });
    // Client nodes' agents hear of every change of readiness at once (a 503, the drain), not at their next poll.
    const tracker = this.health.tracker;
    this.streams = new ReadinessStreams({
      clock: this.clock,
      current: () => streamStateOf(tracker.report()),
      maxStreams: maxStreamsFor(config.health.maxConnections),
      logger: this.log,
      metrics: { set: (n) => this.metrics.healthStreams.set(n), refused: () => this.metrics.healthStreamsRefused.inc() },
    });
    tracker.onChange((report) => this.streams.publish(streamStateOf(report)));
    const kernel = deps.kernel;
    this.reconciler = new ReturnPathReconciler({
      kernel,
      ...(deps.kernelWatch ? { watch: deps.kernelWatch } : {}),
      returnPath: {
        gatewayIp,
        // Dual-stack: no client block may hold either address, and the gateway's own IPv6 block is recognised too.
        gatewayIps: [config.egressIpv4, config.egressIpv6].filter((a): a is NonNullable<typeof a> => a !== undefined),
        vxlanDevice: config.vxlanDevice,
        underlayDevice: config.underlayDevice,
        families,
      },
      clock: this.clock,
      logger: this.log,
      resyncIntervalMs: config.resyncIntervalMs,
      onReconciled: (result) => this.onReconciled(result),
      onConflict: () => this.metrics.routeConflicts.inc(),
    });
    this.client = new PolicySyncClient(
      {
        socketPath: config.socketPath,
        supportsIPv6RouteUpdates: config.egressIpv6 !== undefined,
        clock: this.clock,
        logger: this.log,
      },
      {
        onStreamStart: () => this.reconciler.streamStarted(),
        onEvent: (event) => {
          this.reconciler.apply(event);
          if (event.kind === 'in_sync') this.health.tracker.syncInSync();
        },
        onState: (change) => {
          switch (change.state) {
            case 'connecting':
              this.health.tracker.syncConnecting();
              break;
            case 'connected':
              this.health.tracker.syncConnected();
              break;
            case 'disconnected':
              this.reconciler.streamEnded();
              this.health.tracker.syncDisconnected(change.reason);
              break;
            case 'stopped':
              this.health.tracker.syncStopped();
              break;
          }
        },
      },
    );
    // One source for the message and reconnect counts: the client's own stats, which `status` shows too.
    this.metrics.followPolicySync(() => this.client.stats());

    const links = deps.links;
    const sysctl = deps.sysctl;
    // As init does: vxlan0 rides on the IPv4 egress address when the pod has one, else the IPv6 one (= gatewayIp).
    const vxlanUnderlayIp = gatewayIp;
    if (links) {
      this.vxlanGuard = new VxlanGuard({
        links,
        spec: vxlanSpecFor({ vni: config.vxlanVni, vxlanPort: config.vxlanPort, underlay: config.underlayDevice, egressIp: vxlanUnderlayIp }),
        clock: this.clock,
        logger: this.log,
        ...(deps.vxlanWatch ? { watch: deps.vxlanWatch } : {}),
        ...(deps.vxlanCheckIntervalMs !== undefined ? { intervalMs: deps.vxlanCheckIntervalMs } : {}),
        onProblem: (problem) => {
          this.vxlanProblem = problem;
          // A repair is not enough: readiness holds off until the resync has put the return path back.
          if (problem) this.health.tracker.reconcileResult(false, problem);
        },
        onRepaired: () => this.reconciler.requestResync('vxlan device repaired'),
        ...(sysctl ? { reassertSettings: () => ensureSysctls(sysctl, vxlanSysctls(vxlanUnderlayIp.family)).then(() => undefined) } : {}),
      });
    }
    const guard = this.vxlanGuard;

    const linkWatch = deps.linkWatch;
    const neighbourCache = deps.neighbourCache;
    if (linkWatch && neighbourCache) {
      this.carrier = new CarrierMonitor({
        device: config.underlayDevice,
        watch: linkWatch,
        neighbours: neighbourCache,
        targets: carrierTargets(config.health),
        probeNow: (reason) => this.health.probeNow(reason),
        clock: this.clock,
        logger: this.log,
        metrics: this.metrics,
      });
    }
    const carrier = this.carrier;

    const setupDeps = deps.setup;
    if (setupDeps && links) {
      this.setup = setupGuardComponent({
        config,
        deps: setupDeps,
        links,
        clock: this.clock,
        logger: this.log,
        metrics: this.metrics,
        onAttached: () => this.health.tracker.attachSetup(),
        onProblem: (problem) => this.health.tracker.setupResult(problem),
      });
    }
    const setup = this.setup;

    this.lifecycle
      // First in, last out: `status` answers during start-up, the drain and shutdown, whatever else fails.
      .add({ name: 'status-server', start: () => this.startStatus(), stop: () => this.statusServer?.close() })
      .add({ name: 'kernel', stop: () => kernel.close?.() })
      .add({ name: 'links', stop: () => links?.close?.() })
      .add({ name: 'probes', start: () => this.health.start(), stop: () => this.health.stop() })
      .add({
        name: 'carrier',
        start: () => carrier?.start(),
        stop: async () => {
          await carrier?.stop();
          neighbourCache?.close?.();
        },
      })
      .add({ name: 'reconciler', start: () => this.reconciler.start(), stop: () => this.reconciler.stop() })
      .add({ name: 'vxlan-guard', start: () => guard?.start(), stop: () => guard?.stop() })
      // After vxlan0 is right (the MSS clamp follows its MTU), before anything reaches clients.
      .add({ name: 'setup-guard', start: (signal) => setup?.start?.(signal), stop: () => setup?.stop?.() })
      .add({
        name: 'health-server',
        start: async () => {
          this.server = await startHealthServer(
            {
              port: config.health.port,
              host: config.health.host,
              maxConnections: config.health.maxConnections,
              onRefused: () => this.metrics.healthConnectionsDropped.inc(),
            },
            {
              readiness: this.health.tracker,
              streams: this.streams,
              metrics: this.metrics,
              clock: this.clock,
              logger: this.log,
              // During start-up the supervisor is started after the health server: alive meanwhile.
              liveness: () => {
                const alive = this.supervisorAlive || this.phase === 'starting';
                return { alive, ...(alive ? {} : { reason: 'the PolicySync supervisor is not running' }) };
              },
            },
          );
        },
        stop: () => this.server?.close(),
      });
    // The SNAT audit log (AUDIT_LOG; off by default).
    if (config.audit) {
      this.lifecycle.add(
        snatAuditComponent(config.audit, { metrics: this.metrics, logger: this.log, clock: this.clock, nodeFor: (ip) => this.reconciler.nodeFor(ip) }),
      );
    }
    // Last to start, first to stop: everything that can fail at start-up for a reason an operator must
    // fix (a port in use, an address not here, an audit file that cannot be opened) has started by
    // now, so the stream to Felix is never opened only to be torn down again.
    this.lifecycle.add({
      name: 'policysync',
      start: (signal) => {
        this.supervisorAlive = true;
        this.supervisor = this.client.run(signal).finally(() => {
          this.supervisorAlive = false;
        });
      },
      stop: () => this.supervisor,
    });
  }

  get currentPhase(): DaemonPhase {
    return this.phase;
  }

  /** The port the health server is bound to; undefined when HEALTH_PORT=0 disabled it. */
  get healthPort(): number | undefined {
    return this.server?.port;
  }

  /** 'stopped' when a drain or stop came before every component had started (what had started is stopped by then). */
  async start(): Promise<StartOutcome> {
    this.log.info(
      {
        component: 'daemon',
        event: 'starting',
        version: VERSION,
        socket: this.config.socketPath,
        egressIp: (this.config.egressIpv4 ?? this.config.egressIpv6)?.text,
      },
      'egress gateway starting',
    );
    const outcome = await this.lifecycle.start();
    // A drain that began during start-up keeps its phase.
    if (outcome === 'started' && this.phase === 'starting') this.phase = 'running';
    return outcome;
  }

  /**
   * The drain, in three steps: readiness turns 503 at once, so the kubelet and the client nodes'
   * Felix stop sending new flows here; forwarding keeps working for the drain delay while they
   * notice; then everything stops. Kernel state is left in place: the pod's namespace goes with the pod.
   */
  async drain(delayMs = this.config.health.drainDelayMs): Promise<void> {
    // A gateway that has never said ready has no clients to move away: no wait (during start-up or after).
    const duringStartUp = this.phase === 'starting';
    this.health.tracker.report();
    const waitMs = this.health.tracker.wasEverReady ? delayMs : 0;
    this.phase = 'draining';
    this.health.tracker.startDrain();
    if (duringStartUp) {
      this.log.info(
        { component: 'daemon', event: 'draining', delayMs: waitMs, duringStartUp },
        `stop asked for during start-up: readiness is 503, stopping what has started in ${waitMs} ms`,
      );
    } else if (waitMs === 0 && delayMs > 0) {
      this.log.info({ component: 'daemon', event: 'draining', delayMs: 0, neverReady: true }, 'stop asked for: the gateway was never ready, so no client is sending here; stopping now');
    } else {
      this.log.info({ component: 'daemon', event: 'draining', delayMs: waitMs }, `draining: readiness is 503, stopping in ${waitMs} ms`);
    }
    // An impatient operator's second signal exits the process outright (runDaemon), so no abort here.
    if (waitMs > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, waitMs));
    await this.stop();
  }

  async stop(): Promise<void> {
    this.phase = 'stopping';
    await this.lifecycle.stop();
    this.phase = 'stopped';
    this.log.info({ component: 'daemon', event: 'stopped' }, 'egress gateway stopped');
  }

  /** What `egress-gateway status` shows: the parts' in-memory state, never a fresh kernel read. */
  status(): StatusDocument {
    const now = this.clock.now();
    const healthPort = this.healthPort;
    return buildStatus({
      version: VERSION,
      pid: process.pid,
      phase: this.phase,
      now,
      wallNow: Date.now(),
      startedAt: this.startedAt,
      config: this.config,
      ...(healthPort !== undefined ? { healthPort } : {}),
      sync: this.client.stats(),
      readiness: this.health.tracker.report(),
      readinessInputs: this.health.tracker.inputs(),
      reconciler: this.reconciler.status(),
      reconcileFailures: this.reconcileFailures,
      ...(this.carrier ? { underlay: this.carrier.status() } : {}),
      ...(this.setup?.status() ? { setup: this.setup.status() } : {}),
    });
  }

  /** A status socket that cannot be served is logged, not fatal: forwarding does not need it. */
  private async startStatus(): Promise<void> {
    try {
      this.statusServer = await startStatusServer(this.config.statusSocket, {
        status: () => this.status(),
        entries: (filter) => {
          const { entries, attribution } = this.reconciler.programmedEntries();
          return listEntries(entries, attribution, filter, this.health.tracker.report().ready);
        },
        logger: this.log,
      });
    } catch (err) {
      this.log.warn({ component: 'status', event: 'status_server_failed', err }, `${describeCause(err)}; \`egress-gateway status\` cannot reach this daemon`);
    }
  }

  private onReconciled(result: ReconcileResult): void {
    this.reconcileFailures = result.error ? result.error.errors.map((e) => e.message) : [];
    const problem = this.vxlanProblem;
    this.health.tracker.reconcileResult(result.ok && !problem, result.error ?? problem, result.durationMs);
    // Not status(): that computes the whole desired state, which a pass after one update avoids.
    const programmed = this.reconciler.programmedCounts();
    this.metrics.programmed.set({ kind: 'route' }, programmed.routes);
    this.metrics.programmed.set({ kind: 'neighbour' }, programmed.neighbours);
    this.metrics.programmed.set({ kind: 'fdb' }, programmed.fdb);
  }
}

export type { SignalSource } from './process-signals';

export interface RunOptions {
  /** The process's signals, caught early by the CLI (SignalLatch); the process itself by default. */
  readonly signals?: SignalSource;
  /** Ends the process at once (a second signal, a fatal error); process.exit by default. */
  readonly exit?: (code: number) => void;
  readonly stderr?: (text: string) => void;
  /** The namespace's interfaces, for the check before anything changes; os.networkInterfaces() by default. */
  readonly interfaces?: NamespaceInterfaces;
  /** Where runDaemon logs the signals it takes (SIGHUP is logged and ignored). */
  readonly logger?: Logger;
  /** The daemon's adapters; realDaemonDeps() by default. */
  readonly deps?: () => DaemonDeps;
}

/**
 * The `start` command: parse, check the configuration against the namespace (the egress address is
 * on EGRESS_INTERFACE), then run the daemon until a signal (runDaemon). Every failure up to the
 * daemon running exits 2 with its coded message (StartupError), and nothing in the kernel has
 * changed before the checks passed.
 */
export async function runStartCommand(flags: StartFlags, env: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<number> {
  const config = parseDaemonConfig(env, flags);
  const egress = [config.egressIpv4, config.egressIpv6].filter((a): a is NonNullable<typeof a> => a !== undefined);
  checkNamespace(
    namespaceSettings(env, flags, { underlay: config.underlayDevice, egress, healthServer: config.health.port !== 0 }),
    options.interfaces ?? namespaceInterfaces(networkInterfaces()),
  );
  let daemon: Daemon;
  try {
    // Opening the adapters (netlink sockets, the raw ICMP socket) can fail too: still start-up.
    daemon = new Daemon(config, (options.deps ?? realDaemonDeps)());
  } catch (err) {
    throw new StartupError(err);
  }
  const stopFatal = onFatalError(daemon, options);
  try {
    return await runDaemon(daemon, { logger: daemon.log, ...options });
  } finally {
    stopFatal();
  }
}

/**
 * An exception nothing caught (a bug) ends the daemon the same way as everything else: one coded
 * line on stderr, a fatal log line (with the stack, for whoever fixes it), the status socket removed
 * (its exit hook), exit status 2 during start-up and 1 after. Node's default would print a stack
 * trace and exit 1.
 */
function onFatalError(daemon: Daemon, options: RunOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const fatal = (err: unknown): void => {
    const starting = daemon.currentPhase === 'starting';
    const coded = err instanceof GatewayError ? err : new GatewayError(ErrorCodes.INTERNAL, `unexpected error: ${describeCause(err)}`, { cause: err });
    daemon.log.fatal(
      { component: 'daemon', event: 'fatal', err: coded, ...(err instanceof Error && err.stack ? { stack: err.stack } : {}) },
      `${coded.message}; exiting`,
    );
    stderr(`egress-gateway: ${coded.code}: ${coded.message}\n`);
    exit(starting ? 2 : 1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  return () => {
    process.off('uncaughtException', fatal);
    process.off('unhandledRejection', fatal);
  };
}

/**
 * Starts the daemon and runs it until SIGTERM/SIGINT. The first signal drains and exits 0; a second
 * one exits at once (143 / 130). SIGHUP is logged and ignored (there is no configuration to reload:
 * settings come from the environment, which only a restart changes). The handlers go in before
 * start() (and the CLI's SignalLatch holds what came even earlier): a signal during start-up stops
 * what has started and exits 0, instead of the default action killing the process half-started.
 * A failure during start-up is a StartupError (exit status 2).
 */
export async function runDaemon(daemon: Pick<Daemon, 'start' | 'drain'>, options: RunOptions = {}): Promise<number> {
  const log = options.logger;
  const signals = options.signals ?? new SignalLatch();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const stderr = options.stderr ?? ((text: string) => void process.stderr.write(text));
  let drained: Promise<void> | undefined;
  let signalled = (): void => undefined;
  const firstSignal = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    if (drained) {
      stderr(`egress-gateway: ${signal} again, exiting without waiting for the drain\n`);
      exit(signal === 'SIGINT' ? 130 : 143);
      return;
    }
    log?.info({ component: 'daemon', event: 'signal', signal }, `${signal} received: draining`);
    drained = daemon.drain();
    signalled();
  };
  const onHangup = (signal: NodeJS.Signals): void => {
    log?.info(
      { component: 'daemon', event: 'signal_ignored', signal },
      `${signal} received and ignored: the settings come from the environment, so there is nothing to reload (restart the pod to change them)`,
    );
  };
  signals.on('SIGTERM', onSignal);
  signals.on('SIGINT', onSignal);
  signals.on('SIGHUP', onHangup);
  try {
    // Resolves early ('stopped') when a signal's drain stopped the start-up.
    try {
      await daemon.start();
    } catch (err) {
      throw new StartupError(err);
    }
    await firstSignal;
    await drained;
    return 0;
  } finally {
    signals.off('SIGTERM', onSignal);
    signals.off('SIGINT', onSignal);
    signals.off('SIGHUP', onHangup);
  }
}
